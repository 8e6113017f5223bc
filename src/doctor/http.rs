//! The HTTP(S) probe: one request, HTTP/1.1 over a connection from [`Net`] (TLS through
//! rustls for `https://`, the certificate judged for the URL's host), redirects followed the
//! way clients do. Generic on purpose: it knows nothing of who serves the URL (mxconf's own
//! TLS listener, nginx in front of it, a stale second server).

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use super::net::{Certificate, Net, ProbeError};

/// Larger answers are cut off (an autoconfig file is ~2 KB, a signed profile ~10 KB).
const MAX_BODY: usize = 1024 * 1024;
/// Clients give up after about this many redirects.
const MAX_REDIRECTS: usize = 5;

/// One request a client would send.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: Url,
    /// `Some((body, content type))` makes it a POST.
    pub body: Option<(Vec<u8>, &'static str)>,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The type's essence, lower-case (`application/xml`), empty when none was sent.
    pub content_type: String,
    pub body: Vec<u8>,
    /// The certificate of the first `https://` URL, when there was one.
    pub certificate: Option<Certificate>,
    /// Where redirects led, when they did.
    pub redirected_to: Option<Url>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Sends `request`, following redirects (a redirect from https to http is refused: clients
/// do not follow it either), all within the time limit.
pub async fn fetch(net: &Net, request: &Request) -> Result<Answer, ProbeError> {
    net.bounded(async {
        let mut url = request.url.clone();
        let mut first_certificate = None;
        for hop in 0..=MAX_REDIRECTS {
            let (status, content_type, location, body, certificate) =
                once(net, &url, request).await?;
            if hop == 0 {
                first_certificate = certificate;
            } else if let Some(Certificate {
                verdict: Err((what, _)),
                ..
            }) = certificate
            {
                return Err(ProbeError::Tls(format!(
                    "redirect to {url}: certificate {what}"
                )));
            }
            let Some(location) = location.filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308))
            else {
                return Ok(Answer {
                    status,
                    content_type,
                    body,
                    certificate: first_certificate,
                    redirected_to: (hop > 0).then_some(url),
                });
            };
            let next = url.join(&location).map_err(|_| {
                ProbeError::Protocol(format!("{status} to an invalid Location: {location}"))
            })?;
            if url.scheme() == "https" && next.scheme() != "https" {
                return Err(ProbeError::Protocol(format!(
                    "{status} redirect from https to {next}"
                )));
            }
            url = next;
        }
        Err(ProbeError::Protocol(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    })
    .await
}

type Hop = (u16, String, Option<String>, Vec<u8>, Option<Certificate>);

async fn once(net: &Net, url: &Url, request: &Request) -> Result<Hop, ProbeError> {
    let host = url
        .host_str()
        .ok_or_else(|| ProbeError::Protocol(format!("{url} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| ProbeError::Protocol(format!("{url} has no port")))?;
    let stream = net.connect(&host, port).await?;
    let (io, certificate): (Box<dyn Io>, Option<Certificate>) = match url.scheme() {
        "https" => {
            let (tls, certificate) = net.tls(stream, &host).await?;
            (Box::new(tls), Some(certificate))
        }
        _ => (Box::new(stream), None),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|error| ProbeError::Protocol(format!("HTTP: {error}")))?;
    let driver = tokio::spawn(connection);
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let builder = hyper::Request::builder()
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::USER_AGENT,
            concat!("mxconf-doctor/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::ACCEPT, "*/*");
    let built = match &request.body {
        Some((body, content_type)) => builder
            .method(hyper::Method::POST)
            .header(hyper::header::CONTENT_TYPE, *content_type)
            .body(Full::new(Bytes::from(body.clone()))),
        None => builder
            .method(hyper::Method::GET)
            .body(Full::new(Bytes::new())),
    }
    .map_err(|error| ProbeError::Protocol(format!("cannot build the request: {error}")))?;
    let response = sender
        .send_request(built)
        .await
        .map_err(|error| ProbeError::Protocol(format!("HTTP: {error}")))?;
    let status = response.status().as_u16();
    let header = |name: hyper::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(hyper::header::CONTENT_TYPE)
        .map(|value| essence(&value))
        .unwrap_or_default();
    let location = header(hyper::header::LOCATION);
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|error| ProbeError::Protocol(format!("reading the body: {error}")))?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok((status, content_type, location, body, certificate))
}

/// `Application/XML; charset=utf-8` → `application/xml`.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}
