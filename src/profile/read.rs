//! Reading a property list someone else wrote (`mxconf sign` input, the content of a signed
//! profile `mxconf verify` checks): bounded before the `plist` crate builds a value, and as
//! strict as the XML parsers devices use. The crate builds (and drops) values recursively, so
//! 20,000 nested arrays overflowed the stack (exit 134); its XML reader accepts characters XML
//! forbids (U+FFFE, U+FFFF, C0 controls) that libxml2 and Python's plistlib refuse.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::protocol::untrusted_xml::{self, AttributeLimits};

/// Far deeper than any profile (Apple's nest six levels), far shallower than the stack.
pub const MAX_DEPTH: usize = 128;
/// Values in all (keys included), as the reader yields them: a binary plist can reference one
/// object from many places, so this bounds the expanded tree, not the file.
const MAX_VALUES: usize = 1_000_000;
/// `<plist version="1.0">` is the only attribute a property list has.
const ATTRIBUTE_LIMITS: AttributeLimits = AttributeLimits {
    per_element: 4,
    total: 16,
};
const BINARY_MAGIC: &[u8] = b"bplist00";

/// Why bytes are not a property list we read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlistError {
    #[error("not well-formed XML: {0}")]
    NotXml(String),
    #[error("nested more than {MAX_DEPTH} arrays or dictionaries deep")]
    TooDeep,
    #[error("more than {MAX_VALUES} values")]
    TooLarge,
    #[error("{0}")]
    Plist(String),
}

/// Parses `bytes` (XML or binary) into a value: XML must be well-formed XML 1.0 first
/// (roxmltree: only XML characters, no external entities fetched), then a first pass that
/// stops at [`MAX_DEPTH`] (so its own recursion stays shallow) and counts values, and only
/// then the value is built.
pub fn parse_plist(bytes: &[u8]) -> Result<plist::Value, PlistError> {
    if !bytes.starts_with(BINARY_MAGIC) {
        check_xml(bytes)?;
    }
    plist::from_bytes::<Bounded>(bytes).map_err(|error| {
        let text = error.to_string();
        if text.contains(TOO_DEEP) {
            PlistError::TooDeep
        } else if text.contains(TOO_LARGE) {
            PlistError::TooLarge
        } else {
            PlistError::Plist(text)
        }
    })?;
    plist::from_bytes(bytes).map_err(|error| PlistError::Plist(error.to_string()))
}

const TOO_DEEP: &str = "mxconf: nested too deep";
const TOO_LARGE: &str = "mxconf: too many values";

/// The first pass: accepts any property list within the bounds and keeps nothing. The
/// `plist` crate's serde reader is driven by its (non-recursive) event readers, so descending
/// is this visitor's recursion alone, cut off at [`MAX_DEPTH`].
struct Bounded;

impl<'de> de::Deserialize<'de> for Bounded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Cell::new(0);
        Level {
            depth: 0,
            values: &values,
        }
        .deserialize(deserializer)?;
        Ok(Bounded)
    }
}

#[derive(Clone, Copy)]
struct Level<'a> {
    depth: usize,
    values: &'a Cell<usize>,
}

impl Level<'_> {
    fn value<E: de::Error>(self) -> Result<(), E> {
        self.values.set(self.values.get() + 1);
        if self.values.get() > MAX_VALUES {
            return Err(E::custom(TOO_LARGE));
        }
        Ok(())
    }

    fn nested<E: de::Error>(self) -> Result<Self, E> {
        self.value()?;
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(Level {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a property list value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.value()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.value()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.value()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.value()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.value()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.value()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

fn check_xml(bytes: &[u8]) -> Result<(), PlistError> {
    let not_xml = |message: String| PlistError::NotXml(message);
    let text = std::str::from_utf8(bytes).map_err(|error| not_xml(error.to_string()))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    untrusted_xml::check_attributes(text, ATTRIBUTE_LIMITS)
        .map_err(|error| not_xml(format!("line {}: {error}", error.line(text))))?;
    // Apple's plists carry a DOCTYPE naming the public plist DTD; it is read, never fetched.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        nodes_limit: u32::try_from(MAX_VALUES * 2).unwrap_or(u32::MAX),
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, options)
        .map(drop)
        .map_err(|error| not_xml(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \
        \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
        <plist version=\"1.0\">";

    fn xml(body: &str) -> Vec<u8> {
        format!("{HEAD}{body}</plist>\n").into_bytes()
    }

    #[test]
    fn reads_xml_and_binary_plists() {
        let value = parse_plist(&xml(
            "<dict><key>a</key><array><string>x</string></array></dict>",
        ))
        .unwrap();
        let mut binary = Vec::new();
        value.to_writer_binary(&mut binary).unwrap();
        assert_eq!(parse_plist(&binary).unwrap(), value);
    }

    #[test]
    fn deep_nesting_is_refused_before_building() {
        for (open, close) in [("<array>", "</array>"), ("<dict><key>k</key>", "</dict>")] {
            let deep = xml(&format!("{}{}", open.repeat(20_000), close.repeat(20_000)));
            assert_eq!(parse_plist(&deep), Err(PlistError::TooDeep), "{open}");
        }
        let fits = xml(&format!(
            "{}{}",
            "<array>".repeat(MAX_DEPTH),
            "</array>".repeat(MAX_DEPTH)
        ));
        assert!(parse_plist(&fits).is_ok());
    }

    #[test]
    fn characters_xml_forbids_are_refused() {
        for bad in ["\u{FFFE}", "\u{FFFF}", "\u{1}", "\u{1B}"] {
            let text = xml(&format!("<string>a{bad}b</string>"));
            assert!(
                matches!(parse_plist(&text), Err(PlistError::NotXml(_))),
                "{bad:?}"
            );
        }
        assert!(parse_plist(&xml("<string>tab\tand\u{FEFF} are fine</string>")).is_ok());
    }
}
