//! The Prometheus endpoint: `GET /metrics` on the `[metrics] listen` address, a listener of its
//! own so the series never show on the public ones. What is counted as it happens is recorded
//! by [`crate::metrics`] along the flow; what other parts keep themselves (the signer's
//! and the TLS certificates' expiry) is read from the current snapshot at each scrape.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::AppState;
use super::reload::Live;
use crate::metrics::{self, Purpose};
use crate::tls::CertificateStore;

/// How often histogram buffers are drained between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);
/// The exposition format's media type (Prometheus text format 0.0.4).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `/metrics` on `listener` until the server drains.
pub async fn serve(
    listener: TcpListener,
    live: Arc<Live>,
    certificates: Option<Arc<CertificateStore>>,
    mut stopping: watch::Receiver<bool>,
) {
    let upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tick.tick().await;
            metrics::upkeep();
        }
    });
    let routes = Router::new()
        .route(
            "/metrics",
            get(move || {
                let live = Arc::clone(&live);
                let certificates = certificates.clone();
                async move { scrape(&live.state(), certificates.as_deref()) }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") });
    let stopped = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(listener, routes)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::error!(%error, "the metrics listener failed");
    }
    upkeep.abort();
}

/// Reads what the snapshot keeps itself into the recorder, then renders everything.
fn scrape(state: &AppState, certificates: Option<&CertificateStore>) -> Response {
    // An ACME signer not issued yet reads as expired (0): the expiry alert fires meanwhile.
    if let Some(live) = &state.answers.signer {
        let expires_at = live
            .current()
            .map_or(0, |signer| signer.signer().expires_at());
        metrics::certificate_expiry(Purpose::Signing, "signer", expires_at);
    }
    for (slot, certificate) in certificates
        .map(CertificateStore::slots)
        .unwrap_or_default()
    {
        metrics::certificate_expiry(Purpose::Tls, &slot, certificate.not_after_unix());
    }
    if let Some(files) = &state.certificate_files {
        let refused = files.refused();
        for slot in files.slots() {
            let is_refused = refused.iter().any(|(name, _)| *name == slot);
            metrics::certificate_file_refused(&slot, is_refused);
        }
    }
    match metrics::render() {
        Some(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are off\n").into_response(),
    }
}
