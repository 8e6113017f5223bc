"""What the real-client scripts share: starting mxconf inside their private network namespace
(the Rust tests run them under `unshare --net`) on 127.0.0.1:80 and 127.0.0.1:443, where
clients look without being told a port; waiting for a daemon they started to listen (knotd:
to serve its zones), and stopping the daemons again (newest first, killed when they do not end
within 10 s)."""
import socket
import subprocess
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


def wait_for_port(port, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def wait_for_zones(knot_conf, port, seconds, log_path):
    """Until knotd on 127.0.0.1:`port` answers every zone of `knot_conf` (its `- domain:`
    lines) with its SOA, authoritatively. An open port is not enough: knotd binds its ports
    before it has loaded the zones, and a query in between goes unanswered or is refused."""
    with open(knot_conf) as conf:
        origins = [line.split(":", 1)[1].strip() for line in conf
                   if line.strip().startswith("- domain:")]
    deadline = time.time() + seconds
    for origin in origins:
        while True:
            answer = soa_answer(origin, port)
            if answer is None:
                break
            if time.time() >= deadline:
                with open(log_path) as log:
                    raise SystemExit(f"knotd on 127.0.0.1:{port} did not answer SOA {origin} "
                                     f"authoritatively within {seconds}s: {answer}\n"
                                     f"knotd's log:\n{log.read()}")
            time.sleep(0.02)


def soa_answer(origin, port):
    """None when 127.0.0.1:`port` answers `origin`'s SOA authoritatively, else what it did."""
    query = dns.message.make_query(origin, dns.rdatatype.SOA)
    query.flags &= ~dns.flags.RD
    try:
        response = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
    except (OSError, dns.exception.DNSException) as error:
        return f"no answer ({error!r})"
    soa = any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.answer)
    if response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA and soa:
        return None
    return (f"{dns.rcode.to_text(response.rcode())}, "
            f"authoritative {bool(response.flags & dns.flags.AA)}, {len(response.answer)} answers")


def stop(processes):
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def start_mxconf(binary, config, log_path):
    """Loopback up, then `mxconf serve --config CONFIG` on ports 80 (plain HTTP) and 443
    (HTTPS), its log in `log_path`."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server = subprocess.Popen(
        [binary, "serve", "--config", config, "--listen", "127.0.0.1:80",
         "--tls-listen", "127.0.0.1:443"],
        stderr=open(log_path, "w"))
    wait_for_port(80, 30)
    wait_for_port(443, 30)
    return server
