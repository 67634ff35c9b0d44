#!/usr/bin/env bash
# Builds packages/cli/dist (packages/cli/build.ts) unless it was built from exactly the sources
# on disk now. Used by bin/ksync, bin/ksync-agent, make setup and the image build, so that no
# command ever runs a build older than a source edit.
#
# The check is a fingerprint of every input's path, mtime (ns) and size, not "is anything
# newer": it also notices a deleted file, and a file replaced by an older copy. It is taken
# before the build starts, so an edit made while esbuild runs leaves a stale fingerprint and the
# next run builds again. Concurrent callers build once: the first holds the lock, the others
# wait for it and then find the fingerprint current. The build itself replaces files by rename,
# so a process that starts meanwhile runs a complete old or new build.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dist="$repo/packages/cli/dist"
stamp="$dist/.inputs"

fingerprint() {
  cd "$repo" && {
    find packages \( -name node_modules -o -name dist \) -prune -o -type f \
      ! -name '*.test.ts' -printf '%p %T@ %s\n'
    find package.json package-lock.json node_modules/.package-lock.json -printf '%p %T@ %s\n' 2>/dev/null || true
  } | LC_ALL=C sort | md5sum | cut -d' ' -f1
}

current=$(fingerprint)
if [ -f "$dist/ksync.mjs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$current" ]; then exit 0; fi

mkdir -p "$dist"
exec 9>"$dist/.lock"
flock 9
current=$(fingerprint)
if [ -f "$dist/ksync.mjs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$current" ]; then exit 0; fi
# shellcheck source=env.sh
source "$repo/scripts/env.sh"
node "$repo/packages/cli/build.ts" "$dist" >&2
printf '%s\n' "$current" >"$stamp.tmp"
mv "$stamp.tmp" "$stamp"
