#!/usr/bin/env bash
# Stops the local cluster that up.sh started and removes what it left on the machine:
# pods first (through the API, so the kubelet runs CNI DEL and unmounts volumes), then
# the kubelet, containers, containerd, mounts, network namespaces, the bridge, cgroups,
# the control plane and the state dirs; finally restores the sysctls the kubelet changed.
# Only processes whose PIDs up.sh recorded are stopped. Safe to run when nothing is up.
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

# ---- 1. pods, through the API ------------------------------------------------------------
if is_running kube-apiserver && is_running kubelet && kubectl_admin get --raw /readyz >/dev/null 2>&1; then
  say "deleting workloads and pods"
  # Controllers first, so nothing recreates the pods deleted next.
  kubectl_admin delete daemonsets,deployments,replicasets,statefulsets,jobs,cronjobs \
    --all --all-namespaces --wait=false >/dev/null 2>&1
  kubectl_admin delete pods --all --all-namespaces --grace-period=2 --timeout=60s >/dev/null 2>&1 ||
    say "some pods were not deleted in 60s; removing their containers below"
fi
ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
# Give the kubelet a moment to tear down the sandboxes of the deleted pods (CNI DEL).
if is_running kubelet && is_running containerd; then
  for ((i = 0; i < 40; i++)); do
    [[ -z "$(ctr_ tasks ls -q 2>/dev/null)" ]] && break
    sleep 0.5
  done
fi

# ---- 2. kubelet, then what is left in containerd ------------------------------------------
stop_pid kubelet
if is_running containerd; then
  tasks="$(ctr_ tasks ls -q 2>/dev/null)"
  if [[ -n "$tasks" ]]; then
    say "killing $(wc -w <<<"$tasks") leftover container(s)"
    for t in $tasks; do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
    sleep 1
    for t in $tasks; do ctr_ tasks delete -f "$t" >/dev/null 2>&1; done
  fi
  for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1; done
fi
stop_pid containerd
# Shims outlive containerd. Ours are the ones started with our socket address.
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null); do
  kill -KILL "$pid" 2>/dev/null && say "killed leftover shim $pid"
done

# ---- 3. network --------------------------------------------------------------------------
for path in /run/netns/cni-*; do
  [[ -e $path ]] || continue
  ns=$(basename "$path")
  if ! grep -qx "$ns" "$STATE_DIR/netns.before" 2>/dev/null; then
    ip netns delete "$ns" 2>/dev/null || leftovers+=("netns $ns")
  fi
done
if ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  ip link delete "$CNI_BRIDGE" || leftovers+=("bridge $CNI_BRIDGE")
fi
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
while read -r h; do
  [[ -d "$h/ksync" ]] || continue
  find "$h/ksync" -depth -type d -exec rmdir {} \; 2>/dev/null
  [[ -d "$h/ksync" ]] && leftovers+=("cgroup $h/ksync")
done < <(cgroup_hierarchies)

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
