# Sourced by make targets and launchers: puts the project's Node first on PATH when set-up installed one.
_ksync_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$_ksync_root/.tools/node/bin/node" ]; then
  export PATH="$_ksync_root/.tools/node/bin:$PATH"
fi
unset _ksync_root
