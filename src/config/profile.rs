//! `[profile]`: how Apple configuration profiles are labelled and identified. The file form
//! (`ProfileFile`) and its validation into [`ProfileSettings`], hooked into `validate` with one
//! call. Read by `profile` (the builder); knows nothing of plists or signing.

use serde::Deserialize;
use toml::Spanned;

use super::checker::Checker;
use crate::account::Provider;

/// The raw `[profile]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileFile {
    pub identifier_prefix: Option<Spanned<String>>,
    pub organization: Option<Spanned<String>>,
    pub display_name: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub consent_text: Option<Spanned<String>>,
    /// Wider than `u8` so that `9` or `-1` get our message, not a serde type error.
    pub target_device_type: Option<Spanned<i64>>,
}

/// Validated `[profile]` settings. `display_name` and `description` may hold the address
/// placeholders (`%EMAILADDRESS%`…), expanded per profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSettings {
    /// Reverse-DNS prefix of every `PayloadIdentifier` (`com.example.mxconf`).
    pub identifier_prefix: String,
    pub organization: String,
    pub display_name: String,
    pub description: Option<String>,
    pub consent_text: Option<String>,
    /// Apple's `TargetDeviceType` (TopLevel.yaml: 0 any, 1 iPhone/iPad, 2 Watch, 3 HomePod,
    /// 4 Apple TV, 5 Mac, 6 Vision Pro).
    pub target_device_type: Option<u8>,
}

impl ProfileSettings {
    /// The defaults for a provider: prefix = the provider id reversed (`example.com` →
    /// `com.example`), organization = its display name.
    pub fn defaults(provider: &Provider) -> Self {
        ProfileSettings {
            identifier_prefix: reverse_dns(&provider.id),
            organization: provider.display_name.clone(),
            display_name: DEFAULT_DISPLAY_NAME.to_owned(),
            description: None,
            consent_text: None,
            target_device_type: None,
        }
    }
}

/// One profile per account: the address in the name tells two installed profiles apart.
const DEFAULT_DISPLAY_NAME: &str = "%EMAILADDRESS%";

/// TopLevel.yaml `TargetDeviceType` rangelist.
const TARGET_DEVICE_TYPES: std::ops::RangeInclusive<i64> = 0..=6;

/// Longest text accepted for names shown on the device's profile screens.
const MAX_LABEL: usize = 200;

fn reverse_dns(domain: &str) -> String {
    domain.rsplit('.').collect::<Vec<_>>().join(".")
}

/// `[profile]` → [`ProfileSettings`], reporting problems through the shared checker.
pub(super) fn check(
    checker: &mut Checker<'_>,
    file: &ProfileFile,
    provider: &Provider,
) -> ProfileSettings {
    let mut settings = ProfileSettings::defaults(provider);
    if let Some(prefix) = &file.identifier_prefix {
        let text = prefix.get_ref().trim();
        if is_reverse_dns(text) {
            settings.identifier_prefix = text.to_owned();
        } else {
            checker.report(
                Some(&prefix.span()),
                "profile.identifier-prefix".into(),
                format!(
                    "{text:?} is not a reverse-DNS name (dot-separated letters, digits, hyphens)"
                ),
            );
        }
    }
    let mut label = |field: &str, value: &Spanned<String>| -> Option<String> {
        let text = value.get_ref().trim();
        let length = text.chars().count();
        if length == 0 || length > MAX_LABEL || text.chars().any(char::is_control) {
            checker.report(
                Some(&value.span()),
                format!("profile.{field}"),
                format!("must be 1 to {MAX_LABEL} characters without control characters"),
            );
            None
        } else {
            Some(text.to_owned())
        }
    };
    if let Some(text) = file
        .organization
        .as_ref()
        .and_then(|v| label("organization", v))
    {
        settings.organization = text;
    }
    if let Some(text) = file
        .display_name
        .as_ref()
        .and_then(|v| label("display-name", v))
    {
        settings.display_name = text;
    }
    settings.description = file
        .description
        .as_ref()
        .and_then(|v| label("description", v));
    // Consent text is a paragraph the user must accept; newlines are fine there.
    if let Some(consent) = &file.consent_text {
        let text = consent.get_ref().trim();
        if text.is_empty() {
            checker.report(
                Some(&consent.span()),
                "profile.consent-text".into(),
                "must not be empty (leave the key out instead)".into(),
            );
        } else {
            settings.consent_text = Some(text.to_owned());
        }
    }
    if let Some(target) = &file.target_device_type {
        let value = *target.get_ref();
        match u8::try_from(value) {
            Ok(kind) if TARGET_DEVICE_TYPES.contains(&value) => {
                settings.target_device_type = Some(kind);
            }
            _ => checker.report(
                Some(&target.span()),
                "profile.target-device-type".into(),
                format!("{value} is not one of Apple's TargetDeviceType values 0-6"),
            ),
        }
    }
    settings
}

fn is_reverse_dns(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 200
        && text.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::{Config, ConfigError, ConfigSource};

    const BASE: &str = "[provider]\nid = \"mail.example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

    fn load(extra: &str) -> Result<Config, ConfigError> {
        Config::from_toml(
            &format!("{BASE}{extra}"),
            ConfigSource::File(PathBuf::from("mxconf.toml")),
        )
    }

    #[test]
    fn defaults_come_from_the_provider() {
        let config = load("").unwrap();
        assert_eq!(config.profile.identifier_prefix, "org.example.mail");
        assert_eq!(config.profile.organization, "Org Mail");
        assert_eq!(config.profile.display_name, "%EMAILADDRESS%");
        assert_eq!(config.profile.target_device_type, None);
        assert_eq!(config.profile.consent_text, None);
    }

    #[test]
    fn explicit_values_win() {
        let config = load(
            "[profile]\nidentifier-prefix = \"org.example.profiles\"\norganization = \"A & B <Ltd>\"\n\
             display-name = \"Mail for %EMAILADDRESS%\"\ndescription = \"Settings\"\n\
             consent-text = \"I agree.\"\ntarget-device-type = 1\n",
        )
        .unwrap();
        let profile = &config.profile;
        assert_eq!(profile.identifier_prefix, "org.example.profiles");
        assert_eq!(profile.organization, "A & B <Ltd>");
        assert_eq!(profile.display_name, "Mail for %EMAILADDRESS%");
        assert_eq!(profile.description.as_deref(), Some("Settings"));
        assert_eq!(profile.consent_text.as_deref(), Some("I agree."));
        assert_eq!(profile.target_device_type, Some(1));
    }

    #[test]
    fn bad_values_name_file_line_and_field() {
        let error = load(
            "[profile]\nidentifier-prefix = \"com..example\"\ntarget-device-type = 9\norganization = \"\"\n",
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("mxconf.toml:6: profile.identifier-prefix: \"com..example\""),
            "{text}"
        );
        assert!(
            text.contains("mxconf.toml:7: profile.target-device-type: 9 is not one of"),
            "{text}"
        );
        assert!(
            text.contains("mxconf.toml:8: profile.organization"),
            "{text}"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = load("[profile]\npassword = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(text.contains("unknown field `password`"), "{text}");
    }
}
