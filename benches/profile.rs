//! Criterion benchmarks of one Apple profile: building the XML plist, and building plus signing
//! it with the development chain (RSA 2048): the per-request CPU cost of `/mobileconfig`.

// Benchmark set-up aborts on any error; there is no caller to report it to.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use mxconf::account::EmailAddress;
use mxconf::config::Config;
use mxconf::resolve::Resolver;
use mxconf::signing::Signer;

fn profile(c: &mut Criterion) {
    let config = Arc::new(Config::demo().expect("demo"));
    let resolver = Resolver::new(Arc::clone(&config));
    let email = EmailAddress::parse("jane@example.com").expect("address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut account = runtime.block_on(resolver.resolve(&email)).expect("account");
    account.display_name = Some("Jane Doe".into());
    let signer = Signer::development().expect("development signer");

    c.bench_function("profile_build", |b| {
        b.iter(|| mxconf::profile::build(black_box(&account), &config.profile))
    });
    c.bench_function("profile_build_and_sign", |b| {
        b.iter(|| {
            let xml = mxconf::profile::build(black_box(&account), &config.profile).expect("build");
            signer.sign(&xml).expect("sign")
        })
    });
}

criterion_group!(benches, profile);
criterion_main!(benches);
