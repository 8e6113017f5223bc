"""What the real-client scripts share: starting mxconf inside their private network namespace
(the Rust tests run them under `unshare --net`) on 127.0.0.1:80 and 127.0.0.1:443, where
clients look without being told a port; waiting for a daemon they started to listen, and
stopping the daemons again (newest first, killed when they do not end within 10 s)."""
import socket
import subprocess
import time


def wait_for_port(port, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


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
