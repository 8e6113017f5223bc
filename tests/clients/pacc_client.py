#!/usr/bin/env python3
"""Real-client acceptance for PACC: pim-discovery (the io-pim-discovery crate's CLI) fetches
the document from mxconf and checks it against the digest knot serves.

Run inside private network and mount namespaces (the Rust test does `unshare --net --mount`):
the client fetches `https://ua-auto-config.<domain>/…` on port 443 and resolves that name
through the system resolver, so mxconf listens on 127.0.0.1:443 and a bind-mounted
/etc/hosts points the names at loopback, all without touching the host. knotd answers the
`_ua-auto-config` TXT lookups on 127.0.0.1:53 (the client asks it over TCP).
Usage: pacc_client.py MXCONF CONFIG KNOT_CONF HOSTS PIM_DISCOVERY CA_FILE QUERIES
QUERIES is a JSON list of argument lists for pim-discovery (without the global options);
prints a JSON list with what pim-discovery printed (--json) for each.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from harness import stop, wait_for_port, wait_for_zones



def main():
    mxconf, config, knot_conf, hosts, pim, ca, queries = sys.argv[1:8]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
    work = tempfile.mkdtemp(prefix="mxconf-pacc-")
    processes = []
    try:
        knot_log = os.path.join(work, "knot.log")
        processes.append(subprocess.Popen(["/usr/sbin/knotd", "-c", knot_conf],
                                          stderr=open(knot_log, "w")))
        processes.append(subprocess.Popen(
            [mxconf, "serve", "--config", config, "--listen", "127.0.0.1:8080",
             "--tls-listen", "127.0.0.1:443"],
            stderr=open(os.path.join(work, "mxconf.log"), "w")))
        wait_for_zones(knot_conf, 53, 30, knot_log)
        wait_for_port(443, 30)
        results = []
        for query in json.loads(queries):
            done = subprocess.run([pim, "--json", "--tls-cert", ca, *query],
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise SystemExit(f"pim-discovery {query} failed: {done.stderr}")
            results.append(json.loads(done.stdout))
        print(json.dumps(results, indent=1))
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
