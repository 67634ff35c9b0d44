#!/usr/bin/env bash
# Benchmark: a 10k-file initial sync driven by the real ksync watch daemon against the real agent; samples both RSS.
# Usage: bench/cli-initial-sync.sh   (needs curl and bc; port 7489 free)
set -euo pipefail
R=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
D=$(mktemp -d /tmp/clirss-XXXX); cd $D
mkdir -p agent src; head -c 24 /dev/urandom | base64 > token
for d in $(seq 0 99); do mkdir src/d$d; done
$R/.tools/node/bin/node -e "const fs=require('fs');for(let d=0;d<100;d++)for(let f=0;f<100;f++)fs.writeFileSync('src/d'+d+'/file'+f+'.txt', d+'/'+f+' '+'x'.repeat(1000)+'\n')"
export KSYNC_HOME=$D/home
$R/bin/ksync-agent --listen 127.0.0.1:7489 --root $D/agent --token-file token >agent.log &
AG=$!
for i in $(seq 1 50); do curl -sf http://127.0.0.1:7489/healthz >/dev/null && break; sleep 0.1; done
AGPID=$(pgrep -f -- "--root $D/agent" | head -1)
$R/bin/ksync create --direct ws://127.0.0.1:7489 --token-file token ./src /app >/dev/null
start=$(date +%s.%N)
$R/bin/ksync watch --daemon >/dev/null
DPID=$(cat $KSYNC_HOME/*.pid 2>/dev/null || pgrep -f "main.ts watch" | head -1)
maxa=0; maxd=0
( while true; do a=$(awk '/VmRSS/{print $2}' /proc/$AGPID/status 2>/dev/null || echo 0); d=$(awk '/VmRSS/{print $2}' /proc/$DPID/status 2>/dev/null || echo 0); echo "$a $d"; sleep 0.05; done ) > rss.txt &
SAMP=$!
$R/bin/ksync flush src --timeout 120s >/dev/null
end=$(date +%s.%N)
kill $SAMP
echo "files on agent: $(find agent/app -type f | wc -l)"
echo "initial sync (watch --daemon start to flush done): $(echo "$end - $start" | bc) s"
awk '{if($1>a)a=$1; if($2>d)d=$2} END {printf "peak RSS: agent %.0f MiB, ksync watch daemon %.0f MiB\n", a/1024, d/1024}' rss.txt
$R/bin/ksync stop >/dev/null; kill $AGPID; rm -rf $D
