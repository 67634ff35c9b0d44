#!/usr/bin/env bash
# Restarts one component of the running local cluster with the command line it runs with now,
# for fault tests: `scripts/cluster/restart.sh kube-apiserver` (or kubelet, kubelet-node2, ...).
# Stops it as cluster-down would (SIGTERM, SIGKILL after 15 s; only the PID up.sh recorded),
# starts it again through start_daemon (same log, new PID file) and waits until it answers:
# the apiserver's /readyz, or a kubelet's /healthz on its own port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
source "$CLUSTER_SCRIPTS/lib.sh"

component=${1:-}
if [[ -z "$component" ]]; then
  echo "usage: scripts/cluster/restart.sh COMPONENT (one of: $(components "$(recorded_nodes)" | tr '\n' ' '))" >&2
  exit 2
fi
if ! is_running "$component"; then
  echo "restart: $component is not running (is the cluster up? run 'make cluster-up')" >&2
  exit 1
fi
pid=$(pid_of "$component")
mapfile -d '' command <"/proc/$pid/cmdline"
stop_pid "$component"
start_daemon "$component" "${command[@]}"
case "$component" in
  kube-apiserver) wait_until "$component" 90 kubectl_admin get --raw /readyz ;;
  kubelet*)
    n=1
    [[ "$component" =~ -node([0-9])$ ]] && n=${BASH_REMATCH[1]}
    node_vars "$n"
    wait_until "$component" 90 curl -fsS "http://$NODE_NAME:$NODE_HEALTHZ_PORT/healthz"
    ;;
  *) wait_until "$component" 30 kill -0 "$(pid_of "$component")" ;;
esac
say "$component restarted (pid $(pid_of "$component"))"
