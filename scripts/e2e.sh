#!/usr/bin/env bash
# The e2e tier: brings the local cluster up (building Kubernetes on a cold machine), runs the
# suites in test/e2e against it (or only the test files given as arguments) and always tears it
# down, exiting with the tests' status.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

teardown() {
  echo "e2e: tearing the cluster down"
  ./scripts/cluster/down.sh || echo "e2e: cluster-down reported leftovers (see above)" >&2
}
trap teardown EXIT
# A signal still runs the EXIT trap, and the exit status says which signal it was.
trap 'exit 130' INT
trap 'exit 143' TERM

# Two nodes unless KSYNC_NODES (make e2e NODES=1) says otherwise: the suites see a real
# multi-node cluster, as every production one is.
export KSYNC_NODES="${KSYNC_NODES:-2}"
if ! ./scripts/cluster/up.sh; then
  echo "e2e: cluster-up failed; no e2e test ran" >&2
  exit 1
fi
export KUBECONFIG="$root/.cluster/kubeconfig"
# shellcheck source=/dev/null
source scripts/env.sh
if (($# > 0)); then
  node --test --test-reporter=spec --test-concurrency=1 "$@"
else
  npm run -s test:e2e
fi
status=$?
exit "$status"
