//! Criterion benchmarks of the resolver and each renderer on the embedded demo, of the whole
//! answer (resolve + render, what a handler asks for) on the two hot paths, and of address
//! resolution through a cached SQL source.

// Benchmark set-up aborts on any error; there is no caller to report it to.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mxconf::account::{Domain, EmailAddress};
use mxconf::protocol::autodiscover::{self, ErrorCode, PoxRequest, ResponseSchema};
use mxconf::protocol::{autoconfig, autodiscover_json};

/// The POX request Outlook sends.
fn outlook_request() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/autodiscover/examples/outlook-request.xml"
    ))
    .expect("example request")
}

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
    let request = outlook_request();

    c.bench_function("resolve_domain", |b| {
        b.iter(|| resolver.resolve_domain(black_box(&domain)))
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

/// `Resolver::resolve` for an address of a domain with an SQLite source whose answer is cached
/// (the static-only fast path is `resolve_address` above).
fn resolve_address_cached_sql(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let email = EmailAddress::parse("jane@example.com").expect("address");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.sqlite");
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = sqlx::AnyPool::connect(&url).await.expect("sqlite");
        let schema = "CREATE TABLE users (address TEXT, login TEXT);\
                      INSERT INTO users VALUES ('jane@example.com', 'jdoe');";
        sqlx::raw_sql(schema).execute(&pool).await.expect("schema");
    });
    let text = mxconf::config::DEMO_TOML.replace(
        "[domains.\"example.com\"]\n",
        &format!(
            "[backends.users]\ntype = \"sql\"\npath = \"{}\"\n\
             query = \"SELECT login AS login_name FROM users WHERE address = $1\"\n\
             [domains.\"example.com\"]\nsources = [\"users\"]\n",
            path.display()
        ),
    );
    let config =
        mxconf::config::Config::from_toml(&text, mxconf::config::ConfigSource::EmbeddedDemo)
            .expect("config");
    let cached = mxconf::resolve::Resolver::new(std::sync::Arc::new(config));
    let account = runtime.block_on(cached.resolve(&email)).expect("resolves");
    assert_eq!(account.login_name(), Some("jdoe"));
    c.bench_function("resolve_address_cached_sql", |b| {
        b.iter(|| runtime.block_on(cached.resolve(&email)))
    });
}

/// What the autoconfig GET and POX POST handlers ask the answer layer, whole: the request is
/// parsed by the handler (autoconfig) or by the answer layer itself (POX body).
fn answers(c: &mut Criterion) {
    let answers = mxconf::answer::Answers::new(mxconf::config::Config::demo().expect("demo"));
    let email = EmailAddress::parse("jane@example.com").expect("address");
    let request = outlook_request();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function("answer_autoconfig", |b| {
        b.iter(|| runtime.block_on(answers.autoconfig(black_box(&email))))
    });
    c.bench_function("answer_pox_body", |b| {
        b.iter(|| runtime.block_on(answers.pox_body(black_box(&request))))
    });
}

criterion_group!(benches, renderers, answers, resolve_address_cached_sql);
criterion_main!(benches);
