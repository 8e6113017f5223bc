#!/usr/bin/env bash
# Load test: mxconf (release build, embedded demo) next to nginx serving the same bytes from
# files, in one run, on loopback only. Each wrk run is bounded (DURATION, default 5s).
# Usage: benches/load/run.sh            (needs wrk and nginx: apt-get install wrk nginx)
# Signed profiles have their own script: benches/load/mobileconfig.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
MX_PORT=18480
NGINX_PORT=18481
work=$(mktemp -d)
cleanup() {
  [ -n "${mx_pid:-}" ] && kill "$mx_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
RUST_LOG=warn target/release/mxconf serve --listen "127.0.0.1:$MX_PORT" &
mx_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$MX_PORT/healthz" >/dev/null && break; sleep 0.1; done

# The exact bytes mxconf answers, served by nginx as static files.
mkdir -p "$work/www"
curl -fs "http://127.0.0.1:$MX_PORT/mail/config-v1.1.xml?emailaddress=jane@example.com" > "$work/www/autoconfig.xml"
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
sleep 0.3

rate() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" | awk '/Requests\/sec/ {print $2}'; }
# The machine is shared (a VM with noisy neighbours): nginx and mxconf alternate, ROUNDS times,
# each round printing its own ratio, so drift between runs does not masquerade as a difference.
compare() {
  name=$1 nginx_url=$2 mx_url=$3
  shift 3
  for round in $(seq "${ROUNDS:-3}"); do
    nginx_rate=$(rate "$@" "$nginx_url")
    mx_rate=$(rate "$@" "$mx_url")
    awk -v n="$nginx_rate" -v m="$mx_rate" -v name="$name" -v r="$round" \
      'BEGIN { printf "%-10s round %d: nginx %8.0f req/s, mxconf %8.0f req/s: %.2fx\n", name, r, n, m, m / n }'
  done
}
compare autoconfig "http://127.0.0.1:$NGINX_PORT/autoconfig.xml" \
  "http://127.0.0.1:$MX_PORT/mail/config-v1.1.xml?emailaddress=jane@example.com"
compare POX "http://127.0.0.1:$NGINX_PORT/pox.xml" \
  "http://127.0.0.1:$MX_PORT/autodiscover/autodiscover.xml" -s benches/load/pox.lua
