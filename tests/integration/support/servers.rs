//! Real PostgreSQL, MariaDB and OpenLDAP servers for the backend tests, and Redis for the
//! shared limits: each started in its own temporary directory on 127.0.0.1 and a free port
//! ([`free_port_on`]), stopped on drop. A missing binary fails the test (CI installs
//! `postgresql`, `mariadb-server`, `slapd` and `redis-server`); nothing is skipped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Debian's PostgreSQL 15 server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A port on 127.0.0.1 for a server a test starts: see [`free_port_on`].
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A TCP and UDP port on `ip` that nothing uses now, for a server that binds it a moment
/// later. Taken below the kernel's ephemeral range: a port the OS picked for `bind(0)` would
/// be free for anyone in that moment, and under load it went to another test's server or to
/// one of the thousands of client connections (their source ports come from that range). Here
/// nothing but another such pick can take it, and this process never picks one twice; each
/// process starts at its own place in the range, so parallel runs on one machine rarely
/// meet (the servers that bind once retry with new ports when they do).
pub fn free_port_on(ip: &str) -> u16 {
    use std::net::UdpSocket;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, span) = below_ephemeral_ports();
    let start = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = u16::try_from(low + offset).expect("port range");
        if TcpListener::bind((ip, port)).is_ok() && UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip} below the ephemeral range");
}

/// The first port and the number of ports between 10000 and the kernel's ephemeral range.
fn below_ephemeral_ports() -> (u32, u32) {
    const LOW: u32 = 10_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    assert!(
        ephemeral > LOW + 1_000,
        "the ephemeral port range starts at {ephemeral}: too low for the test servers' ports"
    );
    (LOW, ephemeral - LOW)
}

/// Starts a server that binds fixed ports: `start` is given `count` ports from
/// [`free_port_on`] and tried again with new ones (five tries) when it fails, since another
/// process may still have taken one since the pick. Its error is the server's own report.
pub fn start_on_free_ports<T>(
    ip: &str,
    count: usize,
    mut start: impl FnMut(&[u16]) -> Result<T, String>,
) -> T {
    let mut failures = Vec::new();
    for _ in 0..5 {
        let ports: Vec<u16> = (0..count).map(|_| free_port_on(ip)).collect();
        match start(&ports) {
            Ok(started) => return started,
            Err(report) => failures.push(format!("on {ports:?}: {report}")),
        }
    }
    panic!("the server did not start:\n{}", failures.join("\n"));
}

/// Polls until something accepts connections on 127.0.0.1:`port`, for at most 20 s.
fn wait_for_port(port: u16) {
    wait_for(SocketAddr::from(([127, 0, 0, 1], port)));
}

/// Polls until something accepts connections on `addr`, for at most 20 s.
pub fn wait_for(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|error| {
        panic!("cannot run {command:?}: {error} (is the package installed?)")
    });
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// [`run`] for a start that may fail on a taken port: the command's report instead of a panic.
fn try_run(command: &mut Command) -> Result<(), String> {
    let output = command.output().unwrap_or_else(|error| {
        panic!("cannot run {command:?}: {error} (is the package installed?)")
    });
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Polls until `child` accepts connections on 127.0.0.1:`port` (at most 20 s); its exit
/// status when it ends first, as a server does that cannot bind.
fn wait_for_child(child: &mut Child, port: u16) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status} before listening on {addr}"));
        }
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Sends `signal` (as `kill` spells it) to `pid` and, for `-STOP` and `-KILL`, returns once
/// it has taken effect (at most 20 s). `kill` returns when the signal is queued: a
/// multi-threaded server stops or dies thread by thread as each is scheduled, and on a loaded
/// machine a worker thread can still answer the request meant to find it hung, or a killed
/// one still hold its port when it is started again.
fn signal_and_wait(pid: u32, signal: &str) {
    run(Command::new("kill").arg(signal).arg(pid.to_string()));
    // The states /proc gives each thread once the signal has taken effect: stopped; zombie
    // or dead (its sockets are closed by then), or gone altogether.
    let done: &[char] = match signal {
        "-STOP" => &['T'],
        "-KILL" => &['Z', 'X'],
        _ => return,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !threads_in(pid, done) {
        assert!(
            Instant::now() < deadline,
            "kill {signal} {pid} has no effect"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether every thread of process `pid` is in one of the `states` of `/proc/…/stat`; true
/// when the process is gone.
fn threads_in(pid: u32, states: &[char]) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|task| {
        // A thread that ended since the listing has no stat file: it runs no more either.
        std::fs::read_to_string(task.path().join("stat")).map_or(true, |stat| {
            // The state follows the command name, which is in parentheses and may contain any.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_some_and(|state| states.contains(&state))
        })
    })
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// PostgreSQL refuses to run as root: as root, run its binaries as `nobody` in a directory
/// `nobody` owns (CI runs as root; a developer's machine usually does not).
fn pg_command(dir: &Path, program: &str) -> Command {
    let path = Path::new(PG_BIN).join(program);
    assert!(
        path.exists(),
        "{} is missing: install postgresql",
        path.display()
    );
    if is_root() {
        run(Command::new("chown").arg("-R").arg("nobody:").arg(dir));
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

/// A PostgreSQL cluster with password (SCRAM) authentication for user `mxconf`.
pub struct Postgres {
    dir: TempDir,
    pub port: u16,
    pub password_file: PathBuf,
    running: bool,
}

impl Postgres {
    pub const PASSWORD: &str = "s3cret 'quoted' pässword";

    /// Creates the cluster, starts it (pg_ctl -w waits until it accepts connections) and runs
    /// `schema` through psql.
    pub fn start(schema: &str) -> Postgres {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let data = dir.path().join("data");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, format!("{}\n", Self::PASSWORD)).expect("password file");
        run(pg_command(dir.path(), "initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "mxconf", "--auth=scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", password_file.display())));
        let mut postgres = Postgres {
            port: 0,
            dir,
            password_file,
            running: false,
        };
        start_on_free_ports("127.0.0.1", 1, |ports| {
            postgres.port = ports[0];
            postgres.try_start()
        });
        postgres.psql(schema);
        postgres
    }

    /// Starts it again on its port, after [`Postgres::stop`].
    pub fn start_again(&mut self) {
        if let Err(report) = self.try_start() {
            panic!("{report}");
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        try_run(
            pg_command(dir, "pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "-t", "60", "-o"])
                .arg(format!(
                    "-h 127.0.0.1 -p {} -k {} -F",
                    self.port,
                    dir.display()
                ))
                .arg("start"),
        )?;
        self.running = true;
        Ok(())
    }

    pub fn stop(&mut self) {
        let dir = self.dir.path();
        run(pg_command(dir, "pg_ctl")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"]));
        self.running = false;
    }

    pub fn psql(&self, sql: &str) {
        run(Command::new(Path::new(PG_BIN).join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "mxconf",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(sql)
            .env("PGPASSWORD", Self::PASSWORD));
    }

    pub fn url(&self) -> String {
        format!("postgres://mxconf@127.0.0.1:{}/postgres", self.port)
    }

    /// Where the server's Unix socket lives.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let dir = self.dir.path();
            let _ = pg_command(dir, "pg_ctl")
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}

/// A self-signed certificate for 127.0.0.1 (`cert.pem`, `key.pem` in `dir`) that no trust
/// store knows.
fn self_signed(dir: &Path) {
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem")));
}

/// A MariaDB server with database `mail`, where user `mxconf` (password [`MariaDb::PASSWORD`],
/// over TCP and the socket) may read. It also offers TLS, with a [`self_signed`] certificate.
/// Runs unprivileged as the caller, or as root with `--user=root` (CI runs as root).
pub struct MariaDb {
    dir: TempDir,
    pub port: u16,
    pub password_file: PathBuf,
    server: Option<Child>,
}

impl MariaDb {
    pub const PASSWORD: &str = "s3cret 'quoted' pässword";

    /// Creates the data directory, starts the server and runs `schema` in database `mail`.
    pub fn start(schema: &str) -> MariaDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if is_root() {
            install.arg("--user=root");
        }
        run(&mut install);
        self_signed(dir.path());
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, format!("{}\n", Self::PASSWORD)).expect("password file");
        let mut mariadb = MariaDb {
            port: 0,
            dir,
            password_file,
            server: None,
        };
        start_on_free_ports("127.0.0.1", 1, |ports| {
            mariadb.port = ports[0];
            mariadb.try_start()
        });
        let password = Self::PASSWORD.replace('\'', "''");
        mariadb.sql_in(
            "mysql",
            &format!(
                "CREATE DATABASE mail; \
             CREATE USER 'mxconf'@'127.0.0.1' IDENTIFIED BY '{password}'; \
             CREATE USER 'mxconf'@'localhost' IDENTIFIED BY '{password}'; \
             GRANT SELECT ON mail.* TO 'mxconf'@'127.0.0.1'; \
             GRANT SELECT ON mail.* TO 'mxconf'@'localhost';"
            ),
        );
        mariadb.sql(schema);
        mariadb
    }

    /// Starts it again on its port, after [`MariaDb::stop`].
    pub fn start_again(&mut self) {
        if let Err(report) = self.try_start() {
            panic!("mariadbd {report}");
        }
    }

    fn try_start(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let mut server = Command::new("mariadbd");
        server
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            // Its own temporary files too: not the shared /tmp other tests tidy up.
            .arg(format!("--tmpdir={}", dir.display()))
            .arg(format!("--ssl-cert={}", dir.join("cert.pem").display()))
            .arg(format!("--ssl-key={}", dir.join("key.pem").display()))
            // A test database needs no large buffer pool. (Commits stay durable: `stop` kills.)
            .arg("--innodb-buffer-pool-size=16M")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            server.arg("--user=root");
        }
        let mut server = server.spawn().unwrap_or_else(|error| {
            panic!("cannot run mariadbd: {error} (install mariadb-server)")
        });
        let started = wait_for_child(&mut server, self.port)
            .and_then(|()| self.wait_until_it_answers(&mut server));
        self.server = Some(server);
        started
    }

    /// Polls until a query over the socket answers (at most 20 s). An open TCP port is not
    /// enough: mariadbd listens there before its socket does, and accepts on either only once
    /// it has finished starting; under load a client on the socket in that moment was refused
    /// ("Can't connect … (111)"). Its exit status when it ends first.
    fn wait_until_it_answers(&self, server: &mut Child) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let output = self
                .client("mysql")
                // A server that accepted but never answers fails the wait, not the whole test run.
                .arg("--connect-timeout=5")
                .args(["-e", "SELECT 1"])
                .output()
                .unwrap_or_else(|error| {
                    panic!("cannot run mariadb: {error} (install mariadb-server)")
                });
            if output.status.success() {
                return Ok(());
            }
            if let Ok(Some(status)) = server.try_wait() {
                return Err(format!("exited with {status} before it answered"));
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not answer SELECT 1 on {} within 20 s: {}",
                self.socket().display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once, as a crash or a pulled cable would.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Runs `sql` in database `mail` as root over the socket.
    pub fn sql(&self, sql: &str) {
        self.sql_in("mail", sql);
    }

    fn sql_in(&self, database: &str, sql: &str) {
        run(self.client(database).arg("-e").arg(sql));
    }

    /// The `mariadb` client, as root over the socket in `database`.
    fn client(&self, database: &str) -> Command {
        let mut client = Command::new("mariadb");
        client
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-u", "root", database]);
        client
    }

    /// Over TCP, without a password (the tests give `password_file`).
    pub fn url(&self) -> String {
        format!("mysql://mxconf@127.0.0.1:{}/mail", self.port)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadbd.sock")
    }

    /// The server's self-signed certificate, for clients told to trust it.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An OpenLDAP server (`slapd`, mdb) with suffix `dc=example,dc=org`, loaded offline with
/// `slapadd` before start; `cn=admin,dc=example,dc=org` binds with [`Slapd::PASSWORD`].
pub struct Slapd {
    dir: TempDir,
    pub port: u16,
    /// ldaps:// port, when started with [`Slapd::start_tls`].
    pub tls_port: Option<u16>,
    pub password_file: PathBuf,
    running: bool,
}

impl Slapd {
    pub const PASSWORD: &str = "ldap-secret";
    pub const BIND_DN: &str = "cn=admin,dc=example,dc=org";

    pub fn start(ldif: &str) -> Slapd {
        Self::start_with(ldif, false)
    }

    /// Also serves ldaps:// and StartTLS, with a self-signed certificate for 127.0.0.1 that no
    /// trust store knows.
    pub fn start_tls(ldif: &str) -> Slapd {
        Self::start_with(ldif, true)
    }

    fn start_with(ldif: &str, tls: bool) -> Slapd {
        for binary in ["/usr/sbin/slapd", "/usr/sbin/slapadd"] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: install slapd"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path();
        std::fs::create_dir(path.join("db")).expect("db dir");
        let tls_config = if tls {
            self_signed(path);
            format!(
                "TLSCertificateFile {dir}/cert.pem\nTLSCertificateKeyFile {dir}/key.pem\n",
                dir = path.display()
            )
        } else {
            String::new()
        };
        std::fs::write(
            path.join("slapd.conf"),
            format!(
                "{tls_config}include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 include /etc/ldap/schema/misc.schema\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
                 pidfile {dir}/slapd.pid\n\
                 database mdb\nmaxsize 10485760\nsuffix \"dc=example,dc=org\"\n\
                 rootdn \"{dn}\"\nrootpw {pw}\ndirectory {dir}/db\n\
                 access to * by dn.exact=\"{dn}\" read by * none\n",
                dir = path.display(),
                dn = Self::BIND_DN,
                pw = Self::PASSWORD,
            ),
        )
        .expect("slapd.conf");
        std::fs::write(path.join("data.ldif"), ldif).expect("ldif");
        run(Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(path.join("slapd.conf"))
            .arg("-l")
            .arg(path.join("data.ldif")));
        let password_file = path.join("password");
        std::fs::write(&password_file, Self::PASSWORD).expect("password file");
        let mut slapd = Slapd {
            port: 0,
            tls_port: None,
            dir,
            password_file,
            running: false,
        };
        start_on_free_ports("127.0.0.1", 1 + usize::from(tls), |ports| {
            slapd.port = ports[0];
            slapd.tls_port = ports.get(1).copied();
            slapd.try_start()
        });
        slapd
    }

    /// Starts it again on its ports, after [`Slapd::stop`].
    pub fn start_again(&mut self) {
        if let Err(report) = self.try_start() {
            panic!("{report}");
        }
    }

    /// slapd binds its listeners before it forks into the background, so a taken port makes
    /// the command fail; its parent may exit before the listener accepts, so wait (bounded)
    /// until the ports do.
    fn try_start(&mut self) -> Result<(), String> {
        let path = self.dir.path();
        let mut urls = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some(port) = self.tls_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{port}/"));
        }
        try_run(
            Command::new("/usr/sbin/slapd")
                .arg("-f")
                .arg(path.join("slapd.conf"))
                .arg("-h")
                .arg(urls),
        )?;
        self.running = true;
        wait_for_port(self.port);
        if let Some(port) = self.tls_port {
            wait_for_port(port);
        }
        Ok(())
    }

    /// Kills it and waits until it is gone: connections drop, new ones are refused, and its
    /// ports are free for [`Slapd::start_again`].
    pub fn stop(&mut self) {
        self.signal("-KILL");
        self.running = false;
    }

    /// Sends a signal to slapd, e.g. `-STOP` to make it hang with its connections open; see
    /// [`signal_and_wait`].
    pub fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.dir.path().join("slapd.pid")).expect("slapd pid");
        signal_and_wait(pid.trim().parse().expect("slapd pid"), signal);
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The self-signed certificate, for clients told to trust it.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if self.running
            && let Ok(pid) = std::fs::read_to_string(self.dir.path().join("slapd.pid"))
        {
            let _ = Command::new("kill").arg("-KILL").arg(pid.trim()).output();
        }
    }
}

/// A Redis server (Debian's `redis-server`) on 127.0.0.1 and a free port, with a password
/// (`requirepass`) and no persistence: a restart starts empty, like a Redis that lost its
/// data. [`Redis::start_tls`] serves TLS only, with a certificate from a test CA and client
/// certificates required (Redis's default). Killed on drop.
pub struct Redis {
    dir: TempDir,
    pub port: u16,
    /// The password Redis wants now (see [`Redis::set_password`]).
    pub password: String,
    pub password_file: PathBuf,
    /// `--tls-*` arguments, when it serves TLS.
    tls: Vec<String>,
    child: Option<std::process::Child>,
}

impl Redis {
    pub const PASSWORD: &str = "r3dis s3cret";

    pub fn start() -> Redis {
        Redis::start_with(Vec::new())
    }

    /// TLS only (`--port 0`): its certificate for 127.0.0.1 from `ca`, and clients must present
    /// one from `ca` too (`--tls-auth-clients yes`).
    pub fn start_tls(ca: &super::openssl::TestCa) -> Redis {
        let (cert, key) = ca.issue_current("redis", "serverAuth", Some("IP:127.0.0.1"));
        let path = |path: &Path| path.to_str().expect("UTF-8 path").to_owned();
        Redis::start_with(vec![
            "--tls-cert-file".into(),
            path(&cert),
            "--tls-key-file".into(),
            path(&key),
            "--tls-ca-cert-file".into(),
            path(&ca.path("ca.pem")),
            "--tls-auth-clients".into(),
            "yes".into(),
        ])
    }

    fn start_with(tls: Vec<String>) -> Redis {
        let dir = tempfile::tempdir().expect("tempdir");
        let password_file = dir.path().join("redis-password");
        std::fs::write(&password_file, format!("{}\n", Self::PASSWORD)).expect("password file");
        let mut redis = Redis {
            dir,
            port: 0,
            password: Self::PASSWORD.into(),
            password_file,
            tls,
            child: None,
        };
        start_on_free_ports("127.0.0.1", 1, |ports| {
            redis.port = ports[0];
            redis.try_start()
        });
        redis
    }

    /// Starts it again on the same port, after [`Redis::stop`].
    pub fn start_again(&mut self) {
        if let Err(report) = self.try_start() {
            panic!("redis-server {report}");
        }
    }

    /// Starts it and waits until it accepts connections.
    fn try_start(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1"]);
        if self.tls.is_empty() {
            command.args(["--port", &port]);
        } else {
            command
                .args(["--port", "0", "--tls-port", &port])
                .args(&self.tls);
        }
        let mut child = command
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--requirepass", &self.password])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run redis-server: {error} (is the redis-server package installed?)")
            });
        let started = wait_for_child(&mut child, self.port);
        self.child = Some(child);
        started
    }

    /// Kills it: connections drop, new ones are refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal, e.g. `-STOP` to make it hang with its connections open; see
    /// [`signal_and_wait`].
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server runs");
        signal_and_wait(child.id(), signal);
    }

    /// Runs one command through `redis-cli` (plain Redis only); its output.
    pub fn cli(&self, args: &[&str]) -> String {
        assert!(self.tls.is_empty(), "redis-cli is used on plain Redis only");
        let output = Command::new("redis-cli")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "--no-auth-warning",
            ])
            .args(["-a", &self.password])
            .args(args)
            .output()
            .expect("redis-cli runs (is the redis-tools package installed?)");
        assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Makes `password` the one Redis wants from now on (`CONFIG SET requirepass`), as an
    /// admin rotating it does; connections already authenticated stay so.
    pub fn set_password(&mut self, password: &str) {
        assert_eq!(
            self.cli(&["CONFIG", "SET", "requirepass", password]).trim(),
            "OK"
        );
        self.password = password.into();
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_empty() {
            "redis"
        } else {
            "rediss"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
