//! Plain HTTP beside HTTPS: when `[tls]` serves HTTPS too, the routes [`super::router`] puts
//! behind [`redirect`] send a plain-HTTP client to the same path over HTTPS (docs/security.md,
//! "Plain HTTP beside HTTPS"); the others (autoconfig, ACME http-01, health) keep answering.
//! The redirect names the request's own host only when a served certificate names it, else
//! the server's `[web] host`: a Host header never chooses where a client is sent.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::AppState;
use super::extract::Origin;
use crate::tls::CertificateStore;

/// Set by the accept loop on every request of a plain listener while TLS listeners serve
/// beside it: where HTTPS is.
#[derive(Debug, Clone)]
pub struct HttpsElsewhere {
    /// The certificates served, to tell whether the request's host has one.
    pub store: Arc<CertificateStore>,
    /// The first TLS listener's port as bound; redirects name it unless `[tls] public-port`
    /// says clients reach HTTPS on another.
    pub port: u16,
}

/// The layer of the routes that are HTTPS-only once HTTPS is served: GET and HEAD get 302,
/// the status Outlook's and exchangelib's plain-HTTP Autodiscover step follows (they ignore
/// 307 there); anything else (a POX POST, a form POST) gets 307, which keeps the method and
/// the body where a 302 turns them into a bare GET. Neither is permanent: a client keeps no
/// cached redirect once HTTPS is turned off. A request that came over HTTPS at a trusted
/// proxy (`X-Forwarded-Proto: https`) is served as it is.
pub async fn redirect(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(https) = request.extensions().get::<HttpsElsewhere>().cloned() else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let origin = Origin::of(&parts, &state).ok();
    if origin
        .as_ref()
        .is_some_and(|origin| origin.scheme == "https")
    {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let host = origin
        .as_ref()
        .map(Origin::host)
        .filter(|host| https.store.covers(host))
        .map_or_else(
            || crate::hostnames::web_host(&state.answers.config),
            str::to_owned,
        );
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path_and_query| path_and_query.as_str());
    let port = crate::hostnames::redirect_port(&state.answers.config, https.port);
    let location = crate::hostnames::https_url(&host, port, path);
    let status = match parts.method {
        Method::GET | Method::HEAD => StatusCode::FOUND,
        _ => StatusCode::TEMPORARY_REDIRECT,
    };
    // Every part is validated (host) or came in as a valid URI (path); refuse rather than
    // send a broken header if that ever stops holding.
    let Ok(value) = HeaderValue::from_str(&location) else {
        return crate::answer::Refusal::BadHost.into_response();
    };
    (
        status,
        [
            (header::LOCATION, value),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
        ],
        "This address is served over HTTPS: see Location.\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use tower::ServiceExt as _;

    use super::*;
    use crate::config::{Config, ConfigSource};
    use crate::server::router;

    /// The demo behind the trusted proxy 10.0.0.1, with `web` added to its `[web]` table, and
    /// a store whose one certificate names example.com's discovery hosts.
    fn setup(web: &str) -> (Arc<AppState>, HttpsElsewhere) {
        setup_with(web, None)
    }

    /// [`setup`], with `[tls] public-port` set to `public_port`.
    fn setup_with(web: &str, public_port: Option<u16>) -> (Arc<AppState>, HttpsElsewhere) {
        let text = crate::config::DEMO_TOML
            .replace("trusted-proxies = []", "trusted-proxies = [\"10.0.0.1\"]")
            .replacen("\n[web]\n", &format!("\n[web]\n{web}"), 1);
        let mut config = Config::from_toml(&text, ConfigSource::EmbeddedDemo).unwrap();
        config.tls.public_port = public_port;
        let store = CertificateStore::new();
        store.install(
            "file:a",
            crate::tls::tests::self_signed(&["autoconfig.example.com", "autodiscover.example.com"]),
        );
        let https = HttpsElsewhere {
            store: Arc::new(store),
            port: 8443,
        };
        (Arc::new(AppState::new(config).unwrap()), https)
    }

    /// The status and Location of `method uri` with these headers, from `peer`, over a plain
    /// listener beside `https` (or without HTTPS at all).
    async fn ask(
        state: &Arc<AppState>,
        https: Option<&HttpsElsewhere>,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        peer: &str,
    ) -> (StatusCode, Option<String>) {
        let mut request = axum::http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Body::empty()).unwrap();
        let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(https) = https {
            request.extensions_mut().insert(https.clone());
        }
        let response = router(Arc::clone(state)).oneshot(request).await.unwrap();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|value| value.to_str().unwrap().to_owned());
        (response.status(), location)
    }

    const CLIENT: &str = "192.0.2.7";
    const POX: &str = "/autodiscover/autodiscover.xml";

    #[tokio::test]
    async fn credentials_and_pages_go_to_https_on_a_host_a_certificate_names() {
        let (state, https) = setup("");
        let https = Some(&https);
        let host = |host: &'static str| [("host", host)];
        let pox = "https://autodiscover.example.com:8443/autodiscover/autodiscover.xml";
        // GET 302 (Outlook's and exchangelib's plain-HTTP step), POST 307 (keeps the body).
        assert_eq!(
            ask(
                &state,
                https,
                "GET",
                POX,
                &host("autodiscover.example.com"),
                CLIENT
            )
            .await,
            (StatusCode::FOUND, Some(pox.into()))
        );
        assert_eq!(
            ask(
                &state,
                https,
                "POST",
                "/Autodiscover/Autodiscover.xml",
                &host("Autodiscover.Example.com:80"),
                CLIENT
            )
            .await,
            (StatusCode::TEMPORARY_REDIRECT, Some(pox.into()))
        );
        // A Host no certificate names is never echoed: the [web] host instead.
        let profile = "/mobileconfig?emailaddress=jane%40example.com";
        for other in ["evil.example", "203.0.113.9", "[::1]:80", "bad host"] {
            assert_eq!(
                ask(&state, https, "GET", profile, &host(other), CLIENT).await,
                (
                    StatusCode::FOUND,
                    Some(format!("https://autoconfig.example.com:8443{profile}"))
                ),
                "{other}"
            );
        }
        for path in [
            "/",
            "/static/style.css",
            "/.well-known/user-agent-configuration.json",
        ] {
            let (status, location) = ask(
                &state,
                https,
                "GET",
                path,
                &host("autoconfig.example.com"),
                CLIENT,
            )
            .await;
            assert_eq!(status, StatusCode::FOUND, "{path}");
            assert_eq!(
                location.unwrap(),
                format!("https://autoconfig.example.com:8443{path}")
            );
        }
        let json = "/autodiscover/autodiscover.json/v1.0/jane@example.com?Protocol=AutodiscoverV1";
        assert_eq!(
            ask(
                &state,
                https,
                "GET",
                json,
                &host("autodiscover.example.com"),
                CLIENT
            )
            .await
            .0,
            StatusCode::FOUND
        );
    }

    #[tokio::test]
    async fn autoconfig_acme_and_health_keep_answering_over_plain_http() {
        let (state, https) = setup("");
        let host = [("host", "autoconfig.example.com")];
        for (path, status) in [
            (
                "/mail/config-v1.1.xml?emailaddress=jane%40example.com",
                StatusCode::OK,
            ),
            (
                "/.well-known/autoconfig/mail/config-v1.1.xml",
                StatusCode::OK,
            ),
            ("/v1.1/example.com", StatusCode::OK),
            ("/healthz", StatusCode::OK),
            ("/readyz", StatusCode::OK),
            // No pending challenge: 404, and never a redirect the CA would have to follow.
            ("/.well-known/acme-challenge/token", StatusCode::NOT_FOUND),
            ("/wp-login.php", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(
                ask(&state, Some(&https), "GET", path, &host, CLIENT).await,
                (status, None),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn no_redirect_without_https_or_behind_a_proxy_that_terminated_it() {
        let (state, https) = setup("host = \"setup.example.com\"\n");
        let host = ("host", "autodiscover.example.com");
        assert_eq!(
            ask(&state, None, "GET", POX, &[host], CLIENT).await,
            (StatusCode::OK, None)
        );
        let proxied = [host, ("x-forwarded-proto", "https")];
        assert_eq!(
            ask(&state, Some(&https), "GET", POX, &proxied, "10.0.0.1").await,
            (StatusCode::OK, None)
        );
        // Only a trusted proxy is believed.
        assert_eq!(
            ask(&state, Some(&https), "GET", POX, &proxied, CLIENT)
                .await
                .0,
            StatusCode::FOUND
        );
        // The configured [web] host, and no port for 443.
        let https = HttpsElsewhere { port: 443, ..https };
        assert_eq!(
            ask(
                &state,
                Some(&https),
                "GET",
                "/",
                &[("host", "10.1.2.3")],
                CLIENT
            )
            .await
            .1,
            Some("https://setup.example.com/".into())
        );
    }

    #[tokio::test]
    async fn a_public_port_is_named_instead_of_the_bound_one() {
        let host = [("host", "autodiscover.example.com")];
        let pox = |port: &str| format!("https://autodiscover.example.com{port}{POX}");
        // Bound on 8443: without the setting clients are sent there, with it to the public port,
        // which is left out when it is 443.
        for (public_port, expected) in [
            (None, pox(":8443")),
            (Some(443), pox("")),
            (Some(9443), pox(":9443")),
        ] {
            let (state, https) = setup_with("", public_port);
            assert_eq!(
                ask(&state, Some(&https), "GET", POX, &host, CLIENT).await,
                (StatusCode::FOUND, Some(expected)),
                "{public_port:?}"
            );
        }
    }
}
