//! The HTTP layer (axum): thin handlers that extract, ask the answer layer
//! ([`crate::answer`]) and respond. Routes and the layer stack are listed in [`router`], top
//! to bottom. Nothing here decides an answer or renders a protocol; it maps requests to
//! [`Answers`] and their answers and refusals to responses.

mod acme;
pub mod autoconfig;
pub mod autodiscover;
mod connections;
pub mod error;
pub mod extract;
mod fast_lane;
pub mod form;
mod limit;
mod listener;
mod metrics;
pub mod mobileconfig;
mod notify;
mod pacc;
mod plain_http;
mod reload;
mod request_log;
mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
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

use crate::acme::{Acme, Http01Tokens, Install, Issued, Responder};
use crate::answer::{Answers, Refusal, Signing};
use crate::config::acme::ChallengeKind;
use crate::config::{Config, ConnectionSettings, SigningSettings};
use crate::limits::{LimitError, Limiter};
use crate::protocol::Rendered;
use crate::signing::{CachingSigner, Signer, SigningError};
use crate::tls::{Acceptor, CertificateStore, FileCertificates};
use crate::webform::{Webform, WebformError};
use connections::Connections;
use listener::Shared;
use plain_http::HttpsElsewhere;
use reload::{Live, Outcome};
use tokio::sync::watch;

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
    /// `[limits]`; its counters outlive a reload that keeps the store.
    pub limiter: Limiter,
    /// The http-01 challenges an ACME order has published; the same map across reloads.
    pub http01: Arc<Http01Tokens>,
    /// The served `[[tls.certificate]]` files, for readiness and metrics; the same across
    /// reloads. `None` without TLS listeners.
    certificate_files: Option<Arc<FileCertificates>>,
}

/// Why the server cannot start with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Webform(#[from] WebformError),
    #[error(transparent)]
    Limits(#[from] LimitError),
    /// Domains with `pacc = true` whose settings make no document, one line each.
    #[error("{}", .0.join("\n"))]
    Pacc(Vec<String>),
}

impl AppState {
    /// A state without a signer: with `[signing]` configured, `/mobileconfig` then refuses
    /// (503) rather than serve unsigned. The server uses [`AppState::load`]. Fails when the
    /// admin's web templates do not load or render.
    pub fn new(config: Config) -> Result<Self, StartError> {
        AppState::with(Answers::new(config), None)
    }

    /// The state with the signer `[signing]` names; an unusable identity (expired, key does
    /// not match, unreadable) stops the start here, with the reason.
    pub fn load(config: Config) -> Result<Self, StartError> {
        AppState::with(Answers::load(config)?, None)
    }

    /// The state for a reloaded configuration: everything read and checked again (signer,
    /// templates), the per-user sources that did not change kept with their caches.
    pub fn reload(config: Config, previous: &AppState) -> Result<Self, StartError> {
        AppState::with(Answers::reload(config, &previous.answers)?, Some(previous))
    }

    fn with(answers: Answers, previous: Option<&AppState>) -> Result<Self, StartError> {
        if !answers.pacc_problems().is_empty() {
            return Err(StartError::Pacc(answers.pacc_problems().to_vec()));
        }
        let config = &answers.config;
        let webform = Webform::new(&config.provider, &config.web)?;
        let csp = HeaderValue::from_str(webform.content_security_policy())
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
        let limiter = match previous {
            Some(previous) => Limiter::renewed(&config.limits, &previous.limiter)?,
            None => Limiter::new(&config.limits)?,
        };
        let http01 =
            previous.map_or_else(Default::default, |previous| Arc::clone(&previous.http01));
        Ok(AppState {
            answers,
            webform,
            csp,
            limiter,
            http01,
            certificate_files: previous.and_then(|previous| previous.certificate_files.clone()),
        })
    }
}

/// The profile download, the one route whose requests may cost a signature.
pub(crate) const PROFILE_ROUTE: &str = "/mobileconfig";
/// The load balancer's health check: liveness, `ok` while the process answers.
pub(crate) const HEALTH_ROUTE: &str = "/healthz";
/// Readiness: 503 naming each per-user source that is failing, while it fails.
pub(crate) const READY_ROUTE: &str = "/readyz";

/// Request bodies above this are refused with 413 (a POX request is ~400 bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// A whole request, body included, must be answered within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Every route and layer of the server.
pub fn router(state: Arc<AppState>) -> Router {
    // Answered on every listener: clients ask for these over plain HTTP by design (Thunderbird,
    // K-9 and KDE fetch http://autoconfig.<domain>/, the ACME CA validates http-01 on port 80,
    // load balancers probe health), and none of them carries or leads to a secret.
    let everywhere = Router::new()
        .route("/mail/config-v1.1.xml", get(autoconfig::config))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig::config),
        )
        .route("/v1.1/{domain}", get(autoconfig::ispdb))
        .route("/.well-known/acme-challenge/{token}", get(acme::challenge))
        .route(HEALTH_ROUTE, get(|| async { "ok\n" }))
        .route(READY_ROUTE, get(ready));
    // HTTPS-only once HTTPS is served: a plain-HTTP request is redirected to it. POX leads to
    // the credentials on its next step and v2 hands out the POX URL; PACC is defined over
    // HTTPS only; the form and its profiles are what browsers and iOS must show as secure.
    let https_only = Router::new()
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
        .route(crate::protocol::pacc::PATH, get(pacc::document))
        // The download form and its embedded assets.
        .route("/", get(form::index))
        .route("/static/{name}", get(form::static_file))
        .route(
            PROFILE_ROUTE,
            get(mobileconfig::get).post(mobileconfig::post),
        )
        .route_layer(from_fn_with_state(Arc::clone(&state), plain_http::redirect));
    let routes = everywhere
        .merge(https_only)
        .fallback(|| async { Refusal::NotFound })
        .method_not_allowed_fallback(|| async { Refusal::MethodNotAllowed });
    // Abuse protection: every route's requests counted per client, refused with 429 when over
    // a budget. Left out entirely with `[limits] enabled = false`.
    let routes = if state.limiter.enabled() {
        routes.layer(from_fn_with_state(Arc::clone(&state), limit::limit))
    } else {
        routes
    };
    let routes = routes
        // A browser's refused profile request (by the handler or the limit above) gets the
        // form back with the reason.
        .layer(from_fn_with_state(
            Arc::clone(&state),
            form::rerender_refusals,
        ))
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
                // Two Host lines are 400 (RFC 9112 §3.2), whichever route.
                .layer(axum::middleware::from_fn(extract::single_host))
                // Bodies are buffered only up to MAX_BODY (chunked or not); beyond that, 413.
                .layer(DefaultBodyLimit::max(MAX_BODY))
                // nosniff on everything; CSP, no referrer and no framing on pages.
                .layer(security::headers(Arc::clone(&state))),
        );
    // One line and one count per request, outside the layers above so that 408s and 500s are
    // seen too. Inside the routes (`Router::layer`) because only there the matched route is
    // known; left out when INFO is off for it and metrics are off, so a silent server pays
    // nothing.
    let routes = if request_log::wanted() {
        routes.layer(from_fn_with_state(Arc::clone(&state), request_log::log))
    } else {
        routes
    };
    // `Router::layer` runs after routing, so the case fold wraps the routes as a service of its
    // own: `/Autodiscover/Autodiscover.xml` must route (docs/protocols.md, "Autodiscover path
    // case").
    let folded = MapRequestLayer::new(fold_autodiscover_case).layer(routes.with_state(state));
    Router::new().fallback_service(folded)
}

/// `ready`, or 503 with one `failing: NAME` line per per-user source that has not answered
/// since it last failed (its clients get the `on-failure` answer meanwhile). A `[limits]`
/// store that does not answer adds a `degraded:` line but no 503: every instance shares it, so
/// draining this one would help no client.
async fn ready(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    let failing = state.answers.resolver.failing_sources();
    let mut body: String = failing
        .iter()
        .map(|name| format!("failing: {name}\n"))
        .collect();
    let status = if failing.is_empty() {
        body.insert_str(0, "ready\n");
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if let Signing::Pending(host) = state.answers.signing() {
        body.push_str(&format!(
            "degraded: [signing] acme: no certificate for {host} yet; profiles are refused (503)\n"
        ));
    }
    for (_, refused) in state
        .certificate_files
        .as_ref()
        .map(|files| files.refused())
        .unwrap_or_default()
    {
        body.push_str(&format!(
            "degraded: {refused}; the previous certificate is served\n"
        ));
    }
    if let Some(consequence) = state.limiter.store_failing() {
        body.push_str(&format!(
            "degraded: [limits] store does not answer: {consequence}\n"
        ));
    }
    (status, body).into_response()
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

/// A renderer's answer as an HTTP response; an error document is marked as one for the
/// limiter.
pub(crate) fn respond(rendered: Rendered) -> Response {
    // Built directly: the tuple's `into_response` set `application/octet-stream` for the
    // `Vec` body first and then replaced it, two header insertions on every answer.
    let mut response = Response::new(Body::from(rendered.body));
    *response.status_mut() = error::status(rendered.status);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    if rendered.error_document {
        response.extensions_mut().insert(limit::ErrorDocument);
    }
    response
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
/// How long a stopping server waits for requests in progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the `[[tls.certificate]]` files are read again: a renewal on disk is served
/// within this, without a reload. Reading a few KiB per certificate costs next to nothing.
const CERTIFICATE_FILES_CHECK: Duration = Duration::from_secs(5);
/// How often the signer and the served certificates are checked against the expiry
/// thresholds (they are days apart).
const EXPIRY_CHECK: Duration = Duration::from_secs(3600);

/// Binds every listen address (plain HTTP: `listen`, else `[server] listen`; HTTPS:
/// `tls_listen`, else `[tls] listen`) and serves until SIGTERM or SIGINT, then drains: no new
/// connections, requests in progress answered (at most [`DRAIN_TIMEOUT`]), exit. SIGHUP
/// reloads the configuration ([`reload`]).
pub async fn serve(
    config: Config,
    listen: Vec<SocketAddr>,
    tls_listen: Vec<SocketAddr>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = if !listen.is_empty() {
        listen
    } else if !config.listen.is_empty() {
        config.listen.clone()
    } else {
        vec![DEFAULT_LISTEN.parse().map_err(std::io::Error::other)?]
    };
    // Installed first: from here on these signals are ours, never the default "terminate".
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let connections = Arc::new(connections_for(config.connections));
    let metrics_listen = config.metrics.listen;
    // Before the first snapshot: its router records requests only when metrics are on.
    if metrics_listen.is_some() {
        crate::metrics::install().map_err(std::io::Error::other)?;
    }
    let acme = config.tls.acme.clone().map(|settings| {
        let names = crate::hostnames::acme_certificates(&config);
        for wildcard in &names.wildcards {
            tracing::info!(
                "ACME: {wildcard} is a wildcard entry; a CA issues its names only to a DNS challenge, so its hosts need a certificate of your own"
            );
        }
        (settings, names.certificates)
    });
    let tls_listen = if tls_listen.is_empty() {
        config.tls.listen.clone()
    } else {
        tls_listen
    };
    // Every certificate is read and checked before anything is bound: never half-configured.
    let (tls, certificate_files) = if tls_listen.is_empty() {
        (None, None)
    } else {
        let (acceptor, files) = tls_acceptor(&config)?;
        (Some(Arc::new(acceptor)), Some(Arc::new(files)))
    };
    let handshake_timeout = config.tls.handshake_timeout;
    let mut state = AppState::load(config).map_err(std::io::Error::other)?;
    state.certificate_files = certificate_files.clone();
    if let Some((settings, certificates)) = acme {
        let store = tls.as_ref().map(|acceptor| Arc::clone(acceptor.store()));
        let responder = match (settings.challenge, &store) {
            (ChallengeKind::Http01, _) => Responder::Http01(Arc::clone(&state.http01)),
            (ChallengeKind::TlsAlpn01, Some(store)) => Responder::TlsAlpn01(Arc::clone(store)),
            (ChallengeKind::TlsAlpn01, None) => {
                return Err(std::io::Error::other(
                    "[tls.acme] challenge = \"tls-alpn-01\" is answered on the TLS listener; name one in [tls] listen or --tls-listen, or set challenge = \"http-01\"",
                ));
            }
        };
        let signing = install(&state);
        let install: Install = Arc::new(move |issued: &Issued| {
            if let Some(store) = &store {
                serve_issued(store, issued);
            }
            signing(issued);
        });
        Acme::start(settings, certificates, responder, install)?;
    }
    // Every address is bound before any is served: the plain listeners' redirects name the
    // port HTTPS is served on.
    let mut plain = Vec::new();
    for addr in listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!("listening on http://{}", listener.local_addr()?);
        plain.push(listener);
    }
    let mut secure = Vec::new();
    if let Some(acceptor) = &tls {
        for &addr in &tls_listen {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!("listening on https://{}", listener.local_addr()?);
            secure.push((listener, Arc::clone(acceptor)));
        }
    }
    let https = match (&tls, secure.first()) {
        (Some(acceptor), Some((first, _))) => {
            let https = HttpsElsewhere {
                store: Arc::clone(acceptor.store()),
                port: first.local_addr()?.port(),
            };
            let config = &state.answers.config;
            tracing::info!("{}", crate::hostnames::redirect_rule(config, https.port));
            let covers = |name: &str| acceptor.store().covers(name);
            if let Some(warning) = crate::hostnames::uncovered_web_host(config, covers) {
                tracing::warn!("{warning}");
            }
            Some(https)
        }
        _ => None,
    };
    let (stop, stopping) = watch::channel(false);
    let live = Arc::new(Live::new(state));
    let shared = Shared::new(
        Arc::clone(&connections),
        Arc::clone(&live),
        stopping,
        handshake_timeout,
        https,
    );
    let mut listeners = tokio::task::JoinSet::new();
    for listener in plain {
        listeners.spawn(listener::accept_loop(listener, shared.clone(), None));
    }
    for (listener, acceptor) in secure {
        listeners.spawn(listener::accept_loop(
            listener,
            shared.clone(),
            Some(acceptor),
        ));
    }
    if let Some(addr) = metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
        listeners.spawn(metrics::serve(
            listener,
            Arc::clone(&live),
            tls.as_ref().map(|acceptor| Arc::clone(acceptor.store())),
            shared.stopping.clone(),
        ));
    }
    if let Some(files) = certificate_files {
        tokio::spawn(watch_certificate_files(files));
    }
    tokio::spawn(watch_expiry(
        Arc::clone(&live),
        tls.as_ref().map(|acceptor| Arc::clone(acceptor.store())),
    ));
    tracing::info!("at most {} connections at once", connections.limit());
    notify::notify(notify::State::Ready, "serving");
    loop {
        tokio::select! {
            _ = hangup.recv() => reload(&live).await,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    notify::notify(notify::State::Stopping, "finishing requests in progress");
    tracing::info!(
        open = connections.count(),
        "stopping: no new connections, finishing requests in progress"
    );
    let _ = stop.send(true);
    while listeners.join_next().await.is_some() {}
    tokio::select! {
        () = connections.drained() => tracing::info!("stopped"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!(
            open = connections.count(),
            "stopped with connections still open after {} s", DRAIN_TIMEOUT.as_secs()
        ),
        // A second signal: the admin does not want to wait.
        _ = terminate.recv() => tracing::warn!("stopped at once"),
        _ = interrupt.recv() => tracing::warn!("stopped at once"),
    }
    Ok(())
}

/// What becomes of each certificate the ACME task has ready: the `[signing] acme` host's one
/// signs profiles from the next request on.
fn install(state: &AppState) -> Install {
    let signing = match (&state.answers.config.signing, &state.answers.signer) {
        (Some(SigningSettings::Acme { host, .. }), Some(live)) => {
            Some((host.clone(), Arc::clone(live)))
        }
        _ => None,
    };
    Arc::new(move |issued: &Issued| {
        let Some((host, live)) = &signing else {
            return;
        };
        if !issued.served.names().contains(host) {
            return;
        }
        // At start the stored certificate is already signing (read with the configuration):
        // loading it a second time would only start a second set of signing threads.
        let current = live.current();
        if current.is_some_and(|current| {
            current
                .signer()
                .certificate()
                .to_der()
                .is_ok_and(|der| der == issued.served.leaf())
        }) {
            return;
        }
        let origin = issued.served.origin();
        let signer = Signer::from_pem_bytes(
            &issued.certificate.chain_pem,
            &issued.certificate.key_pem,
            origin,
        )
        .and_then(|signer| CachingSigner::new(Arc::new(signer)));
        match signer {
            Ok(signer) => {
                signer.signer().announce();
                live.replace(signer);
            }
            Err(error) => {
                tracing::error!("[signing] acme: {error}; profiles keep the previous signer")
            }
        }
    })
}

/// The TLS listeners' acceptor with every `[[tls.certificate]]` loaded, each logged. With
/// `[tls.acme]` the store may start empty: handshakes are refused until a certificate is in.
fn tls_acceptor(config: &Config) -> std::io::Result<(Acceptor, FileCertificates)> {
    if config.tls.certificates.is_empty() && config.tls.acme.is_none() {
        return Err(std::io::Error::other(format!(
            "{}: --tls-listen needs a [tls] table with [[tls.certificate]] (cert and key) or [tls.acme]",
            config.source_name()
        )));
    }
    let files = crate::tls::load(&config.tls).map_err(std::io::Error::other)?;
    for (_, certificate) in files.store().slots() {
        certificate.announce("TLS certificate");
    }
    let acceptor = Acceptor::new(Arc::clone(files.store())).map_err(std::io::Error::other)?;
    Ok((acceptor, files))
}

/// Checks the current signer and every served certificate against the expiry thresholds
/// every [`EXPIRY_CHECK`]: a certificate that stays in use for weeks (a renewal that keeps
/// failing) still warns at each one.
async fn watch_expiry(live: Arc<Live>, store: Option<Arc<CertificateStore>>) {
    let mut tick = tokio::time::interval(EXPIRY_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = live.state();
        if let Some(signer) = state
            .answers
            .signer
            .as_ref()
            .and_then(|live| live.current())
        {
            signer.signer().warn_if_expiring();
        }
        for (_, certificate) in store.iter().flat_map(|store| store.slots()) {
            certificate.warn_if_expiring();
        }
    }
}

/// Reads the `[[tls.certificate]]` files again every [`CERTIFICATE_FILES_CHECK`], for as
/// long as the server runs.
async fn watch_certificate_files(files: Arc<FileCertificates>) {
    let mut tick = tokio::time::interval(CERTIFICATE_FILES_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let files = Arc::clone(&files);
        let _ = tokio::task::spawn_blocking(move || files.check()).await;
    }
}

/// An ACME certificate ready to serve goes into the store as `acme:NAME`, replacing the one
/// it renews from the next handshake on.
fn serve_issued(store: &CertificateStore, issued: &Issued) {
    issued.served.announce("TLS certificate");
    store.install(&format!("acme:{}", issued.name), issued.served.clone());
}

/// One reload, announced to systemd around it; the config is read off the async workers.
async fn reload(live: &Arc<Live>) {
    notify::notify(notify::State::Reloading, "reloading the configuration");
    let reloading = Arc::clone(live);
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = reloading.reload();
        // The certificate files too, whatever became of the configuration.
        if let Some(files) = &reloading.state().certificate_files {
            files.check();
        }
        outcome
    })
    .await
    .unwrap_or(Outcome::Failed);
    let status = match outcome {
        Outcome::Reloaded => "serving (reloaded)",
        Outcome::Unchanged => "serving (the embedded demo: nothing to reload)",
        Outcome::Failed => "serving the previous configuration: the reload failed, see the log",
    };
    notify::notify(notify::State::Ready, status);
}

/// The connection cap as configured, lowered to what the open-files limit allows (raised to
/// its hard limit first), and said so.
fn connections_for(settings: ConnectionSettings) -> Connections {
    let fits = listener::raise_open_files_limit();
    if fits < settings.max_connections {
        tracing::warn!(
            "[server] max-connections lowered from {} to {fits}: the open-files limit (RLIMIT_NOFILE) allows no more",
            settings.max_connections
        );
    }
    Connections::new(settings, fits)
}

/// Serves on an already bound `listener` with `state` until the future is dropped: for
/// tests and embedders that bring their own listener and lifecycle.
pub async fn serve_listener(listener: tokio::net::TcpListener, state: AppState) {
    let connections = Arc::new(connections_for(state.answers.config.connections));
    let (_stop, stopping) = watch::channel(false);
    let handshake_timeout = state.answers.config.tls.handshake_timeout;
    let shared = Shared::new(
        connections,
        Arc::new(Live::new(state)),
        stopping,
        handshake_timeout,
        None,
    );
    listener::accept_loop(listener, shared, None).await;
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
