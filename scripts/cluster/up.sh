#!/usr/bin/env bash
# Brings up a real Kubernetes cluster on this machine, the way hack/local-up-cluster.sh
# does: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and, per node, a
# dedicated containerd and a kubelet, all on loopback. KSYNC_NODES (make cluster-up NODES=2)
# is the number of nodes, 1 by default.
# Idempotent: a no-op when the cluster it started is still running.
# See docs/cluster.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
source "$CLUSTER_SCRIPTS/lib.sh"
source "$CLUSTER_SCRIPTS/pki.sh"

T0=$SECONDS

# The kubeconfig plus .cluster/cluster.json, which test/e2e/helpers/cluster.ts reads.
write_outputs() {
  local n nodes=""
  for ((n = 1; n <= NODES; n++)); do
    node_vars "$n"
    nodes+="${nodes:+,}
    { \"name\": \"$NODE_NAME\", \"runtime\": \"$NODE_RUNTIME\", \"kubeletDir\": \"$NODE_KUBELET_DIR\",
      \"runtimeRoot\": \"$NODE_RUN/$NODE_RUNTIME\" }"
  done
  mkdir -p "$CLUSTER_DIR"
  cp "$STATE_DIR/admin.kubeconfig" "$CLUSTER_DIR/kubeconfig"
  cat >"$CLUSTER_DIR/cluster.json" <<EOF
{
  "kubernetesVersion": "$KSYNC_K8S_VERSION",
  "kubeconfig": "$CLUSTER_DIR/kubeconfig",
  "kubectl": "$K8S_BIN/kubectl",
  "nodeName": "127.0.0.1",
  "nodes": [$nodes
  ],
  "images": { "pause": "$PAUSE_IMAGE", "testApp": "$TESTAPP_IMAGE", "node": "$NODE_IMAGE", "agent": "$AGENT_IMAGE" }
}
EOF
}

if [[ $EUID -ne 0 ]]; then
  echo "cluster-up: must run as root (it starts containerd and the kubelet); rerun with sudo" >&2
  exit 1
fi

if [[ -n "${KSYNC_NODES:-}" ]] && { ! [[ "$KSYNC_NODES" =~ ^[1-9]$ ]] || ((KSYNC_NODES > MAX_NODES)); }; then
  echo "cluster-up: NODES=$KSYNC_NODES is not a node count from 1 to $MAX_NODES; run for example 'make cluster-up NODES=2'" >&2
  exit 1
fi

# ---- idempotence -------------------------------------------------------------------------
# A running cluster keeps its node count; asking for another one needs a cluster-down first.
NODES=$(recorded_nodes)
running=() stopped=()
while read -r c; do
  if is_running "$c"; then running+=("$c"); else stopped+=("$c"); fi
done < <(components "$NODES")
if ((${#stopped[@]} == 0)); then
  if [[ -n "${KSYNC_NODES:-}" ]] && ((KSYNC_NODES != NODES)); then
    echo "cluster-up: the running cluster has $NODES node(s), not $KSYNC_NODES; run 'make cluster-down' first" >&2
    exit 1
  fi
  if kubectl_admin get --raw /readyz >/dev/null 2>&1; then
    write_outputs
    say "already up ($NODES node(s), Kubernetes $KSYNC_K8S_VERSION); export KUBECONFIG=$CLUSTER_DIR/kubeconfig"
    exit 0
  fi
  echo "cluster-up: every component runs but the apiserver is not ready; see $LOG_DIR/kube-apiserver.log, or run 'make cluster-down && make cluster-up'" >&2
  exit 1
fi
if ((${#running[@]} > 0)); then
  echo "cluster-up: partly running (${running[*]} up; ${stopped[*]} down); run 'make cluster-down' first" >&2
  exit 1
fi
# Nothing runs but state is left (a machine stopped with the cluster up): clean it first,
# which also restores the sysctls saved by that run.
if [[ -d "$STATE_DIR" || -d "$RUN_DIR" ]]; then
  say "removing the state of a cluster that is no longer running"
  "$CLUSTER_SCRIPTS/down.sh"
fi
NODES=${KSYNC_NODES:-1}

# ---- host packages -----------------------------------------------------------------------
# Debian packages, installed only when missing. Binaries checked: the package each provides.
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
command -v crun >/dev/null || need+=(crun) # the OCI runtime of node 2
command -v etcd >/dev/null || need+=(etcd-server)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
  need+=(containernetworking-plugins)
[[ -x /bin/busybox ]] && /bin/busybox --list >/dev/null 2>&1 && ! ldd /bin/busybox >/dev/null 2>&1 ||
  need+=(busybox-static)
command -v openssl >/dev/null || need+=(openssl)
command -v ip >/dev/null || need+=(iproute2)
command -v findmnt >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v nft >/dev/null || need+=(nftables)
if ((${#need[@]} > 0)); then
  say "installing Debian packages: ${need[*]}"
  apt-get update -qq
  # On a systemd host Debian's etcd-server also starts its own etcd on 2379; the preflight
  # below then names it. This cluster runs its own etcd with its own data dir.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- binaries and images -----------------------------------------------------------------
"$CLUSTER_SCRIPTS/build.sh"
mkdir -p "$CLUSTER_DIR" "$LOG_DIR"
"$CLUSTER_SCRIPTS/images.sh"

# ---- preflight ---------------------------------------------------------------------------
problems=()
for ctl in cpu cpuacct cpuset memory pids; do
  [[ -d /sys/fs/cgroup/$ctl ]] || problems+=("cgroup controller $ctl is not mounted at /sys/fs/cgroup/$ctl")
done
ports=(2379 2380 6443 10257 10259)
for ((n = 1; n <= NODES; n++)); do node_vars "$n" && ports+=("$NODE_KUBELET_PORT" "$NODE_HEALTHZ_PORT"); done
for port in "${ports[@]}"; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    problems+=("port $port is in use ($(ss -Hltnp "sport = :$port" | sed -n 's/.*users:((\("[^"]*"\).*/\1/p' | head -1))")
  fi
done
if ((${#problems[@]} > 0)); then
  printf 'cluster-up: preflight failed: %s\n' "${problems[@]}" >&2
  exit 1
fi
# The kubelet's OOM watcher reads /dev/kmsg; some sandboxes lack it (kind PR #664).
[[ -e /dev/kmsg ]] || ln -s /dev/console /dev/kmsg

mkdir -p "$STATE_DIR" "$RUN_DIR" "$PID_DIR"
echo "$NODES" >"$STATE_DIR/nodes"
# One run per log file: a fresh cluster starts fresh logs (down.sh keeps them for reading).
rm -f "$LOG_DIR"/*.log
# Save host settings once: if an earlier up died half-way, its saved values are the originals.
if [[ ! -f "$STATE_DIR/sysctls.saved" ]]; then
  for s in "${SAVED_SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$STATE_DIR/sysctls.saved"
  ls /run/netns 2>/dev/null >"$STATE_DIR/netns.before" || true
  mountpoint -q /run/netns && touch "$STATE_DIR/run-netns-mount.existed"
  [[ -d /run/containerd ]] && touch "$STATE_DIR/run-containerd.existed"
  [[ -d /var/lib/cni ]] && touch "$STATE_DIR/var-lib-cni.existed"
  # The kubelet's device-plugin socket dir is hard-coded (/var/lib/kubelet/device-plugins),
  # whatever its root dir; every node's kubelet uses it.
  [[ -d /var/lib/kubelet ]] && touch "$STATE_DIR/var-lib-kubelet.existed"
  # The kubelet's links to container logs (hard-coded /var/log/containers, whatever podLogsDir).
  [[ -d /var/log/containers ]] && touch "$STATE_DIR/var-log-containers.existed"
  for t in filter nat mangle; do
    iptables -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/'"$t"' \1/p'
  done >"$STATE_DIR/iptables-chains.before" || true
  # The kubelet's canary chains make iptables-nft create whole tables; remember which existed.
  nft list tables 2>/dev/null >"$STATE_DIR/nft-tables.before" || true
fi
# /run/netns a shared mount point before any pod's network namespace is mounted in it, as
# `ip netns add` makes it. Were it first made by a later `ip netns add` (the reliability suite's
# lossy-path fault does one), ip would bind-mount the directory over itself and hide the netns
# mounts of the pods already running: containerd could then never remove those sandboxes
# ("remove netns: unlinkat /var/run/netns/cni-…: device or resource busy"), and a deleted pod
# would stay Terminating (the DaemonSet never replaced an agent pod deleted after that fault).
mkdir -p /run/netns
mountpoint -q /run/netns || mount --bind /run/netns /run/netns
mount --make-shared /run/netns

# crun refuses a hybrid cgroup layout whose cgroup2 hierarchy holds controllers ("cgroups in
# hybrid mode not supported, drop all controllers from cgroupv2"); this host leaves hugetlb
# there. For crun's nodes each such controller gets a v1 hierarchy of its own, as the others
# have; cluster-down moves it back. runc does not mind either way.
if ((NODES > 1)) && [[ -f /sys/fs/cgroup/unified/cgroup.controllers ]]; then
  for ctl in $(cat /sys/fs/cgroup/unified/cgroup.controllers); do
    mkdir -p "/sys/fs/cgroup/$ctl" && mount -t cgroup -o "$ctl" cgroup "/sys/fs/cgroup/$ctl" || {
      echo "cluster-up: cannot move the $ctl cgroup controller from cgroup2 to a v1 hierarchy, which crun needs; run 'make cluster-down', then 'make cluster-up' (one node needs no crun)" >&2
      exit 1
    }
    echo "$ctl" >>"$STATE_DIR/cgroup-v1-moved"
  done
fi

make_pki

# ---- per node: CNI and containerd --------------------------------------------------------
# start_runtime N: node N's CNI config and its dedicated containerd, with the images imported.
start_runtime() {
  node_vars "$1"
  # One bridge per node on its own subnet, no masquerade, no default route: pods reach each
  # other and the host bridge address, and nothing off this machine. The dir is the node's
  # own, not /etc/cni/net.d.
  mkdir -p "$NODE_CNI_CONF_DIR" "$NODE_STATE/cni/ipam"
  cat >"$NODE_CNI_CONF_DIR/10-ksync.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NODE_CNI_NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_CNI_BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_STATE/cni/ipam",
        "ranges": [[{ "subnet": "$NODE_CNI_SUBNET" }]]
      }
    }
  ]
}
EOF

  # A dedicated instance: own root, state, sockets and OCI runtime root, so neither start nor
  # teardown can touch another containerd's containers. cgroupfs on both sides (containerd 1.6
  # has no CRI RuntimeConfig, so the kubelet uses its own cgroupDriver setting and they must
  # match). The runc shim drives crun as well (BinaryName): same CLI, same state layout.
  cat >"$NODE_STATE/containerd.toml" <<EOF
version = 2
root = "$NODE_STATE/containerd"
state = "$NODE_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$NODE_CONTAINERD_SOCK"

[ttrpc]
  address = "$NODE_CONTAINERD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_STATE/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "$NODE_NAME"
  stream_server_port = "0"
  tolerate_missing_hugetlb_controller = true
  # Clamp oom_score_adj to containerd's own (0): sandboxes ask for -998, which needs
  # CAP_SYS_RESOURCE, and sandboxed/VM hosts (this one) drop it, so runc init fails with
  # "can't get final child's PID from pipe: EOF". Scores only matter under memory pressure.
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "$NODE_RUNTIME"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$NODE_RUNTIME]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$NODE_RUNTIME.options]
        BinaryName = "$(command -v "$NODE_RUNTIME")"
        SystemdCgroup = false
        Root = "$NODE_RUN/$NODE_RUNTIME"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_CNI_CONF_DIR"
    max_conf_num = 1
EOF
  mkdir -p "$(dirname "$NODE_CONTAINERD_SOCK")"
  say "starting $NODE_CONTAINERD ($NODE_RUNTIME) for node $NODE_NAME"
  start_daemon "$NODE_CONTAINERD" "$(command -v containerd)" --config "$NODE_STATE/containerd.toml"
  wait_until "$NODE_CONTAINERD" 30 ctr --address "$NODE_CONTAINERD_SOCK" version

  local img
  for img in pause test-app node24 agent; do
    ctr --address "$NODE_CONTAINERD_SOCK" -n k8s.io images import \
      "$CLUSTER_DIR/images/$img.tar" >>"$LOG_DIR/images.log" 2>&1 ||
      fail_component images "import of $CLUSTER_DIR/images/$img.tar into $NODE_CONTAINERD failed"
  done
}
# The nodes' runtimes start and import their images in the background while the control
# plane starts (both mostly wait on disk and on each other); the kubelets wait for them.
runtime_jobs=()
# If this script fails meanwhile, the jobs stop too (the daemons they started are cluster-down's).
trap 'kill "${runtime_jobs[@]}" 2>/dev/null || true' EXIT
for ((n = 1; n <= NODES; n++)); do
  start_runtime "$n" &
  runtime_jobs+=($!)
done

# ---- etcd --------------------------------------------------------------------------------
say "starting etcd $(etcd --version | sed -n 's/^etcd Version: //p')"
start_daemon etcd "$(command -v etcd)" --name ksync --data-dir "$STATE_DIR/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster ksync=http://127.0.0.1:2380 --listen-metrics-urls "" \
  --quota-backend-bytes 2147483648 --log-level warn
wait_until etcd 30 curl -fsS http://127.0.0.1:2379/health

# ---- control plane -----------------------------------------------------------------------
say "starting kube-apiserver"
start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=127.0.0.1 --secure-port=6443 \
  --tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
  --client-ca-file="$PKI_DIR/ca.crt" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$PKI_DIR/sa.pub" \
  --service-account-signing-key-file="$PKI_DIR/sa.key" \
  --kubelet-client-certificate="$PKI_DIR/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$PKI_DIR/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$PKI_DIR/ca.crt" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --allow-privileged=true \
  --profiling=false \
  --v=1
wait_until kube-apiserver 90 kubectl_admin get --raw /readyz

say "starting kube-controller-manager and kube-scheduler"
start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
  --service-account-private-key-file="$PKI_DIR/sa.key" \
  --root-ca-file="$PKI_DIR/ca.crt" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --use-service-account-credentials=true \
  --leader-elect=false --bind-address=127.0.0.1 --profiling=false --v=1

cat >"$STATE_DIR/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $STATE_DIR/scheduler.kubeconfig
leaderElection:
  leaderElect: false
EOF
start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" --config="$STATE_DIR/scheduler.yaml" \
  --authentication-kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --profiling=false --v=1

for job in "${runtime_jobs[@]}"; do wait "$job" || exit 1; done
trap - EXIT
say "imported images: $PAUSE_IMAGE $TESTAPP_IMAGE $NODE_IMAGE $AGENT_IMAGE"

# ---- per node: kubelet ------------------------------------------------------------------
# start_kubelet N: node N's kubelet, registered with the same apiserver under its own name.
start_kubelet() {
  node_vars "$1"
  # Each node's pods live under its own cgroup root (/ksync/kubepods, /ksync-node2/kubepods)
  # in every hierarchy, so the nodes' pods never mix and teardown removes exactly what this
  # cluster created. The kubelet requires the root to exist.
  while read -r h; do mkdir -p "$h$NODE_CGROUP_ROOT"; done < <(cgroup_hierarchies)

  # Image GC and disk eviction are off (kind does the same): containerd 1.6 cannot pin the
  # pause image, and the imported images cannot be pulled again. failCgroupV1 is false by
  # default on 1.34 and set explicitly so the file survives an upgrade to 1.35. Each node keeps
  # its pods' logs in its own dir: with the default /var/log/pods shared, each kubelet's
  # container GC removed the other node's pod log dirs as orphans, and `kubectl logs` lost
  # everything a pod had logged before.
  cat >"$NODE_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_NAME
port: $NODE_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: $NODE_NAME
healthzPort: $NODE_HEALTHZ_PORT
tlsCertFile: $PKI_DIR/$NODE_KUBELET-serving.crt
tlsPrivateKeyFile: $PKI_DIR/$NODE_KUBELET-serving.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI_DIR/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: $NODE_CGROUP_ROOT
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$NODE_CONTAINERD_SOCK
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
  memory.available: "0%"
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
staticPodPath: ""
maxPods: 110
serializeImagePulls: false
runtimeRequestTimeout: 2m
podLogsDir: $NODE_STATE/pod-logs
EOF
  say "starting $NODE_KUBELET for node $NODE_NAME"
  # The node name is an IP, which the kubelet also takes as the node's InternalIP (it refuses a
  # loopback --node-ip); the apiserver dials that address and the port the kubelet reports.
  start_daemon "$NODE_KUBELET" "$K8S_BIN/kubelet" --config="$NODE_STATE/kubelet.yaml" \
    --kubeconfig="$STATE_DIR/$NODE_KUBELET.kubeconfig" --root-dir="$NODE_KUBELET_DIR" \
    --hostname-override="$NODE_NAME" --v=1
  wait_until "$NODE_KUBELET" 60 curl -fsS "http://$NODE_NAME:$NODE_HEALTHZ_PORT/healthz"
}
node_ready() {
  [[ "$(kubectl_admin get node "$1" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
# One kubelet at a time, each until its node is Ready: the kubelet's device-plugin socket dir is
# hard-coded (/var/lib/kubelet/device-plugins), and two kubelets that set it up at once race
# (the loser's listen fails and it exits). A node turns Ready only after its kubelet's device
# manager started, so the next kubelet then finds the socket there, replaces it and goes on.
for ((n = 1; n <= NODES; n++)); do
  start_kubelet "$n"
  wait_until "$NODE_KUBELET" 90 node_ready "$NODE_NAME"
done

# ---- ready checks ------------------------------------------------------------------------
wait_until kube-controller-manager 60 kubectl_admin -n default get serviceaccount default
wait_until kube-controller-manager 60 kubectl_admin -n default get configmap kube-root-ca.crt

write_outputs
say "up in $((SECONDS - T0))s: Kubernetes $KSYNC_K8S_VERSION, $NODES node(s) Ready: $(
  kubectl_admin get nodes -o 'jsonpath={.items[*].metadata.name}')"
say "use it:  export KUBECONFIG=$CLUSTER_DIR/kubeconfig; $K8S_BIN/kubectl get nodes"
say "logs in $LOG_DIR; stop with 'make cluster-down'"
