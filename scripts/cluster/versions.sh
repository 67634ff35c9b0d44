# shellcheck shell=bash disable=SC2034
# Versions and paths shared by every cluster script. Sourced, never run.
# Kubernetes 1.34 is the newest line that still allows cgroup v1 by default and
# still falls back to the kubelet's cgroupDriver when the runtime (Debian's
# containerd 1.6) lacks the CRI RuntimeConfig RPC. See docs/cluster.md.
KSYNC_K8S_VERSION="${KSYNC_K8S_VERSION:-v1.34.10}"
KSYNC_K8S_STAGING_VERSION="v0.${KSYNC_K8S_VERSION#v1.}"

CLUSTER_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_SCRIPTS/../.." && pwd)"

# Binaries live outside the repo so a fresh clone reuses an earlier build.
KSYNC_CACHE="${KSYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ksync}"
K8S_BIN="$KSYNC_CACHE/k8s-$KSYNC_K8S_VERSION"

# Per-checkout outputs (git-ignored): kubeconfig, logs, image tarballs.
CLUSTER_DIR="$REPO_ROOT/.cluster"
LOG_DIR="$CLUSTER_DIR/logs"

# Machine-wide state. One cluster per machine: the ports are fixed.
STATE_DIR="${KSYNC_CLUSTER_STATE:-/var/lib/ksync-cluster}"
RUN_DIR="${KSYNC_CLUSTER_RUN:-/run/ksync-cluster}"
PKI_DIR="$STATE_DIR/pki"
PID_DIR="$RUN_DIR/pids"
SERVICE_CIDR="10.96.0.0/24"

# Nodes: `make cluster-up NODES=2` adds a second node on this machine. Node N's paths, ports,
# bridge, subnet and cgroup root come from node_vars (lib.sh); node 1 keeps the layout of
# the single-node cluster.
MAX_NODES=2

# Fully qualified names so ctr import keeps them unchanged.
PAUSE_IMAGE="localhost/ksync/pause:3.10"
TESTAPP_IMAGE="localhost/ksync/test-app:1"
NODE_IMAGE="localhost/ksync/node24:1"
# The agent image is tagged with the CLI's version: `ksync init` deploys the agent of its own
# release.
KSYNC_VERSION="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$REPO_ROOT/packages/cli/package.json")"
AGENT_IMAGE="localhost/ksync/agent:$KSYNC_VERSION"
