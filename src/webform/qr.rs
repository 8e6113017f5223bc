//! The QR code that carries this page from a desktop to a phone, rendered on the server as
//! inline SVG (no external QR service learns who asked). The SVG holds only path data built by the
//! `qrcode` crate from our own numbers, so it can be embedded in the page unescaped.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Why no code could be drawn (the URL is longer than a QR code holds).
#[derive(Debug, thiserror::Error)]
#[error("the page address does not fit in a QR code")]
pub struct QrError;

/// An `<svg>` element (no XML declaration) encoding `url`, scalable by CSS.
pub fn svg(url: &str) -> Result<String, QrError> {
    // Level M survives a slightly blurred screen photo and keeps typical URLs at version 3–4.
    let code =
        QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).map_err(|_| QrError)?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = image.find("<svg").ok_or(QrError)?;
    Ok(image[start..].replacen(
        "<svg ",
        "<svg class=\"qr-code\" aria-hidden=\"true\" focusable=\"false\" ",
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_is_inline_ready_and_only_paths() {
        let svg = svg("https://mail.example.org/").unwrap();
        assert!(svg.starts_with("<svg class=\"qr-code\""), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        // Only the crate's own elements: no text, script or foreign content.
        let elements: Vec<&str> = svg
            .split('<')
            .skip(1)
            .map(|tag| tag.split([' ', '>', '/']).next().unwrap_or_default())
            .filter(|name| !name.is_empty())
            .collect();
        assert_eq!(elements, ["svg", "rect", "path"]);
        assert!(!svg.contains("example"), "the URL must not appear as text");
    }

    #[test]
    fn different_urls_give_different_codes() {
        assert_ne!(
            svg("https://a.example.org/").unwrap(),
            svg("https://b.example.org/").unwrap()
        );
    }

    #[test]
    fn oversized_urls_are_refused() {
        let long = format!("https://example.org/{}", "a".repeat(4000));
        assert!(svg(&long).is_err());
    }
}
