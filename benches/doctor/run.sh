#!/usr/bin/env bash
# `mxconf doctor --all` over many domains, timed against a real deployment on loopback, the
# same parts as the doctor's integration test: Knot serving each domain's zone (the records
# `mxconf dns` prints, plus the apex and MX), Dovecot (IMAP and POP3, STARTTLS and implicit TLS)
# and Postfix (submission with STARTTLS and implicit TLS) with a test CA's certificate, and
# mxconf serving plain HTTP and HTTPS itself with one certificate for every host. Every domain
# is served with `pacc = true` (PACC=false turns it off), so each run also fetches every PACC
# document and looks up the TXT record vouching for its digest.
#
# One warm-up run, then RUNS timed runs of the whole doctor process (wall clock, and its user +
# system CPU); prints each run and the medians, and how many checks one report holds. Every
# run must exit 0 (warnings only: the development signer): a failing check would time
# something else.
#
# Usage: benches/doctor/run.sh [BINARY]      (default: a fresh `cargo build --release`)
# Needs: root (Postfix's master insists on it; Knot and Dovecot run as nobody), knotd,
# dovecot, postfix, openssl, python3, curl. Environment: DOMAINS (default 20), RUNS (7),
# PACC (true), TIMEOUT (the doctor's --timeout, 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
DOMAINS=${DOMAINS:-20}
RUNS=${RUNS:-7}
PACC=${PACC:-true}
TIMEOUT=${TIMEOUT:-3}
binary=${1:-}
if [ -z "$binary" ]; then
  cargo build --release --quiet
  binary=target/release/mxconf
fi
binary=$(realpath "$binary")
[ "$(id -u)" = 0 ] || { echo "run as root: Postfix's master does not start otherwise" >&2; exit 2; }
# Dovecot listens on 127.0.0.2: it treats a client from its own address as secure and would
# offer passwords before STARTTLS, which no real client sees.
MAIL_IP=127.0.0.2
port() { python3 -c "import socket; s = socket.socket(); s.bind(('$1', 0)); print(s.getsockname()[1])"; }
work=$(mktemp -d)
chmod 777 "$work"
pids=()
cleanup() {
  [ -f "$work/postfix/main.cf" ] && /usr/sbin/postfix -c "$work/postfix" abort >/dev/null 2>&1 || true
  for pid_file in "$work/knot/knot.pid" "$work/dovecot/run/master.pid"; do
    [ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -m 777 "$work/knot" "$work/dovecot"
mkdir "$work/postfix" "$work/postfix/queue" "$work/postfix/data"
chown postfix "$work/postfix/data"

domains=()
for i in $(seq -w 1 "$DOMAINS"); do domains+=("example$i.test"); done
web_names=(mxconf.example.test dav.example.test)
for domain in "${domains[@]}"; do
  web_names+=("$domain" "autoconfig.$domain" "autodiscover.$domain" "ua-auto-config.$domain")
done

# The test CA and its two server certificates (P-256, serverAuth, 30 days).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=mxconf doctor bench CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
issue() { # stem names…
  local stem=$1; shift
  local san
  san=$(printf 'DNS:%s,' "$@")
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$work/$stem.key" -out "$work/$stem.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "${san%,}" > "$work/$stem.ext"
  openssl x509 -req -in "$work/$stem.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 30 -extfile "$work/$stem.ext" -out "$work/$stem.pem" 2>/dev/null
  chmod 644 "$work/$stem.key"
}
issue mail imap.example.test smtp.example.test
issue web "${web_names[@]}"

imap=$(port $MAIL_IP); imaps=$(port $MAIL_IP); pop3=$(port $MAIL_IP); pop3s=$(port $MAIL_IP)
submission=$(port $MAIL_IP); smtps=$(port $MAIL_IP)
knot_port=$(port 127.0.0.1); http=$(port 127.0.0.1); https=$(port 127.0.0.1)

# The configuration: every domain with the same mail servers and a CalDAV server (served by
# mxconf's host: any HTTPS answer with a valid certificate will do).
{
  cat <<TOML
[provider]
id = "example.test"
display-name = "Example Test Mail"
short-name = "Example"

[signing]
development-chain = true

[web]
host = "mxconf.example.test"

[defaults]
caldav = "https://dav.example.test/"
[[defaults.imap]]
host = "imap.example.test"
port = $imaps
security = "tls"
[[defaults.imap]]
host = "imap.example.test"
port = $imap
security = "starttls"
[[defaults.pop3]]
host = "imap.example.test"
port = $pop3s
security = "tls"
[[defaults.pop3]]
host = "imap.example.test"
port = $pop3
security = "starttls"
[[defaults.smtp]]
host = "smtp.example.test"
port = $smtps
security = "tls"
[[defaults.smtp]]
host = "smtp.example.test"
port = $submission
security = "starttls"

[tls]
[[tls.certificate]]
cert = "$work/web.pem"
key = "$work/web.key"
TOML
  for domain in "${domains[@]}"; do printf '\n[domains."%s"]\npacc = %s\n' "$domain" "$PACC"; done
} > "$work/mxconf.toml"

# Knot: the hosts in example.test, each domain's zone as `mxconf dns` prints it.
zone() { # origin records
  printf '$ORIGIN %s.\n$TTL 60\n@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n@ NS ns.%s.\nns A 127.0.0.1\n%s\n' \
    "$1" "$1" "$1" "$1" "$2" > "$work/knot/$1.zone"
  printf '  - domain: %s\n' "$1" >> "$work/knot/knot.conf"
}
cat > "$work/knot/knot.conf" <<KNOT
server:
  rundir: "$work/knot"
  listen: 127.0.0.1@$knot_port
database:
  storage: "$work/knot"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "$work/knot"
    file: "%s.zone"
zone:
KNOT
zone example.test "mxconf A 127.0.0.1
dav A 127.0.0.1
imap A $MAIL_IP
smtp A $MAIL_IP"
for domain in "${domains[@]}"; do
  records=$("$binary" dns "$domain" --web-host mxconf.example.test --config "$work/mxconf.toml" | grep -v '^;')
  zone "$domain" "$records
@ A 127.0.0.1
@ MX 10 imap.example.test."
done
runuser -u nobody -- /usr/sbin/knotd -c "$work/knot/knot.conf" 2>>"$work/knot/knot.log" &
pids+=($!)

cat > "$work/dovecot/dovecot.conf" <<DOVECOT
base_dir = $work/dovecot/run
state_dir = $work/dovecot/state
log_path = /dev/stderr
protocols = imap pop3
listen = $MAIL_IP
default_internal_user = nobody
default_internal_group = nogroup
default_login_user = nobody
ssl = yes
ssl_cert = <$work/mail.pem
ssl_key = <$work/mail.key
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$work/dovecot/home/%u
}
mail_location = maildir:$work/dovecot/mail/%u
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    port = $imap
  }
  inet_listener imaps {
    port = $imaps
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = $pop3
  }
  inet_listener pop3s {
    port = $pop3s
    ssl = yes
  }
}
service auth {
  unix_listener $work/dovecot/sasl {
    mode = 0666
  }
}
DOVECOT
runuser -u nobody -- /usr/sbin/dovecot -F -c "$work/dovecot/dovecot.conf" 2>>"$work/dovecot/dovecot.log" &
pids+=($!)

cat > "$work/postfix/main.cf" <<POSTFIX
compatibility_level = 3.6
queue_directory = $work/postfix/queue
data_directory = $work/postfix/data
mail_owner = postfix
setgid_group = postdrop
myhostname = smtp.example.test
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
relayhost =
maillog_file = $work/postfix/maillog
maillog_file_prefixes = $work
smtpd_sasl_type = dovecot
smtpd_sasl_path = $work/dovecot/sasl
smtpd_sasl_auth_enable = yes
smtpd_tls_cert_file = $work/mail.pem
smtpd_tls_key_file = $work/mail.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
POSTFIX
cat > "$work/postfix/master.cf" <<MASTER
$MAIL_IP:$submission inet n - n - - smtpd
$MAIL_IP:$smtps inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
postlog unix-dgram n - n - 1 postlogd
anvil unix - - n - 1 anvil
tlsmgr unix - - n 1000? 1 tlsmgr
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
scache unix - - n - 1 scache
MASTER
/usr/sbin/postfix -c "$work/postfix" start >/dev/null 2>&1

RUST_LOG=warn "$binary" serve --config "$work/mxconf.toml" --listen "127.0.0.1:$http" \
  --tls-listen "127.0.0.1:$https" 2>>"$work/mxconf.log" &
mx_pid=$!
pids+=("$mx_pid")

# Ready: every port accepts, and Knot answers the last zone it loads.
listening() { python3 -c "import socket; socket.create_connection(('$1', $2), timeout=1).close()" 2>/dev/null; }
for address in "$MAIL_IP $imap" "$MAIL_IP $imaps" "$MAIL_IP $pop3" "$MAIL_IP $pop3s" \
  "$MAIL_IP $submission" "$MAIL_IP $smtps" "127.0.0.1 $http" "127.0.0.1 $https"; do
  for _ in $(seq 200); do listening $address && break; sleep 0.1; done
  listening $address || { echo "nothing listens on $address" >&2; cat "$work"/*/*.log "$work/mxconf.log" >&2; exit 1; }
done
last=${domains[-1]}
for _ in $(seq 200); do
  python3 - "$knot_port" "$last" <<'PY' && break
import socket, struct, sys
port, origin = int(sys.argv[1]), sys.argv[2]
query = struct.pack(">HHHHHH", 1, 0, 1, 0, 0, 0)
query += b"".join(bytes([len(label)]) + label.encode() for label in origin.split(".")) + b"\0"
query += struct.pack(">HH", 6, 1)  # SOA, IN
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
try:
    s.sendto(query, ("127.0.0.1", port))
    answer = s.recv(4096)
except OSError:
    sys.exit(1)
flags, answers = struct.unpack(">H", answer[2:4])[0], struct.unpack(">H", answer[6:8])[0]
sys.exit(0 if flags & 0x0400 and flags & 0x000F == 0 and answers > 0 else 1)
PY
  sleep 0.1
done

doctor=("$binary" doctor --all --config "$work/mxconf.toml" --resolver "127.0.0.1:$knot_port"
  --ca "$work/ca.pem" --connect-to ":443::$https" --connect-to ":80::$http"
  --web-host mxconf.example.test --timeout "$TIMEOUT")
"${doctor[@]}" --json > "$work/report.json" || {
  echo "the doctor found a failure; the deployment is not what this measures:" >&2
  "${doctor[@]}" | grep -v '^  ✓' >&2 || true
  exit 1
}
python3 - "$work/report.json" "$DOMAINS" "$PACC" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} domains, pacc = {sys.argv[3]}: {len(report['checks'])} checks a report, summary {report['summary']}")
PY
# Per run: the doctor's wall clock and CPU (user + system), and the CPU mxconf serve spent
# answering it (from /proc/PID/stat; Knot, Dovecot and Postfix are not counted).
python3 - "$RUNS" "$mx_pid" "${doctor[@]}" <<'PY'
import os, statistics, subprocess, sys, time
runs, server, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
tick = os.sysconf("SC_CLK_TCK")
def server_cpu():
    with open(f"/proc/{server}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick
walls, cpus, served = [], [], []
for index in range(runs + 1):
    before, before_server = os.times(), server_cpu()
    start = time.monotonic()
    done = subprocess.run(command, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - start
    after, after_server = os.times(), server_cpu()
    if done.returncode != 0:
        sys.exit(f"run {index}: the doctor exited {done.returncode}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    line = f"{wall:.3f} s wall, doctor {cpu:.2f} s CPU, mxconf serve {after_server - before_server:.2f} s CPU"
    if index == 0:
        print(f"warm-up: {line}")
        continue
    walls.append(wall)
    cpus.append(cpu)
    served.append(after_server - before_server)
    print(f"run {index}: {line}")
print(f"median of {runs}: {statistics.median(walls):.3f} s wall (min {min(walls):.3f}, max {max(walls):.3f}), "
      f"doctor {statistics.median(cpus):.2f} s CPU, mxconf serve {statistics.median(served):.2f} s CPU")
PY
