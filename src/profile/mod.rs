//! Apple configuration profiles (`.mobileconfig`): a pure function from a resolved
//! [`Account`] and the `[profile]` settings to the XML property list bytes, written by the
//! `plist` crate (never a template, which an `&` in a name would corrupt). Sits after `resolve`
//! and before `signing`; `schema` checks the result against Apple's published YAML.

mod identity;
pub mod mdm;
mod payloads;
mod read;
pub mod schema;

use payloads::{ConsentText, Payload, Profile};

pub use identity::{PayloadKind, ProfileIdentity};
pub use read::{MAX_DEPTH, PlistError, parse_plist};
pub use schema::{Schema, SchemaError, validate_profile};

use crate::account::{Account, Template, UrlService};
use crate::config::ProfileSettings;

/// Why no profile could be built for an account.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A profile is per address; a domain-level account has templates instead of a login.
    #[error("a profile needs an email address")]
    NoAddress,
    /// The domain configures nothing a profile can express (e.g. only OAuth2 servers).
    #[error(
        "the domain configures no mail, Exchange, CalDAV or CardDAV service a profile can express"
    )]
    NothingToConfigure,
    #[error("cannot write the property list: {0}")]
    Serialize(#[from] plist::Error),
}

/// Longest user-supplied display name kept; the rest is cut (it is only a label).
pub const MAX_NAME: usize = 100;

/// Apple's `TargetDeviceType` for iPhone/iPad, and the values on which the iOS-only
/// Exchange payload cannot install (Watch, HomePod, Apple TV, Mac: eas.account.yaml).
const TARGET_IOS: u8 = 1;
const TARGET_MAC: u8 = 5;
const TARGETS_WITHOUT_EAS: [u8; 4] = [2, 3, 4, 5];

/// The profile for `account` as UTF-8 XML plist bytes, ready to sign.
pub fn build(account: &Account, settings: &ProfileSettings) -> Result<Vec<u8>, ProfileError> {
    let email = account.email.as_ref().ok_or(ProfileError::NoAddress)?;
    build_as(
        account,
        settings,
        &ProfileIdentity::new(&settings.identifier_prefix, email),
    )
}

/// [`build`] under a given identity (the MDM template's is its domain's, not its address's).
pub fn build_as(
    account: &Account,
    settings: &ProfileSettings,
    identity: &ProfileIdentity,
) -> Result<Vec<u8>, ProfileError> {
    let profile = build_profile(account, settings, identity)?;
    let mut bytes = Vec::with_capacity(4096);
    plist::to_writer_xml(&mut bytes, &profile)?;
    Ok(bytes)
}

/// The profile as typed payloads (what [`build`] serializes).
fn build_profile(
    account: &Account,
    settings: &ProfileSettings,
    identity: &ProfileIdentity,
) -> Result<Profile, ProfileError> {
    let email = account.email.as_ref().ok_or(ProfileError::NoAddress)?;
    let address = email.as_str();
    let account = Account {
        display_name: account.display_name.as_deref().and_then(clean_name),
        ..account.clone()
    };
    let organization = settings.organization.as_str();

    let eas = settings
        .target_device_type
        .is_none_or(|target| !TARGETS_WITHOUT_EAS.contains(&target))
        .then(|| payloads::eas(&account, identity, organization, address))
        .flatten();
    // The phone flow: a profile with an Exchange payload can only install on iOS, so say so
    // and spare the user the "install on which device?" prompt
    // (docs/profiles.md, "What goes into a profile").
    let target = settings
        .target_device_type
        .or(eas.is_some().then_some(TARGET_IOS));
    let with_principal = target != Some(TARGET_MAC);
    let dav = |kind, service| {
        payloads::dav(
            kind,
            account.url(service),
            &account,
            identity,
            organization,
            address,
            with_principal,
        )
    };
    let content: Vec<Payload> = [
        payloads::mail(&account, identity, organization, address).map(Payload::Mail),
        eas.map(Payload::Eas),
        dav(PayloadKind::CalDav, UrlService::CalDav).map(|dav| Payload::CalDav(dav.into())),
        dav(PayloadKind::CardDav, UrlService::CardDav).map(|dav| Payload::CardDav(dav.into())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if content.is_empty() {
        return Err(ProfileError::NothingToConfigure);
    }

    Ok(Profile {
        payload_type: "Configuration",
        payload_version: 1,
        payload_identifier: identity.identifier().to_owned(),
        payload_uuid: identity.uuid(),
        payload_display_name: Template::new(&settings.display_name).expand(email),
        payload_organization: organization.to_owned(),
        payload_description: settings
            .description
            .as_ref()
            .map(|description| Template::new(description).expand(email)),
        consent_text: settings.consent_text.as_ref().map(|text| ConsentText {
            default: text.clone(),
        }),
        target_device_type: target,
        payload_content: content,
    })
}

/// A file name for `address`'s profile: the address plus `.mobileconfig`, with path separators,
/// control characters and a leading dot replaced so it stays one plain file in one directory.
pub fn file_name(address: &crate::account::EmailAddress) -> String {
    let name: String = address
        .as_str()
        .chars()
        .enumerate()
        .map(|(index, c)| {
            if c == '/' || c == '\\' || c.is_control() || (index == 0 && c == '.') {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{name}.mobileconfig")
}

/// A display name as it may appear in a profile: trimmed, control characters dropped (XML 1.0
/// cannot carry most of them), and so are non-characters and invisible or bidi formatting
/// characters (a name must read as what it is); capped; `None` when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .filter(|&c| !c.is_control() && !crate::account::is_hidden(c))
        .take(MAX_NAME)
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

#[cfg(test)]
mod tests;
