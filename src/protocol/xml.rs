//! The one XML writer every renderer uses, so every text node and attribute value is escaped
//! on the way out (by quick-xml's escaper). Renderers never format markup themselves
//! (a peer built its answer with `writeln!` and reflected the address unescaped).
//! Output: UTF-8, no BOM, `<?xml version="1.0" encoding="UTF-8"?>` first
//! (docs/protocols.md, "XML declaration first, no BOM").
//! Markup is appended straight into one buffer: this runs on every request, and quick-xml's
//! event writer allocated per tag and per document (profiled under `wrk`).

use std::borrow::Cow;

use quick_xml::escape::escape;

/// Typical answers are 1–3 KiB; one allocation covers them.
const INITIAL_CAPACITY: usize = 3072;
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
/// Two spaces per level; documents here nest at most six deep.
const INDENT: &str = "                                ";

/// Builds one XML document, indented by two spaces. Element names are the renderers' own
/// constants; every text and attribute value is escaped.
pub struct XmlWriter {
    buffer: String,
    depth: usize,
}

impl XmlWriter {
    /// Starts a document with the XML declaration (exchangelib refuses a body without one;
    /// Thunderbird wants exactly this line, no BOM).
    pub fn new() -> Self {
        let mut buffer = String::with_capacity(INITIAL_CAPACITY);
        buffer.push_str(DECLARATION);
        XmlWriter { buffer, depth: 0 }
    }

    /// `<name a="v" …>`; attribute values are escaped.
    pub fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.start_tag(name, attributes);
        self.buffer.push('>');
        self.depth += 1;
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.new_line();
        self.buffer.push_str("</");
        self.buffer.push_str(name);
        self.buffer.push('>');
    }

    /// `<name>text</name>` with `text` escaped.
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_with(name, &[], text);
    }

    /// `<name a="v" …>text</name>`.
    pub fn leaf_with(&mut self, name: &str, attributes: &[(&str, &str)], text: &str) {
        self.start_tag(name, attributes);
        self.buffer.push('>');
        push_escaped(&mut self.buffer, text);
        self.buffer.push_str("</");
        self.buffer.push_str(name);
        self.buffer.push('>');
    }

    /// `<name>number</name>`.
    pub fn leaf_number(&mut self, name: &str, number: u16) {
        self.start_tag(name, &[]);
        self.buffer.push('>');
        // Decimal digits without `fmt` (a port per server, on every answer).
        let mut digits = [0u8; 5];
        let mut start = digits.len();
        let mut rest = number;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        for &digit in &digits[start..] {
            self.buffer.push(char::from(digit));
        }
        self.buffer.push_str("</");
        self.buffer.push_str(name);
        self.buffer.push('>');
    }

    /// `<name a="v" …/>`.
    pub fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.start_tag(name, attributes);
        self.buffer.push_str("/>");
    }

    /// The finished document, ending with a newline.
    pub fn finish(mut self) -> Vec<u8> {
        self.buffer.push('\n');
        self.buffer.into_bytes()
    }

    fn start_tag(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.new_line();
        self.buffer.push('<');
        self.buffer.push_str(name);
        for (key, value) in attributes {
            self.buffer.push(' ');
            self.buffer.push_str(key);
            self.buffer.push_str("=\"");
            push_escaped(&mut self.buffer, value);
            self.buffer.push('"');
        }
    }

    fn new_line(&mut self) {
        self.buffer.push('\n');
        let width = (self.depth * 2).min(INDENT.len());
        self.buffer.push_str(&INDENT[..width]);
    }
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends `text` escaped for text and double-quoted attributes. Nearly every value (host
/// names, ports, usernames) has nothing to escape and is copied after one scan of its bytes;
/// escaping every value unconditionally was 40 % of the autoconfig renderer's instructions
/// (callgrind).
pub(crate) fn push_escaped(buffer: &mut String, text: &str) {
    if text.bytes().any(|byte| NEEDS_CARE[usize::from(byte)]) {
        buffer.push_str(&escape(xml_chars(text)));
    } else {
        buffer.push_str(text);
    }
}

/// Bytes that may need escaping or replacing: the markup characters, C0 controls (tab, LF and
/// CR included; `xml_chars` keeps them) and 0xEF, the lead byte of U+FFFE/U+FFFF.
static NEEDS_CARE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[b'"' as usize] = true;
    table[b'\'' as usize] = true;
    table[0xEF] = true;
    table
};

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
        let xml = document(|w| w.leaf("name", "a\u{0}b\u{1b}c\td\u{FFFF}e\u{FEFF}"));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(
            doc.root_element().text(),
            Some("a\u{FFFD}b\u{FFFD}c\td\u{FFFD}e\u{FEFF}")
        );
    }

    #[test]
    fn nesting_is_indented_and_well_formed() {
        let xml = document(|w| {
            w.open("a", &[]);
            w.open("b", &[("k", "v")]);
            w.leaf("c", "x");
            w.empty("d", &[]);
            w.close("b");
            w.close("a");
        });
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>\n  <b k=\"v\">\n    <c>x</c>\n    <d/>\n  </b>\n</a>\n"
        );
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for (number, text) in [(0u16, "0"), (7, "7"), (993, "993"), (65535, "65535")] {
            let xml = document(|w| w.leaf_number("port", number));
            assert!(xml.contains(&format!("<port>{text}</port>")), "{xml}");
        }
    }
}
