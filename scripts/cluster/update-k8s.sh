#!/usr/bin/env bash
# Re-pins the wrapper module (scripts/cluster/k8s) to KSYNC_K8S_VERSION from versions.sh:
# require k8s.io/kubernetes at that tag and replace every staging module (the
# `k8s.io/X => ./staging/src/k8s.io/X` lines of its go.mod) with its v0.N.P tag.
# Run after changing the version, then commit go.mod and go.sum.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"
cd "$CLUSTER_SCRIPTS/k8s"
modfile="$(go mod download -json "k8s.io/kubernetes@$KSYNC_K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
args=()
for old in $(sed -n 's/^\t\(k8s\.io\/[^ ]*\) => .*/\1/p' go.mod); do args+=("-dropreplace=$old"); done
args+=("-require=k8s.io/kubernetes@$KSYNC_K8S_VERSION")
for m in $(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$modfile"); do
  args+=("-replace=$m=$m@$KSYNC_K8S_STAGING_VERSION")
done
go mod edit "${args[@]}"
go mod tidy
echo "update-k8s: wrapper module now at k8s.io/kubernetes $KSYNC_K8S_VERSION; commit scripts/cluster/k8s/go.{mod,sum}"
