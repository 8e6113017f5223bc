//! Criterion benchmarks of the renderers (filled in per protocol).

// Benchmark set-up aborts on any error; there is no caller to report it to.
#![allow(clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};

fn resolve(c: &mut Criterion) {
    let config = std::sync::Arc::new(mxconf::config::Config::demo().expect("demo"));
    let resolver = mxconf::resolve::Resolver::new(config);
    let domain = mxconf::account::Domain::parse("example.com").expect("domain");
    c.bench_function("resolve_domain", |b| {
        b.iter(|| resolver.resolve_domain(&domain))
    });
}

criterion_group!(benches, resolve);
criterion_main!(benches);
