//! The live configuration: an immutable snapshot (the [`AppState`] and the router built on
//! it) behind an `ArcSwap`. Each request takes the current snapshot once and keeps it to the
//! end, layers and extractors included, so a reload never mixes two configurations in one
//! answer. A reload (SIGHUP) reads the config file and everything it names again, checks it
//! all, and swaps only when all of it is good; otherwise the old snapshot keeps serving and
//! every problem is logged as `file:line: field: message`. A changed `[[tls.certificate]]`
//! list is part of it: read and checked before the swap, served with it. The outcome is
//! counted before it is logged, so whoever reads the log line finds it in the metrics too.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;

use super::{AppState, router};
use crate::config::{Config, ConfigError, ConfigSource};
use crate::tls::FileCertificates;

pub struct Live {
    current: ArcSwap<Snapshot>,
}

struct Snapshot {
    state: Arc<AppState>,
    router: Router,
}

impl Snapshot {
    fn new(state: AppState) -> Self {
        let state = Arc::new(state);
        Snapshot {
            router: router(Arc::clone(&state)),
            state,
        }
    }
}

/// How a reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Reloaded,
    /// The embedded demo has no file to read again.
    Unchanged,
    /// Something was wrong: the old configuration goes on serving.
    Failed,
}

impl Live {
    pub fn new(state: AppState) -> Self {
        Live {
            current: ArcSwap::from_pointee(Snapshot::new(state)),
        }
    }

    /// The router of the current snapshot, for one request.
    pub fn router(&self) -> Router {
        self.current.load().router.clone()
    }

    /// The state of the current snapshot.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.current.load().state)
    }

    /// Reads the configuration again and swaps it in when it is valid. Blocking (files,
    /// signer checks, template compilation): run it off the async workers.
    pub fn reload(&self) -> Outcome {
        let previous = self.current.load_full();
        let old = &previous.state.answers.config;
        let ConfigSource::File(path) = &old.source else {
            tracing::info!("reload: serving the embedded demo, there is no file to read again");
            return Outcome::Unchanged;
        };
        let config = match Config::load(path) {
            Ok(config) => config,
            Err(ConfigError::Invalid(issues)) => {
                for issue in &issues {
                    tracing::error!("{issue}");
                }
                crate::metrics::config_reload(false);
                tracing::error!(
                    "reload failed: {} problem(s) in {}; still serving the previous configuration",
                    issues.len(),
                    path.display()
                );
                return Outcome::Failed;
            }
            Err(error) => return failed(error),
        };
        for (what, changed) in [
            ("[server] listen", config.listen != old.listen),
            (
                "[server] connection limits",
                config.connections != old.connections,
            ),
            ("[log] format", config.log != old.log),
            ("[metrics] listen", config.metrics != old.metrics),
            ("[tls.acme]", config.tls.acme != old.tls.acme),
            ("[tls] listen", config.tls.listen != old.tls.listen),
            (
                "[tls] handshake-timeout",
                config.tls.handshake_timeout != old.tls.handshake_timeout,
            ),
        ] {
            if changed {
                tracing::warn!("reload: {what} changed; that takes effect at the next restart");
            }
        }
        // A changed [[tls.certificate]] list is read and checked with the rest, and served
        // only when the whole reload is good.
        let files = previous.state.certificate_files.as_ref();
        let certificates = match (files, config.tls.certificates != old.tls.certificates) {
            (Some(_), true) => match FileCertificates::prepare(&config.tls) {
                Ok(prepared) => Some(prepared),
                Err(error) => return failed(error),
            },
            (None, true) => {
                tracing::warn!(
                    "reload: [[tls.certificate]] changed; without a TLS listener that takes effect at the next restart"
                );
                None
            }
            (_, false) => None,
        };
        match AppState::reload(config, &previous.state) {
            Ok(state) => {
                if let (Some(files), Some(prepared)) = (files, certificates) {
                    files.apply(prepared);
                    for (_, certificate) in files.store().slots() {
                        certificate.announce("TLS certificate");
                    }
                }
                self.current.store(Arc::new(Snapshot::new(state)));
                crate::metrics::config_reload(true);
                tracing::info!("reloaded {}", path.display());
                Outcome::Reloaded
            }
            Err(error) => failed(format!("{}: {error}", path.display())),
        }
    }
}

/// A reload refused for `why`: logged and counted, the previous configuration kept.
fn failed(why: impl std::fmt::Display) -> Outcome {
    tracing::error!("{why}");
    crate::metrics::config_reload(false);
    tracing::error!("reload failed; still serving the previous configuration");
    Outcome::Failed
}
