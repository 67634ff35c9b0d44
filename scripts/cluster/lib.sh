# Helpers shared by up.sh and down.sh. Sourced, never run.
# shellcheck shell=bash disable=SC2034

# The control plane in start order. Each node adds its containerd and kubelet (node_vars).
CONTROL_PLANE=(etcd kube-apiserver kube-controller-manager kube-scheduler)

# node_vars N: sets the NODE_* variables for node N (1..MAX_NODES). Each node has its own
# containerd (socket, root, state, OCI runtime), kubelet (root dir, ports, cgroup root, serving
# certificate for its own loopback address), CNI bridge and subnet. Node 1 runs runc, the
# others Debian's crun, so both runtimes are exercised. Node 1 keeps the single-node layout.
node_vars() {
  local n=$1
  NODE_NAME="127.0.0.$n" # also its InternalIP: the kubelet takes an IP hostname as its address
  if ((n == 1)); then
    NODE_SUFFIX="" NODE_STATE="$STATE_DIR" NODE_RUN="$RUN_DIR" NODE_RUNTIME=runc
    NODE_CGROUP_ROOT=/ksync NODE_CNI_NET=ksync
  else
    NODE_SUFFIX="-node$n" NODE_STATE="$STATE_DIR/node$n" NODE_RUN="$RUN_DIR/node$n" NODE_RUNTIME=crun
    NODE_CGROUP_ROOT="/ksync-node$n" NODE_CNI_NET="ksync-node$n"
  fi
  NODE_CONTAINERD="containerd$NODE_SUFFIX" NODE_KUBELET="kubelet$NODE_SUFFIX"
  NODE_CONTAINERD_SOCK="$NODE_RUN/containerd/containerd.sock"
  NODE_KUBELET_DIR="$NODE_STATE/kubelet"
  NODE_CNI_CONF_DIR="$NODE_STATE/cni/net.d"
  NODE_CNI_BRIDGE="ksync$((n - 1))"
  NODE_CNI_SUBNET="10.244.$((n - 1)).0/24"
  NODE_KUBELET_PORT=$((10250 + (n - 1) * 1000))
  NODE_HEALTHZ_PORT=$((10248 + (n - 1) * 1000))
}

# How many nodes the running (or last started) cluster has; 1 when up.sh never recorded it.
recorded_nodes() { cat "$STATE_DIR/nodes" 2>/dev/null || echo 1; }

# Every component of a cluster with $1 nodes, in start order; down.sh stops them in reverse.
components() {
  local n
  for ((n = 1; n <= $1; n++)); do node_vars "$n" && echo "$NODE_CONTAINERD"; done
  printf '%s\n' "${CONTROL_PLANE[@]}"
  for ((n = 1; n <= $1; n++)); do node_vars "$n" && echo "$NODE_KUBELET"; done
}

# The sysctls the kubelet rewrites at start (setupKernelTunables) plus the one the CNI bridge
# plugin turns on for its gateway. up.sh saves them once; down.sh puts them back.
SAVED_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)

say() { echo "cluster: $*"; }

# One line naming the component and its log, then the log's last lines, then exit.
fail_component() {
  local component=$1 why=$2 log="$LOG_DIR/$1.log"
  echo "cluster-up: $component $why; log $log; run 'make cluster-down' to clean up. Last lines:" >&2
  if [[ -f "$log" ]]; then tail -n 8 "$log" | sed 's/^/  | /' >&2; fi
  exit 1
}

pid_of() { [[ -f "$PID_DIR/$1.pid" ]] && cat "$PID_DIR/$1.pid"; }

# True when the recorded PID still runs the binary we started (guards against PID reuse).
# A node's component is named after its binary plus the node suffix (kubelet-node2).
is_running() {
  local pid exe
  pid=$(pid_of "$1") || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ "$(basename "${exe% (deleted)}")" == "${1%-node[0-9]}" ]]
}

# start_daemon NAME BINARY ARGS...: runs the binary in its own session (so it outlives the
# calling shell and make), logs to .cluster/logs/NAME.log and records its PID.
start_daemon() {
  local name=$1; shift
  mkdir -p "$PID_DIR" "$LOG_DIR"
  echo "=== $(date -u +%FT%TZ) $*" >>"$LOG_DIR/$name.log"
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  local pid=$! exe i
  echo "$pid" >"$PID_DIR/$name.pid"
  # Return once the child has exec'd the binary (or died): until then its /proc/PID/exe is the
  # shell or setsid, and is_running would take a busy machine's slow exec for an exit.
  for ((i = 0; i < 250; i++)); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || break
    [[ "$(basename "${exe% (deleted)}")" == "$(basename "$1")" ]] && break
    sleep 0.02
  done
}

# wait_until COMPONENT SECONDS COMMAND...: polls COMMAND until it succeeds; fails with the
# component's log if the process dies or the time runs out.
wait_until() {
  local component=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [[ -f "$PID_DIR/$component.pid" ]] && ! is_running "$component"; then
      fail_component "$component" "exited during start-up"
    fi
    if ((SECONDS >= deadline)); then
      fail_component "$component" "was not ready after ${seconds}s"
    fi
    sleep 0.5
  done
}

# stop_pid NAME...: SIGTERM to each recorded PID at once, then SIGKILL to any still running
# after 15s. Only PIDs we recorded, and only while they still run the binary we started.
stop_pid() {
  local name pid i alive
  local -A pids=()
  for name in "$@"; do
    if is_running "$name"; then
      pid=$(pid_of "$name")
      pids[$name]=$pid
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 150; i++)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for name in "${!pids[@]}"; do
    pid=${pids[$name]}
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for 15s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for name in "$@"; do rm -f "$PID_DIR/$name.pid"; done
}

# Every mounted cgroup v1 hierarchy (and the hybrid unified one), one directory a line.
cgroup_hierarchies() {
  findmnt -rn -t cgroup,cgroup2 -o TARGET | grep '^/sys/fs/cgroup' || true
}

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$STATE_DIR/admin.kubeconfig" "$@"; }
