//! automx's small text conventions: lists, booleans, `%s`/`%u`/`%d` macros and `${var}`
//! templates.

/// automx's macros → mxconf placeholders. `%%` is documented but automx never implemented it,
/// so it is left as it is.
pub(super) fn macros(text: &str) -> String {
    // One pass, so a placeholder's own `%` never pairs with the next character.
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let placeholder = match (c, chars.peek()) {
            ('%', Some('s')) => "%EMAILADDRESS%",
            ('%', Some('u')) => "%EMAILLOCALPART%",
            ('%', Some('d')) => "%EMAILDOMAIN%",
            _ => {
                out.push(c);
                continue;
            }
        };
        chars.next();
        out.push_str(placeholder);
    }
    out
}

/// Removes `${…}` variables and the separators they leave behind (`Foobar - ${cn}` → `Foobar`).
pub(super) fn strip_variables(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    out.push_str(rest);
    out.trim()
        .trim_end_matches(|c: char| c.is_whitespace() || "-:,|/".contains(c))
        .trim()
        .to_owned()
}

/// automx's list syntax: names separated by whitespace and/or commas, lower-cased.
pub(super) fn list(text: &str) -> Vec<String> {
    split_list(text)
        .iter()
        .map(|item| item.to_ascii_lowercase())
        .collect()
}

/// A list as written (case kept: URLs and attribute names).
pub(super) fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// automx's `is_true`: `1 y yes t true on`, case-insensitive.
pub(super) fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "y" | "yes" | "t" | "true" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_macros_and_variables() {
        assert_eq!(strip_variables("Foobar - ${cn}"), "Foobar");
        assert_eq!(strip_variables("${a}"), "");
        assert_eq!(
            list("a.com, b.com c.com,d.com"),
            ["a.com", "b.com", "c.com", "d.com"]
        );
        assert_eq!(macros("%sd"), "%EMAILADDRESS%d");
        assert_eq!(
            macros("%u@%d (%s) 100%"),
            "%EMAILLOCALPART%@%EMAILDOMAIN% (%EMAILADDRESS%) 100%"
        );
        assert!(is_true("Yes") && is_true("1") && !is_true("nein"));
    }
}
