#!/usr/bin/env bash
# Instructions per request, which do not drift with the neighbours: mxconf (release build, the
# shipped example, the limiter on and counting loopback as in run.sh) and nginx serving the
# same bytes from files, each under `valgrind --tool=callgrind --instr-atstart=no`;
# instrumentation is switched on after a warm-up, wrk -t1 -c4 runs for DURATION, and the
# user-space instruction total is divided by wrk's request count.
#
# Usage: benches/load/callgrind.sh [BINARY]   (default target/release/mxconf)
# Needs: valgrind, wrk, nginx, curl, python3. Environment: DURATION (default 3s), KEEP (a
# directory to keep the callgrind.out files in, for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-target/release/mxconf}
DURATION=${DURATION:-3s}
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
sed -e 's/^# exempt = .*/exempt = []/' \
    -e 's/^# max-connections-per-client = .*/max-connections-per-client = 4096/' \
    -e 's/^# requests-per-minute = .*/requests-per-minute = 1000000000/' \
    -e 's/^# profiles-per-minute = .*/profiles-per-minute = 1000000000/' \
    examples/mxconf.toml > "$work/mxconf.toml"
autoconfig_path="/mail/config-v1.1.xml?emailaddress=jane@example.com"
pox_path="/autodiscover/autodiscover.xml"

# Runs wrk against $1 (URL) with the rest as wrk options, instrumented; prints instructions per
# request. The server's pid is $pid, its callgrind output $work/cg.out.
instructions() {
  url=$1
  shift
  wrk -t1 -c4 -d1s "$@" "$url" >/dev/null
  callgrind_control -i on "$pid" >/dev/null 2>&1
  wrk -t1 -c4 -d"$DURATION" "$@" "$url" > "$work/wrk.txt"
  callgrind_control -i off "$pid" >/dev/null 2>&1
  callgrind_control -d "$pid" >/dev/null 2>&1
  requests=$(awk '/requests in/ { print $1 }' "$work/wrk.txt")
  total=$(cat "$work"/cg.out* | awk '/^summary:|^totals:/ { s += $2 } END { print s }')
  if [ -n "${KEEP:-}" ]; then for f in "$work"/cg.out*; do cp "$f" "$KEEP/$(basename "$url" | tr -c 'a-z0-9.\n' _)-$(basename "$f")"; done; fi
  rm -f "$work"/cg.out*
  echo $((total / requests))
}
wait_for() { for _ in $(seq 300); do curl -fs "$1" >/dev/null && return; sleep 0.2; done; echo "no answer from $1" >&2; exit 2; }

port_mx=$(port)
RUST_LOG=${MX_LOG:-warn} valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" \
  "$binary" serve --config "$work/mxconf.toml" --listen "127.0.0.1:$port_mx" 2>"$work/mxconf.log" &
pid=$!
wait_for "http://127.0.0.1:$port_mx/healthz"
mkdir -p "$work/www"
chmod 755 "$work" "$work/www"
curl -fs "http://127.0.0.1:$port_mx$autoconfig_path" > "$work/www/autoconfig.xml"
curl -fs -X POST -H 'Content-Type: text/xml' --data-binary @benches/load/pox-request.xml \
  "http://127.0.0.1:$port_mx$pox_path" > "$work/www/pox.xml"
mx_autoconfig=$(instructions "http://127.0.0.1:$port_mx$autoconfig_path")
mx_pox=$(instructions "http://127.0.0.1:$port_mx$pox_path" -s benches/load/pox.lua)
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

port_nginx=$(port)
cat > "$work/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  types { application/xml xml; }
  server {
    listen 127.0.0.1:$port_nginx;
    root $work/www;
    error_page 405 =200 \$uri;
  }
}
NGINX
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" \
  nginx -c "$work/nginx.conf" 2>/dev/null &
pid=$!
wait_for "http://127.0.0.1:$port_nginx/autoconfig.xml"
nginx_autoconfig=$(instructions "http://127.0.0.1:$port_nginx/autoconfig.xml")
nginx_pox=$(instructions "http://127.0.0.1:$port_nginx/pox.xml" -s benches/load/pox.lua)
printf "instructions per request   nginx   mxconf\n"
printf "autoconfig GET           %7d  %7d\n" "$nginx_autoconfig" "$mx_autoconfig"
printf "POX POST                 %7d  %7d\n" "$nginx_pox" "$mx_pox"
