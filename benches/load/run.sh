#!/usr/bin/env bash
# Load test: mxconf (release build, the shipped example configuration) next to nginx serving the
# very same bytes from files, side by side in one run, on loopback only. Every wrk run is
# bounded (DURATION, default 5s). The machine this runs on is usually shared, so wall-clock
# rates drift; the figure that counts is requests per server CPU-second (utime + stime of the
# server's processes from /proc/PID/stat, nginx's master and workers summed), and the
# measurements alternate round by round so drift hits both sides alike.
#
# Usage: benches/load/run.sh [BINARY]      (default: a fresh `cargo build --release`)
# Needs: wrk, nginx, openssl, python3, and for the idle phase oha (installed with cargo when
# missing) and taskset. Environment: ROUNDS (default 5), DURATION (5s), THREADS (2),
# CONNECTIONS (64), MX_LOG (the server's RUST_LOG, default `warn`: no request lines, as nginx
# runs with access_log off; `info` measures them), PHASES (default "static signing idle
# export"), PIN_SERVER and PIN_LOAD (the idle phase's CPUs, default 0 and 1; empty: unpinned).
#
# The limiter is on and counts loopback (the example's `exempt` emptied, budgets far above the
# load, and the per-client connection cap above the connections one run opens), so its cost is
# in every figure. Phases:
#   static   autoconfig GET and POX POST: nginx, mxconf, nginx, mxconf, ROUNDS times; each
#            round prints wall-clock req/s, req per server CPU-second and the CPU ratio.
#   signing  GET /mobileconfig, a new address on every request from every wrk thread (no two
#            threads share an address, so the signature cache never answers), alternating
#            with `openssl speed rsa2048` (its rate is per CPU-second of its own process).
#   idle     per round, a fresh mxconf with 1,000 keep-alive connections held idle (each
#            answered one autoconfig request, then silent): RSS; oha's saturating rate; then
#            autoconfig's latency percentiles at half that rate, open loop (oha -q with
#            --latency-correction); then nginx with 1,000 idle connections of its own at the
#            same rate. The servers on PIN_SERVER's CPU, oha and the holder on PIN_LOAD's.
#   export   `mxconf export` of 10,000 signed profiles to a temporary directory: wall time.
# At the end the medians of every round are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-5}
PHASES=${PHASES:-static signing idle export}
seconds=${DURATION%s}
binary=${1:-}
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=target/release/mxconf
fi
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
MX_PORT=$(port)
NGINX_PORT=$(port)
work=$(mktemp -d)
mx_pid=
hold_pid=
cleanup() {
  [ -n "$hold_pid" ] && kill "$hold_pid" 2>/dev/null || true
  [ -n "$mx_pid" ] && kill "$mx_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)

# The shipped example, with the limiter counting loopback too and budgets no run reaches.
sed -e 's/^# exempt = .*/exempt = []/' \
    -e 's/^# max-connections-per-client = .*/max-connections-per-client = 4096/' \
    -e 's/^# requests-per-minute = .*/requests-per-minute = 1000000000/' \
    -e 's/^# profiles-per-minute = .*/profiles-per-minute = 1000000000/' \
    examples/mxconf.toml > "$work/mxconf.toml"
grep -q '^exempt = \[\]' "$work/mxconf.toml" || { echo "examples/mxconf.toml: no '# exempt' line to enable" >&2; exit 2; }
start_mxconf() {
  # On CPU $server_cpu when it is set (the idle phase).
  RUST_LOG=${MX_LOG:-warn} ${server_cpu:+taskset -c "$server_cpu"} "$binary" serve --config "$work/mxconf.toml" --listen "127.0.0.1:$MX_PORT" 2>>"$work/mxconf.log" &
  mx_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$MX_PORT/healthz" >/dev/null && break; sleep 0.1; done
}
start_mxconf

# The exact bytes mxconf answers, served by nginx as static files.
autoconfig_path="/mail/config-v1.1.xml?emailaddress=jane@example.com"
mkdir -p "$work/www"
# nginx's workers run as an unprivileged user: they must be able to read the files.
chmod 755 "$work" "$work/www"
curl -fs "http://127.0.0.1:$MX_PORT$autoconfig_path" > "$work/www/autoconfig.xml"
curl -fs -X POST -H 'Content-Type: text/xml' --data-binary @benches/load/pox-request.xml \
  "http://127.0.0.1:$MX_PORT/autodiscover/autodiscover.xml" > "$work/www/pox.xml"
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  types { application/xml xml; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $work/www;
    error_page 405 =200 \$uri;
  }
}
NGINX
nginx -c "$work/nginx.conf"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$NGINX_PORT/autoconfig.xml" >/dev/null && break; sleep 0.1; done
cmp -s "$work/www/autoconfig.xml" <(curl -fs "http://127.0.0.1:$NGINX_PORT/autoconfig.xml") \
  || { echo "nginx does not serve the answer's bytes" >&2; exit 2; }

# CPU clock ticks used so far by a process and its children threads (one pid) or by nginx's
# master and workers.
ticks() { awk '{ s += $14 + $15 } END { print s }' "$@"; }
mx_ticks() { ticks "/proc/$mx_pid/stat"; }
nginx_ticks() {
  master=$(cat "$work/nginx.pid")
  ticks "/proc/$master/stat" $(ps --ppid "$master" -o pid= | sed 's|.*|/proc/&/stat|' | tr -d ' ')
}
# One bounded wrk run against the server whose ticks function is $1; appends
# "name req/s req-per-CPU-s" to $work/results and prints it.
measure() {
  name=$1 counter=$2
  shift 2
  before=$($counter)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" > "$work/wrk.txt"
  after=$($counter)
  if grep -qE "Non-2xx|Socket errors" "$work/wrk.txt"; then
    echo "   $name: $(grep -E "Non-2xx|Socket errors" "$work/wrk.txt")" >&2
  fi
  awk -v name="$name" -v c="$((after - before))" -v t="$tick" -v d="$seconds" '
    /requests in/ { n = $1 } /Requests\/sec/ { rate = $2 }
    END { cpu = c / t; printf "%s %.0f %.0f\n", name, rate, (cpu > 0 ? n / cpu : 0) }' "$work/wrk.txt" \
    | tee -a "$work/results" | awk '{ printf "   %-18s %8.0f req/s %8.0f req per server CPU-second\n", $1, $2, $3 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_of() { awk -v name="$1" -v col="$2" '$1 == name { print $col }' "$work/results" | median; }

if [[ " $PHASES " == *" static "* ]]; then
  echo "== static answers: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS alternating rounds"
  # Warm both up (connections, caches, the limiter's entry for 127.0.0.1).
  wrk -t1 -c4 -d1s "http://127.0.0.1:$NGINX_PORT/autoconfig.xml" >/dev/null
  wrk -t1 -c4 -d1s "http://127.0.0.1:$MX_PORT$autoconfig_path" >/dev/null
  for round in $(seq "$ROUNDS"); do
    echo " round $round"
    measure nginx-autoconfig nginx_ticks "http://127.0.0.1:$NGINX_PORT/autoconfig.xml"
    measure mxconf-autoconfig mx_ticks "http://127.0.0.1:$MX_PORT$autoconfig_path"
    measure nginx-pox nginx_ticks -s benches/load/pox.lua "http://127.0.0.1:$NGINX_PORT/pox.xml"
    measure mxconf-pox mx_ticks -s benches/load/pox.lua "http://127.0.0.1:$MX_PORT/autodiscover/autodiscover.xml"
  done
fi

if [[ " $PHASES " == *" signing "* ]]; then
  echo "== signed /mobileconfig, a new address per request (wrk -t$THREADS -c16), against openssl speed rsa2048"
  for round in $(seq "$ROUNDS"); do
    echo " round $round"
    before=$(mx_ticks)
    wrk -t"$THREADS" -c16 -d"$DURATION" -s benches/load/distinct-addresses.lua "http://127.0.0.1:$MX_PORT" > "$work/wrk.txt"
    after=$(mx_ticks)
    grep -E "Non-2xx|Socket errors" "$work/wrk.txt" >&2 || true
    awk -v c="$((after - before))" -v t="$tick" '
      /requests in/ { n = $1 } /Requests\/sec/ { rate = $2 }
      END { printf "mxconf-signing %.0f %.0f\n", rate, n / (c / t) }' "$work/wrk.txt" | tee -a "$work/results" \
      | awk '{ printf "   %-18s %8.0f profiles/s %8.0f per server CPU-second\n", $1, $2, $3 }'
    # openssl speed reports sign/s over its own CPU time.
    openssl speed -seconds "$seconds" rsa2048 2>/dev/null | awk '/^rsa 2048/ { printf "openssl-speed %s %s\n", $6, $6 }' \
      | tee -a "$work/results" | awk '{ printf "   %-18s %8.0f sign per CPU-second\n", $1, $3 }'
  done
fi

if [[ " $PHASES " == *" idle "* ]]; then
  echo "== 1,000 idle keep-alive connections: oha -c$CONNECTIONS, open loop, at half of saturation; $ROUNDS rounds, nginx alternating"
  # oha sends at a fixed rate whatever the answers' pace (-q) and counts each request's
  # latency from when it was due, not from when a connection was free to send it
  # (--latency-correction), so the queueing behind a slow answer is in the percentiles; a
  # closed loop such as wrk's leaves it out (coordinated omission).
  oha_version=1.16.0
  if ! oha --version 2>/dev/null | grep -qF "$oha_version"; then
    # native-tls links the system's OpenSSL; the default, rustls, would compile aws-lc.
    cargo install oha --locked --version "$oha_version" --no-default-features --features native-tls
  fi
  # The server on one CPU, oha and the holder on the other (PIN_SERVER= PIN_LOAD= to run
  # unpinned), so the generator never takes the server's core in the middle of an answer.
  pin_server=${PIN_SERVER-0}
  pin_load=${PIN_LOAD-1}
  on_cpu() {
    local cpu=$1
    shift
    ${cpu:+taskset -c "$cpu"} "$@"
  }
  # oha's runtime gets one thread per CPU it may run on (its default counts the machine's).
  oha_threads=$(on_cpu "$pin_load" nproc)
  # Holds 1,000 connections to port $1, each answered one request for path $2, then silent
  # for 25 s (under the example's 30 s idle timeout: a round ends well before).
  hold() {
    on_cpu "$pin_load" python3 - "$1" "$2" > "$work/hold.txt" <<'PY' &
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET " + sys.argv[2].encode() + b" HTTP/1.1\r\nHost: example.com\r\n\r\n")
    answer = b""
    while b"</clientConfig>" not in answer:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("closed by the server: " + answer.decode(errors="replace"))
        answer += chunk
    held.append(s)
print("held", flush=True)
time.sleep(25)
PY
    hold_pid=$!
    for _ in $(seq 300); do grep -qs held "$work/hold.txt" && break; sleep 0.1; done
    grep -qs held "$work/hold.txt" || { echo "could not hold 1,000 connections" >&2; exit 2; }
  }
  unhold() { kill "$hold_pid"; wait "$hold_pid" 2>/dev/null || true; hold_pid=; }
  # One bounded oha run against URL $1 (further arguments are oha's); prints "rate p50 p90
  # p99 p99.9" (req/s, ms) and warns of answers other than 200 and of errors.
  oha_run() {
    local url=$1
    shift
    on_cpu "$pin_load" oha --no-tui --output-format json --worker-threads "$oha_threads" -c "$CONNECTIONS" "$@" "$url" > "$work/oha.json"
    python3 - "$work/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes, errors = r["statusCodeDistribution"], r["errorDistribution"]
# The requests in flight when the time is up are cut off: not an error of the server's.
errors.pop("aborted due to deadline", None)
if set(codes) != {"200"} or errors:
    print(f"   oha: status codes {codes}, errors {errors}", file=sys.stderr)
p = r["latencyPercentiles"]
print("%.0f %.2f %.2f %.2f %.2f" % (r["summary"]["requestsPerSec"],
      *(1000 * (p[k] or 0) for k in ("p50", "p90", "p99", "p99.9"))))
PY
  }
  # The saturating run against URL $1 with the ticks function $2: prints "rate busy", busy
  # being the server's CPU time over the run's (100 %: one CPU's worth), which tells whether
  # the server or the generator was the limit.
  saturate() {
    local url=$1 counter=$2 before after result
    before=$($counter)
    result=$(oha_run "$url" -z 3s)
    after=$($counter)
    echo "${result%% *} $(( (after - before) * 100 / (3 * tick) ))"
  }
  mb() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$mx_pid/status"; }
  # nginx restarted on the server's CPU too (worker_processes auto: one worker per CPU it may
  # run on).
  kill "$(cat "$work/nginx.pid")"
  for _ in $(seq 50); do [ -f "$work/nginx.pid" ] || break; sleep 0.1; done
  on_cpu "$pin_server" nginx -c "$work/nginx.conf"
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$NGINX_PORT/autoconfig.xml" >/dev/null && break; sleep 0.1; done
  kill "$mx_pid"; wait "$mx_pid" 2>/dev/null || true
  mx_url="http://127.0.0.1:$MX_PORT$autoconfig_path"
  nginx_url="http://127.0.0.1:$NGINX_PORT/autoconfig.xml"
  for round in $(seq "$ROUNDS"); do
    echo " round $round"
    # A fresh server every round: the earlier phases and rounds filled its caches.
    server_cpu=$pin_server start_mxconf
    on_cpu "$pin_load" oha --no-tui --worker-threads "$oha_threads" -c 4 -z 1s "$mx_url" > /dev/null
    rss_before=$(mb)
    hold "$MX_PORT" "$autoconfig_path"
    rss_idle=$(mb)
    # Saturation with the idle ones open (oha's connections as fast as answers come), then
    # half of that rate.
    read -r saturated busy <<< "$(saturate "$mx_url" mx_ticks)"
    rate=$((saturated / 2))
    result=$(oha_run "$mx_url" -z "$DURATION" -q "$rate" --latency-correction)
    read -r sent p50 p90 p99 p999 <<< "$result"
    rss_loaded=$(mb)
    open=$(ls "/proc/$mx_pid/fd" | wc -l)
    unhold
    kill "$mx_pid"; wait "$mx_pid" 2>/dev/null || true
    echo "   mxconf: RSS $rss_before MB before, $rss_idle MB with 1,000 idle, $rss_loaded MB after ($open descriptors open); saturation $saturated req/s (server CPU $busy %)"
    echo "   mxconf at $rate req/s: $sent req/s sent, p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, p99.9 $p999 ms"
    echo "idle-rss-mb $rss_loaded $rss_loaded" >> "$work/results"
    echo "idle-saturated-mxconf $saturated $saturated" >> "$work/results"
    echo "idle-mxconf $sent $p50 $p90 $p99 $p999" >> "$work/results"
    # nginx: 1,000 idle connections of its own, the same generator at the same rate.
    hold "$NGINX_PORT" /autoconfig.xml
    read -r nginx_saturated nginx_busy <<< "$(saturate "$nginx_url" nginx_ticks)"
    result=$(oha_run "$nginx_url" -z "$DURATION" -q "$rate" --latency-correction)
    read -r sent p50 p90 p99 p999 <<< "$result"
    unhold
    echo "   nginx  at $rate req/s: $sent req/s sent, p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, p99.9 $p999 ms (saturation $nginx_saturated req/s, server CPU $nginx_busy %)"
    echo "idle-saturated-nginx $nginx_saturated $nginx_saturated" >> "$work/results"
    echo "idle-nginx $sent $p50 $p90 $p99 $p999" >> "$work/results"
  done
fi

if [[ " $PHASES " == *" export "* ]]; then
  echo "== mxconf export of 10,000 signed profiles"
  seq 10000 | awk '{ print "user" $1 "@example.com,User " $1 }' > "$work/users.csv"
  start=$(date +%s.%N)
  "$binary" export --input "$work/users.csv" --out-dir "$work/profiles" --config "$work/mxconf.toml" > /dev/null
  end=$(date +%s.%N)
  written=$(ls "$work/profiles" | wc -l)
  awk -v a="$start" -v b="$end" -v n="$written" 'BEGIN { printf "   %d profiles in %.1f s\n", n, b - a; printf "export-seconds %.1f %.1f\n", b - a, b - a > "/dev/stderr" }' 2>> "$work/results"
  rm -rf "$work/profiles"
fi

echo "== medians"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
if [[ " $PHASES " == *" static "* ]]; then
  for what in autoconfig pox; do
    n=$(column_of "nginx-$what" 3) m=$(column_of "mxconf-$what" 3)
    printf "   %-10s nginx %8.0f req/CPU-s (%6.0f req/s), mxconf %8.0f req/CPU-s (%6.0f req/s): %s per CPU-second\n" \
      "$what" "$n" "$(column_of "nginx-$what" 2)" "$m" "$(column_of "mxconf-$what" 2)" "$(ratio "$m" "$n")"
  done
fi
if [[ " $PHASES " == *" signing "* ]]; then
  o=$(column_of openssl-speed 3) m=$(column_of mxconf-signing 3)
  printf "   %-10s openssl speed %6.0f sign/CPU-s, mxconf %6.0f profiles/CPU-s (%5.0f/s): %s per CPU-second\n" \
    signing "$o" "$m" "$(column_of mxconf-signing 2)" "$(ratio "$m" "$o")"
fi
if [[ " $PHASES " == *" idle "* ]]; then
  echo "   1,000 idle: RSS $(column_of idle-rss-mb 2) MB; saturation mxconf $(column_of idle-saturated-mxconf 2) req/s, nginx $(column_of idle-saturated-nginx 2) req/s"
  for who in mxconf nginx; do
    echo "   $who at half of mxconf's saturation: $(column_of "idle-$who" 2) req/s sent, p50 $(column_of "idle-$who" 3) ms, p90 $(column_of "idle-$who" 4) ms, p99 $(column_of "idle-$who" 5) ms, p99.9 $(column_of "idle-$who" 6) ms"
  done
fi
if [[ " $PHASES " == *" export "* ]]; then
  echo "   export of 10,000 signed profiles: $(column_of export-seconds 2) s"
fi
