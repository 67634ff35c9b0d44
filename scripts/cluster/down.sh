#!/usr/bin/env bash
# Stops the local cluster that up.sh started and removes what it left on the machine:
# pods first (through the API, so the kubelets run CNI DEL and unmount volumes), then every
# node's kubelet, containers, containerd, mounts, network namespaces, bridge and cgroups,
# the control plane and the state dirs; finally restores the sysctls the kubelet changed.
# Only processes whose PIDs up.sh recorded are stopped. Safe to run when nothing is up, and
# it handles every node whatever the node count was (each step is a no-op for a node that
# never started).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
source "$CLUSTER_SCRIPTS/lib.sh"

T0=$SECONDS
if [[ $EUID -ne 0 ]]; then
  echo "cluster-down: must run as root; rerun with sudo" >&2
  exit 1
fi
if [[ ! -d "$STATE_DIR" && ! -d "$RUN_DIR" ]]; then
  say "nothing to stop (no $STATE_DIR)"
  rm -f "$CLUSTER_DIR/kubeconfig" "$CLUSTER_DIR/cluster.json"
  exit 0
fi
leftovers=()
kubelets=() containerds=()
for ((n = 1; n <= MAX_NODES; n++)); do
  node_vars "$n"
  kubelets+=("$NODE_KUBELET") containerds+=("$NODE_CONTAINERD")
done
# True when every kubelet up.sh started still runs: pods on a node whose kubelet is gone would
# wait for it in vain, so then the containers are removed below instead.
kubelets_running() {
  local k started=0
  for k in "${kubelets[@]}"; do
    [[ -f "$PID_DIR/$k.pid" ]] || continue
    started=1
    is_running "$k" || return 1
  done
  ((started))
}

# ---- 1. pods, through the API ------------------------------------------------------------
if is_running kube-apiserver && kubelets_running && kubectl_admin get --raw /readyz >/dev/null 2>&1; then
  say "deleting workloads and pods"
  # Controllers first, so nothing recreates the pods deleted next.
  kubectl_admin delete daemonsets,deployments,replicasets,statefulsets,jobs,cronjobs \
    --all --all-namespaces --wait=false >/dev/null 2>&1
  kubectl_admin delete pods --all --all-namespaces --grace-period=2 --timeout=60s >/dev/null 2>&1 ||
    say "some pods were not deleted in 60s; removing their containers below"
fi
ctr_() { ctr --address "$NODE_CONTAINERD_SOCK" -n k8s.io "$@"; }
# Give the kubelets a moment to tear down the sandboxes of the deleted pods (CNI DEL).
for ((n = 1; n <= MAX_NODES; n++)); do
  node_vars "$n"
  if is_running "$NODE_KUBELET" && is_running "$NODE_CONTAINERD"; then
    for ((i = 0; i < 40; i++)); do
      [[ -z "$(ctr_ tasks ls -q 2>/dev/null)" ]] && break
      sleep 0.5
    done
  fi
done

# ---- 2. kubelets, then what is left in each containerd ------------------------------------
stop_pid "${kubelets[@]}"
for ((n = 1; n <= MAX_NODES; n++)); do
  node_vars "$n"
  is_running "$NODE_CONTAINERD" || continue
  tasks="$(ctr_ tasks ls -q 2>/dev/null)"
  if [[ -n "$tasks" ]]; then
    say "killing $(wc -w <<<"$tasks") leftover container(s) in $NODE_CONTAINERD"
    for t in $tasks; do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
    sleep 1
    for t in $tasks; do ctr_ tasks delete -f "$t" >/dev/null 2>&1; done
  fi
  for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1; done
done
stop_pid "${containerds[@]}"
# Shims outlive containerd. Ours are the ones started with one of our socket addresses.
for ((n = 1; n <= MAX_NODES; n++)); do
  node_vars "$n"
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $NODE_CONTAINERD_SOCK( |$)" 2>/dev/null); do
    kill -KILL "$pid" 2>/dev/null && say "killed leftover shim $pid"
  done
done

# ---- 3. network --------------------------------------------------------------------------
for path in /run/netns/cni-*; do
  [[ -e $path ]] || continue
  ns=$(basename "$path")
  if ! grep -qx "$ns" "$STATE_DIR/netns.before" 2>/dev/null; then
    ip netns delete "$ns" 2>/dev/null || leftovers+=("netns $ns")
  fi
done
# The shared mount up.sh made of /run/netns (ip's own netns still in it keep it).
if [[ ! -f "$STATE_DIR/run-netns-mount.existed" ]] && mountpoint -q /run/netns &&
  [[ -z "$(ls -A /run/netns)" ]]; then
  umount /run/netns || leftovers+=("mount /run/netns")
fi
for ((n = 1; n <= MAX_NODES; n++)); do
  node_vars "$n"
  if ip link show "$NODE_CNI_BRIDGE" >/dev/null 2>&1; then
    ip link delete "$NODE_CNI_BRIDGE" || leftovers+=("bridge $NODE_CNI_BRIDGE")
  fi
done
# Chains the kubelet adds (KUBE-FIREWALL, KUBE-KUBELET-CANARY, ...) when they were not there
# before up. Rules that jump to them are removed first.
if command -v iptables >/dev/null; then
  for ipt in iptables ip6tables; do
    for t in filter nat mangle; do
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
        grep -qx "$t $chain" "$STATE_DIR/iptables-chains.before" 2>/dev/null && continue
        "$ipt" -t "$t" -S 2>/dev/null | grep -E -- "-j $chain( |$)" | grep -v "^-A $chain " |
          sed 's/^-A /-D /' | while read -r rule; do
            eval "$ipt -t $t $rule" 2>/dev/null
          done
        "$ipt" -t "$t" -F "$chain" 2>/dev/null
      done
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
        grep -qx "$t $chain" "$STATE_DIR/iptables-chains.before" 2>/dev/null && continue
        "$ipt" -t "$t" -X "$chain" 2>/dev/null || leftovers+=("$ipt -t $t chain $chain")
      done
    done
  done
fi

# Tables iptables-nft created for those chains, when they did not exist before and are empty.
if command -v nft >/dev/null && [[ -f "$STATE_DIR/nft-tables.before" ]]; then
  while read -r _ family table; do
    grep -qx "table $family $table" "$STATE_DIR/nft-tables.before" && continue
    [[ $family == ip || $family == ip6 ]] || continue
    [[ $table == filter || $table == nat || $table == mangle ]] || continue
    # Only base chains and no rules left: nothing of anyone else's is in it.
    if ! nft list table "$family" "$table" | grep -qE '^\s+(jump|goto|counter|ip|meta|tcp|udp|accept|drop|reject)'; then
      nft delete table "$family" "$table" 2>/dev/null || leftovers+=("nft table $family $table")
    fi
  done < <(nft list tables 2>/dev/null)
fi

# ---- 4. mounts ---------------------------------------------------------------------------
# Deepest first; then lazily for anything still busy, so rm below never follows a mount.
for dir in "$STATE_DIR" "$RUN_DIR"; do
  for m in $(findmnt -rn -o TARGET | grep -F "$dir" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || leftovers+=("mount $m")
  done
done

# ---- 5. cgroups --------------------------------------------------------------------------
for ((n = 1; n <= MAX_NODES; n++)); do
  node_vars "$n"
  while read -r h; do
    [[ -d "$h$NODE_CGROUP_ROOT" ]] || continue
    find "$h$NODE_CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
    [[ -d "$h$NODE_CGROUP_ROOT" ]] && leftovers+=("cgroup $h$NODE_CGROUP_ROOT")
  done < <(cgroup_hierarchies)
done

# Controllers up.sh moved from cgroup2 to a v1 hierarchy for crun go back. Unmounting a v1
# hierarchy returns its controller to cgroup2 only when its root has no children left, and
# removed cgroups linger a moment as dying children, which /proc/cgroups still counts: unmount
# once the count is 1 (the root), or the kernel keeps the hierarchy alive for good.
cgroup_count() { awk -v c="$1" '$1 == c { print $3 }' /proc/cgroups; }
if [[ -f "$STATE_DIR/cgroup-v1-moved" ]]; then
  while read -r ctl; do
    mountpoint -q "/sys/fs/cgroup/$ctl" || continue
    for ((i = 0; i < 100 && $(cgroup_count "$ctl") > 1; i++)); do sleep 0.1; done
    umount "/sys/fs/cgroup/$ctl" && rmdir "/sys/fs/cgroup/$ctl"
    for ((i = 0; i < 50; i++)); do
      grep -qw "$ctl" /sys/fs/cgroup/unified/cgroup.controllers && break
      sleep 0.1
    done
    grep -qw "$ctl" /sys/fs/cgroup/unified/cgroup.controllers ||
      leftovers+=("cgroup controller $ctl (still on a v1 hierarchy)")
  done <"$STATE_DIR/cgroup-v1-moved"
fi

# ---- 6. control plane --------------------------------------------------------------------
# The three API clients together, then etcd, which the apiserver needs until it exits.
stop_pid kube-scheduler kube-controller-manager kube-apiserver
stop_pid etcd

# ---- 7. host settings and state ----------------------------------------------------------
if [[ -f "$STATE_DIR/sysctls.saved" ]]; then
  while IFS='=' read -r key value; do
    [[ "$(sysctl -n "$key")" == "$value" ]] || sysctl -qw "$key=$value" || leftovers+=("sysctl $key")
  done <"$STATE_DIR/sysctls.saved"
fi
# containerd's shims put their sockets under /run/containerd/s even for a dedicated instance.
if [[ ! -f "$STATE_DIR/run-containerd.existed" && -d /run/containerd ]]; then
  rmdir /run/containerd/s /run/containerd 2>/dev/null || leftovers+=("dir /run/containerd (not empty)")
fi
# The kubelets' device-plugin socket dir (hard-coded, shared by every node's kubelet).
if [[ ! -f "$STATE_DIR/var-lib-kubelet.existed" && -d /var/lib/kubelet ]]; then
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || leftovers+=("dir /var/lib/kubelet (not empty)")
fi
# The kubelets' links to container logs (into the nodes' pod-logs dirs). The kubelet removes a
# link only when its GC removes the container, which a quick teardown outruns: remove ours.
if [[ -d /var/log/containers ]]; then
  find /var/log/containers -maxdepth 1 -type l -lname "$STATE_DIR/*" -delete
fi
if [[ ! -f "$STATE_DIR/var-log-containers.existed" && -d /var/log/containers ]]; then
  rmdir /var/log/containers 2>/dev/null || leftovers+=("dir /var/log/containers (not empty)")
fi
# libcni caches results under /var/lib/cni/results whatever the conf dir; entries go with CNI DEL.
if [[ ! -f "$STATE_DIR/var-lib-cni.existed" && -d /var/lib/cni ]]; then
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || leftovers+=("dir /var/lib/cni (not empty)")
fi
if [[ -z "$(findmnt -rn -o TARGET | grep -F -e "$STATE_DIR" -e "$RUN_DIR")" ]]; then
  rm -rf --one-file-system "$STATE_DIR" "$RUN_DIR"
else
  leftovers+=("state dirs $STATE_DIR $RUN_DIR (still mounted below)")
fi
rm -f "$CLUSTER_DIR/kubeconfig" "$CLUSTER_DIR/cluster.json"

if ((${#leftovers[@]} > 0)); then
  echo "cluster-down: could not remove: ${leftovers[*]}" >&2
  exit 1
fi
say "down in $((SECONDS - T0))s; machine clean (logs kept in $LOG_DIR)"
