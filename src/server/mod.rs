//! The HTTP layer (axum): thin handlers that extract, ask the answer layer
//! ([`crate::answer`]) and respond. Routes and the layer stack are listed in [`router`], top
//! to bottom. Nothing here decides an answer or renders a protocol; it maps requests to
//! [`Answers`] and their answers and refusals to responses.

pub mod autoconfig;
pub mod autodiscover;
pub mod error;
pub mod extract;
pub mod form;
pub mod mobileconfig;
mod request_log;
mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::Layer as _;
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::answer::{Answers, Refusal};
use crate::config::Config;
use crate::protocol::Rendered;
use crate::signing::SigningError;
use crate::webform::{Webform, WebformError};

/// Everything a request needs, built once from one configuration and shared read-only. A
/// handler reads one `Arc<AppState>` for its whole request and hands its [`Answers`] to the
/// answer layer explicitly, so swapping in a new snapshot (a config reload) stays one change.
#[derive(Debug)]
pub struct AppState {
    pub answers: Answers,
    /// The download page, its templates compiled and assets fingerprinted.
    pub webform: Webform,
    /// The page's `Content-Security-Policy`, ready for the security-headers layer.
    csp: HeaderValue,
}

/// Why the server cannot start with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Webform(#[from] WebformError),
}

impl AppState {
    /// A state without a signer: with `[signing]` configured, `/mobileconfig` then refuses
    /// (503) rather than serve unsigned. The server uses [`AppState::load`]. Fails when the
    /// admin's web templates do not load or render.
    pub fn new(config: Config) -> Result<Self, StartError> {
        AppState::with(Answers::new(config))
    }

    /// The state with the signer `[signing]` names; an unusable identity (expired, key does
    /// not match, unreadable) stops the start here, with the reason.
    pub fn load(config: Config) -> Result<Self, StartError> {
        AppState::with(Answers::load(config)?)
    }

    fn with(answers: Answers) -> Result<Self, StartError> {
        let config = &answers.config;
        let webform = Webform::new(&config.provider, &config.web)?;
        let csp = HeaderValue::from_str(webform.content_security_policy())
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
        Ok(AppState {
            answers,
            webform,
            csp,
        })
    }
}

/// Request bodies above this are refused with 413 (a POX request is ~400 bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// A whole request, body included, must be answered within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Every route and layer of the server.
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/mail/config-v1.1.xml", get(autoconfig::config))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig::config),
        )
        .route("/v1.1/{domain}", get(autoconfig::ispdb))
        .route(
            "/autodiscover/autodiscover.xml",
            get(autodiscover::pox_get).post(autodiscover::pox),
        )
        .route(
            "/autodiscover/autodiscover.json",
            get(autodiscover::json_query),
        )
        .route(
            "/autodiscover/autodiscover.json/v1.0/{email}",
            get(autodiscover::json_path),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        // The download form (issue 4) and its embedded assets.
        .route("/", get(form::index))
        .route("/static/{name}", get(form::static_file))
        // A browser's refused form submission gets the form back with the reason.
        .route(
            "/mobileconfig",
            get(mobileconfig::get)
                .post(mobileconfig::post)
                .layer(from_fn_with_state(
                    Arc::clone(&state),
                    form::rerender_refusals,
                )),
        )
        .fallback(|| async { Refusal::NotFound })
        .method_not_allowed_fallback(|| async { Refusal::MethodNotAllowed })
        .layer(
            ServiceBuilder::new()
                // A bug that panics answers a short 500 instead of dropping the connection.
                .layer(CatchPanicLayer::custom(|_| internal_error()))
                // Slow or stuck requests end with 408 instead of holding a worker. Extractors
                // run inside the handler's future, so a body trickling in (slowloris) is
                // bounded too, without a second timer per request.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                // Bodies are buffered only up to MAX_BODY (chunked or not); beyond that, 413.
                .layer(DefaultBodyLimit::max(MAX_BODY))
                // nosniff on everything; CSP, no referrer and no framing on pages.
                .layer(security::headers(Arc::clone(&state))),
        );
    // One line per request, outside the layers above so that 408s and 500s are logged too.
    // Inside the routes (`Router::layer`) because only there the matched route is known; left
    // out when INFO is off for it, so a silent server pays nothing.
    let routes = if request_log::enabled() {
        routes.layer(from_fn_with_state(Arc::clone(&state), request_log::log))
    } else {
        routes
    };
    // `Router::layer` runs after routing, so the case fold wraps the routes as a service of its
    // own: `/Autodiscover/Autodiscover.xml` must route (automx2 #8, exchangelib's casing).
    let folded = MapRequestLayer::new(fold_autodiscover_case).layer(routes.with_state(state));
    Router::new().fallback_service(folded)
}

/// Case-insensitive Autodiscover paths, rewritten to the routed spelling. Only the fixed
/// prefix is folded: the address in `…/autodiscover.json/v1.0/{email}` keeps its case.
fn fold_autodiscover_case(mut request: Request) -> Request {
    const PREFIXES: [&str; 2] = [
        "/autodiscover/autodiscover.xml",
        "/autodiscover/autodiscover.json",
    ];
    let path = request.uri().path();
    let Some(prefix) = PREFIXES.into_iter().find(|prefix| {
        path.len() >= prefix.len()
            && path.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
            && !path.starts_with(prefix)
    }) else {
        return request;
    };
    // The prefix matched ASCII bytes, so `prefix.len()` is a character boundary.
    let mut path_and_query = format!("{prefix}{}", &path[prefix.len()..]);
    if let Some(query) = request.uri().query() {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

/// A renderer's answer as an HTTP response.
pub(crate) fn respond(rendered: Rendered) -> Response {
    (
        error::status(rendered.status),
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(rendered.content_type),
        )],
        rendered.body,
    )
        .into_response()
}

fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "internal error\n",
    )
        .into_response()
}

/// Default listen address when neither `--listen` nor `[server].listen` names one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Binds every listen address and serves until Ctrl-C or SIGTERM.
pub async fn serve(config: Config, listen: Vec<SocketAddr>) -> std::io::Result<()> {
    let listen = if !listen.is_empty() {
        listen
    } else if !config.listen.is_empty() {
        config.listen.clone()
    } else {
        vec![DEFAULT_LISTEN.parse().map_err(std::io::Error::other)?]
    };
    let state = AppState::load(config).map_err(std::io::Error::other)?;
    let app = router(Arc::new(state));
    let mut servers = tokio::task::JoinSet::new();
    for addr in listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        let app = app.clone();
        servers.spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await
        });
    }
    while let Some(result) = servers.join_next().await {
        result.map_err(std::io::Error::other)??;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return ctrl_c.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_only_the_autodiscover_prefix() {
        let fold = |uri: &str| {
            let request = Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            fold_autodiscover_case(request).uri().to_string()
        };
        assert_eq!(
            fold("/Autodiscover/Autodiscover.xml"),
            "/autodiscover/autodiscover.xml"
        );
        assert_eq!(
            fold("/AUTODISCOVER/autodiscover.JSON/v1.0/Jane@Example.com?Protocol=x"),
            "/autodiscover/autodiscover.json/v1.0/Jane@Example.com?Protocol=x"
        );
        assert_eq!(fold("/Mail/config-v1.1.xml"), "/Mail/config-v1.1.xml");
        assert_eq!(
            fold("/autodiscover/autodiscover.xml"),
            "/autodiscover/autodiscover.xml"
        );
    }
}
