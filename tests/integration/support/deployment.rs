//! A small mail deployment for the `mxconf doctor` tests, every part a real program started in
//! its own temporary directory on loopback and free ports, stopped on drop: a test CA, Knot
//! (authoritative DNS), Dovecot (IMAP, POP3, and the SASL service Postfix authenticates
//! through), Postfix (submission) and nginx (TLS in front of mxconf). Knot, Dovecot and nginx
//! run as `nobody` when the tests run as root; Postfix's master insists on root (its smtpd
//! processes run as `postfix`). A missing program fails the test; nothing is skipped.
//!
//! Dovecot listens on 127.0.0.2, not 127.0.0.1: it treats a client from its own address as
//! secure and would offer passwords before STARTTLS to it, which no real client sees.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RecordType};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};
use tempfile::TempDir;

use super::servers::{free_port_on, is_root, run, wait_for};

/// Where the mail servers listen (see the module header).
pub const MAIL_IP: &str = "127.0.0.2";

/// A temporary directory the unprivileged servers can write to.
pub fn shared_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    dir
}

/// `program` as `nobody` when we are root, else as ourselves.
fn unprivileged(program: &str) -> Command {
    assert!(
        Path::new(program).exists(),
        "{program} is missing: install its package"
    );
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "nobody", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

/// The user the unprivileged servers run as (Dovecot must be told).
fn service_user() -> (String, String) {
    if is_root() {
        ("nobody".into(), "nogroup".into())
    } else {
        let output = |args: &[&str]| {
            let out = Command::new("id").args(args).output().expect("id runs");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        (output(&["-un"]), output(&["-gn"]))
    }
}

/// A daemon started in the foreground: stopped with SIGTERM to the pid its pid file names (the
/// child may be `runuser`, which does not pass signals on), then reaped.
struct Daemon {
    child: Child,
    pid_file: PathBuf,
}

impl Daemon {
    fn spawn(mut command: Command, pid_file: PathBuf, log: &Path) -> Daemon {
        let log = std::fs::File::create(log).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        Daemon { child, pid_file }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw);
        match pid {
            Some(pid) => {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            None => {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// A private certificate authority, its root in `ca.pem`.
pub struct TestCa {
    dir: TempDir,
    certificate: X509,
    key: PKey<Private>,
    serial: std::cell::Cell<u32>,
}

/// How long a test certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From yesterday for 30 days.
    Current,
    /// Ended yesterday.
    Expired,
    /// Ends in 5 days (inside the doctor's warning window).
    EndingSoon,
    /// From yesterday until this many seconds from now.
    EndingIn(i64),
}

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("key")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = shared_dir();
        let key = ec_key();
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "mxconf doctor test CA")
            .expect("CN");
        let name = name.build();
        let mut builder = X509Builder::new().expect("builder");
        builder.set_version(2).expect("v3");
        builder
            .set_serial_number(&Asn1Integer::from_bn(&BigNum::from_u32(1).unwrap()).unwrap())
            .unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::from_unix(unix_now() - 86_400).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        builder
            .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        builder
            .append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let certificate = builder.build();
        std::fs::write(dir.path().join("ca.pem"), certificate.to_pem().unwrap()).unwrap();
        TestCa {
            dir,
            certificate,
            key,
            serial: std::cell::Cell::new(1),
        }
    }

    /// The root, for `--ca`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for `names`, as `<stem>.pem` and `<stem>.key` (readable by all:
    /// the unprivileged servers load them).
    pub fn issue(&self, stem: &str, names: &[&str], validity: Validity) -> (PathBuf, PathBuf) {
        let key = ec_key();
        let mut subject = X509NameBuilder::new().unwrap();
        subject.append_entry_by_text("CN", names[0]).unwrap();
        let subject = subject.build();
        self.serial.set(self.serial.get() + 1);
        let mut builder = X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        builder
            .set_serial_number(
                &Asn1Integer::from_bn(&BigNum::from_u32(self.serial.get()).unwrap()).unwrap(),
            )
            .unwrap();
        builder.set_subject_name(&subject).unwrap();
        builder
            .set_issuer_name(self.certificate.subject_name())
            .unwrap();
        builder.set_pubkey(&key).unwrap();
        let day = 86_400;
        let (from, until) = match validity {
            Validity::Current => (unix_now() - day, unix_now() + 30 * day),
            Validity::Expired => (unix_now() - 30 * day, unix_now() - day),
            Validity::EndingSoon => (unix_now() - day, unix_now() + 5 * day),
            Validity::EndingIn(seconds) => (unix_now() - day, unix_now() + seconds),
        };
        builder
            .set_not_before(&Asn1Time::from_unix(from).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(until).unwrap())
            .unwrap();
        let mut san = SubjectAlternativeName::new();
        for name in names {
            san.dns(name);
        }
        let san = san
            .build(&builder.x509v3_context(Some(&self.certificate), None))
            .unwrap();
        builder.append_extension(san).unwrap();
        builder
            .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
        builder.sign(&self.key, MessageDigest::sha256()).unwrap();
        let cert = self.dir.path().join(format!("{stem}.pem"));
        let key_file = self.dir.path().join(format!("{stem}.key"));
        std::fs::write(&cert, builder.build().to_pem().unwrap()).unwrap();
        std::fs::write(&key_file, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::set_permissions(
            &key_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        (cert, key_file)
    }
}

/// Knot DNS serving one zone file per origin on 127.0.0.1.
pub struct Knot {
    _daemon: Daemon,
    dir: TempDir,
    origins: Vec<String>,
    pub addr: SocketAddr,
}

/// How long knotd may take to serve its zones: long enough for a loaded machine, short enough
/// that one that never does fails the test.
const KNOT_READY: Duration = Duration::from_secs(20);

impl Knot {
    /// `zones`: (origin, zone-file text without SOA/NS, which are added here). Returns once
    /// every zone answers (see [`Knot::serving`]).
    pub fn start(zones: &[(&str, String)]) -> Knot {
        let dir = shared_dir();
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port_on("127.0.0.1")));
        Knot::configure(dir.path(), addr, zones);
        let origins = zones.iter().map(|(origin, _)| origin.to_string()).collect();
        let knot = Knot::spawn(dir, addr, origins);
        if let Err(error) = knot.serving(KNOT_READY) {
            panic!("{error}");
        }
        knot
    }

    /// knotd on what [`Knot::configure`] wrote into `dir` for `addr`, not waited for.
    pub fn spawn(dir: TempDir, addr: SocketAddr, origins: Vec<String>) -> Knot {
        let path = dir.path();
        let mut command = unprivileged("/usr/sbin/knotd");
        command.arg("-c").arg(path.join("knot.conf"));
        let daemon = Daemon::spawn(command, path.join("knot.pid"), &path.join("knot.log"));
        Knot {
            _daemon: daemon,
            dir,
            origins,
            addr,
        }
    }

    /// Waits (at most `bound`) until every zone's SOA is answered authoritatively. An open
    /// port is not enough: knotd binds its ports before it has loaded the zones, and a query
    /// in between goes unanswered or is refused. The error names the zone, its last answer
    /// and knotd's log.
    pub fn serving(&self, bound: Duration) -> Result<(), String> {
        let deadline = Instant::now() + bound;
        for origin in &self.origins {
            while let Err(answer) = soa_answer(self.addr, origin) {
                if Instant::now() >= deadline {
                    let log = std::fs::read_to_string(self.dir.path().join("knot.log"))
                        .unwrap_or_else(|error| format!("(unreadable: {error})"));
                    return Err(format!(
                        "knotd on {} did not answer SOA {origin} authoritatively within {bound:?}: \
                         {answer}\nknotd's log:\n{log}",
                        self.addr
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Writes `knot.conf` and the zone files into `path` for a knotd listening on `listen`
    /// (UDP and TCP), and returns the config file, for a test that starts knotd elsewhere (in
    /// a network namespace of its own).
    pub fn configure(path: &Path, listen: SocketAddr, zones: &[(&str, String)]) -> PathBuf {
        // Info: the log a failed readiness wait shows then says which zones knotd was loading.
        let mut config = format!(
            "server:\n  rundir: \"{dir}\"\n  listen: {ip}@{port}\n\
             database:\n  storage: \"{dir}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             template:\n  - id: default\n    storage: \"{dir}\"\n    file: \"%s.zone\"\n\
             zone:\n",
            dir = path.display(),
            ip = listen.ip(),
            port = listen.port(),
        );
        for (origin, records) in zones {
            let _ = writeln!(config, "  - domain: {origin}");
            std::fs::write(
                path.join(format!("{origin}.zone")),
                format!(
                    "$ORIGIN {origin}.\n$TTL 60\n\
                     @ SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 60\n\
                     @ NS ns.{origin}.\nns A 127.0.0.1\n{records}\n"
                ),
            )
            .unwrap();
        }
        let file = path.join("knot.conf");
        std::fs::write(&file, config).unwrap();
        file
    }
}

/// One SOA query for `origin` over UDP to `server`: Ok when it is answered authoritatively
/// (NOERROR, AA, an SOA record), else what came back instead.
fn soa_answer(server: SocketAddr, origin: &str) -> Result<(), String> {
    let name = Name::from_ascii(format!("{origin}.")).map_err(|error| error.to_string())?;
    let mut query = Message::query();
    query.add_query(Query::query(name, RecordType::SOA));
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|error| error.to_string())?;
    socket.connect(server).map_err(|error| error.to_string())?;
    let bytes = query.to_vec().map_err(|error| error.to_string())?;
    socket.send(&bytes).map_err(|error| error.to_string())?;
    let mut buffer = [0; 4096];
    let length = socket
        .recv(&mut buffer)
        .map_err(|error| format!("no answer ({error})"))?;
    let answer = Message::from_vec(&buffer[..length]).map_err(|error| error.to_string())?;
    let header = answer.metadata;
    let soa = answer
        .answers
        .iter()
        .any(|record| record.record_type() == RecordType::SOA);
    if header.id == query.metadata.id
        && header.response_code == ResponseCode::NoError
        && header.authoritative
        && soa
    {
        Ok(())
    } else {
        Err(format!(
            "{}, authoritative {}, {} answer records",
            header.response_code,
            header.authoritative,
            answer.answers.len()
        ))
    }
}

/// Dovecot with IMAP and POP3, each on a STARTTLS port and an implicit-TLS port, passwords
/// refused before TLS, and a SASL socket for Postfix.
pub struct Dovecot {
    _daemon: Daemon,
    dir: TempDir,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
}

impl Dovecot {
    pub fn start(cert: &Path, key: &Path) -> Dovecot {
        let dir = shared_dir();
        let path = dir.path();
        let (user, group) = service_user();
        let ports: Vec<u16> = (0..4).map(|_| free_port_on(MAIL_IP)).collect();
        let config = format!(
            r#"base_dir = {dir}/run
state_dir = {dir}/state
log_path = /dev/stderr
protocols = imap pop3
listen = {MAIL_IP}
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={dir}/home/%u
}}
mail_location = maildir:{dir}/mail/%u
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service auth {{
  unix_listener {dir}/sasl {{
    mode = 0666
  }}
}}
"#,
            dir = path.display(),
            cert = cert.display(),
            key = key.display(),
            imap = ports[0],
            imaps = ports[1],
            pop3 = ports[2],
            pop3s = ports[3],
        );
        std::fs::write(path.join("dovecot.conf"), config).unwrap();
        let mut command = unprivileged("/usr/sbin/dovecot");
        command.arg("-F").arg("-c").arg(path.join("dovecot.conf"));
        let daemon = Daemon::spawn(
            command,
            path.join("run/master.pid"),
            &path.join("dovecot.log"),
        );
        for port in &ports {
            wait_for(SocketAddr::new(MAIL_IP.parse().unwrap(), *port));
        }
        Dovecot {
            _daemon: daemon,
            dir,
            imap: ports[0],
            imaps: ports[1],
            pop3: ports[2],
            pop3s: ports[3],
        }
    }

    /// The SASL socket Postfix authenticates through.
    pub fn sasl_socket(&self) -> PathBuf {
        self.dir.path().join("sasl")
    }
}

/// One Postfix smtpd listener: its `-o` overrides of the main.cf below.
pub struct SmtpService<'a> {
    pub options: &'a [String],
}

/// A private Postfix instance: submission with STARTTLS, AUTH only after TLS (through
/// Dovecot's SASL), one smtpd per [`SmtpService`] on its own port.
pub struct Postfix {
    dir: TempDir,
    pub ports: Vec<u16>,
}

impl Postfix {
    pub fn start(cert: &Path, key: &Path, sasl: &Path, services: &[SmtpService<'_>]) -> Postfix {
        assert!(
            is_root(),
            "Postfix's master runs only as root: run the tests as root (CI does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        std::fs::create_dir(path.join("queue")).unwrap();
        std::fs::create_dir(path.join("data")).unwrap();
        run(Command::new("chown").arg("postfix").arg(path.join("data")));
        std::fs::write(
            path.join("main.cf"),
            format!(
                "compatibility_level = 3.6\n\
                 queue_directory = {dir}/queue\ndata_directory = {dir}/data\n\
                 mail_owner = postfix\nsetgid_group = postdrop\n\
                 myhostname = smtp.example.test\n\
                 inet_interfaces = loopback-only\ninet_protocols = ipv4\n\
                 mydestination =\nrelayhost =\n\
                 maillog_file = {dir}/maillog\nmaillog_file_prefixes = {dir}\n\
                 smtpd_sasl_type = dovecot\nsmtpd_sasl_path = {sasl}\nsmtpd_sasl_auth_enable = yes\n\
                 smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n\
                 smtpd_tls_security_level = may\nsmtpd_tls_auth_only = yes\n\
                 smtpd_relay_restrictions = permit_sasl_authenticated, reject\n",
                dir = path.display(),
                sasl = sasl.display(),
                cert = cert.display(),
                key = key.display(),
            ),
        )
        .unwrap();
        let mut master = String::new();
        let mut ports = Vec::new();
        for service in services {
            let port = free_port_on(MAIL_IP);
            ports.push(port);
            let _ = write!(master, "{MAIL_IP}:{port} inet n - n - - smtpd");
            for option in service.options {
                let _ = write!(master, " -o {option}");
            }
            master.push('\n');
        }
        master.push_str(
            "postlog unix-dgram n - n - 1 postlogd\n\
             anvil unix - - n - 1 anvil\n\
             tlsmgr unix - - n 1000? 1 tlsmgr\n\
             cleanup unix n - n - 0 cleanup\n\
             qmgr unix n - n 300 1 qmgr\n\
             rewrite unix - - n - - trivial-rewrite\n\
             bounce unix - - n - 0 bounce\n\
             defer unix - - n - 0 bounce\n\
             trace unix - - n - 0 bounce\n\
             verify unix - - n - 1 verify\n\
             flush unix n - n 1000? 0 flush\n\
             proxymap unix - - n - - proxymap\n\
             scache unix - - n - 1 scache\n",
        );
        std::fs::write(path.join("master.cf"), master).unwrap();
        run(Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(path)
            .arg("start"));
        for port in &ports {
            wait_for(SocketAddr::new(MAIL_IP.parse().unwrap(), *port));
        }
        Postfix { dir, ports }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.dir.path())
            .arg("abort")
            .output();
    }
}

/// A virtual host of [`Nginx`]: names, certificate, and the mxconf it proxies to.
pub struct Site<'a> {
    pub names: &'a [&'a str],
    pub cert: &'a Path,
    pub key: &'a Path,
    pub upstream: SocketAddr,
}

/// nginx terminating TLS (and plain HTTP) for several sites on one port each, passing the
/// scheme and host on as the README's setup does.
pub struct Nginx {
    _daemon: Daemon,
    _dir: TempDir,
    pub https: u16,
    pub http: u16,
}

impl Nginx {
    pub fn start(sites: &[Site<'_>]) -> Nginx {
        let dir = shared_dir();
        let path = dir.path();
        let https = free_port_on("127.0.0.1");
        let http = free_port_on("127.0.0.1");
        let mut servers = String::new();
        for site in sites {
            let names = site.names.join(" ");
            let proxy = format!(
                "location / {{ proxy_pass http://{upstream}; proxy_set_header Host $host; \
                 proxy_set_header X-Forwarded-Host $host; proxy_set_header X-Forwarded-Proto $scheme; }}",
                upstream = site.upstream
            );
            let _ = writeln!(
                servers,
                "server {{ listen 127.0.0.1:{https} ssl; server_name {names}; \
                 ssl_certificate {cert}; ssl_certificate_key {key}; {proxy} }}\n\
                 server {{ listen 127.0.0.1:{http}; server_name {names}; {proxy} }}",
                cert = site.cert.display(),
                key = site.key.display(),
            );
        }
        let config = format!(
            "daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n\
             client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
             {servers}}}\n",
            dir = path.display()
        );
        std::fs::write(path.join("nginx.conf"), config).unwrap();
        let mut command = unprivileged("/usr/sbin/nginx");
        command
            .arg("-p")
            .arg(path)
            .arg("-e")
            .arg(path.join("error.log"))
            .arg("-c")
            .arg(path.join("nginx.conf"));
        let daemon = Daemon::spawn(command, path.join("nginx.pid"), &path.join("nginx.out"));
        wait_for(SocketAddr::from(([127, 0, 0, 1], https)));
        wait_for(SocketAddr::from(([127, 0, 0, 1], http)));
        Nginx {
            _daemon: daemon,
            _dir: dir,
            https,
            http,
        }
    }
}
