//! Criterion benchmarks of the resolver and each renderer on the embedded demo.

// Benchmark set-up aborts on any error; there is no caller to report it to.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mxconf::account::{Domain, EmailAddress};
use mxconf::protocol::autodiscover::{self, ErrorCode, PoxRequest, ResponseSchema};
use mxconf::protocol::{autoconfig, autodiscover_json};

fn renderers(c: &mut Criterion) {
    let config = std::sync::Arc::new(mxconf::config::Config::demo().expect("demo"));
    let resolver = mxconf::resolve::Resolver::new(config);
    let domain = Domain::parse("example.com").expect("domain");
    let email = EmailAddress::parse("jane@example.com").expect("address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let account = runtime
        .block_on(resolver.resolve(&email))
        .expect("demo domain");
    let request = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/spec/autodiscover/examples/outlook-request.xml"
    ))
    .expect("example request");

    c.bench_function("resolve_domain", |b| {
        b.iter(|| resolver.resolve_domain(black_box(&domain)))
    });
    c.bench_function("resolve_address", |b| {
        b.iter(|| runtime.block_on(resolver.resolve(black_box(&email))))
    });
    c.bench_function("parse_address", |b| {
        b.iter(|| EmailAddress::parse(black_box("Jane.Doe@Example.COM")))
    });
    c.bench_function("autoconfig", |b| {
        b.iter(|| autoconfig::render(black_box(&account)))
    });
    c.bench_function("pox_request_parse", |b| {
        b.iter(|| PoxRequest::parse(black_box(&request)))
    });
    c.bench_function("outlook", |b| {
        b.iter(|| autodiscover::render(ResponseSchema::Outlook, black_box(&account)))
    });
    c.bench_function("mobilesync", |b| {
        b.iter(|| autodiscover::render(ResponseSchema::MobileSync, black_box(&account)))
    });
    c.bench_function("autodiscover_error_600", |b| {
        b.iter(|| autodiscover::error::render(black_box(ErrorCode::InvalidRequest)))
    });
    c.bench_function("autodiscover_json", |b| {
        b.iter(|| {
            autodiscover_json::render(
                black_box(&account),
                autodiscover_json::JsonProtocol::ActiveSync,
                "",
            )
        })
    });
}

criterion_group!(benches, renderers);
criterion_main!(benches);
