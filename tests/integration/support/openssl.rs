//! The `openssl` command line as the reference the tests check signatures against, and as a
//! factory for certificates that must not be committed (expired, not yet valid, odd key types):
//! made at run time by a throw-away CA in a temporary directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs the openssl CLI in `dir`; returns (success, stdout, stderr).
pub fn openssl(dir: &Path, args: &[&str]) -> (bool, Vec<u8>, String) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed");
    (
        output.status.success(),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs the openssl CLI in `dir`, panicking with its report when it fails; its stdout.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> Vec<u8> {
    let (ok, stdout, stderr) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed: {stderr}");
    stdout
}

/// `openssl cms -verify` of `der` against `ca`, purpose any (docs/profiles.md, "Any certificate
/// purpose"), working in `dir`:
/// the signed content, or openssl's report.
pub fn cms_verify(dir: &Path, der: &[u8], ca: &Path) -> Result<Vec<u8>, String> {
    let signed = dir.join("under-test.der");
    let out = dir.join("under-test.out");
    std::fs::write(&signed, der).expect("write signed profile");
    let (ok, _, stderr) = openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-purpose",
            "any",
            "-in",
            signed.to_str().expect("utf-8 path"),
            "-CAfile",
            ca.to_str().expect("utf-8 path"),
            "-out",
            out.to_str().expect("utf-8 path"),
        ],
    );
    if ok {
        Ok(std::fs::read(out).expect("read verified content"))
    } else {
        Err(stderr)
    }
}

/// Makes a key file readable by its owner only, as the signer loader demands of secrets.
pub fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
}

/// `openssl req` arguments for a new unencrypted P-256 key, written to the file named next.
const NEW_P256_KEY: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
];

/// A throw-away CA (`ca.pem`, `ca.key`) in a temporary directory that issues certificates with
/// any dates and uses.
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path();
        openssl_ok(
            path,
            &[
                &["req", "-x509"],
                NEW_P256_KEY,
                &[
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=mxconf test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        );
        std::fs::write(path.join("index.txt"), "").expect("write CA index");
        std::fs::write(
            path.join("ca.cnf"),
            "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n\
             default_md = sha256\nserial = serial\npolicy = any\nunique_subject = no\ncopy_extensions = copy\n\
             [any]\ncommonName = supplied\n",
        )
        .expect("write CA config");
        TestCa { dir }
    }

    /// The CA's working directory, where it keeps its files and what it issues.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues `<name>.pem` + `<name>.key` valid from `start` to `end` (UTCTime YYMMDDHHMMSSZ),
    /// with the given extended key usage.
    pub fn issue(&self, name: &str, start: &str, end: &str, eku: &str) -> (PathBuf, PathBuf) {
        self.issue_with(
            name,
            &["-startdate", start, "-enddate", end],
            &[format!("extendedKeyUsage={eku}")],
        )
    }

    /// Issues `<name>.pem` + `<name>.key` valid from now for a day, for TLS: the given extended
    /// key usage and, for a server, its `subjectAltName` (e.g. `IP:127.0.0.1`).
    pub fn issue_current(
        &self,
        name: &str,
        eku: &str,
        alt_names: Option<&str>,
    ) -> (PathBuf, PathBuf) {
        let mut extensions = vec![format!("extendedKeyUsage={eku}")];
        extensions.extend(alt_names.map(|names| format!("subjectAltName={names}")));
        self.issue_with(name, &["-days", "1"], &extensions)
    }

    /// Issues `<name>.pem` + `<name>.key` valid from now for `days` days, with the given
    /// extended key usage.
    pub fn issue_for_days(&self, name: &str, days: u32, eku: &str) -> (PathBuf, PathBuf) {
        self.issue_with(
            name,
            &["-days", &days.to_string()],
            &[format!("extendedKeyUsage={eku}")],
        )
    }

    fn issue_with(
        &self,
        name: &str,
        validity: &[&str],
        extensions: &[String],
    ) -> (PathBuf, PathBuf) {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        openssl_ok(
            self.dir(),
            &[
                &["req", "-new"],
                NEW_P256_KEY,
                &[&key, "-out", &csr, "-subj", &format!("/CN={name}")],
                &extensions
                    .iter()
                    .flat_map(|extension| ["-addext", extension.as_str()])
                    .collect::<Vec<_>>(),
            ]
            .concat(),
        );
        openssl_ok(
            self.dir(),
            &[
                &[
                    "ca",
                    "-batch",
                    "-notext",
                    "-rand_serial",
                    "-config",
                    "ca.cnf",
                    "-cert",
                    "ca.pem",
                    "-keyfile",
                    "ca.key",
                    "-in",
                    &csr,
                    "-out",
                    &pem,
                ],
                validity,
            ]
            .concat(),
        );
        restrict(&self.path(&key));
        (self.path(&pem), self.path(&key))
    }
}

/// The certificate subject `openssl s_client` was shown for `sni` (none: `-noservername`),
/// verified against `ca` (and, with an SNI, for that host name).
pub fn presented(addr: SocketAddr, sni: Option<&str>, ca: &Path) -> String {
    let mut command = Command::new("openssl");
    command.args([
        "s_client",
        "-connect",
        &addr.to_string(),
        "-CAfile",
        ca.to_str().unwrap(),
        "-verify_return_error",
    ]);
    match sni {
        Some(name) => command.args(["-servername", name, "-verify_hostname", name]),
        None => command.arg("-noservername"),
    };
    let output = command.stdin(Stdio::null()).output().expect("openssl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "s_client {sni:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("subject="))
        .unwrap_or_else(|| panic!("no subject in {stdout}"))
        .to_owned()
}
