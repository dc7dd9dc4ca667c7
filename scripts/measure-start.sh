#!/usr/bin/env bash
# Measures the embedded mode's start: time from `node dist/src/main.js` to the first healthy
# /api/v1/health, then the resident memory of Node and of the embedded PostgreSQL (every
# process of the cluster; RSS counts shared buffers once per process, PSS shares them out).
# Runs twice on one fresh data dir: the first start includes initdb. Needs `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
for run in first restart; do
  start=$(date +%s%N)
  env -u DATABASE_URL PORT="$port" HOST=127.0.0.1 EMBEDDED_PG_DATA_DIR="$dir/pg" LOG_LEVEL=warn \
    node dist/src/main.js >"$dir/app.log" 2>&1 &
  pid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/health")" = 200 ]; do
    kill -0 $pid 2>/dev/null || { cat "$dir/app.log"; exit 1; }
    sleep 0.02
  done
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  pm=$(head -1 "$dir/pg/postmaster.pid")
  pids="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
  rss=0; pss=0
  for p in $pids; do
    rss=$((rss + $(awk '/VmRSS/ {print $2}' /proc/$p/status)))
    pss=$((pss + $(awk '/^Pss:/ {s+=$2} END {print s+0}' /proc/$p/smaps)))
  done
  echo "$run start: healthy after ${ms} ms; Node RSS $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MiB;" \
    "PostgreSQL ($(echo $pids | wc -w) processes) RSS $((rss / 1024)) MiB, PSS $((pss / 1024)) MiB"
  kill -INT $pid
  wait $pid
done
