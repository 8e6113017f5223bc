#!/usr/bin/env python3
"""Real-client acceptance: Thunderbird's own account-setup code fetches from mxconf.

Run inside a private network namespace (the Rust test does `unshare --net`), so mxconf can
listen on 127.0.0.1:80 and 127.0.0.1:443 where Thunderbird looks
(`https://autoconfig.<domain>/…` first, then `http://…`; `https://autodiscover.<domain>/…`, then
`http://autodiscover.<domain>/…`) without touching the host. Thunderbird (Debian package,
headless) is driven over Marionette; `network.dns.localDomains` points the test domains at
loopback, and the test CA is imported into its private profile with NSS's certutil. Prints one
JSON object per domain with what Thunderbird made of each source (`subSource` says which URL
answered):
  isp      FetchConfig.fromISP   (autoconfig.<domain> and /.well-known, with emailaddress)
  ispdb    FetchConfig.fromDB    (the ISPDB-style /v1.1/<domain> route)
  exchange fetchConfigFromExchange (Autodiscover POX, Outlook schema)
Usage: thunderbird.py MXCONF_BINARY CONFIG CA_FILE DOMAIN EMAIL [DOMAIN EMAIL]...
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from marionette_driver.marionette import Marionette

from harness import start_mxconf, stop, wait_for_port

MARIONETTE_PORT = 2828

JS = r"""
const [domain, email, resolve] = arguments;
const { FetchConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/FetchConfig.sys.mjs");
const { fetchConfigFromExchange } = ChromeUtils.importESModule("resource:///modules/accountcreation/ExchangeAutoDiscover.sys.mjs");
const server = s => s && ({type: s.type, hostname: s.hostname, port: s.port, socketType: s.socketType,
                           auth: s.auth, username: s.username, exchangeURL: s.exchangeURL});
const summary = c => ({id: c.id, displayName: c.displayName, domains: c.domains, subSource: c.subSource,
                       incoming: server(c.incoming), incomingAlternatives: c.incomingAlternatives.map(server),
                       outgoing: server(c.outgoing), outgoingAlternatives: c.outgoingAlternatives.map(server)});
const attempt = async f => { try { return summary(await f()); } catch (e) { return {error: String(e)}; } };
(async () => {
  const signal = new AbortController().signal;
  return {
    isp: await attempt(() => FetchConfig.fromISP(domain, email, signal)),
    ispdb: await attempt(() => FetchConfig.fromDB(domain, signal)),
    exchange: await attempt(() => fetchConfigFromExchange(domain, email, signal, null, "secret", async () => false)),
  };
})().then(resolve, e => resolve({error: String(e)}));
"""


def main():
    binary, config, ca_file = sys.argv[1:4]
    accounts = list(zip(sys.argv[4::2], sys.argv[5::2]))
    work = tempfile.mkdtemp(prefix="mxconf-tb-")
    processes = []
    try:
        processes.append(start_mxconf(binary, config, os.path.join(work, "mxconf.log")))
        profile = os.path.join(work, "profile")
        os.makedirs(profile)
        # An empty NSS database, then the test CA trusted for TLS servers in it.
        subprocess.run(["certutil", "-N", "-d", f"sql:{profile}", "--empty-password"],
                       check=True)
        subprocess.run(["certutil", "-A", "-d", f"sql:{profile}", "-n", "mxconf test CA",
                        "-t", "C,,", "-i", ca_file], check=True)
        names = ",".join(f"autoconfig.{domain},{domain},autodiscover.{domain}"
                         for domain, _ in accounts)
        prefs = {
            "marionette.port": MARIONETTE_PORT,
            "network.dns.localDomains": names,
            "mailnews.auto_config_url": "http://127.0.0.1:80/v1.1/",
            "mailnews.auto_config.fetchFromISP.sslOnly": False,
            "datareporting.policy.dataSubmissionEnabled": False,
            "toolkit.telemetry.reportingpolicy.firstRun": False,
            "mail.shell.checkDefaultClient": False,
            "app.update.disabledForTesting": True,
        }
        with open(os.path.join(profile, "user.js"), "w") as f:
            for key, value in prefs.items():
                f.write(f"user_pref({json.dumps(key)}, {json.dumps(value)});\n")
        env = dict(os.environ, MOZ_HEADLESS="1", HOME=work)
        processes.append(subprocess.Popen(
            ["thunderbird", "--headless", "--marionette", "-remote-allow-system-access",
             "--no-remote", "--profile", profile],
            env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "tb.log"), "w")))
        wait_for_port(MARIONETTE_PORT, 90)
        client = Marionette(host="127.0.0.1", port=MARIONETTE_PORT)
        client.start_session()
        client.set_context(client.CONTEXT_CHROME)
        client.timeout.script = 60
        result = {domain: client.execute_async_script(JS, script_args=[domain, email])
                  for domain, email in accounts}
        client.delete_session()
        print(json.dumps(result, indent=1))
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
