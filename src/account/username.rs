//! Placeholder expansion for username templates and URLs: `%EMAILADDRESS%`,
//! `%EMAILLOCALPART%`, `%EMAILDOMAIN%` (the Mozilla autoconfig vocabulary, also used by
//! automx's `%s %u %d`). Pure string work; knows nothing of protocols.

use super::EmailAddress;

/// The placeholders mxconf understands, in the form admins write them.
pub const PLACEHOLDERS: [&str; 3] = ["%EMAILADDRESS%", "%EMAILLOCALPART%", "%EMAILDOMAIN%"];

/// Replaces every known placeholder in `template` with the parts of `address`.
pub fn expand(template: &str, address: &EmailAddress) -> String {
    if !template.contains('%') {
        return template.to_owned();
    }
    template
        .replace("%EMAILADDRESS%", address.as_str())
        .replace("%EMAILLOCALPART%", address.local_part())
        .replace("%EMAILDOMAIN%", address.domain().as_str())
}

/// Replaces only `%EMAILDOMAIN%`: what can be known from a domain-level lookup.
pub fn expand_domain(template: &str, domain: &super::Domain) -> String {
    template.replace("%EMAILDOMAIN%", domain.as_str())
}

/// True when `text` still holds a placeholder that needs a full address.
pub fn has_placeholder(text: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| text.contains(p))
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
        assert!(has_placeholder("%EMAILLOCALPART%"));
        assert!(!has_placeholder("%EMAILADDRESS"));
    }
}
