//! Real PostgreSQL, MariaDB and OpenLDAP servers for the backend tests, and Redis for the
//! shared limits: each started in its own temporary directory on 127.0.0.1 and a free
//! ephemeral port, stopped on drop. A missing binary fails the test (CI installs
//! `postgresql`, `mariadb-server`, `slapd` and `redis-server`); nothing is skipped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Debian's PostgreSQL 15 server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A port nobody listens on right now (the OS picks it; we release it for the server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("ephemeral port")
        .port()
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
            port: free_port(),
            dir,
            password_file,
            running: false,
        };
        postgres.start_again();
        postgres.psql(schema);
        postgres
    }

    pub fn start_again(&mut self) {
        let dir = self.dir.path();
        run(pg_command(dir, "pg_ctl")
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
            .arg("start"));
        self.running = true;
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
            port: free_port(),
            dir,
            password_file,
            server: None,
        };
        mariadb.start_again();
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

    pub fn start_again(&mut self) {
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
        self.server = Some(server.spawn().unwrap_or_else(|error| {
            panic!("cannot run mariadbd: {error} (install mariadb-server)")
        }));
        wait_for_port(self.port);
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
        run(Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-u", "root", database, "-e"])
            .arg(sql));
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
            port: free_port(),
            tls_port: tls.then(free_port),
            dir,
            password_file,
            running: false,
        };
        slapd.start_again();
        slapd
    }

    /// slapd forks into the background; its parent may exit before the listener is up, so
    /// wait (bounded) until the port accepts connections.
    pub fn start_again(&mut self) {
        let path = self.dir.path();
        let mut urls = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some(port) = self.tls_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{port}/"));
        }
        run(Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(path.join("slapd.conf"))
            .arg("-h")
            .arg(urls));
        self.running = true;
        wait_for_port(self.port);
        if let Some(port) = self.tls_port {
            wait_for_port(port);
        }
    }

    pub fn stop(&mut self) {
        self.signal("-KILL");
        self.running = false;
    }

    /// Sends a signal to slapd, e.g. `-STOP` to make it hang with its connections open.
    pub fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.dir.path().join("slapd.pid")).expect("slapd pid");
        run(Command::new("kill").arg(signal).arg(pid.trim()));
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
/// data. Killed on drop.
pub struct Redis {
    dir: TempDir,
    pub port: u16,
    pub password_file: PathBuf,
    child: Option<std::process::Child>,
}

impl Redis {
    pub const PASSWORD: &str = "r3dis s3cret";

    pub fn start() -> Redis {
        let dir = tempfile::tempdir().expect("tempdir");
        let password_file = dir.path().join("redis-password");
        std::fs::write(&password_file, format!("{}\n", Self::PASSWORD)).expect("password file");
        let mut redis = Redis {
            dir,
            port: free_port(),
            password_file,
            child: None,
        };
        redis.start_again();
        redis
    }

    /// Starts it (again) on the same port and waits until it accepts connections.
    pub fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--requirepass", Self::PASSWORD])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run redis-server: {error} (is the redis-server package installed?)")
            });
        self.child = Some(child);
        wait_for_port(self.port);
    }

    /// Kills it: connections drop, new ones are refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal, e.g. `-STOP` to make it hang with its connections open.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server runs");
        run(Command::new("kill").arg(signal).arg(child.id().to_string()));
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
