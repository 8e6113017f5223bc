//! One unsigned profile for a whole domain, for an MDM to deploy: the profile of a stand-in
//! user, with the stand-in's address, local part and name replaced by the MDM's own per-user
//! variables, which the MDM fills in for each device's user before it signs and sends the
//! profile. Each product's variable syntax is documented in docs/profiles.md with its source.

use crate::account::{Domain, EmailAddress};

/// The MDM products whose variables mxconf knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mdm {
    Jamf,
    Intune,
    WorkspaceOne,
    Kandji,
}

/// What one MDM writes for the address, the local part and the name of the device's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variables {
    pub address: &'static str,
    pub local_part: &'static str,
    pub name: &'static str,
}

impl Variables {
    const fn new(address: &'static str, local_part: &'static str, name: &'static str) -> Self {
        Variables {
            address,
            local_part,
            name,
        }
    }
}

impl Mdm {
    pub const ALL: [Mdm; 4] = [Mdm::Jamf, Mdm::Intune, Mdm::WorkspaceOne, Mdm::Kandji];

    /// The name `--mdm` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mdm::Jamf => "jamf",
            Mdm::Intune => "intune",
            Mdm::WorkspaceOne => "workspace-one",
            Mdm::Kandji => "kandji",
        }
    }

    /// The product's name, for messages.
    pub fn product(self) -> &'static str {
        match self {
            Mdm::Jamf => "Jamf Pro",
            Mdm::Intune => "Microsoft Intune",
            Mdm::WorkspaceOne => "Workspace ONE UEM",
            Mdm::Kandji => "Kandji",
        }
    }

    /// Jamf has no local-part variable: its user name is the nearest (the directory's short
    /// name, which matches the mailbox's local part where accounts are named alike).
    pub fn variables(self) -> Variables {
        match self {
            Mdm::Jamf => Variables::new("$EMAIL", "$USERNAME", "$FULLNAME"),
            Mdm::Intune => Variables::new("{{mail}}", "{{partialupn}}", "{{username}}"),
            Mdm::WorkspaceOne => Variables::new(
                "{EmailAddress}",
                "{EmailUserName}",
                "{FirstName} {LastName}",
            ),
            Mdm::Kandji => Variables::new("$EMAIL", "$EMAIL_PREFIX", "$FULL_NAME"),
        }
    }
}

/// The stand-in user's local part and name: text no configuration and no variable contains,
/// so every occurrence in the built profile is one the user's data put there.
const STAND_IN_LOCAL_PART: &str = "mxconf-mdm-stand-in-user";
const STAND_IN_NAME: &str = "mxconf MDM stand-in name";

/// The stand-in user of `domain` whose profile becomes the template.
pub fn stand_in(domain: &Domain) -> Option<EmailAddress> {
    EmailAddress::parse(&format!("{STAND_IN_LOCAL_PART}@{domain}")).ok()
}

pub fn stand_in_name() -> &'static str {
    STAND_IN_NAME
}

/// The stand-in's profile (XML) with its address, then its remaining local parts (in URLs
/// and login names the config builds from `%EMAILLOCALPART%`), then its name replaced by
/// `mdm`'s variables. None of the variables needs XML escaping.
pub fn substitute(xml: &str, stand_in: &EmailAddress, mdm: Mdm) -> String {
    let variables = mdm.variables();
    xml.replace(stand_in.as_str(), variables.address)
        .replace(STAND_IN_LOCAL_PART, variables.local_part)
        .replace(STAND_IN_NAME, variables.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_variable_needs_escaping_or_contains_another() {
        for mdm in Mdm::ALL {
            let v = mdm.variables();
            for text in [v.address, v.local_part, v.name] {
                assert!(!text.contains(['&', '<', '>']), "{mdm:?} {text}");
                assert!(!text.contains(STAND_IN_LOCAL_PART) && !text.contains(STAND_IN_NAME));
            }
        }
    }
}
