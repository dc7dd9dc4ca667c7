#!/usr/bin/env bash
# Starts the built service with no DATABASE_URL (embedded PostgreSQL in a throwaway dir),
# waits for /api/v1/health = 200, stops it with SIGINT and checks that it exited 0 and
# left no PostgreSQL behind.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
log="$dir/app.log"
start=$(date +%s%N)
env -u DATABASE_URL PORT="$port" HOST=127.0.0.1 EMBEDDED_PG_DATA_DIR="$dir/pg" node dist/src/main.js >"$log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 600); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/health" || true)
  [ "$code" = 200 ] && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "smoke: the service exited before it was healthy"; exit 1; }
  sleep 0.1
done
[ "$code" = 200 ] || { cat "$log"; echo "smoke: not healthy in 60 s"; exit 1; }
echo "smoke: healthy after $(( ($(date +%s%N) - start) / 1000000 )) ms"
pgpid=$(head -1 "$dir/pg/postmaster.pid")
kill -INT $pid
wait $pid && rc=0 || rc=$?
[ "$rc" = 0 ] || { cat "$log"; echo "smoke: exit code $rc"; exit 1; }
if kill -0 "$pgpid" 2>/dev/null; then echo "smoke: PostgreSQL ($pgpid) still running"; exit 1; fi
echo "smoke: stopped cleanly"
