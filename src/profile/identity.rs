//! Profile identity: the `PayloadIdentifier`s and `PayloadUUID`s of one account's profile.
//! Deterministic (UUID v5 of the identifier) so a re-download replaces the installed profile
//! in place instead of adding a second one (docs/profiles.md, "What goes into a profile").

use uuid::Uuid;

use crate::account::EmailAddress;

/// The v5 namespace of every mxconf payload UUID: `uuid5(DNS, "mxconf.profile")`, fixed forever
/// because changing it would make every device see new profiles instead of replacements.
const NAMESPACE: Uuid = Uuid::from_u128(0x9e10_cb4d_c44e_56b1_8485_ca9d_02ae_c5ae);

/// Which payload of a profile an inner identifier names; the suffix keeps each unique
/// (CommonPayloadKeys.yaml: "This string must be unique within the profile").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    Mail,
    Eas,
    CalDav,
    CardDav,
}

impl PayloadKind {
    pub fn suffix(self) -> &'static str {
        match self {
            PayloadKind::Mail => "mail",
            PayloadKind::Eas => "eas",
            PayloadKind::CalDav => "caldav",
            PayloadKind::CardDav => "carddav",
        }
    }
}

/// The top-level identifier of one account's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileIdentity {
    identifier: String,
}

impl ProfileIdentity {
    /// `prefix.address`, one per account so two accounts never replace each other
    /// (docs/protocols.md, "One identifier per account"). The local part is lower-cased: `Jane@`
    /// and `jane@` reach the same mailbox on every server we know, and must replace, not
    /// duplicate, each other.
    pub fn new(prefix: &str, address: &EmailAddress) -> Self {
        let identifier = format!(
            "{prefix}.{}@{}",
            address.local_part().to_lowercase(),
            address.domain()
        );
        ProfileIdentity { identifier }
    }

    /// `prefix.mdm.domain`: the one profile an MDM deploys to every user of `domain`. Its own
    /// name, so it never replaces (or is replaced by) a user's own download.
    pub fn for_domain(prefix: &str, domain: &crate::account::Domain) -> Self {
        ProfileIdentity {
            identifier: format!("{prefix}.mdm.{domain}"),
        }
    }

    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    pub fn uuid(&self) -> String {
        uuid_for(&self.identifier)
    }

    /// The identifier of an inner payload: the top-level one plus a suffix.
    pub fn payload_identifier(&self, kind: PayloadKind) -> String {
        format!("{}.{}", self.identifier, kind.suffix())
    }

    pub fn payload_uuid(&self, kind: PayloadKind) -> String {
        uuid_for(&self.payload_identifier(kind))
    }
}

/// Canonical upper-case hyphenated form, as Apple's tools (`uuidgen`) write it.
fn uuid_for(identifier: &str) -> String {
    Uuid::new_v5(&NAMESPACE, identifier.as_bytes())
        .hyphenated()
        .encode_upper(&mut Uuid::encode_buffer())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(address: &str) -> ProfileIdentity {
        ProfileIdentity::new("com.example", &EmailAddress::parse(address).unwrap())
    }

    #[test]
    fn namespace_is_uuid5_of_its_name() {
        assert_eq!(
            NAMESPACE,
            Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"mxconf.profile")
        );
    }

    #[test]
    fn identifiers_are_per_account_and_stable() {
        let jane = identity("Jane@Example.com");
        assert_eq!(jane.identifier(), "com.example.jane@example.com");
        assert_eq!(jane, identity("jane@example.com"));
        assert_eq!(jane.uuid(), identity("jane@example.com").uuid());
        assert_ne!(jane.uuid(), identity("john@example.com").uuid());
        assert_eq!(
            jane.payload_identifier(PayloadKind::CalDav),
            "com.example.jane@example.com.caldav"
        );
    }

    #[test]
    fn uuids_are_distinct_canonical_and_version_5() {
        let jane = identity("jane@example.com");
        let mut all = vec![jane.uuid()];
        for kind in [
            PayloadKind::Mail,
            PayloadKind::Eas,
            PayloadKind::CalDav,
            PayloadKind::CardDav,
        ] {
            all.push(jane.payload_uuid(kind));
        }
        for text in &all {
            let parsed = Uuid::parse_str(text).unwrap();
            assert_eq!(parsed.get_version_num(), 5);
            assert_eq!(text, &text.to_uppercase());
            assert_eq!(text.len(), 36);
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5);
    }
}
