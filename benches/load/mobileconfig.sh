#!/bin/sh
# Load test of GET /mobileconfig (build + CMS signature per request) against a release build,
# next to OpenSSL's own RSA-2048 signing rate on the same machine. Bounded in time, 127.0.0.1.
#
# Usage: benches/load/mobileconfig.sh [SECONDS] [CONNECTIONS]      (defaults 5, 16)
# Needs: cargo build --release, wrk, openssl, taskset (util-linux). Phases:
#   1. per core: the server pinned to one core, wrk to the others, every request for a new
#      address (so every profile is signed afresh), alternating with `openssl speed rsa2048`
#      pinned to the same core: ROUNDS rounds (default 3), each with its ratio, then the median;
#   2. the whole machine: the server on every core (wrk sharing them), new addresses, while a
#      second wrk measures how /healthz is answered meanwhile;
#   3. one address over and over: re-downloads, answered from the signature cache.
set -eu

seconds=${1:-5}
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
cd "$root"

# Starts the embedded demo (signing with the development chain, RSA 2048) under the given
# command prefix (e.g. taskset); sets $server and $addr.
start() {
    RUST_LOG=info "$@" "$bin" serve --listen 127.0.0.1:0 2> "$work/server.log" &
    server=$!
    addr=
    for _ in $(seq 1 100); do
        addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$work/server.log" | head -n 1)
        [ -n "$addr" ] && break
        sleep 0.1   # polling for the server's "listening on" line (at most 10 s)
    done
    [ -n "$addr" ] || { cat "$work/server.log"; echo "server did not start" >&2; exit 2; }
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
# CPU seconds the server has used (utime + stime).
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$server/stat"; }
rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
speed() { "$@" openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}'; }
cores=$(nproc)
last=$((cores - 1))

if [ "$cores" -ge 2 ]; then
    echo "== 1. per core: server on core $last, wrk on cores 0-$((last - 1)), a new address per request"
    start taskset -c "$last"
    for round in $(seq "${ROUNDS:-3}"); do
        before=$(cpu)
        taskset -c "0-$((last - 1))" wrk -t1 -c"$connections" -d"${seconds}s" \
            -s benches/load/distinct-addresses.lua "http://$addr" > "$work/pinned.txt"
        after=$(cpu)
        profiles=$(rate "$work/pinned.txt")
        requests=$(awk '/requests in/ {print $1}' "$work/pinned.txt")
        openssl=$(speed taskset -c "$last")
        # openssl speed divides by CPU time, not wall time (its -elapsed is off): on a VM whose
        # host steals cycles, the server's CPU-time rate is the like-for-like comparison.
        awk -v p="$profiles" -v o="$openssl" -v r="$round" -v n="$requests" -v a="$before" -v b="$after" \
            'BEGIN { c = n / (b - a); printf "   round %d: %.0f signed profiles/s (%.0f per CPU-second), openssl speed %.0f sign/s per CPU-second: %.2fx wall, %.2fx CPU\n", r, p, c, o, p / o, c / o }' \
            | tee -a "$work/rounds.txt"
    done
    sort -t: -k3 "$work/rounds.txt" | awk '{ for (i = 1; i <= NF; i++) if ($i == "wall,") print $(i - 1) }' \
        | tr -d x | sort -n | awk '{ v[NR] = $1 } END { printf "   median: %.2fx of openssl speed per core (%d rounds)\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR }'
    stop
fi

echo "== 2. all $cores cores (wrk sharing them), a new address per request, /healthz meanwhile"
start
wrk -t2 -c"$connections" -d"${seconds}s" -s benches/load/distinct-addresses.lua "http://$addr" > "$work/loaded.txt" &
load=$!
wrk -t1 -c1 -d"${seconds}s" --latency "http://$addr/healthz" > "$work/healthz.txt"
wait "$load"
grep -E "Non-2xx|Socket errors" "$work/loaded.txt" || true
echo "   $(rate "$work/loaded.txt") signed profiles/s; /healthz $(rate "$work/healthz.txt") req/s meanwhile, latency:"
grep -A4 "Latency Distribution" "$work/healthz.txt" | tail -n 4

echo "== 3. one address over and over (re-downloads: the signature cache)"
wrk -t2 -c"$connections" -d"${seconds}s" "http://$addr/mobileconfig?emailaddress=jane%40example.com&name=Jane" > "$work/same.txt"
echo "   $(rate "$work/same.txt") profiles/s"
stop

echo "== openssl speed rsa2048: $(speed) sign/s on one core; $(openssl speed -multi "$cores" -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}') on $cores at once"
