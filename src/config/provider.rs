//! `[provider]`: who runs the service. The file form and its check into
//! [`crate::account::Provider`], the validated form every answer carries.

use serde::Deserialize;
use toml::Spanned;

use super::checker::{Checker, control_character};
use crate::account::{Domain, Provider};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProviderFile {
    pub id: Spanned<String>,
    pub display_name: Spanned<String>,
    pub short_name: Spanned<String>,
}

pub(super) fn check(checker: &mut Checker<'_>, provider: &ProviderFile) -> Provider {
    if Domain::parse(provider.id.get_ref()).is_err() {
        checker.report(
            Some(&provider.id.span()),
            "provider.id".into(),
            // Thunderbird and K-9 require emailProvider id to be a real host name.
            format!("{:?} is not a domain name", provider.id.get_ref()),
        );
    }
    for (field, value, limit) in [
        ("provider.display-name", &provider.display_name, 60),
        ("provider.short-name", &provider.short_name, 20),
    ] {
        let length = value.get_ref().chars().count();
        // The autoconfig draft caps displayName at 60 and displayShortName at 20 characters.
        if length == 0 || length > limit {
            checker.report(
                Some(&value.span()),
                field.into(),
                format!("must be 1 to {limit} characters, not {length}"),
            );
        }
        if let Some(problem) = control_character(value.get_ref()) {
            checker.report(Some(&value.span()), field.into(), problem);
        }
    }
    Provider {
        id: provider.id.get_ref().to_ascii_lowercase(),
        display_name: provider.display_name.get_ref().clone(),
        short_name: provider.short_name.get_ref().clone(),
    }
}
