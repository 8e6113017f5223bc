//! The download form over HTTP: `GET /`, `/static/…`, and the layer that turns a refused
//! `/mobileconfig` form submission into the form again, with the reason. Thin: the page
//! itself is rendered by [`crate::webform`]; this file reads the request and sets headers
//! (the security headers are the router's layer).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, MatchedPath, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::Origin;
use super::{AppState, PROFILE_ROUTE};
use crate::webform::{FormProblem, Lang, Platform, Visit};

/// `GET /`: the form, in the visitor's language, with the steps for their device.
pub async fn index(State(state): State<Arc<AppState>>, reader: VisitReader) -> Response {
    page(&state, StatusCode::OK, &reader.visit("", "", None))
}

/// `GET /static/{name}`: an embedded (or admin) file. URLs in the page carry `?v=<hash>`,
/// so a matching request may be cached for a year; anything else only briefly.
pub async fn static_file(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(asset) = state.webform.asset(&name) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let versioned = query.is_some_and(|query| asset.url.ends_with(&format!("?{query}")));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, cache),
        ],
        Bytes::from_owner(asset.bytes.clone().into_owned()),
    )
        .into_response()
}

/// A refused profile request as the form shows it again: why, and the fields as they were
/// submitted. Whoever refuses (the profile handler; a rate limit too) attaches it to the
/// refusal's response, and [`rerender_refusals`] reads it there.
#[derive(Debug, Clone)]
pub struct Refused {
    pub problem: FormProblem,
    pub email: String,
    pub name: String,
}

/// Layer over the routes, acting on `/mobileconfig` only: when a browser's request (`Accept:
/// text/html`) is refused, answer with the form again, the fields refilled and the reason in the
/// visitor's language, keeping the status. Other clients (curl, MDM scripts) get the profile
/// service's own short answer. It wraps the limiter, so a rate limit is shown in the form too.
pub async fn rerender_refusals(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let profile = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| path.as_str() == PROFILE_ROUTE);
    let wants_html = profile
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(reader) = VisitReader::from_request_parts(&mut parts, &state).await;
    let response = next.run(Request::from_parts(parts, body)).await;
    let Some(refused) = response.extensions().get::<Refused>() else {
        return response;
    };
    let visit = reader.visit(&refused.email, &refused.name, Some(&refused.problem));
    page(&state, response.status(), &visit)
}

/// What a request says about its visitor, read before the request is consumed.
pub struct VisitReader {
    lang: Lang,
    lang_pinned: bool,
    platform: Platform,
    page_url: Option<String>,
}

impl FromRequestParts<Arc<AppState>> for VisitReader {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Infallible> {
        let text = |name| {
            parts
                .headers
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
        };
        let lang_query =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .find(|(key, _)| key == "lang")
                .map(|(_, value)| value.into_owned());
        let pinned = lang_query.as_deref().and_then(Lang::from_tag);
        // Forwarded headers count only from trusted proxies; a bad Host just drops the QR code.
        let origin = Origin::of(parts, state).ok();
        Ok(VisitReader {
            lang: pinned.unwrap_or_else(|| Lang::negotiate(None, text(header::ACCEPT_LANGUAGE))),
            lang_pinned: pinned.is_some(),
            platform: Platform::from_user_agent(text(header::USER_AGENT).unwrap_or_default()),
            page_url: origin.map(|origin| format!("{}://{}/", origin.scheme, origin.authority)),
        })
    }
}

impl VisitReader {
    fn visit<'a>(
        &'a self,
        email: &'a str,
        name: &'a str,
        problem: Option<&'a FormProblem>,
    ) -> Visit<'a> {
        Visit {
            lang: self.lang,
            lang_pinned: self.lang_pinned,
            platform: self.platform,
            page_url: self.page_url.as_deref(),
            email,
            name,
            problem,
        }
    }
}

/// The page. A render failure (only possible with an admin template that passed the start-up
/// check) is logged and answered with a fixed 503.
fn page(state: &AppState, status: StatusCode, visit: &Visit<'_>) -> Response {
    let html = match state.webform.render(visit) {
        Ok(html) => html,
        Err(error) => {
            tracing::error!("web form: {error}");
            return (StatusCode::SERVICE_UNAVAILABLE, "page unavailable\n").into_response();
        }
    };
    // A refused submission echoes the address: keep it out of every cache.
    let cache = if visit.problem.is_some() {
        "no-store"
    } else {
        "no-cache"
    };
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(visit.lang.code()),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, User-Agent"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    mod router {
        use std::net::SocketAddr;

        use axum::Router;
        use axum::body::Body;
        use axum::extract::ConnectInfo;
        use axum::http::HeaderMap;
        use axum::routing::get;
        use tower::ServiceExt;

        use super::*;
        use crate::config::Config;
        use crate::server::router;

        fn state() -> Arc<AppState> {
            Arc::new(AppState::new(Config::demo().unwrap()).unwrap())
        }

        async fn call(
            app: Router,
            request: axum::http::Request<Body>,
        ) -> (StatusCode, HeaderMap, String) {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, headers, String::from_utf8_lossy(&body).into_owned())
        }

        fn get_req(uri: &str, headers: &[(&str, &str)]) -> axum::http::Request<Body> {
            let mut builder = axum::http::Request::get(uri).header("host", "mail.example.com");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(Body::empty()).unwrap()
        }

        #[tokio::test]
        async fn page_carries_security_headers() {
            let (status, headers, body) = call(router(state()), get_req("/", &[])).await;
            assert_eq!(status, StatusCode::OK);
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
            assert!(!csp.contains("unsafe-inline"));
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(headers[header::CONTENT_LANGUAGE], "en");
            assert!(body.contains("Example Mail"));
        }

        #[tokio::test]
        async fn language_from_header_and_query() {
            let (_, headers, body) = call(
                router(state()),
                get_req("/", &[("accept-language", "de-DE,de;q=0.9,en;q=0.5")]),
            )
            .await;
            assert_eq!(headers[header::CONTENT_LANGUAGE], "de");
            assert!(body.contains("E-Mail einrichten"));
            let (_, headers, body) = call(
                router(state()),
                get_req("/?lang=de", &[("accept-language", "en")]),
            )
            .await;
            assert_eq!(headers[header::CONTENT_LANGUAGE], "de");
            assert!(
                body.contains("&#x2f;mobileconfig?lang=de"),
                "the form keeps ?lang"
            );
            let (_, headers, _) = call(
                router(state()),
                get_req("/?lang=en", &[("accept-language", "de")]),
            )
            .await;
            assert_eq!(headers[header::CONTENT_LANGUAGE], "en");
        }

        #[tokio::test]
        async fn desktop_gets_a_qr_code_for_the_host_it_used() {
            let ua = ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0");
            let (_, _, body) = call(router(state()), get_req("/", &[ua])).await;
            assert!(body.contains("<svg class=\"qr-code\""));
            assert!(body.contains("http:&#x2f;&#x2f;mail.example.com&#x2f;"));
            // Forwarded headers from an untrusted (here: unknown) peer change nothing.
            let (_, _, body) = call(
                router(state()),
                get_req("/", &[ua, ("x-forwarded-host", "evil.example")]),
            )
            .await;
            assert!(!body.contains("evil.example"));
        }

        #[tokio::test]
        async fn qr_code_follows_a_trusted_proxy() {
            let text = crate::config::DEMO_TOML
                .replace("trusted-proxies = []", "trusted-proxies = [\"10.0.0.0/8\"]");
            let config =
                Config::from_toml(&text, crate::config::ConfigSource::EmbeddedDemo).unwrap();
            let state = Arc::new(AppState::new(config).unwrap());
            let forwarded = |peer: &str| {
                let mut request = get_req(
                    "/",
                    &[
                        ("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
                        ("x-forwarded-host", "setup.example.com"),
                        ("x-forwarded-proto", "https"),
                    ],
                );
                let peer: SocketAddr = peer.parse().unwrap();
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            };
            let (_, _, body) = call(router(Arc::clone(&state)), forwarded("10.1.2.3:4000")).await;
            assert!(
                body.contains("<figcaption>https:&#x2f;&#x2f;setup.example.com&#x2f;</figcaption>")
            );
            let (_, _, body) = call(router(state), forwarded("192.0.2.9:4000")).await;
            assert!(
                body.contains("<figcaption>http:&#x2f;&#x2f;mail.example.com&#x2f;</figcaption>")
            );
        }

        #[tokio::test]
        async fn static_assets_are_typed_and_versioned() {
            let state = state();
            let css = state.webform.asset("style.css").unwrap().url.clone();
            let (status, headers, body) =
                call(router(Arc::clone(&state)), get_req(&css, &[])).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
            assert_eq!(
                headers[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(body.contains("--accent"));
            let (_, headers, _) = call(
                router(Arc::clone(&state)),
                get_req("/static/style.css?v=old", &[]),
            )
            .await;
            assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=300");
            for missing in [
                "/static/nope.css",
                "/static/..%2fCargo.toml",
                "/static/%2e%2e",
            ] {
                let (status, _, _) = call(router(Arc::clone(&state)), get_req(missing, &[])).await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
            }
        }

        #[tokio::test]
        async fn page_weight_stays_under_50_kb() {
            let state = state();
            let mut total = 0;
            for ua in ["iPhone", "Macintosh", "X11; Linux x86_64"] {
                let (_, _, body) = call(
                    router(Arc::clone(&state)),
                    get_req("/", &[("user-agent", ua)]),
                )
                .await;
                let linked: usize = ["style.css", "theme.css", "form.js"]
                    .iter()
                    .map(|name| state.webform.asset(name).unwrap().bytes.len())
                    .sum();
                total = total.max(body.len() + linked);
            }
            assert!(total < 50 * 1024, "page weight {total} bytes");
        }

        fn post_req(uri: &str, accept: &str, body: &str) -> axum::http::Request<Body> {
            axum::http::Request::post(uri)
                .header("host", "mail.example.com")
                .header("accept", accept)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body.to_owned()))
                .unwrap()
        }

        const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

        #[tokio::test]
        async fn refused_form_post_shows_the_form_again_escaped() {
            let hostile = "emailaddress=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&name=%3Cimg+src%3Dx+onerror%3Dalert(2)%3E";
            let (status, headers, body) =
                call(router(state()), post_req("/mobileconfig", BROWSER, hostile)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(headers[header::CACHE_CONTROL], "no-store");
            assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert!(
                body.contains("An email address contains an @ sign"),
                "{body}"
            );
            assert!(!body.contains("<script>alert") && !body.contains("<img src=x"));
            assert!(body.contains("&quot;&gt;&lt;script&gt;alert(1)"));
        }

        #[tokio::test]
        async fn unknown_domain_in_german_with_pinned_language() {
            let (status, _, body) = call(
                router(state()),
                post_req(
                    "/mobileconfig?lang=de",
                    BROWSER,
                    "emailaddress=jane%40b%C3%BCcher.example&name=Jane",
                ),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(
                body.contains("Für bücher.example stellen wir keine"),
                "{body}"
            );
            assert!(body.contains("value=\"Jane\""));
        }

        #[tokio::test]
        async fn automx_web_fields_are_refilled_as_typed() {
            let (status, _, body) = call(
                router(state()),
                post_req(
                    "/mobileconfig?lang=de&emailaddress=q%40example.com",
                    BROWSER,
                    "_mobileconfig=true&emailaddress=a+b%40example.com&cn=J%C3%B6rg",
                ),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(body.contains("value=\"a b@example.com\""), "{body}");
            assert!(body.contains("value=\"Jörg\""), "{body}");
        }

        #[tokio::test]
        async fn unavailable_signing_is_shown_as_try_again_later() {
            // `AppState::new` loads no signer although the demo configures one: 503.
            let (status, _, body) = call(
                router(state()),
                post_req("/mobileconfig", BROWSER, "emailaddress=jane%40example.com"),
            )
            .await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(body.contains("id=\"form-error\""), "{body}");
            assert!(body.contains("value=\"jane@example.com\""), "{body}");
        }

        #[tokio::test]
        async fn non_browsers_and_successes_pass_through() {
            let (status, headers, body) = call(
                router(state()),
                post_req("/mobileconfig", "*/*", "emailaddress=x"),
            )
            .await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::BAD_REQUEST, "the address has no @ sign\n")
            );
            assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
            let signing = Arc::new(AppState::load(Config::demo().unwrap()).unwrap());
            let (status, headers, _) = call(
                router(signing),
                post_req("/mobileconfig", BROWSER, "emailaddress=a%40example.com"),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                headers[header::CONTENT_TYPE],
                "application/x-apple-aspen-config"
            );
            // A body over the server's limit is refused without echoing any of it.
            let (status, _, body) = call(
                router(state()),
                post_req(
                    "/mobileconfig",
                    BROWSER,
                    &format!("emailaddress={}", "a".repeat(crate::server::MAX_BODY)),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(!body.contains("aaaa"));
        }

        #[tokio::test]
        async fn a_rate_limited_browser_gets_the_form_with_the_wait() {
            let text = crate::config::DEMO_TOML
                .replace("[limits]", "[limits]\nexempt = []\nprofiles-per-minute = 1");
            let config =
                Config::from_toml(&text, crate::config::ConfigSource::EmbeddedDemo).unwrap();
            let state = Arc::new(AppState::load(config).unwrap());
            let from_client = |accept: &str| {
                let mut request = post_req(
                    "/mobileconfig?lang=de",
                    accept,
                    "emailaddress=jane%40example.com",
                );
                let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            };
            let (status, _, _) = call(router(Arc::clone(&state)), from_client(BROWSER)).await;
            assert_eq!(status, StatusCode::OK);
            let (status, headers, body) =
                call(router(Arc::clone(&state)), from_client(BROWSER)).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
            assert!(body.contains("in einer Minute erneut"), "{body}");
            // Other clients get the short answer, with the wait in seconds.
            let (status, headers, body) = call(router(state), from_client("*/*")).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            let wait: u64 = headers[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((59..=60).contains(&wait), "{wait}");
            assert_eq!(body, "too many requests, try again later\n");
        }

        /// The layer's contract for other refusers (a rate limit): any response that carries
        /// a [`Refused`] becomes the form again, with its status.
        #[tokio::test]
        async fn any_refusal_with_form_details_is_shown_in_the_form() {
            let state = state();
            let too_many = || async {
                let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
                response.extensions_mut().insert(Refused {
                    problem: FormProblem::TooMany { minutes: 3 },
                    email: "jane@example.com".into(),
                    name: String::new(),
                });
                response
            };
            let app = Router::new()
                .route(
                    "/mobileconfig",
                    get(too_many).layer(axum::middleware::from_fn_with_state(
                        Arc::clone(&state),
                        rerender_refusals,
                    )),
                )
                .with_state(Arc::clone(&state));
            let (status, _, body) =
                call(app, get_req("/mobileconfig", &[("accept", BROWSER)])).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            let message = FormProblem::TooMany { minutes: 3 }.message(Lang::En);
            assert!(body.contains(&message), "{body}");
        }
    }
}
