#!/usr/bin/env bash
# The request log's cost: autoconfig requests per server CPU-second with request lines off
# (RUST_LOG=warn) and on (RUST_LOG=info, stderr to a file), alternating, ROUNDS times (default
# 3). Loopback only, each wrk run bounded (DURATION, default 5s). Needs wrk.
# Usage: benches/load/request-log.sh [BINARY]   (default: a fresh release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5s}
PORT=18490
binary=${1:-}
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=target/release/mxconf
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tick=$(getconf CLK_TCK)
url="http://127.0.0.1:$PORT/mail/config-v1.1.xml?emailaddress=jane@example.com"

measure() {
  name=$1 level=$2
  RUST_LOG=$level "$binary" serve --listen "127.0.0.1:$PORT" 2>"$work/$name.log" &
  pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c64 -d1s "$url" >/dev/null
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  rate=$(wrk -t2 -c64 -d"$DURATION" "$url" | awk '/Requests\/sec/ {print $2}')
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v n="$name" -v r="$rate" -v c="$((after - before))" -v t="$tick" -v d="${DURATION%s}" \
    'BEGIN { cpu = c / t; printf "%-13s %8.0f req/s, %5.2f CPU-s: %8.0f req per server CPU-second\n", n, r, cpu, r * d / cpu }'
}
for round in $(seq "${ROUNDS:-3}"); do
  echo "round $round"
  measure "log off" warn
  measure "log on" info
done
