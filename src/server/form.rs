//! The download form over HTTP (issue 4): `GET /`, `/static/…`, and the layer that turns a
//! refused `/mobileconfig` form submission into the form again, with the reason. Thin: the
//! page itself is rendered by [`crate::webform`]; this file reads the request and sets headers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::extract::Origin;
use crate::account::EmailAddress;
use crate::webform::{FormProblem, Lang, Platform, Visit};

/// A form post is two short fields; anything bigger is not our form.
const FORM_BODY_LIMIT: usize = 16 * 1024;

/// `GET /`: the form, in the visitor's language, with the steps for their device.
pub async fn index(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    let reader = VisitReader::new(&state, query.as_deref(), &request);
    let visit = reader.visit("", "", None);
    page(&state, StatusCode::OK, &visit)
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
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Bytes::from_owner(asset.bytes.clone().into_owned()),
    )
        .into_response()
}

/// Layer on `/mobileconfig`: when a browser's form submission (`Accept: text/html`) is
/// refused (400 bad address, 404 domain not served, 429, 503), answer with the form again,
/// the fields refilled and the reason in the visitor's language, keeping the status. Other
/// clients (curl, MDM scripts) get the profile service's own short answer untouched.
pub async fn rerender_refusals(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        return next.run(request).await;
    }
    let query = request.uri().query().map(str::to_owned);
    let reader = VisitReader::new(&state, query.as_deref(), &request);
    let (parts, body) = request.into_parts();
    // The body is read here so the fields can be shown again; the handler gets the same bytes.
    let Ok(bytes) = axum::body::to_bytes(body, FORM_BODY_LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large\n").into_response();
    };
    let submitted = Submitted::read(query.as_deref(), &bytes);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    let parsed = EmailAddress::parse(&submitted.email);
    let problem = match (status, parsed) {
        (StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND, Err(error)) => {
            FormProblem::Address(error)
        }
        (StatusCode::BAD_REQUEST, Ok(_)) => FormProblem::Rejected,
        (StatusCode::NOT_FOUND, Ok(address)) => {
            FormProblem::UnknownDomain(address.domain().to_unicode())
        }
        (StatusCode::TOO_MANY_REQUESTS, _) => FormProblem::TooMany,
        (StatusCode::SERVICE_UNAVAILABLE, _) => FormProblem::Unavailable,
        _ => return response,
    };
    let visit = reader.visit(&submitted.email, &submitted.name, Some(&problem));
    page(&state, status, &visit)
}

/// The form fields as automx-web and our page send them (`name`, or automx-web's `cn`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Submitted {
    email: String,
    name: String,
}

impl Submitted {
    /// Query first, then the url-encoded body, so a body field wins as it does for a POST.
    fn read(query: Option<&str>, body: &[u8]) -> Submitted {
        let mut submitted = Submitted::default();
        let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .chain(url::form_urlencoded::parse(body));
        for (key, value) in pairs {
            match &*key {
                "emailaddress" => submitted.email = value.into_owned(),
                "name" | "cn" => submitted.name = value.into_owned(),
                _ => {}
            }
        }
        submitted
    }
}

/// What a request says about its visitor, read before the request is consumed.
struct VisitReader {
    lang: Lang,
    lang_pinned: bool,
    platform: Platform,
    page_url: Option<String>,
}

impl VisitReader {
    fn new(state: &AppState, query: Option<&str>, request: &Request) -> VisitReader {
        let headers = request.headers();
        let text = |name| {
            headers
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
        };
        let lang_query = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(key, _)| key == "lang")
            .map(|(_, value)| value.into_owned());
        let pinned = lang_query.as_deref().and_then(Lang::from_tag);
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let authority = request
            .uri()
            .authority()
            .map(|authority| authority.as_str());
        // Forwarded headers count only from trusted proxies; a bad Host just drops the QR code.
        let origin = Origin::from_headers(headers, authority, peer, state).ok();
        VisitReader {
            lang: pinned.unwrap_or_else(|| Lang::negotiate(None, text(header::ACCEPT_LANGUAGE))),
            lang_pinned: pinned.is_some(),
            platform: Platform::from_user_agent(text(header::USER_AGENT).unwrap_or_default()),
            page_url: origin.map(|origin| format!("{}://{}/", origin.scheme, origin.authority)),
        }
    }

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

/// The page with its security headers. A render failure (only possible with an admin
/// template that passed the start-up check) is logged and answered with a fixed 503.
fn page(state: &AppState, status: StatusCode, visit: &Visit<'_>) -> Response {
    let html = match state.webform.render(visit) {
        Ok(html) => html,
        Err(error) => {
            tracing::error!("web form: {error}");
            return (StatusCode::SERVICE_UNAVAILABLE, "page unavailable\n").into_response();
        }
    };
    let csp = HeaderValue::from_str(state.webform.content_security_policy())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
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
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // For browsers that predate CSP frame-ancestors.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
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

    #[test]
    fn submitted_fields_from_body_and_query() {
        let submitted = Submitted::read(
            Some("lang=de&emailaddress=q%40example.com"),
            b"_mobileconfig=true&emailaddress=a+b%40example.com&cn=J%C3%B6rg",
        );
        assert_eq!(
            submitted,
            Submitted {
                email: "a b@example.com".into(),
                name: "Jörg".into()
            }
        );
    }

    mod router {
        use axum::Router;
        use axum::routing::get;
        use tower::ServiceExt;

        use axum::http::HeaderMap;

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

        /// Stands in for the profile service: refuses with the status in `?status=`.
        fn with_refusing_profile_service(state: Arc<AppState>) -> Router {
            let refuse = |RawQuery(query): RawQuery| async move {
                let code = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                    .find(|(key, _)| key == "status")
                    .and_then(|(_, code)| code.parse::<u16>().ok())
                    .unwrap_or(200);
                (StatusCode::from_u16(code).unwrap(), "short reason\n")
            };
            Router::new()
                .route(
                    "/mobileconfig",
                    get(refuse)
                        .post(refuse)
                        .layer(axum::middleware::from_fn_with_state(
                            Arc::clone(&state),
                            rerender_refusals,
                        )),
                )
                .with_state(state)
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
            let app = with_refusing_profile_service(state());
            let hostile = "emailaddress=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&name=%3Cimg+src%3Dx+onerror%3Dalert(2)%3E";
            let (status, headers, body) =
                call(app, post_req("/mobileconfig?status=400", BROWSER, hostile)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(headers[header::CACHE_CONTROL], "no-store");
            assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
            assert!(
                body.contains("An email address contains an @ sign"),
                "{body}"
            );
            assert!(!body.contains("<script>alert") && !body.contains("<img src=x"));
            assert!(body.contains("&quot;&gt;&lt;script&gt;alert(1)"));
        }

        #[tokio::test]
        async fn unknown_domain_in_german_with_pinned_language() {
            let app = with_refusing_profile_service(state());
            let (status, _, body) = call(
                app,
                post_req(
                    "/mobileconfig?status=404&lang=de",
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
        async fn non_browsers_and_successes_pass_through() {
            let app = with_refusing_profile_service(state());
            let (status, _, body) = call(
                app.clone(),
                post_req("/mobileconfig?status=400", "*/*", "emailaddress=x"),
            )
            .await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::BAD_REQUEST, "short reason\n")
            );
            let (status, _, body) = call(
                app.clone(),
                post_req(
                    "/mobileconfig?status=200",
                    BROWSER,
                    "emailaddress=a%40example.com",
                ),
            )
            .await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, "short reason\n"));
            let (status, _, _) = call(
                app,
                post_req(
                    "/mobileconfig?status=400",
                    BROWSER,
                    &"a".repeat(FORM_BODY_LIMIT + 1),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
}
