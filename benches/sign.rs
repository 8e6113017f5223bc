//! Criterion benchmark of profile signing: one CMS SignedData over a typical 3 KB profile,
//! RSA-2048 and ECDSA P-256, plus verification. Compare with `openssl speed rsa2048` on the
//! same machine: signing should cost little beyond the one private-key operation.

// Benchmark set-up aborts on any error; there is no caller to report it to.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mxconf::signing::{Signer, verify};

fn certs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

/// A profile of the size mxconf serves: mail + EAS + CalDAV + CardDAV payloads, ~3 KB.
fn typical_profile() -> Vec<u8> {
    let payload = |kind: &str, index: usize| {
        format!(
            "\t\t<dict>\n\t\t\t<key>PayloadType</key>\n\t\t\t<string>{kind}</string>\n\
             \t\t\t<key>PayloadVersion</key>\n\t\t\t<integer>1</integer>\n\
             \t\t\t<key>PayloadIdentifier</key>\n\t\t\t<string>com.example.mxconf.jane.{index}</string>\n\
             \t\t\t<key>PayloadUUID</key>\n\t\t\t<string>6F9619FF-8B86-D011-B42D-00C04FC964F{index}</string>\n\
             \t\t\t<key>PayloadDisplayName</key>\n\t\t\t<string>Example Mail ({kind})</string>\n\
             \t\t\t<key>HostName</key>\n\t\t\t<string>mail.example.com</string>\n\
             \t\t\t<key>Port</key>\n\t\t\t<integer>993</integer>\n\
             \t\t\t<key>UseSSL</key>\n\t\t\t<true/>\n\
             \t\t\t<key>UserName</key>\n\t\t\t<string>jane@example.com</string>\n\t\t</dict>\n"
        )
    };
    let payloads: String = [
        "com.apple.mail.managed",
        "com.apple.eas.account",
        "com.apple.caldav.account",
        "com.apple.carddav.account",
    ]
    .iter()
    .enumerate()
    .map(|(index, kind)| payload(kind, index))
    .collect();
    let profile = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n\t<array>\n{payloads}\t</array>\n\
         \t<key>PayloadDisplayName</key>\n\t<string>Example Mail</string>\n\
         \t<key>PayloadIdentifier</key>\n\t<string>com.example.mxconf.jane</string>\n\
         \t<key>PayloadType</key>\n\t<string>Configuration</string>\n\
         \t<key>PayloadUUID</key>\n\t<string>6F9619FF-8B86-D011-B42D-00C04FC964FF</string>\n\
         \t<key>PayloadVersion</key>\n\t<integer>1</integer>\n</dict>\n</plist>\n"
    );
    profile.into_bytes()
}

fn sign(c: &mut Criterion) {
    let profile = typical_profile();
    let rsa = Signer::development().expect("development signer");
    let ecdsa = Signer::from_pem(
        &certs("signer-ec.pem"),
        Some(&certs("chain.pem")),
        &certs("signer-ec.key"),
    )
    .expect("ECDSA signer");
    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Bytes(profile.len() as u64));
    group.bench_function(format!("rsa2048_{}_bytes", profile.len()), |b| {
        b.iter(|| rsa.sign(&profile).expect("signs"))
    });
    // What the server's signing threads and `mxconf export` do: one prepared key per thread.
    let mut session = rsa.session().expect("session");
    group.bench_function(format!("rsa2048_session_{}_bytes", profile.len()), |b| {
        b.iter(|| session.sign(&profile).expect("signs"))
    });
    group.bench_function(format!("ecdsa_p256_{}_bytes", profile.len()), |b| {
        b.iter(|| ecdsa.sign(&profile).expect("signs"))
    });
    // The floor: one RSA-2048 PKCS#1 signature of a SHA-256 digest on a prepared key context,
    // what `openssl speed rsa2048` measures.
    let key = openssl::pkey::PKey::private_key_from_pem(
        &std::fs::read(certs("signer.key")).expect("dev key"),
    )
    .expect("RSA key");
    let mut context = openssl::pkey_ctx::PkeyCtx::new(&key).expect("context");
    context.sign_init().expect("sign_init");
    context
        .set_signature_md(openssl::md::Md::sha256())
        .expect("sha256");
    let digest = openssl::sha::sha256(&profile);
    group.bench_function("rsa2048_bare_private_key_op", |b| {
        b.iter(|| {
            let mut signature = Vec::new();
            context.sign_to_vec(&digest, &mut signature).expect("signs");
            signature
        })
    });
    group.finish();

    let signed = rsa.sign(&profile).expect("signs");
    let root = certs("root.pem");
    c.bench_function("verify_rsa2048", |b| {
        b.iter(|| verify(signed.as_der(), Some(&root)).expect("verifies"))
    });
}

criterion_group!(benches, sign);
criterion_main!(benches);
