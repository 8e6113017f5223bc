//! `EmailAddress` and `Domain`: parsed once at the edge (trimmed, IDN domains to ASCII,
//! lower-cased, length-capped, restricted character set) and then carried as proof that the
//! value is well-formed. Nothing here knows about HTTP or protocols.

use std::borrow::Cow;
use std::fmt;

/// RFC 5321 §4.5.3.1: 64 octets for a local part, 254 for a path (minus the angle brackets).
const MAX_LOCAL_PART: usize = 64;
const MAX_ADDRESS: usize = 254;
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// Why a text is not an acceptable address or domain. The messages are short and never echo
/// the input, so they are safe to send back to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,
    #[error("the address is longer than 254 octets")]
    TooLong,
    #[error("the address has no @ sign")]
    MissingAt,
    #[error("the local part (before @) is empty or longer than 64 characters")]
    LocalPartLength,
    #[error("the local part (before @) contains a character that is not allowed")]
    LocalPartCharacter,
    #[error("the local part (before @) has a misplaced dot")]
    LocalPartDot,
    #[error("the domain is not a valid host name")]
    InvalidDomain,
}

/// A lower-cased, ASCII (punycode for IDN) DNS domain name with at least two labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Parses a domain: trims, drops one trailing dot, converts IDN to ASCII, lower-cases and
    /// checks label syntax (letters, digits, hyphens; no leading/trailing hyphen).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let text = text.trim();
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() || text.len() > MAX_DOMAIN * 4 {
            return Err(AddressError::InvalidDomain);
        }
        let ascii = if text.is_ascii() {
            text.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(text).map_err(|_| AddressError::InvalidDomain)?
        };
        // Byte scans: this runs on every request, and str's char searchers cost several times
        // as much (callgrind); the name is ASCII here.
        let bytes = ascii.as_bytes();
        if bytes.len() > MAX_DOMAIN || !bytes.contains(&b'.') {
            return Err(AddressError::InvalidDomain);
        }
        let labels_ok = bytes.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL
                && label.first() != Some(&b'-')
                && label.last() != Some(&b'-')
                && label
                    .iter()
                    .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        // The top-level label is never all digits: rejects IP literals like 127.0.0.1.
        let tld_ok = bytes
            .rsplit(|&b| b == b'.')
            .next()
            .is_some_and(|tld| !tld.iter().all(u8::is_ascii_digit));
        if labels_ok && tld_ok {
            Ok(Domain(ascii))
        } else {
            Err(AddressError::InvalidDomain)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain in Unicode form for display (`xn--bcher-kva.example` → `bücher.example`).
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.0).0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid mailbox address `local@domain`. The local part keeps its case
/// (servers may treat it case-sensitively); the domain is a [`Domain`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    full: String,
    at: usize,
    domain: Domain,
}

impl EmailAddress {
    /// Parses an already percent-decoded address. Quoted local parts and address literals
    /// are refused: no mail client asks for them and they only widen the attack surface.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        // A cheap bound before any work; the real limit is checked on the converted address
        // below, because IDN conversion can lengthen the domain far beyond its Unicode form.
        if text.len() > MAX_ADDRESS * 4 {
            return Err(AddressError::TooLong);
        }
        // The last `@` (ASCII, so both cuts are character boundaries), found by a byte scan.
        let (local, domain) = text
            .bytes()
            .rposition(|b| b == b'@')
            .and_then(|at| Some((text.get(..at)?, text.get(at + 1..)?)))
            .ok_or(AddressError::MissingAt)?;
        if local.is_empty() || local.len() > MAX_LOCAL_PART {
            return Err(AddressError::LocalPartLength);
        }
        if !local.chars().all(is_local_part_char) {
            return Err(AddressError::LocalPartCharacter);
        }
        if local.starts_with('.')
            || local.ends_with('.')
            || local.as_bytes().windows(2).any(|pair| pair == b"..")
        {
            return Err(AddressError::LocalPartDot);
        }
        let domain = Domain::parse(domain)?;
        // Pushed rather than `format!`ed: this runs on every request.
        let mut full = String::with_capacity(local.len() + 1 + domain.as_str().len());
        full.push_str(local);
        full.push('@');
        full.push_str(domain.as_str());
        if full.len() > MAX_ADDRESS {
            return Err(AddressError::TooLong);
        }
        Ok(EmailAddress {
            at: local.len(),
            full,
            domain,
        })
    }

    /// The whole address with the normalised domain.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub fn local_part(&self) -> &str {
        &self.full[..self.at]
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The same address with its local part lower-cased (Unicode rules, like the domain): the
    /// form per-user sources are asked with unless told to keep it exact (docs/backends.md).
    /// Borrowed when it is lower-case already, as nearly every address is.
    pub fn with_lowercase_local_part(&self) -> Cow<'_, EmailAddress> {
        let local = self.local_part();
        if !local.chars().any(char::is_uppercase) {
            return Cow::Borrowed(self);
        }
        let local = local.to_lowercase();
        // Lower-casing keeps every character allowed (letters stay letters), so the parts
        // need no new check; only the lengths may change.
        Cow::Owned(EmailAddress {
            at: local.len(),
            full: format!("{local}@{}", self.domain),
            domain: self.domain.clone(),
        })
    }

    /// The same local part at `domain` (a domain alias's target). Goes through [`Self::parse`]
    /// again because a longer domain can push the address past the length cap.
    pub fn with_domain(&self, domain: &Domain) -> Result<Self, AddressError> {
        Self::parse(&format!("{}@{domain}", self.local_part()))
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// RFC 5322 `atext` plus `.`, and non-ASCII characters (RFC 6531), minus controls, spaces and
/// [hidden](is_hidden) characters.
fn is_local_part_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
    } else {
        !c.is_control() && !c.is_whitespace() && !is_hidden(c)
    }
}

/// Characters that must not reach a profile or a user's screen from client input: Unicode
/// non-characters (U+FDD0–U+FDEF and the last two of every plane, which XML 1.0 forbids), and
/// invisible or bidirectional formatting characters (zero-width spaces and joiners, bidi
/// embeddings, overrides and isolates, the byte-order mark, soft hyphen, tags), with which an
/// address or name can look like another. Addresses containing them are refused; names are
/// stripped of them.
pub fn is_hidden(c: char) -> bool {
    let code = u32::from(c);
    matches!(code, 0xFDD0..=0xFDEF)
        || code & 0xFFFE == 0xFFFE
        || matches!(
            code,
            0x00AD
                | 0x034F
                | 0x061C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF0..=0xFFFB
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_domain_and_trims() {
        let a = EmailAddress::parse("  John.Doe@Example.ORG. ").unwrap();
        assert_eq!(a.as_str(), "John.Doe@example.org");
        assert_eq!(a.local_part(), "John.Doe");
        assert_eq!(a.domain().as_str(), "example.org");
    }

    #[test]
    fn accepts_idn_domains() {
        let a = EmailAddress::parse("jörg@bücher.example").unwrap();
        assert_eq!(a.domain().as_str(), "xn--bcher-kva.example");
        assert_eq!(a.domain().to_unicode(), "bücher.example");
    }

    #[test]
    fn rejects_hostile_and_malformed_input() {
        for bad in [
            "",
            "not-an-address",
            "<script>alert(1)</script>@example.com",
            "a\"b@example.com",
            "a b@example.com",
            "user@localhost",
            "user@127.0.0.1",
            "user@exa_mple.com",
            ".user@example.com",
            "us..er@example.com",
            "user@-example.com",
            "user@example.com<x>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(1024));
        assert_eq!(EmailAddress::parse(&long), Err(AddressError::TooLong));
    }

    #[test]
    fn refuses_non_characters_and_invisible_or_bidi_characters_in_the_local_part() {
        for hidden in [
            '\u{202E}',
            '\u{200B}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{2066}',
            '\u{00AD}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{FDD0}',
            '\u{1FFFF}',
            '\u{E0041}',
            '\u{85}',
        ] {
            let text = format!("ja{hidden}ne@example.org");
            assert_eq!(
                EmailAddress::parse(&text),
                Err(AddressError::LocalPartCharacter),
                "{hidden:?} was accepted"
            );
        }
        // Ordinary non-ASCII letters stay allowed (RFC 6531).
        assert!(EmailAddress::parse("jörg.ñandú@example.org").is_ok());
        assert!(EmailAddress::parse("用户@example.org").is_ok());
    }

    #[test]
    fn the_length_limit_applies_to_the_converted_address() {
        // 247 characters, but the IDN domain becomes far longer in punycode: 254 octets is
        // the limit of what is sent on the wire, so the converted form is what counts.
        let label = "ü".repeat(40);
        let domain = format!("{label}.{label}.{label}.{label}.xxxxxxxxxx.example");
        let local = "a".repeat(64);
        let text = format!("{local}@{domain}");
        assert_eq!(text.chars().count(), 247);
        assert!(Domain::parse(&domain).unwrap().as_str().len() > 200);
        assert_eq!(EmailAddress::parse(&text), Err(AddressError::TooLong));
        // Exactly 254 octets is fine; one more is not.
        let domain_of = |length: usize| {
            let labels = ["d".repeat(63), "e".repeat(63), "f".repeat(length - 136)];
            format!("{}.example", labels.join("."))
        };
        let fits = format!("{}@{}", "b".repeat(64), domain_of(189));
        assert_eq!(fits.len(), 254);
        assert!(EmailAddress::parse(&fits).is_ok());
        let over = format!("{}@{}", "b".repeat(64), domain_of(190));
        assert_eq!(EmailAddress::parse(&over), Err(AddressError::TooLong));
    }

    #[test]
    fn lowercase_local_part_is_the_lookup_normal_form() {
        let a = EmailAddress::parse("Jane.DOE@Example.org").unwrap();
        let lower = a.with_lowercase_local_part();
        assert_eq!(lower.as_str(), "jane.doe@example.org");
        assert_eq!(lower.local_part(), "jane.doe");
        assert_eq!(lower.domain().as_str(), "example.org");
        let umlaut = EmailAddress::parse("JÖRG@example.org").unwrap();
        assert_eq!(umlaut.with_lowercase_local_part().local_part(), "jörg");
        let already = EmailAddress::parse("jane@example.org").unwrap();
        assert!(matches!(
            already.with_lowercase_local_part(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn with_domain_keeps_the_local_part_and_rechecks_the_length() {
        let a = EmailAddress::parse("John.Doe@old.example").unwrap();
        let moved = a
            .with_domain(&Domain::parse("New.Example").unwrap())
            .unwrap();
        assert_eq!(moved.as_str(), "John.Doe@new.example");
        assert_eq!(moved.domain().as_str(), "new.example");
        let long_local = EmailAddress::parse(&format!("{}@a.example", "x".repeat(64))).unwrap();
        let long_domain = Domain::parse(&format!(
            "{}.example",
            "d".repeat(63) + "." + &"e".repeat(63) + "." + &"f".repeat(63)
        ))
        .unwrap();
        assert_eq!(
            long_local.with_domain(&long_domain),
            Err(AddressError::TooLong)
        );
    }
}
