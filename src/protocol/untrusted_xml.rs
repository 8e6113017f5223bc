//! The bound every untrusted XML text passes before roxmltree parses it (POX request bodies,
//! ISPDB files). roxmltree checks each attribute against the element's earlier ones, which
//! is quadratic in their number, and its node limit does not count attributes: 9,800
//! attributes in a 64 KiB body cost 300 ms of CPU, 200,000 in an ISPDB file over 30 s. One
//! linear pass of quick-xml's tokenizer (its duplicate check off) counts them first.

use quick_xml::events::Event;

/// How many attributes a text may carry, per element and in all.
#[derive(Debug, Clone, Copy)]
pub struct AttributeLimits {
    pub per_element: usize,
    pub total: usize,
}

/// Why a text was refused before parsing; `position` is a byte offset into it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UntrustedXmlError {
    #[error("{message}")]
    Syntax { position: usize, message: String },
    #[error("too many attributes (at most {per_element} per element and {total} in all)")]
    TooManyAttributes {
        position: usize,
        per_element: usize,
        total: usize,
    },
}

impl UntrustedXmlError {
    /// The 1-based line of `text` the problem is on.
    pub fn line(&self, text: &str) -> usize {
        let position = match self {
            UntrustedXmlError::Syntax { position, .. }
            | UntrustedXmlError::TooManyAttributes { position, .. } => *position,
        };
        let end = position.min(text.len());
        text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// Refuses `text` when an element has more than `limits.per_element` attributes or the text
/// more than `limits.total` (namespace declarations count: they are attributes to the
/// parser), or when the tokenizer cannot read it. Linear in the text's length.
pub fn check_attributes(text: &str, limits: AttributeLimits) -> Result<(), UntrustedXmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let offset = |position: u64| usize::try_from(position).unwrap_or(usize::MAX);
    let mut total = 0;
    loop {
        let start = offset(reader.buffer_position());
        let element = match reader.read_event() {
            Ok(Event::Eof) => return Ok(()),
            Ok(Event::Start(element) | Event::Empty(element)) => element,
            Ok(_) => continue,
            Err(error) => {
                return Err(UntrustedXmlError::Syntax {
                    position: offset(reader.error_position()),
                    message: error.to_string(),
                });
            }
        };
        let count = element.attributes().with_checks(false).count();
        total += count;
        if count > limits.per_element || total > limits.total {
            return Err(UntrustedXmlError::TooManyAttributes {
                position: start,
                per_element: limits.per_element,
                total: limits.total,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: AttributeLimits = AttributeLimits {
        per_element: 4,
        total: 6,
    };

    fn attributes(count: usize) -> String {
        (0..count).map(|n| format!(" a{n}=\"v\"")).collect()
    }

    #[test]
    fn counts_per_element_and_in_all() {
        let fits = format!("<r{}><s{}/></r>", attributes(4), attributes(2));
        assert_eq!(check_attributes(&fits, LIMITS), Ok(()));
        let crowded = format!("<r>\n<s{}/></r>", attributes(5));
        let error = check_attributes(&crowded, LIMITS).unwrap_err();
        assert!(matches!(error, UntrustedXmlError::TooManyAttributes { .. }));
        assert_eq!(error.line(&crowded), 2);
        let spread = format!("<r{}><s{}/></r>", attributes(4), attributes(3));
        assert!(check_attributes(&spread, LIMITS).is_err());
        let declarations =
            "<r xmlns=\"a\" xmlns:b=\"b\" xmlns:c=\"c\" xmlns:d=\"d\" xmlns:e=\"e\"/>";
        assert!(check_attributes(declarations, LIMITS).is_err());
    }

    #[test]
    fn a_bomb_is_refused_without_reading_it_all() {
        let bomb = format!("<r{}/>", attributes(200_000));
        assert!(matches!(
            check_attributes(&bomb, LIMITS),
            Err(UntrustedXmlError::TooManyAttributes { position: 0, .. })
        ));
    }

    #[test]
    fn unreadable_text_is_a_syntax_error_with_its_line() {
        let text = "<r>\n<s a=\"1\"></r>\n<";
        let error = check_attributes(text, LIMITS).unwrap_err();
        assert!(matches!(error, UntrustedXmlError::Syntax { .. }), "{error}");
    }
}
