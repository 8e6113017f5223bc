//! The little DER that the openssl crate does not expose: reading the parts of a SignedData
//! (single-byte tags, definite lengths, as DER requires) and writing tag-length-value headers.

/// The TLV at the start of `input` if its tag is `tag`: (contents, what follows).
pub(super) fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let found = tlv(input)?;
    (found.tag == tag).then_some((found.contents, found.rest))
}

/// One DER tag-length-value read from the front of a slice.
pub(super) struct Tlv<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
    /// What follows this TLV.
    pub rest: &'a [u8],
    /// The TLV itself, header included.
    pub whole: &'a [u8],
}

/// Single-byte tags and definite lengths only, as DER requires; anything else is `None`.
pub(super) fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_length) = after_tag.split_first()?;
    let (length, header) = match first {
        short @ 0..=0x7f => (usize::from(short), 2),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            let bytes = after_length.get(..count)?;
            let length = bytes
                .iter()
                .fold(0usize, |length, &byte| (length << 8) | usize::from(byte));
            (length, 2 + count)
        }
        _ => return None, // 0x80 is indefinite length (BER), longer forms are absurd here
    };
    let end = header.checked_add(length)?;
    let whole = input.get(..end)?;
    Some(Tlv {
        tag,
        contents: whole.get(header..)?,
        rest: input.get(end..)?,
        whole,
    })
}

/// Universal tags used by CMS SignedData.
pub(super) const INTEGER: u8 = 0x02;
pub(super) const OCTET_STRING: u8 = 0x04;
pub(super) const OID: u8 = 0x06;
pub(super) const UTC_TIME: u8 = 0x17;
pub(super) const SEQUENCE: u8 = 0x30;
pub(super) const SET: u8 = 0x31;
/// `[0]` constructed: explicit and implicit context tags in SignedData.
pub(super) const CONTEXT_0: u8 = 0xa0;

/// The size of a TLV whose contents are `length` bytes long.
pub(super) fn tlv_size(length: usize) -> usize {
    1 + length_size(length) + length
}

fn length_size(length: usize) -> usize {
    match length {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

/// Appends a tag and the definite length of `length` content bytes that the caller writes next.
pub(super) fn write_header(out: &mut Vec<u8>, tag: u8, length: usize) {
    out.push(tag);
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let significant = &bytes[bytes.len() - (length_size(length) - 1)..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Appends a whole TLV.
pub(super) fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    write_header(out, tag, contents.len());
    out.extend_from_slice(contents);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_rejects_indefinite_and_truncated_lengths() {
        assert!(tlv(&[0x30, 0x80, 0x00, 0x00]).is_none());
        assert!(tlv(&[0x30, 0x05, 0x01]).is_none());
        assert!(tlv(&[0x30, 0x82, 0x01]).is_none());
        let item = tlv(&[0x04, 0x01, 0xaa, 0xff]).unwrap();
        assert_eq!(
            (item.tag, item.contents, item.rest, item.whole.len()),
            (0x04, &[0xaa][..], &[0xff][..], 3)
        );
    }

    #[test]
    fn written_headers_read_back_at_every_length_form() {
        for length in [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0x12_3456] {
            let contents = vec![0x5a; length];
            let mut out = Vec::new();
            write_tlv(&mut out, OCTET_STRING, &contents);
            out.push(0x00);
            assert_eq!(out.len(), tlv_size(length) + 1);
            let item = tlv(&out).unwrap();
            assert_eq!(
                (item.tag, item.contents.len(), item.rest),
                (OCTET_STRING, length, &[0x00][..])
            );
        }
    }
}
