#!/bin/sh
# Load test of GET /mobileconfig (build + sign per request) against a release build, next to
# OpenSSL's own RSA-2048 signing rate on the same machine. Bounded in time, 127.0.0.1 only.
#
# Usage: benches/load/mobileconfig.sh [SECONDS] [CONNECTIONS]      (defaults 10, 16)
# Needs: cargo build --release, wrk, openssl. Prints profiles/s, /healthz latency under load,
# and `openssl speed` sign/s (one core) times the number of cores.
set -eu

seconds=${1:-10}
connections=${2:-16}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/target/release/mxconf"
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The embedded demo signs with the development chain (RSA 2048), as a real deployment would.
RUST_LOG=info "$bin" serve --listen 127.0.0.1:0 2> "$work/server.log" &
server=$!
addr=
for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$work/server.log" | head -n 1)
    [ -n "$addr" ] && break
    sleep 0.1   # polling for the server's "listening on" line (at most 10 s)
done
[ -n "$addr" ] || { cat "$work/server.log"; echo "server did not start" >&2; exit 2; }
url="http://$addr/mobileconfig?emailaddress=jane%40example.com&name=Jane"
curl -sf -o /dev/null "$url" || { echo "no profile served" >&2; exit 2; }

# CPU seconds the server has used (utime + stime), so its cost per profile can be compared
# with `openssl speed`, which also counts CPU time, even on a machine shared with other load.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$server/stat"; }
cores=$(nproc)
cpu_before=$(cpu)
echo "== wrk: GET /mobileconfig, $connections connections, ${seconds}s, $cores core(s)"
wrk -t2 -c"$connections" -d"${seconds}s" --latency "$url" > "$work/wrk.txt" &
load=$!
# While the signing load runs: how long does a request that signs nothing wait?
wrk -t1 -c1 -d"${seconds}s" --latency "http://$addr/healthz" > "$work/healthz.txt"
wait "$load"
cpu_after=$(cpu)
cat "$work/wrk.txt"
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
echo "== server CPU: $cpu_before s -> $cpu_after s for $requests profiles (plus the /healthz requests)"
awk -v r="$requests" -v a="$cpu_before" -v b="$cpu_after" \
    'BEGIN { if (b > a) printf "   %.0f profiles per CPU-second (%.3f ms CPU each)\n", r / (b - a), 1000 * (b - a) / r }'
echo "== /healthz under that load (1 connection)"
grep -A5 "Latency Distribution" "$work/healthz.txt"
grep "Requests/sec" "$work/healthz.txt"

echo "== openssl speed -seconds 3 rsa2048 (one core)"
openssl speed -seconds 3 rsa2048 2>/dev/null | grep -E "^rsa 2048|sign/s"
