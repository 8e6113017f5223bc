//! Autodiscover v2 (JSON): `{"Protocol":…,"Url":…}` for `ActiveSync` and `Ews` (the configured
//! URLs) and
//! `AutodiscoverV1` (this server's POX endpoint, which the caller supplies because only the
//! HTTP layer knows its public scheme and host). No formal spec exists: the shapes follow
//! Microsoft's answers as captured in `tests/fixtures/autodiscover/examples/v2-*.json`.

use serde::Serialize;

use super::Rendered;
use crate::account::{Account, Redirect, UrlService};

pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The values of `Protocol=` this server answers, matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonProtocol {
    ActiveSync,
    Ews,
    AutodiscoverV1,
}

impl JsonProtocol {
    /// In the order Microsoft's `InvalidProtocol` message lists them (alphabetical).
    const ALL: [JsonProtocol; 3] = [
        JsonProtocol::ActiveSync,
        JsonProtocol::AutodiscoverV1,
        JsonProtocol::Ews,
    ];

    /// Case-insensitive (Outlook and macOS vary the spelling).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|protocol| protocol.name().eq_ignore_ascii_case(text))
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonProtocol::ActiveSync => "ActiveSync",
            JsonProtocol::Ews => "Ews",
            JsonProtocol::AutodiscoverV1 => "AutodiscoverV1",
        }
    }

    /// The URL service this protocol names; `None` for `AutodiscoverV1` (this server).
    fn service(self) -> Option<UrlService> {
        match self {
            JsonProtocol::ActiveSync => Some(UrlService::ActiveSync),
            JsonProtocol::Ews => Some(UrlService::Ews),
            JsonProtocol::AutodiscoverV1 => None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Settings<'a> {
    protocol: &'a str,
    url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Failure<'a> {
    error_code: &'a str,
    error_message: &'a str,
}

/// The answer for `account` and a known `protocol`; `pox_url` is this server's public
/// `…/autodiscover/autodiscover.xml`.
pub fn render(account: &Account, protocol: JsonProtocol, pox_url: &str) -> Rendered {
    let url = match protocol.service() {
        Some(service) => match account.url(service) {
            Some(url) => url,
            None => {
                return failure(
                    404,
                    "ProtocolNotAvailable",
                    &format!("{} is not offered for this domain.", protocol.name()),
                );
            }
        },
        None => pox_url,
    };
    json(
        200,
        &Settings {
            protocol: protocol.name(),
            url,
        },
    )
}

/// The `AutodiscoverV1` answer for a redirecting domain. v2 has no redirect, but this protocol
/// asks where the address's POX endpoint is: for a domain served elsewhere, the configured
/// `autodiscover-redirect-url`; for an alias, this server (`pox_url`), whose POX answer is the
/// `redirectAddr`. (`ActiveSync` never sees a redirect: the resolver answers an alias with its
/// target's account, and a domain served elsewhere is not served here.)
pub fn autodiscover_v1_redirect(redirect: &Redirect, pox_url: &str) -> Rendered {
    let url = match redirect {
        Redirect::Address(_) => pox_url,
        Redirect::Url(url) => url,
    };
    json(
        200,
        &Settings {
            protocol: JsonProtocol::AutodiscoverV1.name(),
            url,
        },
    )
}

/// 400 `InvalidProtocol`, worded like Microsoft's answer. The given value is quoted back only
/// when it is a short plain word, so nothing a client sent is reflected beyond that.
pub fn invalid_protocol(given: &str) -> Rendered {
    let supported = JsonProtocol::ALL.map(JsonProtocol::name).join(",");
    let plain_word =
        given.len() <= 32 && !given.is_empty() && given.bytes().all(|b| b.is_ascii_alphanumeric());
    let message = if plain_word {
        format!("The given protocol value '{given}' is invalid. Supported values are '{supported}'")
    } else {
        format!("The given protocol value is invalid. Supported values are '{supported}'")
    };
    failure(400, "InvalidProtocol", &message)
}

/// 404 for an address whose domain is not served here: clients move on to their next
/// discovery method, and no other domain's settings are ever given out.
pub fn unknown_domain() -> Rendered {
    failure(
        404,
        "InvalidDomain",
        "This server has no settings for the domain.",
    )
}

fn failure(status: u16, error_code: &str, error_message: &str) -> Rendered {
    json(
        status,
        &Failure {
            error_code,
            error_message,
        },
    )
}

fn json(status: u16, value: &impl Serialize) -> Rendered {
    Rendered {
        status,
        content_type: CONTENT_TYPE,
        // Serialising a struct of string fields into memory cannot fail.
        body: serde_json::to_vec(value).unwrap_or_default(),
        error_document: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::test_accounts::demo_account;

    fn example(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/autodiscover/examples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn value(rendered: &Rendered) -> serde_json::Value {
        serde_json::from_slice(&rendered.body).unwrap()
    }

    #[test]
    fn activesync_matches_the_vector() {
        let rendered = render(
            &demo_account("jane@example.com"),
            JsonProtocol::ActiveSync,
            "unused",
        );
        assert_eq!(rendered.status, 200);
        assert_eq!(value(&rendered), example("v2-activesync.json"));
    }

    #[test]
    fn autodiscover_v1_matches_the_vector() {
        let url = "https://autodiscover.example.com/autodiscover/autodiscover.xml";
        let rendered = render(
            &demo_account("jane@example.com"),
            JsonProtocol::parse("autodiscoverv1").unwrap(),
            url,
        );
        assert_eq!(value(&rendered), example("v2-autodiscoverv1.json"));
    }

    #[test]
    fn invalid_protocol_has_microsofts_shape() {
        let rendered = invalid_protocol("Foo");
        assert_eq!(rendered.status, 400);
        let ours = value(&rendered);
        let theirs = example("v2-error-invalidprotocol.json");
        // Microsoft's list is exactly the three protocols answered here, in its order.
        assert_eq!(ours, theirs);
    }

    #[test]
    fn hostile_protocol_values_are_not_reflected() {
        for given in ["<script>", "a\"b", &"x".repeat(100)] {
            let text = String::from_utf8(invalid_protocol(given).body).unwrap();
            assert!(!text.contains(given), "{text}");
        }
    }

    #[test]
    fn activesync_without_url_is_a_404() {
        let mut account = demo_account("jane@example.com");
        account.services.urls[UrlService::ActiveSync] = None;
        let rendered = render(&account, JsonProtocol::ActiveSync, "unused");
        assert_eq!(rendered.status, 404);
    }

    #[test]
    fn autodiscover_v1_points_at_the_pox_endpoint_of_a_redirect() {
        let here = "https://autodiscover.example.com/autodiscover/autodiscover.xml";
        let elsewhere = "https://autodiscover.other.example/autodiscover/autodiscover.xml";
        let moved = crate::account::EmailAddress::parse("jane@example.com").unwrap();
        let alias = autodiscover_v1_redirect(&Redirect::Address(moved), here);
        assert_eq!(alias.status, 200);
        assert_eq!(value(&alias), example("v2-autodiscoverv1.json"));
        let other = autodiscover_v1_redirect(&Redirect::Url(elsewhere.into()), here);
        assert_eq!(
            value(&other),
            serde_json::json!({"Protocol": "AutodiscoverV1", "Url": elsewhere})
        );
    }
}
