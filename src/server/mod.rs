//! The HTTP layer (axum): thin handlers that extract, resolve, render and respond. Routes and
//! the layer stack are listed in [`router`], top to bottom. Nothing here renders a protocol
//! itself; it only maps requests to the pure renderers and their results to responses.

pub mod form;
pub mod mobileconfig;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;

use crate::config::Config;
use crate::resolve::Resolver;
use crate::signing::{Signer, SigningError};
use crate::webform::{Webform, WebformError};

/// Everything a request needs, built once at start-up and shared read-only.
#[derive(Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub resolver: Resolver,
    /// The profile signer named by `[signing]`, loaded and checked once at start-up.
    pub signer: Option<Arc<Signer>>,
    /// The download page, its templates compiled and assets fingerprinted.
    pub webform: Webform,
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
        let config = Arc::new(config);
        Ok(AppState {
            webform: Webform::new(&config.provider, &config.web)?,
            resolver: Resolver::new(Arc::clone(&config)),
            config,
            signer: None,
        })
    }

    /// The state with the signer `[signing]` names; an unusable identity (expired, key does
    /// not match, unreadable) stops the start here, with the reason.
    pub fn load(config: Config) -> Result<Self, StartError> {
        let signer = match &config.signing {
            Some(settings) => {
                let signer = Signer::from_settings(settings, &config.base_dir())?;
                if signer.is_development() {
                    tracing::warn!(
                        "signing profiles with the DEVELOPMENT chain: profiles will show Not Verified on devices"
                    );
                } else {
                    tracing::info!("signing profiles as {}", signer.describe());
                }
                Some(Arc::new(signer))
            }
            None => {
                tracing::warn!("no [signing] configured: profiles are served UNSIGNED");
                None
            }
        };
        Ok(AppState {
            signer,
            ..AppState::new(config)?
        })
    }
}

/// Every route and layer of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
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
        .with_state(state)
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
