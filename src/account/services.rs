//! What a domain offers besides its mail servers, in one vocabulary for every stage of the
//! flow: the domain table as written, its validated settings, the resolved account, the
//! importers' output. [`UrlService`] names the services offered at a URL; [`Services`] holds a
//! domain's, typed by [`Stage`].
//!
//! Adding a URL service (JMAP, EWS, WebDAV…) is one row in `UrlService`: the config key, the
//! `[defaults]` merge, the redirect check, the resolved account, the per-user field (decide it
//! in [`UrlService::field`]) and the importers' writer all follow from the table; renderers
//! then ask for it where their protocol has a place for it. Adding a service of another shape
//! (a per-domain `[oauth2]` table) is one field here and one associated type in [`Stage`]: the
//! compiler then asks each stage for its form and each place that builds or takes apart a
//! `Services` for its handling.

use std::fmt::Debug;

use super::names::{PerName, named_enum};

named_enum! {
    /// A service a domain offers at a URL. The name is its key in a domain table.
    pub enum UrlService {
        ActiveSync = "activesync",
        CalDav = "caldav",
        CardDav = "carddav",
        /// A JMAP session resource (RFC 8620 §2).
        Jmap = "jmap",
        /// Exchange Web Services (`…/EWS/Exchange.asmx`), for Exchange-hosted mailboxes.
        Ews = "ews",
        /// A WebDAV file share (the autoconfig draft's `fileShare`).
        WebDav = "webdav",
        Documentation = "documentation",
    }
}

impl UrlService {
    /// The field a per-user source sets this URL with (`caldav_url`); `None` when sources
    /// cannot set it.
    pub fn field(self) -> Option<&'static str> {
        match self {
            UrlService::ActiveSync => Some("activesync_url"),
            UrlService::CalDav => Some("caldav_url"),
            UrlService::CardDav => Some("carddav_url"),
            UrlService::Jmap => Some("jmap_url"),
            UrlService::Ews => Some("ews_url"),
            UrlService::WebDav => Some("webdav_url"),
            UrlService::Documentation => None,
        }
    }
}

/// One optional value per URL service.
pub type Urls<T> = PerName<UrlService, Option<T>, { UrlService::COUNT }>;

/// What a stage of the flow holds for each kind of service.
pub trait Stage {
    /// A URL service's value: the text with its span as written, a checked template, a URL.
    type Url: Clone + Debug + PartialEq + Eq;
    /// The domain's OAuth2 authorization server, as written or checked.
    type OAuth2: Clone + Debug + PartialEq + Eq;
}

/// The OAuth2 authorization server every `oauth2` service of a domain uses (the autoconfig
/// draft's `<oAuth2>`, for clients following the open public client profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    pub issuer: String,
    /// Space-separated scopes; one token covers every service of the domain.
    pub scope: String,
    pub auth_url: String,
    pub token_url: String,
    pub client_id: String,
    /// Only for providers whose server insists; public clients cannot keep it secret.
    pub client_secret: Option<String>,
}

/// The client ID when the config names none: the autoconfig draft's open-client value.
pub const OPEN_CLIENT_ID: &str = "open";

/// The key of the `[oauth2]` table in a domain table.
pub const OAUTH2_KEY: &str = "oauth2";

/// The services one domain offers, at stage `S`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services<S: Stage> {
    pub urls: Urls<S::Url>,
    pub oauth2: Option<S::OAuth2>,
}

impl<S: Stage> Default for Services<S> {
    fn default() -> Self {
        Services {
            urls: Urls::default(),
            oauth2: None,
        }
    }
}

impl<S: Stage> Services<S> {
    /// Each service from `self`, else from `fallback` (a domain over `[defaults]`).
    pub fn or(&self, fallback: &Self) -> Self {
        let Services { urls, oauth2 } = self;
        Services {
            urls: urls.map(|service, own| own.clone().or_else(|| fallback.urls[service].clone())),
            // The table as a whole: its keys belong to one authorization server.
            oauth2: oauth2.clone().or_else(|| fallback.oauth2.clone()),
        }
    }

    /// The keys of the services that are set, in table order.
    pub fn set_keys(&self) -> Vec<&'static str> {
        let Services { urls, oauth2 } = self;
        urls.iter()
            .filter(|(_, url)| url.is_some())
            .map(|(service, _)| service.name())
            .chain(oauth2.is_some().then_some(OAUTH2_KEY))
            .collect()
    }
}

/// The resolved account's services: URLs expanded for the address (or the domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved;

impl Stage for Resolved {
    type Url = String;
    type OAuth2 = OAuth2;
}
