//! The one XML writer every renderer uses: quick-xml underneath, so every text node and
//! attribute value is escaped on the way out. Renderers never format markup themselves
//! (Stalwart built its answer with `writeln!` and reflected the address unescaped).
//! Output: UTF-8, no BOM, `<?xml version="1.0" encoding="UTF-8"?>` first (NOTES.md).

use std::borrow::Cow;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Typical answers are 1–2 KiB; one allocation covers them.
const INITIAL_CAPACITY: usize = 2048;

/// Builds one XML document, indented by two spaces.
pub struct XmlWriter {
    inner: quick_xml::Writer<Vec<u8>>,
}

impl XmlWriter {
    /// Starts a document with the XML declaration (exchangelib refuses a body without one;
    /// Thunderbird wants exactly this line, no BOM).
    pub fn new() -> Self {
        let mut writer = XmlWriter {
            inner: quick_xml::Writer::new_with_indent(
                Vec::with_capacity(INITIAL_CAPACITY),
                b' ',
                2,
            ),
        };
        writer.write(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        writer
    }

    /// `<name a="v" …>`; attribute values are escaped.
    pub fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        let start = start_tag(name, attributes);
        self.write(Event::Start(start));
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) {
        self.write(Event::End(BytesEnd::new(name)));
    }

    /// `<name>text</name>` with `text` escaped.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_with(name, &[], text);
    }

    /// `<name a="v" …>text</name>`.
    pub fn leaf_with(&mut self, name: &str, attributes: &[(&str, &str)], text: &str) {
        self.write(Event::Start(start_tag(name, attributes)));
        self.write(Event::Text(BytesText::new(&xml_chars(text))));
        self.write(Event::End(BytesEnd::new(name)));
    }

    /// `<name>number</name>` without a heap allocation for the digits.
    pub fn leaf_number(&mut self, name: &str, number: u16) {
        let mut digits = [0u8; 5];
        let mut at = digits.len();
        let mut rest = number;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        // Only ASCII digits were written, so this never falls back.
        let text = std::str::from_utf8(&digits[at..]).unwrap_or("0");
        self.leaf(name, text);
    }

    /// `<name a="v" …/>`.
    pub fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.write(Event::Empty(start_tag(name, attributes)));
    }

    /// The finished document, ending with a newline.
    pub fn finish(mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(self.inner.get_mut());
        bytes.push(b'\n');
        bytes
    }

    fn write(&mut self, event: Event<'_>) {
        // `io::Write for Vec<u8>` never returns an error (it only grows the vector), so there
        // is no failure to report here.
        let _ = self.inner.write_event(event);
    }
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn start_tag<'a>(name: &'a str, attributes: &[(&str, &str)]) -> BytesStart<'a> {
    let mut start = BytesStart::new(name);
    for (key, value) in attributes {
        start.push_attribute((*key, xml_chars(value).as_ref()));
    }
    start
}

/// Replaces characters XML 1.0 forbids even when escaped (C0 controls other than tab, LF,
/// CR; U+FFFE, U+FFFF) with U+FFFD, so text from a backend can never make the document
/// ill-formed. Borrowed (no copy) in the normal case.
fn xml_chars(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        (c >= '\u{20}' || matches!(c, '\t' | '\n' | '\r')) && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(build: impl FnOnce(&mut XmlWriter)) -> String {
        let mut writer = XmlWriter::new();
        build(&mut writer);
        String::from_utf8(writer.finish()).unwrap()
    }

    #[test]
    fn starts_with_the_declaration_and_no_bom() {
        let xml = document(|w| w.empty("root", &[]));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<root/>"));
    }

    #[test]
    fn escapes_text_and_attributes() {
        let xml = document(|w| {
            w.open("root", &[("id", "a\"<b>&'")]);
            w.leaf("name", "<script>alert('x')</script> & \"q\"");
            w.close("root");
        });
        assert!(!xml.contains("<script>"), "{xml}");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("id"), Some("a\"<b>&'"));
        assert_eq!(
            root.first_element_child().unwrap().text(),
            Some("<script>alert('x')</script> & \"q\"")
        );
    }

    #[test]
    fn control_characters_cannot_break_the_document() {
        let xml = document(|w| w.leaf("name", "a\u{0}b\u{1b}c\td"));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().text(), Some("a\u{FFFD}b\u{FFFD}c\td"));
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for (number, text) in [(0u16, "0"), (7, "7"), (993, "993"), (65535, "65535")] {
            let xml = document(|w| w.leaf_number("port", number));
            assert!(xml.contains(&format!("<port>{text}</port>")), "{xml}");
        }
    }
}
