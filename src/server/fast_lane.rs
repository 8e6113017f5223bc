//! The fast lane: an HTTP/1.1 connection's plain requests for the hot routes (autoconfig `GET`,
//! Autodiscover POX `POST`, the profile download `GET /mobileconfig`) answered without hyper
//! and axum, in a keep-alive loop on one
//! reused buffer. The head is parsed by `httparse` (hyper's own parser, with its defaults) and
//! the answer comes from the same handlers' answer functions, with every behaviour the
//! router's layers give those routes: the request line and count, a panic answered 500, the
//! request timeout (408), the limiter, the security headers; the response is written in
//! hyper's format (status line, headers in order, `content-length`, `date`).
//!
//! Anything else hands the connection over to hyper and the router, with the bytes read so
//! far replayed first, so every unusual or hostile input is handled where it always was:
//! other methods, paths and versions, a parse error, `Transfer-Encoding`, `Expect`,
//! `Upgrade`, a `Connection` other than `keep-alive`, two `Host` lines, a `Content-Length` on a
//! `GET` or none (or two) on a `POST`, a body not yet complete, a profile request that accepts
//! `text/html` (a browser, whose refusal the router answers with the form), more than [`MAX_REQUEST`] bytes
//! or [`MAX_HEADERS`] header lines, the HTTP/2 preface. Measured (callgrind,
//! docs/performance.md): hyper's and axum's per-request machinery was most of what an answer
//! rendered at load still cost.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;
use hyper::body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::watch;

use super::connections::{Connections, ReadReady, Tracker};
use super::error::status;
use super::extract::{self, Origin, is_trusted};
use super::reload::Live;
use super::request_log::{self, Line};
use super::{
    AppState, PROFILE_ROUTE, REQUEST_TIMEOUT, autoconfig, internal_error, limit, mobileconfig,
    respond, security,
};
use crate::protocol::Rendered;

/// A request (head and body) larger than this goes to hyper, which bounds and refuses
/// oversized ones. A POX request is about 1 KiB with its head.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Header lines parsed here; a request with more goes to hyper.
pub const MAX_HEADERS: usize = 32;
/// The buffer's first size: a client's head (and POX body) fits in one read.
const FIRST_READ: usize = 2 * 1024;

/// The routes answered here, as the router writes them (the request log's endpoint names).
const AUTOCONFIG: &str = "/mail/config-v1.1.xml";
const WELL_KNOWN_AUTOCONFIG: &str = "/.well-known/autoconfig/mail/config-v1.1.xml";
const POX: &str = "/autodiscover/autodiscover.xml";

/// How the fast lane left a connection.
pub enum Outcome {
    /// Closed (by the client, an I/O error, or a drain after an answer).
    Closed,
    /// For hyper, which reads `bytes` first. `http1`: the connection is HTTP/1 for certain (see
    /// [`http1_for_certain`]), so hyper need not look for the HTTP/2 preface.
    HandOff { bytes: Vec<u8>, http1: bool },
}

/// What an HTTP/2 connection without TLS begins with (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a connection handed over with `bytes` is HTTP/1: the lane answered on it (its first
/// bytes chose already, and a preface now is a bad request), or they do not begin the preface.
/// hyper-util's sniffing otherwise reads the first 24 bytes on their own, and hyper, having
/// parsed those alone, parses again only once a head looks complete: a head broken by a bare CR
/// would then wait for the header-read timeout instead of getting its 400.
fn http1_for_certain(bytes: &[u8], answered: bool) -> bool {
    let start = bytes.len().min(H2_PREFACE.len());
    answered || bytes[..start] != H2_PREFACE[..start]
}

fn hand_off(bytes: Vec<u8>, answered: bool) -> Outcome {
    Outcome::HandOff {
        http1: http1_for_certain(&bytes, answered),
        bytes,
    }
}

/// One connection's side of the fast lane.
pub struct Lane<'c> {
    pub peer: SocketAddr,
    pub over_tls: bool,
    /// Whether POX and profiles are answered here: not on a plain-HTTP connection while HTTPS
    /// is served beside it, where the router redirects them to HTTPS (`plain_http`).
    pub https_routes: bool,
    pub connections: &'c Arc<Connections>,
    pub tracker: &'c Arc<Tracker>,
    pub live: &'c Live,
    pub stopping: &'c watch::Receiver<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Autoconfig(&'static str),
    Pox,
    Profile,
}

impl Route {
    fn endpoint(self) -> &'static str {
        match self {
            Route::Autoconfig(route) => route,
            Route::Pox => POX,
            Route::Profile => PROFILE_ROUTE,
        }
    }

    fn method(self) -> Method {
        match self {
            Route::Autoconfig(_) | Route::Profile => Method::GET,
            Route::Pox => Method::POST,
        }
    }
}

/// A request for the fast lane, parsed from the front of the buffer.
struct Hot {
    route: Route,
    uri: Uri,
    /// The header lines, only when something reads them (see [`needs_headers`]); otherwise
    /// empty.
    headers: HeaderMap,
    body: Range<usize>,
    /// Autoconfig: where the raw `emailaddress` value is in the query, found once.
    address: Option<Range<usize>>,
}

impl Hot {
    fn address(&self) -> Option<&str> {
        self.uri.query()?.get(self.address.clone()?)
    }
}

/// Why the front of the buffer is not a [`Hot`] request.
enum NotHot {
    /// More bytes needed for the head.
    Partial,
    /// Anything else: hyper's.
    Other,
}

impl Lane<'_> {
    /// Answers hot requests until the connection closes or a request is not one.
    pub async fn serve<I>(&self, io: &mut I) -> Outcome
    where
        I: AsyncRead + AsyncWrite + ReadReady + Unpin,
    {
        let mut buf: Vec<u8> = Vec::new();
        let mut answered = false;
        loop {
            let (state, hot) = loop {
                // The snapshot of the moment the request is read, for the whole request.
                let state = self.live.state();
                match parse(&buf, self.peer, &state, self.https_routes) {
                    Ok(hot) => break (state, hot),
                    Err(NotHot::Other) => {
                        return hand_off(buf, answered);
                    }
                    Err(NotHot::Partial) if buf.len() >= MAX_REQUEST => {
                        return hand_off(buf, answered);
                    }
                    Err(NotHot::Partial) => {
                        // Between requests the buffer is allocated only once bytes are there.
                        if buf.is_empty()
                            && std::future::poll_fn(|cx| io.poll_read_ready(cx))
                                .await
                                .is_err()
                        {
                            return Outcome::Closed;
                        }
                        if buf.capacity() - buf.len() < FIRST_READ / 2 {
                            buf.reserve(buf.capacity().max(FIRST_READ));
                        }
                        match io.read_buf(&mut buf).await {
                            // A closed connection with half a head: hyper says what it says.
                            Ok(0) if !buf.is_empty() => {
                                return hand_off(buf, answered);
                            }
                            Ok(0) | Err(_) => return Outcome::Closed,
                            Ok(_) => {}
                        }
                    }
                }
            };
            let busy = self.connections.begin(self.tracker);
            let response = self.answer(&state, &hot, &buf[hot.body.clone()]).await;
            drop(state);
            // Not busy while the answer is written: a client that does not read it is held
            // by the idle timeout, as with hyper.
            drop(busy);
            let draining = *self.stopping.borrow();
            let Ok(out) = encode(response, draining).await else {
                return Outcome::Closed;
            };
            buf.drain(..hot.body.end);
            if io.write_all(&out).await.is_err() || io.flush().await.is_err() || draining {
                return Outcome::Closed;
            }
            answered = true;
            // An idle connection keeps no buffer.
            if buf.is_empty() {
                buf = Vec::new();
            }
        }
    }

    /// The answer with the router's layers' behaviours, outermost first: the request line
    /// and count, the panic guard, the timeout, then (inside) the limiter and the security
    /// headers.
    async fn answer(&self, state: &AppState, hot: &Hot, body: &[u8]) -> Answer {
        let line = request_log::wanted()
            .then(|| Line::start(state, &hot.route.method(), &hot.headers, Some(self.peer)));
        let answered = AssertUnwindSafe(tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.limited(state, hot, body),
        ))
        .catch_unwind()
        .await;
        let answer = match answered {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => timed_out().into(),
            Err(_) => internal_error().into(),
        };
        if let Some(line) = line {
            line.finish(hot.route.endpoint(), answer.status());
        }
        answer
    }

    async fn limited(&self, state: &AppState, hot: &Hot, body: &[u8]) -> Answer {
        let client = limit::client(state, &hot.headers, self.peer);
        let handled = async {
            let answer = match hot.route {
                Route::Autoconfig(_) => autoconfig::rendered(state, hot.address(), || {
                    Origin::of_request(&hot.headers, None, Some(self.peer), self.over_tls, state)
                })
                .await
                .map(Answer::from),
                // What `autodiscover::answer_pox` responds with, not yet a response.
                Route::Pox => state.answers.pox_body(body).await.map(Answer::from),
                // Boxed: the profile's future (signing, the signature cache) is several KiB, and
                // inline it made every request's future that large, moved five times per
                // autoconfig and POX answer (callgrind: +2,400 instructions per request).
                Route::Profile => Ok(Answer::Response(
                    Box::pin(mobileconfig::answer_query(state, hot.uri.query())).await,
                )),
            };
            answer.unwrap_or_else(|refusal| Answer::Response(refusal.into_response()))
        };
        let profile = hot.route == Route::Profile;
        let mut answer = limit::limited(state, client, profile, handled).await;
        // A rendered answer gets its one security header (`nosniff`) where it is written.
        if let Answer::Response(response) = &mut answer {
            security::set(state, response);
        }
        answer
    }
}

/// A fast-lane answer: a document as rendered (nearly every answer on these routes), written
/// as it is, or any other response (refusals, profiles, 408, 500). The rendered one never
/// becomes a `Response`: building one, its header map, the security layer's insertion and
/// taking the body back out again cost more than the rest of the answer (callgrind).
enum Answer {
    Rendered(Rendered),
    Response(Response),
}

impl From<Rendered> for Answer {
    fn from(rendered: Rendered) -> Self {
        // A page gets more security headers than `nosniff`: the layer's function sets them.
        if rendered.content_type.starts_with("text/html") {
            Answer::Response(respond(rendered))
        } else {
            Answer::Rendered(rendered)
        }
    }
}

impl From<Response> for Answer {
    fn from(response: Response) -> Self {
        Answer::Response(response)
    }
}

impl limit::Answered for Answer {
    fn is_client_error(&self) -> bool {
        match self {
            Answer::Rendered(rendered) => {
                limit::counts_as_client_error(status(rendered.status), rendered.error_document)
            }
            Answer::Response(response) => limit::Answered::is_client_error(response),
        }
    }
}

impl Answer {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Rendered(rendered) => status(rendered.status),
            Answer::Response(response) => response.status(),
        }
    }
}

/// What the router's timeout layer answers.
fn timed_out() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response
}

/// The request at the front of `buf`, if it is one for the fast lane.
fn parse(
    buf: &[u8],
    peer: SocketAddr,
    state: &AppState,
    https_routes: bool,
) -> Result<Hot, NotHot> {
    if buf.is_empty() {
        return Err(NotHot::Partial);
    }
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut lines);
    let head = match request.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Err(NotHot::Partial),
        Err(_) => return Err(NotHot::Other),
    };
    let (Some(method), Some(target), Some(1)) = (request.method, request.path, request.version)
    else {
        return Err(NotHot::Other);
    };
    // Origin form only, parsed as hyper parses it.
    if !target.starts_with('/') {
        return Err(NotHot::Other);
    }
    let Ok(uri) = Uri::try_from(target) else {
        return Err(NotHot::Other);
    };
    let path = uri.path();
    let route = match method {
        "GET" if path == AUTOCONFIG => Route::Autoconfig(AUTOCONFIG),
        "GET" if path == WELL_KNOWN_AUTOCONFIG => Route::Autoconfig(WELL_KNOWN_AUTOCONFIG),
        // Case-insensitive, as the router's case fold makes it.
        "POST" if https_routes && path.eq_ignore_ascii_case(POX) => Route::Pox,
        "GET" if https_routes && path == PROFILE_ROUTE => Route::Profile,
        _ => return Err(NotHot::Other),
    };
    let mut hosts = 0;
    let mut length = None;
    for line in request.headers.iter() {
        let name = line.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return Err(NotHot::Other);
            }
            length = Some(content_length(line.value));
        } else if name.eq_ignore_ascii_case("connection") {
            if !line.value.eq_ignore_ascii_case(b"keep-alive") {
                return Err(NotHot::Other);
            }
        } else if ["transfer-encoding", "expect", "upgrade"]
            .iter()
            .any(|special| name.eq_ignore_ascii_case(special))
            || (route == Route::Profile && accepts_html(line))
        {
            return Err(NotHot::Other);
        }
    }
    if hosts > 1 {
        return Err(NotHot::Other);
    }
    let length = match (route, length) {
        (Route::Autoconfig(_) | Route::Profile, None) => 0,
        (Route::Pox, Some(Some(length))) => length,
        _ => return Err(NotHot::Other),
    };
    let body = head..head.saturating_add(length);
    if body.end > buf.len() {
        return Err(NotHot::Other);
    }
    let address = match route {
        Route::Autoconfig(_) => uri
            .query()
            .and_then(|query| extract::query_value_at(query, autoconfig::ADDRESS)),
        Route::Pox | Route::Profile => None,
    };
    let headers = if needs_headers(route, address.as_ref(), peer, state) {
        match header_map(request.headers) {
            Some(headers) => headers,
            None => return Err(NotHot::Other),
        }
    } else {
        HeaderMap::new()
    };
    Ok(Hot {
        route,
        uri,
        headers,
        body,
        address,
    })
}

/// An `Accept` line naming `text/html`: a browser, whose refused profile request the router
/// answers with the form.
fn accepts_html(line: &httparse::Header<'_>) -> bool {
    line.name.eq_ignore_ascii_case("accept")
        && line.value.windows(9).any(|window| window == b"text/html")
}

/// `Content-Length`'s value: decimal digits only, and at most [`MAX_REQUEST`]. `None`: not
/// this lane's (hyper refuses a bad one, bounds a large one).
fn content_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 5 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length = value
        .iter()
        .fold(0usize, |n, digit| n * 10 + usize::from(digit - b'0'));
    (length <= MAX_REQUEST).then_some(length)
}

/// Whether the answer reads header lines: the client behind a trusted proxy (request line,
/// limiter, origin) is in `X-Forwarded-*`, and an autoconfig request without an address
/// answers for the domain in `Host`. Anything else reads none, so the common request builds
/// no header map.
fn needs_headers(
    route: Route,
    address: Option<&Range<usize>>,
    peer: SocketAddr,
    state: &AppState,
) -> bool {
    is_trusted(peer.ip(), &state.answers.config.trusted_proxies)
        || (matches!(route, Route::Autoconfig(_)) && address.is_none_or(Range::is_empty))
}

/// The header lines as hyper gives them to the router. `None` for a line it could not hold.
fn header_map(lines: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(lines.len());
    for line in lines {
        let name = HeaderName::from_bytes(line.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(line.value).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

/// Writes `answer` as hyper does for an HTTP/1.1 keep-alive request: the status line, the
/// header lines in order, `connection: close` when the server drains, `content-length`, `date`,
/// the body. Every answer on these routes has its whole body at hand. A rendered answer's
/// lines are the ones its response would have: `content-type` (as [`respond`] sets it), then
/// `x-content-type-options` (as [`security::set`] adds it).
async fn encode(answer: Answer, close: bool) -> Result<Vec<u8>, axum::Error> {
    let response = match answer {
        Answer::Rendered(rendered) => {
            let mut out = Vec::with_capacity(rendered.body.len() + 256);
            status_line(&mut out, status(rendered.status));
            header_line(
                &mut out,
                header::CONTENT_TYPE.as_str(),
                rendered.content_type.as_bytes(),
            );
            header_line(
                &mut out,
                header::X_CONTENT_TYPE_OPTIONS.as_str(),
                security::NOSNIFF.as_bytes(),
            );
            finish(&mut out, close, false, false, &rendered.body);
            return Ok(out);
        }
        Answer::Response(response) => response,
    };
    let (parts, body) = response.into_parts();
    let body = whole(body).await?;
    let mut out = Vec::with_capacity(body.len() + 256);
    status_line(&mut out, parts.status);
    // Whether the answer has its own `content-length` and `date`, seen on the way (two map
    // lookups less per answer).
    let (mut has_length, mut has_date) = (false, false);
    for (name, value) in &parts.headers {
        has_length |= name == header::CONTENT_LENGTH;
        has_date |= name == header::DATE;
        header_line(&mut out, name.as_str(), value.as_bytes());
    }
    finish(&mut out, close, has_length, has_date, &body);
    Ok(out)
}

fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

fn header_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The lines hyper adds after the answer's own (unless it has them), the blank line, the body.
fn finish(out: &mut Vec<u8>, close: bool, has_length: bool, has_date: bool, body: &[u8]) {
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if !has_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        extend_date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// The whole body. The answers on these routes have one frame (a `Full` body), taken as it
/// is; `collect` would gather it into a list first.
async fn whole(mut body: Body) -> Result<Bytes, axum::Error> {
    let first = match body.frame().await {
        None => return Ok(Bytes::new()),
        // Trailers are not part of the bytes, as `collect().to_bytes()` leaves them out.
        Some(frame) => frame?.into_data().unwrap_or_default(),
    };
    if body.is_end_stream() {
        return Ok(first);
    }
    let rest = body.collect().await?.to_bytes();
    let mut all = Vec::with_capacity(first.len() + rest.len());
    all.extend_from_slice(&first);
    all.extend_from_slice(&rest);
    Ok(all.into())
}

thread_local! {
    /// The `date` value of the current second, formatted once per second per thread.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

fn extend_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != second || text.is_empty() {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSource};

    fn state() -> AppState {
        let config = Config::from_toml(crate::config::DEMO_TOML, ConfigSource::EmbeddedDemo);
        AppState::new(config.unwrap()).unwrap()
    }

    fn peer() -> SocketAddr {
        "192.0.2.7:4711".parse().unwrap()
    }

    fn parsed(request: &str) -> &'static str {
        parsed_where(request, true)
    }

    fn parsed_where(request: &str, https_routes: bool) -> &'static str {
        match parse(request.as_bytes(), peer(), &state(), https_routes) {
            Err(NotHot::Partial) => "partial",
            Ok(_) => "hot",
            Err(NotHot::Other) => "other",
        }
    }

    #[test]
    fn only_plain_requests_for_the_hot_routes_take_the_lane() {
        let get = "GET /mail/config-v1.1.xml?emailaddress=jane@example.com HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(parsed(get), "partial");
        assert_eq!(parsed(&format!("{get}\r\n")), "hot");
        assert_eq!(
            parsed(&format!("{get}Connection: Keep-Alive\r\n\r\n")),
            "hot"
        );
        for extra in [
            "Host: y\r\n",
            "Connection: close\r\n",
            "Content-Length: 0\r\n",
            "Transfer-Encoding: chunked\r\n",
            "Expect: 100-continue\r\n",
            "Upgrade: websocket\r\n",
        ] {
            assert_eq!(parsed(&format!("{get}{extra}\r\n")), "other", "{extra}");
        }
        for other in [
            "GET /mail/config-v1.1.xml HTTP/1.0\r\n\r\n",
            "HEAD /mail/config-v1.1.xml HTTP/1.1\r\n\r\n",
            "GET /Mail/config-v1.1.xml HTTP/1.1\r\n\r\n",
            "GET http://x/mail/config-v1.1.xml HTTP/1.1\r\n\r\n",
            "GET /healthz HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /mail/config-v1.1.xml HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            assert_eq!(parsed(other), "other", "{other}");
        }
        let pox = "POST /Autodiscover/Autodiscover.xml HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(parsed(&format!("{pox}Content-Length: 2\r\n\r\nab")), "hot");
        // Where POX is redirected to HTTPS, the router answers it; autoconfig stays here.
        assert_eq!(
            parsed_where(&format!("{pox}Content-Length: 2\r\n\r\nab"), false),
            "other"
        );
        assert_eq!(parsed_where(&format!("{get}\r\n"), false), "hot");
        assert_eq!(
            parsed(&format!("{pox}Content-Length: 3\r\n\r\nab")),
            "other"
        );
        assert_eq!(parsed(&format!("{pox}\r\nab")), "other");
        assert_eq!(
            parsed(&format!("{pox}Content-Length: +2\r\n\r\nab")),
            "other"
        );
        assert_eq!(
            parsed(&format!(
                "{pox}Content-Length: 2\r\nContent-Length: 2\r\n\r\nab"
            )),
            "other"
        );
        assert_eq!(
            parsed(&format!(
                "{pox}Content-Length: 9000\r\n\r\n{}",
                "a".repeat(9000)
            )),
            "other"
        );
        let profile = "GET /mobileconfig?emailaddress=jane@example.com HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(parsed(&format!("{profile}Accept: */*\r\n\r\n")), "hot");
        // A browser's refusal is the form, which the router renders; so is a redirect to HTTPS.
        assert_eq!(
            parsed(&format!("{profile}Accept: text/html,*/*\r\n\r\n")),
            "other"
        );
        assert_eq!(parsed_where(&format!("{profile}\r\n"), false), "other");
        assert_eq!(
            parsed("POST /mobileconfig HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            "other"
        );
        let many = "X-A: 1\r\n".repeat(MAX_HEADERS);
        assert_eq!(parsed(&format!("{get}{many}\r\n")), "other");
    }
}
