#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this machine, the way
# hack/local-up-cluster.sh does: a dedicated containerd, etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and a kubelet, all on loopback.
# Idempotent: a no-op when the cluster it started is still running.
# See docs/cluster.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
source "$CLUSTER_SCRIPTS/lib.sh"
source "$CLUSTER_SCRIPTS/pki.sh"

T0=$SECONDS

# The kubeconfig plus .cluster/cluster.json, which test/e2e/helpers/cluster.ts reads.
write_outputs() {
  mkdir -p "$CLUSTER_DIR"
  cp "$STATE_DIR/admin.kubeconfig" "$CLUSTER_DIR/kubeconfig"
  cat >"$CLUSTER_DIR/cluster.json" <<EOF
{
  "kubernetesVersion": "$KSYNC_K8S_VERSION",
  "kubeconfig": "$CLUSTER_DIR/kubeconfig",
  "kubectl": "$K8S_BIN/kubectl",
  "nodeName": "$NODE_NAME",
  "images": { "pause": "$PAUSE_IMAGE", "testApp": "$TESTAPP_IMAGE", "node": "$NODE_IMAGE", "agent": "$AGENT_IMAGE" }
}
EOF
}

if [[ $EUID -ne 0 ]]; then
  echo "cluster-up: must run as root (it starts containerd and the kubelet); rerun with sudo" >&2
  exit 1
fi

# ---- idempotence -------------------------------------------------------------------------
running=() stopped=()
for c in "${COMPONENTS[@]}"; do
  if is_running "$c"; then running+=("$c"); else stopped+=("$c"); fi
done
if ((${#stopped[@]} == 0)); then
  if kubectl_admin get --raw /readyz >/dev/null 2>&1; then
    write_outputs
    say "already up (Kubernetes $KSYNC_K8S_VERSION); export KUBECONFIG=$CLUSTER_DIR/kubeconfig"
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

# ---- host packages -----------------------------------------------------------------------
# Debian packages, installed only when missing. Binaries checked: the package each provides.
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
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
for port in 2379 2380 6443 10248 10250 10257 10259; do
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
# One run per log file: a fresh cluster starts fresh logs (down.sh keeps them for reading).
rm -f "$LOG_DIR"/*.log
# Save host settings once: if an earlier up died half-way, its saved values are the originals.
if [[ ! -f "$STATE_DIR/sysctls.saved" ]]; then
  for s in "${SAVED_SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$STATE_DIR/sysctls.saved"
  ls /run/netns 2>/dev/null >"$STATE_DIR/netns.before" || true
  [[ -d /run/containerd ]] && touch "$STATE_DIR/run-containerd.existed"
  [[ -d /var/lib/cni ]] && touch "$STATE_DIR/var-lib-cni.existed"
  for t in filter nat mangle; do
    iptables -t "$t" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/'"$t"' \1/p'
  done >"$STATE_DIR/iptables-chains.before" || true
  # The kubelet's canary chains make iptables-nft create whole tables; remember which existed.
  nft list tables 2>/dev/null >"$STATE_DIR/nft-tables.before" || true
fi

make_pki

# ---- CNI ---------------------------------------------------------------------------------
# One bridge on its own subnet, no masquerade, no default route: pods reach each other and the
# host bridge address, and nothing off this machine. The dir is ours, not /etc/cni/net.d.
mkdir -p "$CNI_CONF_DIR" "$STATE_DIR/cni/ipam"
cat >"$CNI_CONF_DIR/10-ksync.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NET_NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE_DIR/cni/ipam",
        "ranges": [[{ "subnet": "$CNI_SUBNET" }]]
      }
    }
  ]
}
EOF

# ---- containerd --------------------------------------------------------------------------
# A dedicated instance: own root, state, sockets and runc root, so neither start nor teardown
# can touch another containerd's containers. cgroupfs on both sides (containerd 1.6 has no CRI
# RuntimeConfig, so the kubelet uses its own cgroupDriver setting and they must match).
cat >"$STATE_DIR/containerd.toml" <<EOF
version = 2
root = "$STATE_DIR/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE_DIR/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  tolerate_missing_hugetlb_controller = true
  # Clamp oom_score_adj to containerd's own (0): sandboxes ask for -998, which needs
  # CAP_SYS_RESOURCE, and sandboxed/VM hosts (this one) drop it, so runc init fails with
  # "can't get final child's PID from pipe: EOF". Scores only matter under memory pressure.
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"
    max_conf_num = 1
EOF
mkdir -p "$(dirname "$CONTAINERD_SOCK")"
say "starting containerd"
start_daemon containerd "$(command -v containerd)" --config "$STATE_DIR/containerd.toml"
wait_until containerd 30 ctr --address "$CONTAINERD_SOCK" version

for img in pause test-app node24 agent; do
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import \
    "$CLUSTER_DIR/images/$img.tar" >>"$LOG_DIR/images.log" 2>&1 ||
    fail_component images "import of $CLUSTER_DIR/images/$img.tar failed"
done
say "imported images: $PAUSE_IMAGE $TESTAPP_IMAGE $NODE_IMAGE $AGENT_IMAGE"

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

# ---- kubelet -----------------------------------------------------------------------------
# Pods live under their own cgroup root (/ksync/kubepods) in every hierarchy, so teardown
# removes exactly what this cluster created. The kubelet requires the root to exist.
while read -r h; do mkdir -p "$h/ksync"; done < <(cgroup_hierarchies)

# Image GC and disk eviction are off (kind does the same): containerd 1.6 cannot pin the pause
# image, and the imported images cannot be pulled again. failCgroupV1 is false by default on
# 1.34 and set explicitly so the file survives an upgrade to 1.35.
cat >"$STATE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
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
cgroupRoot: /ksync
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
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
EOF
say "starting kubelet"
start_daemon kubelet "$K8S_BIN/kubelet" --config="$STATE_DIR/kubelet.yaml" \
  --kubeconfig="$STATE_DIR/kubelet.kubeconfig" --root-dir="$KUBELET_DIR" \
  --cert-dir="$KUBELET_DIR/pki" --hostname-override="$NODE_NAME" --v=1
wait_until kubelet 60 curl -fsS http://127.0.0.1:10248/healthz

# ---- ready checks ------------------------------------------------------------------------
node_ready() {
  [[ "$(kubectl_admin get node "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}
wait_until kubelet 90 node_ready
wait_until kube-controller-manager 60 kubectl_admin -n default get serviceaccount default
wait_until kube-controller-manager 60 kubectl_admin -n default get configmap kube-root-ca.crt

write_outputs
say "up in $((SECONDS - T0))s: Kubernetes $KSYNC_K8S_VERSION, node $NODE_NAME Ready"
say "use it:  export KUBECONFIG=$CLUSTER_DIR/kubeconfig; $K8S_BIN/kubectl get nodes"
say "logs in $LOG_DIR; stop with 'make cluster-down'"
