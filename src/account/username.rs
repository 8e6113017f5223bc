//! Placeholder expansion for username templates and URLs: `%EMAILADDRESS%`,
//! `%EMAILLOCALPART%`, `%EMAILDOMAIN%` (the Mozilla autoconfig vocabulary, also used by
//! automx's `%s %u %d`). Pure string work; knows nothing of protocols.

use super::EmailAddress;

/// The placeholders mxconf understands, in the form admins write them.
pub const PLACEHOLDERS: [&str; 3] = ["%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%"];

/// Replaces every known placeholder in `template` with the parts of `address`.
pub fn expand(template: &str, address: &EmailAddress) -> String {
    // One pass and one allocation: this runs for every server and URL of every answer.
    let mut out = String::with_capacity(template.len() + address.as_str().len());
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, skip) = if tail.starts_with("%EMAILADDRESS%") {
            (address.as_str(), "%EMAILADDRESS%".len())
        } else if tail.starts_with("%EMAILLOCALPART%") {
            (address.local_part(), "%EMAILLOCALPART%".len())
        } else if tail.starts_with("%EMAILDOMAIN%") {
            (address.domain().as_str(), "%EMAILDOMAIN%".len())
        } else {
            ("%", 1)
        };
        out.push_str(value);
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}

/// Replaces only `%EMAILDOMAIN%`: what can be known from a domain-level lookup.
pub fn expand_domain(template: &str, domain: &super::Domain) -> String {
    template.replace("%EMAILDOMAIN%", domain.as_str())
}

/// True when `text` still holds a placeholder that needs a full address.
pub fn has_placeholder(text: &str) -> bool {
    // Every placeholder starts with '%'; one byte scan settles nearly every call.
    text.contains('%') && PLACEHOLDERS.iter().any(|p| text.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_all_placeholders() {
        let a = EmailAddress::parse("Jane.Doe@Example.COM").unwrap();
        assert_eq!(
            expand("%EMAILLOCALPART%+%EMAILDOMAIN%/%EMAILADDRESS%", &a),
            "Jane.Doe+example.com/Jane.Doe@example.com"
        );
        assert_eq!(expand("fixed", &a), "fixed");
        // An address is inserted literally, never expanded again.
        let tricky = EmailAddress::parse("%EMAILDOMAIN%@example.com").unwrap();
        assert_eq!(
            expand("%EMAILADDRESS%", &tricky),
            "%EMAILDOMAIN%@example.com"
        );
        assert_eq!(expand("50%% %EMAILDOMAIN", &a), "50%% %EMAILDOMAIN");
        assert!(has_placeholder("%EMAILLOCALPART%"));
        assert!(!has_placeholder("%EMAILADDRESS"));
    }
}
