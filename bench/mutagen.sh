#!/usr/bin/env bash
# Builds the Mutagen baseline (v0.18.1) once, outside the repository, and prints the binary's path.
# Mutagen is built as a Go module dependency (plain `go install …@v0.18.1` fails on its replace
# directives). Local-to-local sessions need no agent bundle. Nothing of it is committed. Usage: bench/mutagen.sh   (cache: $KSYNC_CACHE or ~/.cache/ksync)
set -euo pipefail
version=v0.18.1
dir=${KSYNC_CACHE:-$HOME/.cache/ksync}/mutagen-$version
bin=$dir/mutagen
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "bench/mutagen.sh: go is not on PATH; install Go to build the Mutagen baseline" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[[ -f go.mod ]] || cat >go.mod <<MOD
module ksync.local/mutagen-bench

go 1.24

require github.com/mutagen-io/mutagen $version
MOD
cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/mutagen-io/mutagen/cmd/mutagen"
GO
go mod tidy >&2
go build -tags mutagencli,mutagensspl -o "$bin.tmp" github.com/mutagen-io/mutagen/cmd/mutagen >&2
mv "$bin.tmp" "$bin"
echo "$bin"
