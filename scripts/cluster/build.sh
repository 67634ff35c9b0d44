#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kubectl from the k8s.io/kubernetes module (through the Go module proxy) into
# the cache dir. A no-op when the cached binaries already carry the version.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
STAMP="$K8S_BIN/.built"

if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$KSYNC_K8S_VERSION" ]]; then
  ok=1
  for b in "${BINS[@]}"; do [[ -x "$K8S_BIN/$b" ]] || ok=0; done
  if [[ $ok == 1 ]]; then
    echo "build: Kubernetes $KSYNC_K8S_VERSION binaries cached in $K8S_BIN"
    exit 0
  fi
fi

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [[ ! -x "$GO" ]]; then
  echo "build: no Go toolchain found (looked on PATH and /usr/local/go/bin/go); install Go >= 1.24" >&2
  exit 1
fi

mod_version="$(sed -n 's/^require k8s.io\/kubernetes \(v[^ ]*\)$/\1/p' "$CLUSTER_SCRIPTS/k8s/go.mod")"
if [[ "$mod_version" != "$KSYNC_K8S_VERSION" ]]; then
  echo "build: scripts/cluster/k8s/go.mod pins $mod_version but KSYNC_K8S_VERSION=$KSYNC_K8S_VERSION; update the wrapper module" >&2
  exit 1
fi

# Stamp the same version fields that kube's hack/lib/version.sh sets, in both
# version packages, so `kubectl version` and the node's kubeletVersion are real.
minor="${KSYNC_K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KSYNC_K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=unknown"
  ldflags+=" -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done

mkdir -p "$K8S_BIN"
tmp="$K8S_BIN/.tmp"
rm -rf "$tmp"; mkdir -p "$tmp"
start=$(date +%s)
echo "build: Kubernetes $KSYNC_K8S_VERSION with $("$GO" version) (cold caches: ~11 min on 2 cores)"
cd "$CLUSTER_SCRIPTS/k8s"
# -mod=mod is not needed: go.sum is committed, so nothing is resolved here.
export CGO_ENABLED=0
for b in "${BINS[@]}"; do
  t0=$(date +%s)
  echo "build: $b ..."
  "$GO" build -buildvcs=false -trimpath -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b"
  echo "build: $b done in $(( $(date +%s) - t0 ))s"
done
for b in "${BINS[@]}"; do mv -f "$tmp/$b" "$K8S_BIN/$b"; done
rmdir "$tmp"
echo "$KSYNC_K8S_VERSION" > "$STAMP"
echo "build: all binaries in $K8S_BIN after $(( $(date +%s) - start ))s"
