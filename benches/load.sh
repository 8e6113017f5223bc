#!/usr/bin/env bash
# Load test: mxconf (release build) against nginx serving the same bytes from files, in one run.
# Needs wrk and nginx. Usage: cargo build --release && benches/load.sh [seconds per run]
# Ports: MXCONF_PORT (default 18080), NGINX_PORT (default 18081); 127.0.0.1 only.
set -euo pipefail
secs=${1:-10}
mx_port=${MXCONF_PORT:-18080}
ng_port=${NGINX_PORT:-18081}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/mxconf
request=$root/../shared/spec/autodiscover/examples/outlook-request.xml
work=$(mktemp -d)
mkdir -p "$work/www/mail" "$work/www/autodiscover" "$work/tmp"
"$bin" render autoconfig jane@example.com >"$work/www/mail/config-v1.1.xml"
"$bin" render outlook user@example.com >"$work/www/autodiscover/autodiscover.xml"
cat >"$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    server {
        listen 127.0.0.1:$ng_port;
        root $work/www;
        types { application/xml xml; }
        error_page 405 =200 \$uri;   # POST to a static file: answer with the file, like POX
    }
}
CONF
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
local f = io.open("$request", "r"); wrk.body = f:read("*a"); f:close()
LUA
nginx -c "$work/nginx.conf"
"$bin" serve --listen "127.0.0.1:$mx_port" 2>"$work/mxconf.log" &
mx_pid=$!
trap 'kill $mx_pid; nginx -c "$work/nginx.conf" -s quit; rm -rf "$work"' EXIT
sleep 1
# Same bytes from both, or the comparison means nothing.
cmp <(curl -s "http://127.0.0.1:$mx_port/mail/config-v1.1.xml?emailaddress=jane%40example.com") \
    "$work/www/mail/config-v1.1.xml"
cmp <(curl -s --data-binary @"$request" "http://127.0.0.1:$mx_port/autodiscover/autodiscover.xml") \
    "$work/www/autodiscover/autodiscover.xml"
run() { printf '%-20s' "$1"; shift; wrk -t2 -c64 -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2 " req/s"}'; }
run "nginx autoconfig" "http://127.0.0.1:$ng_port/mail/config-v1.1.xml"
run "mxconf autoconfig" "http://127.0.0.1:$mx_port/mail/config-v1.1.xml?emailaddress=jane%40example.com"
run "nginx POX" -s "$work/post.lua" "http://127.0.0.1:$ng_port/autodiscover/autodiscover.xml"
run "mxconf POX" -s "$work/post.lua" "http://127.0.0.1:$mx_port/autodiscover/autodiscover.xml"
