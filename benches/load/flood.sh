#!/bin/sh
# Hostile clients against a release build on 127.0.0.1: while one client floods the server, a
# second one (wrk, 4 connections, GET /healthz) measures how it is answered meanwhile. Each
# case prints that client's p50/p99 next to the baseline (no flood), its rate and errors, and
# the server's CPU-seconds over the run. Bounded: SECONDS per case (default 10).
#
# Usage: benches/load/flood.sh [BINARY]        (default: a fresh `cargo build --release`)
# Needs: wrk, python3. Cases:
#   baseline  nothing else
#   idle      2 x max-connections (512) sockets held: half idle, half slowloris heads
#             (benches/load/hold.py); each one closed by the server is opened again
#   bomb      8 connections POSTing 64 KiB POX bodies of ~6,000 attributes each
#   command   1,000 connections asking distinct addresses of a domain whose per-user source
#             is a command that takes 0.5 s. COMMAND_SETTINGS (lines added to its
#             [backends.slow] table, e.g. a concurrency cap) is the hook for bounding it.
set -eu

seconds=${SECONDS_PER_CASE:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-}
cd "$root"
if [ -z "$bin" ]; then
    cargo build --release --quiet
    bin="$root/target/release/mxconf"
fi
work=$(mktemp -d)
server=
flood=
cleanup() {
    [ -n "$flood" ] && kill "$flood" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The shipped example (the embedded demo) with a 512-connection cap, so the idle case runs
# past it with sockets to spare.
sed 's/^# max-connections = 4096$/max-connections = 512/' examples/mxconf.toml > "$work/demo.toml"
# The same with every domain asking a slow command first.
cat > "$work/lookup.sh" <<'SCRIPT'
#!/bin/sh
sleep 0.5
echo null
SCRIPT
chmod +x "$work/lookup.sh"
sed 's/^# sources = \["users", "directory"\]$/sources = ["slow"]/' "$work/demo.toml" > "$work/command.toml"
cat >> "$work/command.toml" <<TOML

[backends.slow]
type = "command"
command = ["$work/lookup.sh", "%EMAILADDRESS%"]
timeout = "2s"
${COMMAND_SETTINGS:-}
TOML

# A POX request whose <Request> carries ~6,000 attributes, just under the 64 KiB body cap.
python3 - "$work/bomb.xml" <<'PY'
import sys
attributes = "".join(f' a{n}=""' for n in range(6000))
body = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/'
        'exchange/autodiscover/outlook/requestschema/2006"><Request' + attributes + '>'
        '<EMailAddress>jane@example.com</EMailAddress><AcceptableResponseSchema>http://schemas.'
        'microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
        '</AcceptableResponseSchema></Request></Autodiscover>')
assert len(body) <= 64 * 1024
open(sys.argv[1], "w").write(body)
PY
# Autoconfig for a new address on every request (so no lookup is answered from the cache).
cat > "$work/distinct.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", os.time() .. "t" .. threads .. "n")
end
local sent = 0
function request()
  sent = sent + 1
  return wrk.format("GET", "/mail/config-v1.1.xml?emailaddress=u" .. prefix .. sent .. "%40example.com")
end
LUA
cat > "$work/bomb.lua" <<LUA
local file = assert(io.open("$work/bomb.xml", "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"
wrk.body = file:read("*a")
file:close()
LUA

# Starts the server on CONFIG at a free port; sets $server and $addr.
start() {
    addr=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    RUST_LOG=warn "$bin" serve --config "$1" --listen "$addr" 2> "$work/server.log" &
    server=$!
    for _ in $(seq 1 100); do
        curl -fs "http://$addr/healthz" > /dev/null && return
        sleep 0.1   # polling for the server to answer (at most 10 s)
    done
    cat "$work/server.log"; echo "server did not start" >&2; exit 2
}
stop() {
    [ -n "$flood" ] && { kill "$flood" 2>/dev/null || true; wait "$flood" 2>/dev/null || true; flood=; }
    kill "$server"; wait "$server" 2>/dev/null || true; server=
}
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$server/stat"; }

# The second client: /healthz for $seconds on 4 connections; prints one result line.
measure() {
    name=$1
    before=$(cpu)
    wrk -t1 -c4 -d"${seconds}s" --timeout 10s --latency "http://$addr/healthz" > "$work/healthz.txt" 2>&1 || true
    after=$(cpu)
    awk -v name="$name" -v a="$before" -v b="$after" '
        $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
        /Requests\/sec/ { rate = $2 }
        /Socket errors/ { errors = $0; sub(/.*errors: /, "", errors) }
        /Non-2xx/ { non2xx = $NF }
        END { printf "%-9s p50 %9s  p99 %9s  %9.0f req/s  server %6.2f CPU-s  errors: %s\n",
                     name, p50, p99, rate, b - a, (errors == "" ? "none" : errors) (non2xx == "" ? "" : ", non-2xx " non2xx) }' \
        "$work/healthz.txt"
}

echo "== flood cases, ${seconds}s each; the second client: wrk -c4 GET /healthz"
start "$work/demo.toml"
measure baseline

python3 benches/load/hold.py "${addr%:*}" "${addr##*:}" 1024 > "$work/hold.txt" &
flood=$!
for _ in $(seq 1 300); do grep -qs held "$work/hold.txt" && break; sleep 0.1; done   # at most 30 s
measure idle
kill "$flood"; wait "$flood" 2>/dev/null || true; flood=

wrk -t1 -c8 -d"$((seconds + 2))s" -s "$work/bomb.lua" "http://$addr/autodiscover/autodiscover.xml" > "$work/bomb.txt" 2>&1 &
flood=$!
measure bomb
wait "$flood" || true; flood=
echo "          (the bombs themselves: $(awk '/Requests\/sec/ {print $2}' "$work/bomb.txt") req/s, answered error 600)"
stop

start "$work/command.toml"
wrk -t1 -c1000 -d"$((seconds + 2))s" --timeout 10s -s "$work/distinct.lua" "http://$addr" > "$work/command.txt" 2>&1 &
flood=$!
sleep 1   # let the flood reach its 1,000 connections before measuring
children=$(ps --ppid "$server" --no-headers 2>/dev/null | wc -l)
measure command
wait "$flood" || true; flood=
echo "          (the flood: $(awk '/Requests\/sec/ {print $2}' "$work/command.txt") req/s; $children command children running 1 s in)"
stop
