#!/usr/bin/env python3
"""Real-client acceptance: exchangelib 4.9's whole POX discovery (PoxAutodiscovery, the steps
Microsoft documents for Outlook: https://<domain>/, https://autodiscover.<domain>/, then the
unauthenticated plain-HTTP GET and the 302 it follows, then SRV) against mxconf serving HTTPS
itself on port 443 and plain HTTP on port 80, no proxy in front.

Run inside a private network namespace (the Rust test does `unshare --net`), so mxconf can take
ports 80 and 443 on loopback without touching the host. Names resolve as a zone would: the
hosts given resolve to 127.0.0.1 (for requests' connections and for exchangelib's own DNS
check), anything else does not exist, and there are no SRV records. TLS is verified against
the test CA (REQUESTS_CA_BUNDLE). Prints one JSON object per address: the steps exchangelib
took (its own log lines), the EWS URL it found, or the error.
Usage: exchangelib_discover.py MXCONF_BINARY CONFIG CA_FILE HOSTS(comma-separated) EMAIL...
"""
import json
import logging
import os
import shutil
import socket
import sys
import tempfile

from harness import start_mxconf, stop


class Steps(logging.Handler):
    """exchangelib's "Step N: Trying autodiscover on URL" lines, in order."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Step "):
            self.lines.append(message)


def main():
    binary, config, ca_file, hosts = sys.argv[1:5]
    emails = sys.argv[5:]
    hosts = set(hosts.split(","))
    work = tempfile.mkdtemp(prefix="mxconf-exchangelib-")
    # exchangelib keeps an on-disk autodiscover cache in the temp dir: a private one, so no
    # earlier run's answer is taken without asking.
    tempfile.tempdir = work
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    log_path = os.path.join(work, "mxconf.log")
    processes = []
    try:
        processes.append(start_mxconf(binary, config, log_path))
        real_getaddrinfo = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host in hosts:
                host = "127.0.0.1"
            elif host != "127.0.0.1":
                raise socket.gaierror(socket.EAI_NONAME, f"{host}: no such test host")
            return real_getaddrinfo(host, port, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo

        import dns.resolver
        from exchangelib import Credentials
        from exchangelib.autodiscover.discovery.pox import PoxAutodiscovery

        class Zone:
            """The test zone: A records for `hosts`, nothing else (no SRV)."""

            def resolve(self, name, rdtype, **kwargs):
                if rdtype == "A" and name.rstrip(".") in hosts:
                    return ["127.0.0.1"]
                raise dns.resolver.NXDOMAIN()

        PoxAutodiscovery.resolver = Zone()
        steps = Steps()
        logging.getLogger("exchangelib").addHandler(steps)
        logging.getLogger("exchangelib").setLevel(logging.INFO)

        results = {}
        for email in emails:
            steps.lines = []
            try:
                response, protocol = PoxAutodiscovery(
                    email=email, credentials=Credentials(email, "secret")).discover()
                results[email] = {
                    "steps": steps.lines,
                    "ews_url": protocol.service_endpoint,
                    "protocols": [p.type for p in response.account.protocols],
                }
            except Exception as error:  # the test prints what went wrong
                results[email] = {"steps": steps.lines, "error": f"{type(error).__name__}: {error}"}
        results["mxconf_log"] = open(log_path).read()
        print(json.dumps(results, indent=1))
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
