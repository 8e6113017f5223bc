#!/usr/bin/env bash
# [limits] against a release build on 127.0.0.1, with a real redis-server: what the limiter
# costs per request, what it buys in a flood, what Redis holds per client, and how long a
# (TLS) connection to Redis takes to set up against the store timeout. Every run is bounded.
# The machine is usually shared, so the figure that counts for cost is requests per server
# CPU-second (utime + stime from /proc/PID/stat; with Redis, redis-server's CPU is added), in
# alternating rounds so that drift hits every variant alike.
#
# Usage: benches/load/limits.sh [BINARY]      (default: a fresh `cargo build --release`)
# Needs: wrk, redis-server, redis-cli, openssl, curl, python3. Environment: ROUNDS (default 3),
# DURATION (5s), PHASES (default "cost flood memory connect"), DELAYS and CONNECTS (below).
#   cost     autoconfig GET (wrk -t1 -c32) against three servers at once: [limits] off, the
#            memory store, the Redis store; loopback counted (exempt = []) with budgets no run
#            reaches, so every request runs the limiter and none is refused.
#   flood    one client GETs /mobileconfig for a new address on every request (wrk -t1 -c16)
#            while a second one asks autoconfig (wrk -t1 -c4, paced: 10 ms between a
#            connection's requests, about 400 a second; its p50/p99 printed), with
#            [limits] off and on (memory store, profiles-per-minute 30; requests-per-minute
#            raised so that the measuring client is never refused). The two clients are told
#            apart by X-Forwarded-For, the server trusting 127.0.0.1 as its proxy.
#   memory   100,000 distinct IPv4 clients, then 100,000 IPv6 /64s, one request each, through
#            the Redis store: Redis's used_memory per client.
#   connect  a fresh server's first counted request, which opens the store's connection:
#            redis:// and rediss:// (a TLS handshake, RSA 2048), directly and through a relay
#            that holds every chunk DELAYS ms (default "1 5 10 20") each way, as a network's
#            round trip would; CONNECTS fresh servers each (default 5). Prints the first and
#            the second request's time and how many first requests the store timeout (default
#            100 ms) left uncounted.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
PHASES=${PHASES:-cost flood memory connect}
binary=${1:-}
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=target/release/mxconf
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ticks() { awk '{ s += $14 + $15 } END { print s }' "$@"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# A redis-server on a free loopback port, nothing persisted; sets $redis_pid and $redis_port.
start_redis() {
  redis_port=$(port)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --dir "$work" > "$work/redis-$redis_port.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping > /dev/null 2>&1 && return; sleep 0.1; done
  cat "$work/redis-$redis_port.log"; echo "redis-server did not start" >&2; exit 2
}

# The shipped example with LINES added to its [limits] table, SERVER_LINES in place of its
# `trusted-proxies = []`, and the [metrics] listener on port 0; written to FILE.
config() {
  local file=$1 lines=$2
  awk -v limits="$lines" -v server="${SERVER_LINES:-}" '
    $0 == "[limits]" { print; print limits; next }
    $0 == "trusted-proxies = []" && server != "" { print server; next }
    $0 == "# listen = \"127.0.0.1:9154\"" { print "listen = \"127.0.0.1:0\""; next }
    { print }' examples/mxconf.toml > "$file"
}

# Starts mxconf on CONFIG; sets $mx_pid, $mx_addr and $mx_metrics from its start-up lines.
start_mxconf() {
  local log="$work/mxconf-$RANDOM.log"
  RUST_LOG=info,mxconf::request=off "$binary" serve --config "$1" --listen 127.0.0.1:0 2> "$log" &
  mx_pid=$!
  pids+=("$mx_pid")
  mx_addr= mx_metrics=
  for _ in $(seq 200); do
    mx_addr=$(sed -n 's/.*listening on http:\/\/\([0-9.:]*\).*/\1/p' "$log" | head -n 1)
    mx_metrics=$(sed -n 's/.*metrics on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$mx_addr" ] && [ -n "$mx_metrics" ] && return
    sleep 0.05   # polling for the start-up lines (at most 10 s)
  done
  cat "$log"; echo "mxconf did not start" >&2; exit 2
}
stop_mxconf() { kill "$mx_pid"; wait "$mx_pid" 2>/dev/null || true; }
metric() { curl -fs "$mx_metrics/metrics" | awk -v name="$1" '$1 == name { print $2 }' | head -n 1; }

autoconfig="/mail/config-v1.1.xml?emailaddress=jane@example.com"
huge='requests-per-minute = 1000000000
profiles-per-minute = 1000000000'

if [[ " $PHASES " == *" cost "* ]]; then
  echo "== cost per request: autoconfig GET, wrk -t1 -c32 -d$DURATION, $ROUNDS alternating rounds"
  start_redis
  cost_redis=$redis_pid
  config "$work/off.toml" 'enabled = false'
  config "$work/memory.toml" "exempt = []
$huge"
  config "$work/redis.toml" "exempt = []
$huge
store = \"redis://127.0.0.1:$redis_port/0\""
  declare -A addr mxpid
  for variant in off memory redis; do
    start_mxconf "$work/$variant.toml"
    addr[$variant]=$mx_addr mxpid[$variant]=$mx_pid
    wrk -t1 -c4 -d1s "http://$mx_addr$autoconfig" > /dev/null   # warm-up
  done
  : > "$work/cost"
  for round in $(seq "$ROUNDS"); do
    echo " round $round"
    for variant in off memory redis; do
      server_before=$(ticks "/proc/${mxpid[$variant]}/stat")
      redis_before=$(ticks "/proc/$cost_redis/stat")
      wrk -t1 -c32 -d"$DURATION" "http://${addr[$variant]}$autoconfig" > "$work/wrk.txt"
      server_after=$(ticks "/proc/${mxpid[$variant]}/stat")
      redis_after=$(ticks "/proc/$cost_redis/stat")
      grep -E "Non-2xx|Socket errors" "$work/wrk.txt" >&2 || true
      redis_ticks=$((redis_after - redis_before))
      [ "$variant" = redis ] || redis_ticks=0
      awk -v v="$variant" -v s="$((server_after - server_before))" -v r="$redis_ticks" -v t="$tick" '
        /requests in/ { n = $1 } /Requests\/sec/ { rate = $2 }
        END {
          server = n / (s / t); both = n / ((s + r) / t)
          printf "%s %.0f %.0f %.0f\n", v, rate, server, both > "/dev/stderr"
          printf "   %-7s %7.0f req/s  %7.0f req per server CPU-second", v, rate, server
          if (r > 0) printf "  %7.0f per server + redis-server CPU-second (redis %.2f CPU-s)", both, r / t
          printf "\n"
        }' "$work/wrk.txt" 2>> "$work/cost"
    done
  done
  for variant in off memory redis; do kill "${mxpid[$variant]}"; wait "${mxpid[$variant]}" 2>/dev/null || true; done
  kill "$cost_redis"; wait "$cost_redis" 2>/dev/null || true
  col() { awk -v v="$1" -v c="$2" '$1 == v { print $c }' "$work/cost" | median; }
  off=$(col off 3)
  echo " medians; the limiter's cost per request is the difference in CPU per request"
  for variant in off memory redis; do
    awk -v v="$variant" -v s="$(col "$variant" 3)" -v b="$(col "$variant" 4)" -v o="$off" 'BEGIN {
      printf "   %-7s %7.0f per server CPU-s (%+.1f us CPU per request)", v, s, 1e6 / s - 1e6 / o
      if (v == "redis") printf ", %7.0f per server + redis CPU-s (%+.1f us per request)", b, 1e6 / b - 1e6 / o
      printf "\n" }'
  done
fi

if [[ " $PHASES " == *" flood "* ]]; then
  echo "== flood: one client GET /mobileconfig, a new address per request (wrk -t1 -c16), while another asks autoconfig (wrk -t1 -c4, paced), $DURATION each"
  cat > "$work/flood.lua" <<'LUA'
local run = string.format("%d", os.time()) .. string.format("%06d", math.floor(os.clock() * 1e6))
wrk.headers["X-Forwarded-For"] = "192.0.2.1"
local sent = 0
function request()
  sent = sent + 1
  return wrk.format("GET", "/mobileconfig?emailaddress=u" .. run .. "n" .. sent .. "%40example.com&name=Flood")
end
LUA
  # Paced, as a real client: each of its connections waits 10 ms between requests, so its
  # latency shows how long it queues behind the flood rather than its share of the CPU.
  cat > "$work/second.lua" <<'LUA'
wrk.headers["X-Forwarded-For"] = "198.51.100.2"
function delay() return 10 end
LUA
  SERVER_LINES='trusted-proxies = ["127.0.0.1"]'
  config "$work/flood-off.toml" 'enabled = false'
  config "$work/flood-on.toml" 'requests-per-minute = 1000000000'
  SERVER_LINES=
  seconds=${DURATION%s}
  second() {
    wrk -t1 -c4 -d"$DURATION" --latency -s "$work/second.lua" "http://$mx_addr$autoconfig" > "$work/second.txt"
    awk -v name="$1" '
      $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 } /Requests\/sec/ { rate = $2 }
      /Non-2xx/ { bad = $NF }
      END { printf "   %-24s second client: p50 %8s  p99 %8s  %7.0f req/s%s\n", name, p50, p99, rate, (bad == "" ? "" : ", non-2xx " bad) }' \
      "$work/second.txt"
  }
  for round in $(seq "$ROUNDS"); do
    echo " round $round"
    for variant in off on; do
      start_mxconf "$work/flood-$variant.toml"
      wrk -t1 -c4 -d1s -s "$work/second.lua" "http://$mx_addr$autoconfig" > /dev/null   # warm-up
      second "limits $variant, alone"
      before=$(ticks "/proc/$mx_pid/stat")
      wrk -t1 -c16 -d"$((seconds + 2))s" -s "$work/flood.lua" "http://$mx_addr" > "$work/flood.txt" &
      flood=$!
      sleep 1   # the flood under way before measuring
      second "limits $variant, flooded"
      wait "$flood" || true
      after=$(ticks "/proc/$mx_pid/stat")
      signed=$(metric mxconf_signatures_total)
      awk -v s="${signed:-0}" -v c="$((after - before))" -v t="$tick" '
        /requests in/ { n = $1 } /Requests\/sec/ { rate = $2 } /Non-2xx/ { bad = $NF }
        END { printf "   %-24s the flood: %.0f req/s, %d refused (429), %d signed; server %.1f CPU-s\n", "", rate, bad, s, c / t }' \
        "$work/flood.txt"
      stop_mxconf
    done
  done
fi

if [[ " $PHASES " == *" memory "* ]]; then
  echo "== Redis memory: 100,000 distinct clients, one request each"
  start_redis
  SERVER_LINES='trusted-proxies = ["127.0.0.1"]'
  config "$work/memory-redis.toml" "store = \"redis://127.0.0.1:$redis_port/0\""
  SERVER_LINES=
  start_mxconf "$work/memory-redis.toml"
  for family in ipv4 ipv6; do
    redis-cli -p "$redis_port" flushall > /dev/null
    used_before=$(redis-cli -p "$redis_port" info memory | awk -F: '$1 == "used_memory" { print $2 + 0 }')
    cat > "$work/clients.lua" <<LUA
local family = "$family"
local sent = 0
function request()
  local n = sent
  sent = sent + 1
  if sent > 100000 then wrk.thread:stop() end
  local client
  if family == "ipv4" then
    client = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  else
    -- A new /64 each time; the interface part varies too, as it would.
    client = string.format("2001:db8:%x:%x::%x", math.floor(n / 65536), n % 65536, n * 7 % 65536)
  end
  wrk.headers["X-Forwarded-For"] = client
  return wrk.format("GET", "/mail/config-v1.1.xml?emailaddress=jane@example.com")
end
LUA
    # One thread, so its counter gives every address once; the stop ends the run early.
    wrk -t1 -c8 -d120s -s "$work/clients.lua" "http://$mx_addr" > "$work/clients.txt"
    grep -E "Non-2xx|Socket errors" "$work/clients.txt" >&2 || true
    keys=$(redis-cli -p "$redis_port" dbsize)
    info=$(redis-cli -p "$redis_port" info memory)
    used=$(echo "$info" | awk -F: '$1 == "used_memory" { print $2 + 0 }')
    rss=$(echo "$info" | awk -F: '$1 == "used_memory_rss" { print $2 + 0 }')
    sample=$(redis-cli -p "$redis_port" randomkey)
    fields=$(redis-cli -p "$redis_port" hlen "$sample")
    ttl=$(redis-cli -p "$redis_port" pttl "$sample")
    awk -v f="$family" -v k="$keys" -v b="$used_before" -v u="$used" -v r="$rss" -v s="$sample" -v h="$fields" -v ttl="$ttl" 'BEGIN {
      printf "   %s: %d keys (e.g. %s: %d fields, expires in %d s); used_memory +%.1f MB (%.0f bytes a client), RSS %.1f MB\n",
             f, k, s, h, ttl / 1000, (u - b) / 1e6, (u - b) / k, r / 1e6 }'
  done
  stop_mxconf
  kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
fi

if [[ " $PHASES " == *" connect "* ]]; then
  echo "== connect: a fresh server's first counted request opens the store's connection"
  # A private CA and a server certificate for 127.0.0.1 (RSA 2048, as most deployments).
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$work/ca.key" \
    -out "$work/ca.pem" 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$work/redis.key" \
    -out "$work/redis.csr" 2> /dev/null
  printf 'subjectAltName = IP:127.0.0.1\n' > "$work/san.ext"
  openssl x509 -req -in "$work/redis.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/redis.pem" 2> /dev/null
  start_redis
  plain_port=$redis_port
  tls_port=$(port)
  redis-server --bind 127.0.0.1 --port 0 --tls-port "$tls_port" --tls-cert-file "$work/redis.pem" \
    --tls-key-file "$work/redis.key" --tls-ca-cert-file "$work/ca.pem" --tls-auth-clients no \
    --save '' --appendonly no --dir "$work" > "$work/redis-tls.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    redis-cli --tls --cacert "$work/ca.pem" -h 127.0.0.1 -p "$tls_port" ping > /dev/null 2>&1 && break
    sleep 0.1
  done
  # A relay that holds every chunk DELAY ms before passing it on, each way.
  cat > "$work/relay.py" <<'PY'
import asyncio, sys
listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000

async def pipe(reader, writer):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()
    async def send():
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0, due - loop.time()))
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()
    sender = asyncio.create_task(send())
    while True:
        data = await reader.read(65536)
        await queue.put((loop.time() + delay, data))
        if not data:
            break
    await sender

async def handle(reader, writer):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
PY
  # "first-ms second-ms store-failures" for a fresh server on CONFIG.
  first_request() {
    start_mxconf "$1"
    local first second failures
    first=$(curl -s -o /dev/null -w '%{time_total}' "http://$mx_addr$autoconfig")
    second=$(curl -s -o /dev/null -w '%{time_total}' "http://$mx_addr$autoconfig")
    failures=$(metric mxconf_limit_store_failures_total)
    stop_mxconf
    awk -v a="$first" -v b="$second" -v f="${failures:-0}" 'BEGIN { printf "%.1f %.1f %d\n", a * 1000, b * 1000, f }'
  }
  for delay in 0 ${DELAYS:-1 5 10 20}; do
    for scheme in redis rediss; do
      target=$plain_port extra=
      if [ "$scheme" = rediss ]; then target=$tls_port extra="ca-file = \"$work/ca.pem\""; fi
      via=$target relay=
      if [ "$delay" != 0 ]; then
        via=$(port)
        python3 "$work/relay.py" "$via" "$target" "$delay" > "$work/relay.txt" &
        relay=$!
        pids+=("$relay")
        for _ in $(seq 50); do grep -qs ready "$work/relay.txt" && break; sleep 0.1; done
      fi
      config "$work/connect.toml" "exempt = []
store = \"$scheme://127.0.0.1:$via/0\"
$extra"
      : > "$work/connect"
      for _ in $(seq "${CONNECTS:-5}"); do first_request "$work/connect.toml" >> "$work/connect"; done
      if [ -n "$relay" ]; then kill "$relay"; wait "$relay" 2>/dev/null || true; rm -f "$work/relay.txt"; fi
      firsts=$(cut -d' ' -f1 "$work/connect" | sort -n)
      printf "   %-7s +%2s ms each way: first request %6.1f ms (median of %d, %s-%s), second %5.1f ms; %d uncounted (store timeout)\n" \
        "$scheme" "$delay" "$(echo "$firsts" | median)" "$(echo "$firsts" | wc -l)" \
        "$(echo "$firsts" | head -n 1)" "$(echo "$firsts" | tail -n 1)" \
        "$(cut -d' ' -f2 "$work/connect" | median)" "$(awk '$3 > 0' "$work/connect" | wc -l)"
    done
  done
fi
