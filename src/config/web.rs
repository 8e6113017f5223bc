//! `[web]`: the download form's public host name and branding (logo, accent colour, admin
//! templates). The file form and its validation live here; `webform` consumes the validated
//! [`WebSettings`]. Every value that ends up in CSS or a response header is checked strictly,
//! because there it is code.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;
use crate::account::{Domain, web_url};

/// The accent colour when the admin sets none: a blue with 6.9:1 contrast against white.
pub const DEFAULT_ACCENT: &str = "#1a56b0";

/// `[web]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebFile {
    /// The page's public host name (`setup.example.org`): a certificate is obtained for it
    /// and plain-HTTP requests for other hosts are redirected to it.
    pub host: Option<Spanned<String>>,
    /// `https://…` (any origin; added to the page's CSP `img-src`) or a same-origin `/path`.
    pub logo_url: Option<Spanned<String>>,
    /// `#rgb`, `#rrggbb` (also with alpha); goes into a generated stylesheet.
    #[serde(alias = "accent-color")]
    pub accent_colour: Option<Spanned<String>>,
    /// Admin templates and static files that replace the built-in ones (see README.md, "Your own templates").
    pub templates_dir: Option<Spanned<String>>,
}

/// Validated `[web]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// `[web] host`, a lower-case DNS name; `None` when the admin names none.
    pub host: Option<Domain>,
    pub logo: Option<LogoUrl>,
    /// Lower-case hex colour, `#` included.
    pub accent_colour: String,
    /// Absolute, or relative to the config file's directory; known to be a directory at load.
    pub templates_dir: Option<PathBuf>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            host: None,
            logo: None,
            accent_colour: DEFAULT_ACCENT.to_owned(),
            templates_dir: None,
        }
    }
}

/// A logo address that is safe to put in an `src` attribute and a CSP source list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoUrl {
    pub url: String,
    /// `https://host[:port]` for a remote logo (the CSP `img-src` source); `None` when same-origin.
    pub origin: Option<String>,
}

pub(super) fn check(checker: &mut Checker<'_>, raw: &WebFile) -> WebSettings {
    let mut settings = WebSettings::default();
    if let Some(value) = &raw.host {
        match Domain::parse(value.get_ref()) {
            Ok(host) => settings.host = Some(host),
            Err(_) => checker.report(
                Some(&value.span()),
                "web.host".into(),
                format!(
                    "{:?} is not a host name like \"setup.example.org\" (no scheme, port, path or wildcard)",
                    value.get_ref()
                ),
            ),
        }
    }
    if let Some(value) = &raw.accent_colour {
        match parse_hex_colour(value.get_ref()) {
            Some(colour) => settings.accent_colour = colour,
            None => checker.report(
                Some(&value.span()),
                "web.accent-colour".into(),
                format!(
                    "{:?} is not a hex colour (#rgb, #rgba, #rrggbb or #rrggbbaa)",
                    value.get_ref()
                ),
            ),
        }
    }
    if let Some(value) = &raw.logo_url {
        match parse_logo_url(value.get_ref()) {
            Some(logo) => settings.logo = Some(logo),
            None => checker.report(
                Some(&value.span()),
                "web.logo-url".into(),
                format!(
                    "{:?} is not an http(s) URL or a /path on this server",
                    value.get_ref()
                ),
            ),
        }
    }
    if let Some(value) = &raw.templates_dir {
        let dir = checker.path(value.get_ref());
        if dir.is_dir() {
            settings.templates_dir = Some(dir);
        } else {
            checker.report(
                Some(&value.span()),
                "web.templates-dir".into(),
                format!("{} is not a directory", dir.display()),
            );
        }
    }
    settings
}

/// Only hex notation: it is unambiguous, and nothing else (`red;}body{…`, `url(…)`) can ride
/// along into the stylesheet.
fn parse_hex_colour(text: &str) -> Option<String> {
    let digits = text.trim().strip_prefix('#')?;
    let ok = matches!(digits.len(), 3 | 4 | 6 | 8) && digits.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| format!("#{}", digits.to_ascii_lowercase()))
}

/// The logo goes into an attribute (escaped anyway) and into the CSP header, where a space,
/// `;` or `,` would add directives: only a parsed URL's origin is ever written there.
fn parse_logo_url(text: &str) -> Option<LogoUrl> {
    let text = text.trim();
    if text.starts_with('/') && !text.starts_with("//") {
        let url = url::Url::parse("http://localhost").ok()?.join(text).ok()?;
        let path = &url[url::Position::BeforePath..];
        return Some(LogoUrl {
            url: path.to_owned(),
            origin: None,
        });
    }
    // No user name: a logo URL is public, and `user@` in it only misleads.
    let url = web_url(text).filter(|url| url.username().is_empty())?;
    Some(LogoUrl {
        origin: Some(url.origin().ascii_serialization()),
        url: url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_hex_only() {
        assert_eq!(parse_hex_colour("#ABC").as_deref(), Some("#abc"));
        assert_eq!(parse_hex_colour(" #1a56b0 ").as_deref(), Some("#1a56b0"));
        assert_eq!(parse_hex_colour("#1a56b0cc").as_deref(), Some("#1a56b0cc"));
        for bad in [
            "red",
            "#12",
            "#12345",
            "#ggg",
            "1a56b0",
            "#fff;}body{background:url(x)}",
            "rgb(1,2,3)",
            "",
        ] {
            assert_eq!(parse_hex_colour(bad), None, "{bad:?} was accepted");
        }
    }

    #[test]
    fn logo_urls_yield_a_clean_csp_origin() {
        let logo = parse_logo_url("https://cdn.example.org/brand/logo.svg").unwrap();
        assert_eq!(logo.origin.as_deref(), Some("https://cdn.example.org"));
        let logo = parse_logo_url("/static/logo.png").unwrap();
        assert_eq!((logo.url.as_str(), logo.origin), ("/static/logo.png", None));
        // Percent-encoding keeps CSP separators out of the URL itself.
        let logo = parse_logo_url("https://cdn.example.org/a b;c").unwrap();
        assert!(!logo.url.contains(' '));
        for bad in [
            "//evil.example/logo.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.org/logo.png",
            "https://user:pw@example.org/logo.png",
            "logo.png",
        ] {
            assert_eq!(parse_logo_url(bad), None, "{bad:?} was accepted");
        }
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let text = "[provider]\nid = \"example.org\"\ndisplay-name = \"X\"\nshort-name = \"X\"\n\
                    [web]\naccent-color = \"red\"\nlogo-url = \"javascript:alert(1)\"\n\
                    templates-dir = \"/nonexistent/web\"\nhost = \"https://setup.example.org/\"\n";
        let source = super::super::ConfigSource::File("mxconf.toml".into());
        let error = super::super::Config::from_toml(text, source).unwrap_err();
        let text = error.to_string();
        for expected in [
            "mxconf.toml:6: web.accent-colour: \"red\" is not a hex colour",
            "mxconf.toml:7: web.logo-url: \"javascript:alert(1)\" is not an http(s) URL",
            "mxconf.toml:8: web.templates-dir: /nonexistent/web is not a directory",
            "mxconf.toml:9: web.host: \"https://setup.example.org/\" is not a host name like \"setup.example.org\" (no scheme, port, path or wildcard)",
        ] {
            assert!(text.contains(expected), "{expected} not in:\n{text}");
        }
    }
}
