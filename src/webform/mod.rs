//! The download form (what automx-web offered, rebuilt): the page model and its rendering with
//! minijinja (HTML autoescape on every template, built-in or the admin's). Pure: the server
//! hands in what it read from the request ([`Visit`]) and sends back the HTML. Depends on
//! `config` and `account` only; never on `server`.

pub mod assets;
pub mod i18n;
pub mod qr;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};
use serde::Serialize;

use crate::account::Provider;
use crate::config::WebSettings;
pub use assets::{Asset, AssetError};
pub use i18n::{FormProblem, Lang};

/// The template every page is rendered from.
const PAGE: &str = "index.html";

/// Why the form could not be set up (at start-up) or rendered.
#[derive(Debug, thiserror::Error)]
pub enum WebformError {
    #[error("web form files: {0}")]
    Assets(#[from] AssetError),
    #[error("web form template: {0:#}")]
    Template(minijinja::Error),
}

/// Which instructions fit the visitor, from the `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// iPhone, iPad (in mobile mode) or iPod: the Settings install flow.
    Ios,
    /// macOS, and iPadOS 13+ in its default desktop mode, which sends the same UA: the page
    /// shows both, and the optional script picks one by touch support.
    Mac,
    /// Profiles are for Apple devices; the mail app configures itself.
    Android,
    /// Any other desktop: a QR code to open the page on the phone.
    Desktop,
}

impl Platform {
    pub fn from_user_agent(user_agent: &str) -> Platform {
        // iOS UAs contain "like Mac OS X", so they must be recognised first.
        if ["iPhone", "iPad", "iPod"]
            .iter()
            .any(|device| user_agent.contains(device))
        {
            Platform::Ios
        } else if user_agent.contains("Android") {
            Platform::Android
        } else if user_agent.contains("Macintosh") || user_agent.contains("Mac OS X") {
            Platform::Mac
        } else {
            Platform::Desktop
        }
    }
}

/// One view of the page: what the server learnt from the request.
#[derive(Debug, Clone)]
pub struct Visit<'a> {
    pub lang: Lang,
    /// The language came from `?lang=`, so links and the form keep it.
    pub lang_pinned: bool,
    pub platform: Platform,
    /// This page's public URL for the QR code; `None` when the request named no usable host.
    pub page_url: Option<&'a str>,
    /// What the visitor submitted, shown again (escaped) with a problem.
    pub email: &'a str,
    pub name: &'a str,
    pub problem: Option<&'a FormProblem>,
}

/// The form, ready to render: templates compiled, assets fingerprinted, CSP computed.
#[derive(Debug)]
pub struct Webform {
    env: Environment<'static>,
    statics: std::collections::BTreeMap<String, Asset>,
    csp: String,
    provider: String,
    logo: Option<String>,
}

impl Webform {
    /// Loads the built-in (or the admin's) files and renders every variant of the page once,
    /// so a broken admin template stops the start-up instead of failing requests.
    pub fn new(provider: &Provider, web: &WebSettings) -> Result<Webform, WebformError> {
        let theme = theme_css(&web.accent_colour);
        let assets = assets::Assets::load(web.templates_dir.as_deref(), &[("theme.css", theme)])?;
        let mut env = Environment::new();
        // Every template is HTML, whatever the admin named it: escaping is never opt-in.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // A typo in an admin template (`t.titel`) fails the start-up render, not silently.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in assets.templates {
            env.add_template_owned(name, source)
                .map_err(WebformError::Template)?;
        }
        let urls: std::collections::BTreeMap<String, String> = assets
            .statics
            .iter()
            .map(|(name, asset)| (name.clone(), asset.url.clone()))
            .collect();
        env.add_function("asset", move |name: &str| {
            urls.get(name).cloned().ok_or_else(|| {
                minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("no static file {name:?}"),
                )
            })
        });
        let img_src = match web.logo.as_ref().and_then(|logo| logo.origin.as_deref()) {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".to_owned(),
        };
        let form = Webform {
            env,
            statics: assets.statics,
            // No inline script or style anywhere; the accent colour is the generated
            // theme.css. The QR code is inline SVG markup, which CSP does not govern.
            csp: format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src {img_src}; \
                 form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
            provider: provider.display_name.clone(),
            logo: web.logo.as_ref().map(|logo| logo.url.clone()),
        };
        form.check_every_variant()?;
        Ok(form)
    }

    fn check_every_variant(&self) -> Result<(), WebformError> {
        let problem = FormProblem::UnknownDomain("example.net".into());
        for lang in Lang::ALL {
            for platform in [
                Platform::Ios,
                Platform::Mac,
                Platform::Android,
                Platform::Desktop,
            ] {
                for problem in [None, Some(&problem)] {
                    self.render(&Visit {
                        lang,
                        lang_pinned: problem.is_some(),
                        platform,
                        page_url: Some("https://mail.example.org/"),
                        email: "jane@example.net",
                        name: "Jane",
                        problem,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The page as HTML.
    pub fn render(&self, visit: &Visit<'_>) -> Result<String, WebformError> {
        let lang = visit.lang;
        let pin = |code: &str| {
            if visit.lang_pinned {
                format!("?lang={code}")
            } else {
                String::new()
            }
        };
        let languages: Vec<Value> = Lang::ALL
            .into_iter()
            .map(|other| {
                context! {
                    code => other.code(),
                    name => other.strings().language_name,
                    href => format!("/?lang={}", other.code()),
                    current => other == lang,
                }
            })
            .collect();
        // A failed QR code only drops the picture; the page still works.
        let qr_svg = match (visit.platform, visit.page_url) {
            (Platform::Desktop, Some(url)) => qr::svg(url).ok().map(Value::from_safe_string),
            _ => None,
        };
        let ctx = context! {
            lang => lang.code(),
            languages,
            t => Value::from(Serde(lang.strings())),
            provider => &self.provider,
            logo => &self.logo,
            platform => Value::from(Serde(visit.platform)),
            page_url => visit.page_url,
            qr_svg,
            form_action => format!("/mobileconfig{}", pin(lang.code())),
            email => visit.email,
            name => visit.name,
            error => visit.problem.map(|problem| problem.message(lang)),
            // "Please check your address" heads only what the visitor can fix in it.
            error_about_address => visit.problem.is_some_and(FormProblem::is_about_address),
        };
        self.env
            .get_template(PAGE)
            .and_then(|template| template.render(ctx))
            .map_err(WebformError::Template)
    }

    /// A static file by name (`style.css`), as listed at start-up.
    pub fn asset(&self, name: &str) -> Option<&Asset> {
        self.statics.get(name)
    }

    /// Every static file, for page-weight accounting.
    pub fn assets(&self) -> impl Iterator<Item = (&str, &Asset)> {
        self.statics
            .iter()
            .map(|(name, asset)| (name.as_str(), asset))
    }

    /// The page's `Content-Security-Policy` value.
    pub fn content_security_policy(&self) -> &str {
        &self.csp
    }
}

/// The stylesheet carrying the admin's accent colour, with a text colour on it chosen for
/// contrast (WCAG relative luminance), so a light brand colour still gives a readable button.
fn theme_css(accent: &str) -> String {
    let on_accent = if luminance(accent).is_some_and(|l| (1.05 / (l + 0.05)) < ((l + 0.05) / 0.05))
    {
        "#111111"
    } else {
        "#ffffff"
    };
    format!(":root{{--accent:{accent};--on-accent:{on_accent}}}\n")
}

/// WCAG 2 relative luminance of `#rgb[a]` / `#rrggbb[aa]` (alpha ignored).
fn luminance(hex: &str) -> Option<f64> {
    let digits = hex.strip_prefix('#')?;
    let expanded: String = match digits.len() {
        3 | 4 => digits.chars().take(3).flat_map(|c| [c, c]).collect(),
        6 | 8 => digits.chars().take(6).collect(),
        _ => return None,
    };
    let channel = |i: usize| -> Option<f64> {
        let value = f64::from(u8::from_str_radix(expanded.get(i..i + 2)?, 16).ok()?) / 255.0;
        Some(if value <= 0.039_28 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        })
    };
    Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
}

#[cfg(test)]
mod tests;
