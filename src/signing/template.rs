//! SignedData from a template: OpenSSL's own `CMS_sign` output for a reference content, taken
//! apart once at start-up, then re-assembled around each profile with only what changes (the
//! content, its digest, the signing time and the signature). The result is byte for byte what
//! `CMS_sign` would write in the same second (a test holds it to that), but a signature costs
//! one private-key operation on a prepared key context instead of `CMS_sign`'s per-call
//! set-up, which is ~16 % of the total (README.md, "Throughput").
//!
//! Everything OpenSSL decided — algorithm identifiers, the signer identifier, certificate
//! order, the SMIMECapabilities attribute — is copied from its output, never re-derived here.

use std::cmp::Ordering;

use openssl::error::ErrorStack;
use openssl::sha::sha256;
use time::OffsetDateTime;

use super::der::{
    CONTEXT_0, INTEGER, OCTET_STRING, OID, SEQUENCE, SET, UTC_TIME, expect, tlv, tlv_size,
    write_header, write_tlv,
};

/// id-signingTime, 1.2.840.113549.1.9.5
const SIGNING_TIME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05];
/// id-messageDigest, 1.2.840.113549.1.9.4
const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
/// id-sha256, 2.16.840.1.101.3.4.2.1
const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const GENERALIZED_TIME: u8 = 0x18;

/// The constant parts of one signer's SignedData, each a whole DER TLV (or run of TLVs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignedDataTemplate {
    /// ContentInfo's contentType (id-signedData).
    content_info_type: Vec<u8>,
    /// SignedData's version, digestAlgorithms.
    version: Vec<u8>,
    digest_algorithms: Vec<u8>,
    /// encapContentInfo's eContentType (id-data).
    content_type: Vec<u8>,
    /// `[0] certificates`: the signer and every intermediate.
    certificates: Vec<u8>,
    /// SignerInfo's version, sid and digestAlgorithm.
    signer_head: Vec<u8>,
    /// Every signed attribute but signingTime and messageDigest (contentType,
    /// SMIMECapabilities), verbatim.
    fixed_attributes: Vec<Vec<u8>>,
    signature_algorithm: Vec<u8>,
}

impl SignedDataTemplate {
    /// Takes apart OpenSSL's SignedData (DER, attached content, SHA-256, one signer, signed
    /// attributes). `None` for any other shape: the caller then keeps using `CMS_sign`.
    pub(super) fn from_reference(der: &[u8]) -> Option<Self> {
        let (content_info, _) = expect(der, SEQUENCE)?;
        let content_info_type = tagged(content_info, OID)?;
        let (explicit, _) = expect(content_info_type.rest, CONTEXT_0)?;
        let (signed_data, _) = expect(explicit, SEQUENCE)?;
        let version = tagged(signed_data, INTEGER)?;
        let digest_algorithms = tagged(version.rest, SET)?;
        let (algorithm, only) = expect(digest_algorithms.contents, SEQUENCE)?;
        if expect(algorithm, OID)?.0 != SHA256 || !only.is_empty() {
            return None;
        }
        let encapsulated = tagged(digest_algorithms.rest, SEQUENCE)?;
        let content_type = tagged(encapsulated.contents, OID)?;
        let (certificates, rest) = match tagged(encapsulated.rest, CONTEXT_0) {
            Some(certificates) => (certificates.whole, certificates.rest),
            None => (&[][..], encapsulated.rest),
        };
        // No CRLs ([1]), exactly one SignerInfo, nothing after it.
        let (signer_infos, after) = expect(rest, SET)?;
        let (signer_info, other_signers) = expect(signer_infos, SEQUENCE)?;
        if !after.is_empty() || !other_signers.is_empty() {
            return None;
        }
        let signer_version = tagged(signer_info, INTEGER)?;
        let signer_id = tlv(signer_version.rest)?;
        let digest_algorithm = tagged(signer_id.rest, SEQUENCE)?;
        let signer_head = signer_info.get(..signer_info.len() - digest_algorithm.rest.len())?;
        let (mut attributes, after_attributes) = expect(digest_algorithm.rest, CONTEXT_0)?;
        let mut fixed_attributes = Vec::new();
        let (mut has_time, mut has_digest) = (false, false);
        while !attributes.is_empty() {
            let attribute = tagged(attributes, SEQUENCE)?;
            match expect(attribute.contents, OID)?.0 {
                SIGNING_TIME => has_time = true,
                MESSAGE_DIGEST => has_digest = true,
                _ => fixed_attributes.push(attribute.whole.to_vec()),
            }
            attributes = attribute.rest;
        }
        let signature_algorithm = tagged(after_attributes, SEQUENCE)?;
        let signature = tagged(signature_algorithm.rest, OCTET_STRING)?;
        if !(has_time && has_digest && signature.rest.is_empty()) {
            return None; // unsigned attributes, or a shape this template cannot reproduce
        }
        Some(SignedDataTemplate {
            content_info_type: content_info_type.whole.to_vec(),
            version: version.whole.to_vec(),
            digest_algorithms: digest_algorithms.whole.to_vec(),
            content_type: content_type.whole.to_vec(),
            certificates: certificates.to_vec(),
            signer_head: signer_head.to_vec(),
            fixed_attributes,
            signature_algorithm: signature_algorithm.whole.to_vec(),
        })
    }

    /// The SignedData for `content`: `sign` receives the SHA-256 of the DER signed attributes
    /// and returns the signature value.
    pub(super) fn assemble(
        &self,
        content: &[u8],
        signing_time: OffsetDateTime,
        sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, ErrorStack>,
    ) -> Result<Vec<u8>, ErrorStack> {
        let mut attributes: Vec<Vec<u8>> = self.fixed_attributes.clone();
        attributes.push(attribute(SIGNING_TIME, &time_value(signing_time)));
        let mut digest = Vec::with_capacity(34);
        write_tlv(&mut digest, OCTET_STRING, &sha256(content));
        attributes.push(attribute(MESSAGE_DIGEST, &digest));
        // DER orders a SET OF by the elements' encodings (X.690 §11.6).
        attributes.sort_by(|a, b| der_set_order(a, b));
        let attributes = attributes.concat();

        // The signature covers the attributes with their universal SET tag (RFC 5652 §5.4).
        let mut to_be_signed = Vec::with_capacity(tlv_size(attributes.len()));
        write_tlv(&mut to_be_signed, SET, &attributes);
        let signature = sign(&sha256(&to_be_signed))?;

        let encapsulated_content = tlv_size(tlv_size(content.len()));
        let encapsulated = self.content_type.len() + encapsulated_content;
        let signer_info = self.signer_head.len()
            + tlv_size(attributes.len())
            + self.signature_algorithm.len()
            + tlv_size(signature.len());
        let signer_infos = tlv_size(signer_info);
        let signed_data = self.version.len()
            + self.digest_algorithms.len()
            + tlv_size(encapsulated)
            + self.certificates.len()
            + tlv_size(signer_infos);
        let content_info = self.content_info_type.len() + tlv_size(tlv_size(signed_data));

        let mut out = Vec::with_capacity(tlv_size(content_info));
        write_header(&mut out, SEQUENCE, content_info);
        out.extend_from_slice(&self.content_info_type);
        write_header(&mut out, CONTEXT_0, tlv_size(signed_data));
        write_header(&mut out, SEQUENCE, signed_data);
        out.extend_from_slice(&self.version);
        out.extend_from_slice(&self.digest_algorithms);
        write_header(&mut out, SEQUENCE, encapsulated);
        out.extend_from_slice(&self.content_type);
        write_header(&mut out, CONTEXT_0, tlv_size(content.len()));
        write_tlv(&mut out, OCTET_STRING, content);
        out.extend_from_slice(&self.certificates);
        write_header(&mut out, SET, signer_infos);
        write_header(&mut out, SEQUENCE, signer_info);
        out.extend_from_slice(&self.signer_head);
        write_tlv(&mut out, CONTEXT_0, &attributes);
        out.extend_from_slice(&self.signature_algorithm);
        write_tlv(&mut out, OCTET_STRING, &signature);
        Ok(out)
    }
}

/// The TLV at the front of `input`, if it has `tag`.
fn tagged(input: &[u8], tag: u8) -> Option<super::der::Tlv<'_>> {
    tlv(input).filter(|item| item.tag == tag)
}

/// Attribute ::= SEQUENCE { attrType OID, attrValues SET { value } }
fn attribute(oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut contents = Vec::with_capacity(tlv_size(oid.len()) + tlv_size(value.len()));
    write_tlv(&mut contents, OID, oid);
    write_tlv(&mut contents, SET, value);
    let mut out = Vec::with_capacity(tlv_size(contents.len()));
    write_tlv(&mut out, SEQUENCE, &contents);
    out
}

/// RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise, in UTC to the second.
fn time_value(at: OffsetDateTime) -> Vec<u8> {
    let at = at.to_offset(time::UtcOffset::UTC);
    let year = at.year();
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let mut out = Vec::with_capacity(17);
    if (1950..2050).contains(&year) {
        write_tlv(
            &mut out,
            UTC_TIME,
            format!("{:02}{rest}", year % 100).as_bytes(),
        );
    } else {
        write_tlv(
            &mut out,
            GENERALIZED_TIME,
            format!("{year:04}{rest}").as_bytes(),
        );
    }
    out
}

/// X.690 §11.6: encodings compared as octet strings, the shorter padded with zero octets.
fn der_set_order(a: &[u8], b: &[u8]) -> Ordering {
    let common = a.len().min(b.len());
    a[..common].cmp(&b[..common]).then_with(|| {
        let longer_is_padding = |tail: &[u8]| tail.iter().all(|&byte| byte == 0);
        match a.len().cmp(&b.len()) {
            Ordering::Greater if !longer_is_padding(&a[common..]) => Ordering::Greater,
            Ordering::Less if !longer_is_padding(&b[common..]) => Ordering::Less,
            _ => Ordering::Equal,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_use_utctime_until_2049_and_generalizedtime_after() {
        let at = |year| {
            time::Date::from_calendar_date(year, time::Month::March, 7)
                .unwrap()
                .with_hms(8, 9, 10)
                .unwrap()
                .assume_utc()
        };
        assert_eq!(time_value(at(2026)), b"\x17\x0d260307080910Z");
        assert_eq!(time_value(at(1950)), b"\x17\x0d500307080910Z");
        assert_eq!(time_value(at(2050)), b"\x18\x0f20500307080910Z");
    }

    #[test]
    fn set_order_compares_encodings_with_zero_padding() {
        assert_eq!(der_set_order(&[0x30, 0x18], &[0x30, 0x1c]), Ordering::Less);
        assert_eq!(
            der_set_order(&[0x30, 0x1c, 0x01], &[0x30, 0x1c]),
            Ordering::Greater
        );
        assert_eq!(
            der_set_order(&[0x30, 0x1c, 0x00], &[0x30, 0x1c]),
            Ordering::Equal
        );
    }

    #[test]
    fn other_shapes_are_not_templates() {
        assert!(SignedDataTemplate::from_reference(b"").is_none());
        assert!(SignedDataTemplate::from_reference(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_none());
    }
}
