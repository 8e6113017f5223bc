//! Request inputs, parsed once with our own 400 answers: the address from a query string or
//! path, the [`Origin`] extractor (the public scheme + host from the Host header, or from
//! `X-Forwarded-Proto`/`X-Forwarded-Host` when, and only when, the TCP peer is one of
//! `[server].trusted-proxies`), and the [`client_ip`] behind those proxies. Everything returned
//! is validated, so it is safe to put in answers.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use ipnet::IpNet;

use super::AppState;
use crate::account::{Domain, EmailAddress};
use crate::answer::{self, MAX_PARAMETER, Refusal};

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The raw (still percent-encoded) value of `key` in a query string; keys compare
/// case-insensitively (`Email`, `email`; `Protocol`, `protocol`).
pub fn query_value<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    let query = query?;
    query.get(query_value_at(query, key)?)
}

/// Where [`query_value`] finds its value in `query`.
pub fn query_value_at(query: &str, key: &str) -> Option<Range<usize>> {
    // Byte scans rather than `split('&')` and `split_once('=')`, whose char searchers cost
    // several times as much on every request (callgrind): each pair's name is compared with
    // `key` in place, and only the matching pair's value is scanned to its end. `&` and `=`
    // are ASCII, so each cut falls on a character boundary.
    let (bytes, key) = (query.as_bytes(), key.as_bytes());
    if key.iter().any(|&b| b == b'&' || b == b'=') {
        return None; // never a pair's name
    }
    let next_pair = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == b'&')
            .map_or(bytes.len(), |at| from + at)
    };
    let mut start = 0;
    loop {
        let name_end = start + key.len();
        if bytes
            .get(start..name_end)
            .is_some_and(|name| name.eq_ignore_ascii_case(key))
            && matches!(bytes.get(name_end), None | Some(b'=' | b'&'))
        {
            let end = next_pair(name_end);
            return Some((name_end + 1).min(end)..end);
        }
        let end = next_pair(start);
        if end == bytes.len() {
            return None;
        }
        start = end + 1;
    }
}

/// Percent-decodes a query value. `+` stays `+`: it is common in local parts
/// (`jane+lists@…`) and no address contains a space, so form-style decoding would only
/// break real addresses.
pub fn decode(raw: &str) -> Result<Cow<'_, str>, Refusal> {
    if raw.len() > MAX_PARAMETER {
        return Err(Refusal::BadParameter);
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Refusal::BadParameter)
}

/// The address in query parameter `key`, if present: percent-decoded, trimmed, domain
/// lower-cased, never echoed in encoded form (docs/protocols.md, "Addresses are decoded once").
pub fn email_in_query(query: Option<&str>, key: &str) -> Result<Option<EmailAddress>, Refusal> {
    email_in_value(query_value(query, key))
}

/// [`email_in_query`] for the raw value already found.
pub fn email_in_value(raw: Option<&str>) -> Result<Option<EmailAddress>, Refusal> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => Ok(Some(answer::parse_address(&decode(raw)?)?)),
    }
}

/// Refuses (400) a request with more than one `Host` line, as RFC 9112 §3.2 requires: which
/// of them counts is exactly what a proxy and this server could disagree on.
pub async fn single_host(request: Request, next: Next) -> Response {
    if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return Refusal::BadHost.into_response();
    }
    next.run(request).await
}

/// Where the client reached us: the public scheme and `host[:port]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: &'static str,
    /// Lower-cased `host` or `host:port`; a domain, an IP literal or `localhost`.
    pub authority: String,
}

impl Origin {
    /// The mail domain a bare request is about: the host without its port and without the
    /// service label clients put in front (`autoconfig.example.com` → `example.com`).
    pub fn domain(&self, service_label: &str) -> Option<Domain> {
        let host = split_port(&self.authority)?.0;
        let host = host.strip_prefix(service_label).unwrap_or(host);
        Domain::parse(host).ok()
    }

    /// The host without its port.
    pub fn host(&self) -> &str {
        split_port(&self.authority).map_or(&self.authority, |(host, _)| host)
    }

    /// This server's public POX endpoint (Autodiscover v2 `AutodiscoverV1` answer).
    pub fn pox_url(&self) -> String {
        format!(
            "{}://{}/autodiscover/autodiscover.xml",
            self.scheme, self.authority
        )
    }

    /// Reads the origin from request headers. `peer` is the TCP peer; forwarded headers count
    /// only when it is a trusted proxy (otherwise any client could choose the URLs we hand out).
    pub fn from_headers(
        headers: &HeaderMap,
        uri_authority: Option<&str>,
        peer: Option<IpAddr>,
        state: &AppState,
    ) -> Result<Self, Refusal> {
        let trusted = peer.is_some_and(|ip| is_trusted(ip, &state.answers.config.trusted_proxies));
        let first = |name: &HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let forwarded_host = trusted.then(|| first(&X_FORWARDED_HOST)).flatten();
        // An absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2: the origin
        // server must ignore `Host` then), as it does for HTTP/2's `:authority`.
        let host = forwarded_host
            .or(uri_authority)
            // `Host` is one authority, never a list: `a,b` is refused, not read as `a`.
            .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
            .ok_or(Refusal::BadHost)?;
        let scheme = match trusted.then(|| first(&X_FORWARDED_PROTO)).flatten() {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let authority = validate_authority(host).ok_or(Refusal::BadHost)?;
        Ok(Origin { scheme, authority })
    }
}

/// Handlers that need the origin take it as an extractor; those that need it only sometimes
/// (autoconfig without an address, v2 `AutodiscoverV1`) call [`Origin::of`] then, so requests
/// that carry an address pay nothing for it.
impl FromRequestParts<Arc<AppState>> for Origin {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Refusal> {
        Origin::of(parts, state)
    }
}

impl Origin {
    /// The origin of a request; `https` whenever it came over one of our TLS listeners.
    pub fn of(parts: &Parts, state: &AppState) -> Result<Self, Refusal> {
        Origin::of_request(
            &parts.headers,
            parts.uri.authority().map(|a| a.as_str()),
            peer(&parts.extensions),
            parts.extensions.get::<OverTls>().is_some(),
            state,
        )
    }

    /// The same from a request's pieces (the fast lane has no [`Parts`]).
    pub fn of_request(
        headers: &HeaderMap,
        uri_authority: Option<&str>,
        peer: Option<SocketAddr>,
        over_tls: bool,
        state: &AppState,
    ) -> Result<Self, Refusal> {
        let peer = peer.map(|addr| addr.ip());
        let mut origin = Origin::from_headers(headers, uri_authority, peer, state)?;
        if over_tls {
            origin.scheme = "https";
        }
        Ok(origin)
    }
}

/// Marks a request that arrived over TLS terminated here (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

pub(super) fn is_trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    proxies.iter().any(|net| net.contains(&ip))
}

/// The TCP peer of a request (set by the accept loop for every request).
pub fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` that is not one (read right to left, the order proxies append
/// in; entries further left were written by the client and prove nothing). An unreadable entry
/// stops the walk at the last trusted hop.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, proxies: &[IpNet]) -> IpAddr {
    let mut client = peer.to_canonical();
    if !is_trusted(client, proxies) {
        return client;
    }
    let hops = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|value| value.to_str().unwrap_or("").rsplit(','));
    for hop in hops {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(client, proxies) {
            break;
        }
    }
    client
}

/// `host[:port]` with a valid host (domain, IP literal, `localhost`) and numeric port,
/// lower-cased; `None` for anything else.
fn validate_authority(text: &str) -> Option<String> {
    let (host, port) = split_port(text)?;
    let host = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<Ipv6Addr>().is_ok().then_some(host)
    } else {
        // `autoconfig.example.com.` is the same name written absolute; the URLs handed out
        // carry it without the dot, the form certificates are issued for.
        let host = host.strip_suffix('.').unwrap_or(host);
        (host.eq_ignore_ascii_case("localhost")
            || host.parse::<Ipv4Addr>().is_ok()
            || Domain::parse(host).is_ok_and(|d| d.as_str().eq_ignore_ascii_case(host)))
        .then_some(host)
    }?;
    Some(with_port(host, port))
}

/// `host[:port]`, lower-cased.
fn with_port(host: &str, port: Option<u16>) -> String {
    let host = host.to_ascii_lowercase();
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Splits `host[:port]` (`[v6]:port` too); `None` when the port is not a number.
fn split_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match text.rfind(':') {
        Some(colon) if !text[colon..].contains(']') => (&text[..colon], Some(&text[colon + 1..])),
        _ => (text, None),
    };
    let port = match port {
        Some(digits) => {
            if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            Some(digits.parse().ok()?)
        }
        None => None,
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSource};

    fn state(trusted: &str) -> AppState {
        let text = crate::config::DEMO_TOML.replace(
            "trusted-proxies = []",
            &format!("trusted-proxies = [{trusted}]"),
        );
        AppState::new(Config::from_toml(&text, ConfigSource::EmbeddedDemo).unwrap()).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    /// The byte scan finds what `split('&')` and `split_once('=')` found.
    #[test]
    fn query_values_are_cut_as_split_cuts_them() {
        let split = |query: Option<&'static str>, key: &str| {
            query?.split('&').find_map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                name.eq_ignore_ascii_case(key).then_some(value)
            })
        };
        let queries = [
            None,
            Some(""),
            Some("&"),
            Some("emailaddress"),
            Some("emailaddress="),
            Some("emailaddress=a=b&emailaddress=c"),
            Some("&&EmailAddress=jane@example.com&"),
            Some("x=1&emailaddressx=2&emailaddress=3"),
            Some("é=ü&emailaddress=jäne@bücher.example&"),
            Some("=&=emailaddress&emailaddress&x"),
        ];
        for query in queries {
            for key in ["emailaddress", "x", "é", "", "a=b", "&"] {
                assert_eq!(
                    query_value(query, key),
                    split(query, key),
                    "{query:?} {key}"
                );
            }
        }
    }

    #[test]
    fn query_values_are_found_case_insensitively_and_decoded() {
        let query = Some("Protocol=activesync&Email=jane%2Blists%40Example.COM");
        assert_eq!(query_value(query, "protocol"), Some("activesync"));
        let email = email_in_query(query, "email").unwrap().unwrap();
        assert_eq!(email.as_str(), "jane+lists@example.com");
        assert_eq!(email_in_query(Some("x=1"), "email"), Ok(None));
        assert_eq!(
            email_in_query(Some("emailaddress=%ff%fe"), "emailaddress"),
            Err(Refusal::BadParameter)
        );
        let long = format!("emailaddress={}", "a".repeat(4000));
        assert_eq!(
            email_in_query(Some(&long), "emailaddress"),
            Err(Refusal::BadParameter)
        );
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let forwarded = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "autodiscover.example.com"),
        ]);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let trusting = state("\"10.0.0.0/8\"");
        let origin = Origin::from_headers(&forwarded, None, Some(proxy), &trusting).unwrap();
        assert_eq!(
            origin.pox_url(),
            "https://autodiscover.example.com/autodiscover/autodiscover.xml"
        );
        let stranger: IpAddr = "192.0.2.7".parse().unwrap();
        let origin = Origin::from_headers(&forwarded, None, Some(stranger), &trusting).unwrap();
        assert_eq!(origin.scheme, "http");
        assert_eq!(origin.authority, "127.0.0.1:8080");
        // IPv4-mapped IPv6 peers (dual-stack listeners) are the same proxy.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let origin = Origin::from_headers(&forwarded, None, Some(mapped), &trusting).unwrap();
        assert_eq!(origin.scheme, "https");
    }

    #[test]
    fn the_client_is_the_nearest_untrusted_forwarded_hop() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let forwarded = |value: &str| headers(&[("x-forwarded-for", value)]);
        // A stranger's header proves nothing.
        assert_eq!(
            client_ip(&forwarded("198.51.100.1"), ip("192.0.2.7"), &proxies),
            ip("192.0.2.7")
        );
        // Through two of our proxies; the client's own claim (leftmost) is ignored.
        assert_eq!(
            client_ip(
                &forwarded("1.2.3.4, 198.51.100.9 , 10.0.0.2"),
                ip("::ffff:10.0.0.1"),
                &proxies
            ),
            ip("198.51.100.9")
        );
        assert_eq!(
            client_ip(&forwarded("garbage, 10.0.0.3"), ip("10.0.0.1"), &proxies),
            ip("10.0.0.3")
        );
        assert_eq!(
            client_ip(&HeaderMap::new(), ip("10.0.0.1"), &proxies),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn hosts_are_validated_and_service_labels_stripped() {
        let demo = state("");
        let origin =
            |host: &str| Origin::from_headers(&headers(&[("host", host)]), None, None, &demo);
        let o = origin("AutoConfig.Example.COM:8443").unwrap();
        assert_eq!(o.domain("autoconfig.").unwrap().as_str(), "example.com");
        assert_eq!(
            origin("example.com")
                .unwrap()
                .domain("autoconfig.")
                .unwrap()
                .as_str(),
            "example.com"
        );
        assert!(origin("[::1]:80").is_ok());
        assert!(origin("localhost").unwrap().domain("autoconfig.").is_none());
        for bad in [
            "evil.com/<x>",
            "a b",
            "example.com:99999",
            "example.com:",
            "ex\"ample.com",
            "xn--",
            ".",
            "example.com..",
            "[::1].",
            "example.com,evil.example",
            "",
        ] {
            assert_eq!(origin(bad), Err(Refusal::BadHost), "{bad}");
        }
        assert_eq!(
            Origin::from_headers(&HeaderMap::new(), None, None, &demo),
            Err(Refusal::BadHost)
        );
    }

    #[test]
    fn an_absolute_name_is_the_same_host_without_its_dot() {
        let demo = state("");
        let origin =
            |host: &str| Origin::from_headers(&headers(&[("host", host)]), None, None, &demo);
        for (host, authority) in [
            ("AutoConfig.Example.COM.", "autoconfig.example.com"),
            (
                "autoconfig.example.com.:8443",
                "autoconfig.example.com:8443",
            ),
            ("localhost.", "localhost"),
        ] {
            assert_eq!(origin(host).unwrap().authority, authority, "{host}");
        }
        assert_eq!(
            origin("autoconfig.example.com.")
                .unwrap()
                .domain("autoconfig.")
                .unwrap()
                .as_str(),
            "example.com"
        );
    }

    #[test]
    fn an_absolute_form_target_names_the_host_not_the_host_header() {
        let demo = state("");
        let origin = Origin::from_headers(
            &headers(&[("host", "autoconfig.other.example")]),
            Some("autoconfig.example.com"),
            None,
            &demo,
        )
        .unwrap();
        assert_eq!(origin.authority, "autoconfig.example.com");
    }
}
