# Helpers shared by up.sh and down.sh. Sourced, never run.
# shellcheck shell=bash disable=SC2034

# Components in start order; down.sh stops them in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)

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
is_running() {
  local pid exe
  pid=$(pid_of "$1") || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ "$(basename "${exe% (deleted)}")" == "$1" ]]
}

# start_daemon NAME BINARY ARGS...: runs the binary in its own session (so it outlives the
# calling shell and make), logs to .cluster/logs/NAME.log and records its PID.
start_daemon() {
  local name=$1; shift
  mkdir -p "$PID_DIR" "$LOG_DIR"
  echo "=== $(date -u +%FT%TZ) $*" >>"$LOG_DIR/$name.log"
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$PID_DIR/$name.pid"
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
