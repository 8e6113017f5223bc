//! SignedData from a template: OpenSSL's own `CMS_sign` output for a reference content, decoded
//! once at start-up into the `cms` crate's structures, then filled in for each profile with
//! only what changes (the content, its digest, the signing time and the signature) and encoded
//! by `der`. The result is byte for byte what `CMS_sign` would write in the same second (a test
//! holds it to that at every DER length form), but a signature costs one private-key operation
//! on a prepared key context instead of `CMS_sign`'s per-call set-up
//! (docs/profiles.md, "SignedData from a CMS_sign template").
//!
//! Everything OpenSSL decided — algorithm identifiers, the signer identifier, certificate
//! order, the SMIMECapabilities attribute — is kept from its output, never re-derived here.

use std::time::SystemTime;

use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignedData, SignerInfo, SignerInfos,
};
use der::asn1::{ContextSpecificRef, ObjectIdentifier, OctetString, SetOfVec};
use der::oid::db::{rfc5912::ID_SHA_256, rfc6268};
use der::{
    Any, DateTime, Decode as _, Encode, EncodeValue, FixedTag, Length, Tag, TagMode, TagNumber,
    Writer,
};
use x509_cert::attr::Attribute;
use x509_cert::time::Time;

use super::{SigningError, reason};

/// The constant parts of one signer's SignedData, decoded from OpenSSL's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignedDataTemplate {
    /// ContentInfo's contentType (id-signedData).
    content_type: ObjectIdentifier,
    version: CmsVersion,
    digest_algorithms: DigestAlgorithmIdentifiers,
    /// encapContentInfo's eContentType (id-data).
    econtent_type: ObjectIdentifier,
    /// `[0] IMPLICIT CertificateSet` (the signer and every intermediate) in DER, or nothing:
    /// encoded once here, since encoding two certificates for every signature costs more than
    /// all the rest of the SignedData.
    certificates: Vec<u8>,
    /// The one SignerInfo, without its signature and with every signed attribute but
    /// signingTime and messageDigest (contentType, SMIMECapabilities).
    signer: SignerInfo,
}

impl SignedDataTemplate {
    /// Decodes OpenSSL's SignedData (DER, attached content, SHA-256, one signer, signed
    /// attributes, no CRLs or unsigned attributes). `None` for any other shape: the caller then
    /// keeps using `CMS_sign`.
    pub(super) fn from_reference(der: &[u8]) -> Option<Self> {
        let content_info = ContentInfo::from_der(der).ok()?;
        let signed_data: SignedData = content_info.content.decode_as().ok()?;
        let sha256_only = signed_data.digest_algorithms.len() == 1
            && signed_data
                .digest_algorithms
                .iter()
                .all(|algorithm| algorithm.oid == ID_SHA_256);
        if !sha256_only || signed_data.crls.is_some() || signed_data.signer_infos.0.len() != 1 {
            return None;
        }
        let certificates = match &signed_data.certificates {
            Some(set) => ContextSpecificRef {
                tag_number: TagNumber(0),
                tag_mode: TagMode::Implicit,
                value: &set.0,
            }
            .to_der()
            .ok()?,
            None => Vec::new(),
        };
        let mut signer = signed_data.signer_infos.0.into_vec().pop()?;
        if signer.unsigned_attrs.is_some() {
            return None;
        }
        let attributes = signer.signed_attrs.take()?;
        let changing = |attribute: &Attribute| {
            [rfc6268::ID_SIGNING_TIME, rfc6268::ID_MESSAGE_DIGEST].contains(&attribute.oid)
        };
        if attributes
            .iter()
            .filter(|attribute| changing(attribute))
            .count()
            != 2
        {
            return None;
        }
        let fixed: Vec<Attribute> = attributes
            .into_vec()
            .into_iter()
            .filter(|attribute| !changing(attribute))
            .collect();
        signer.signed_attrs = Some(SetOfVec::try_from(fixed).ok()?);
        signer.signature = OctetString::new(Vec::new()).ok()?;
        Some(SignedDataTemplate {
            content_type: content_info.content_type,
            version: signed_data.version,
            digest_algorithms: signed_data.digest_algorithms,
            econtent_type: signed_data.encap_content_info.econtent_type,
            certificates,
            signer,
        })
    }

    /// The SignedData for `content`, whose SHA-256 is `content_digest`: `sign` receives the
    /// SHA-256 of the DER signed attributes and returns the signature value.
    pub(super) fn assemble(
        &self,
        content: &[u8],
        content_digest: &[u8; 32],
        signing_time: SystemTime,
        sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, openssl::error::ErrorStack>,
    ) -> Result<Vec<u8>, SigningError> {
        let mut signer = self.signer.clone();
        let mut attributes = signer.signed_attrs.take().unwrap_or_default();
        // RFC 5652 §11.3: UTCTime until 2049, GeneralizedTime after, to the second.
        let time = Time::from(DateTime::from_system_time(signing_time).map_err(encoding)?);
        let digest = OctetString::new(content_digest.as_slice()).map_err(encoding)?;
        for (oid, value) in [
            (rfc6268::ID_SIGNING_TIME, Any::encode_from(&time)),
            (rfc6268::ID_MESSAGE_DIGEST, Any::encode_from(&digest)),
        ] {
            let values = SetOfVec::try_from(vec![value.map_err(encoding)?]).map_err(encoding)?;
            // Inserted in DER's SET OF order (X.690 §11.6), as OpenSSL writes them.
            attributes
                .insert(Attribute { oid, values })
                .map_err(encoding)?;
        }
        // The signature covers the attributes with their universal SET tag (RFC 5652 §5.4).
        let to_be_signed = attributes.to_der().map_err(encoding)?;
        let signature = sign(&openssl::sha::sha256(&to_be_signed))
            .map_err(|error| SigningError::Sign(reason(&error)))?;
        signer.signed_attrs = Some(attributes);
        signer.signature = OctetString::new(signature).map_err(encoding)?;
        let signed_data = FilledSignedData {
            template: self,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: self.econtent_type,
                econtent: Some(Any::new(Tag::OctetString, content).map_err(encoding)?),
            },
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).map_err(encoding)?),
        };
        let content_info = FilledContentInfo {
            content_type: self.content_type,
            signed_data,
        };
        // Written into a buffer of the right size, not zeroed first as `to_der` does.
        let length = content_info.encoded_len().map_err(encoding)?;
        let mut out = Vec::with_capacity(usize::try_from(length).map_err(encoding)?);
        content_info.encode(&mut out).map_err(encoding)?;
        Ok(out)
    }
}

/// `cms`'s ContentInfo (RFC 5652 §3) around [`FilledSignedData`], written in one pass rather
/// than through an intermediate `Any`.
struct FilledContentInfo<'a> {
    content_type: ObjectIdentifier,
    signed_data: FilledSignedData<'a>,
}

impl FilledContentInfo<'_> {
    /// `content [0] EXPLICIT`.
    fn content(&self) -> ContextSpecificRef<'_, FilledSignedData<'_>> {
        ContextSpecificRef {
            tag_number: TagNumber(0),
            tag_mode: TagMode::Explicit,
            value: &self.signed_data,
        }
    }
}

impl FixedTag for FilledContentInfo<'_> {
    const TAG: Tag = Tag::Sequence;
}

impl EncodeValue for FilledContentInfo<'_> {
    fn value_len(&self) -> der::Result<Length> {
        self.content_type.encoded_len()? + self.content().encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.content_type.encode(writer)?;
        self.content().encode(writer)
    }
}

/// `cms`'s SignedData (RFC 5652 §5.1) for one profile, written with the template's
/// pre-encoded certificates: version, digestAlgorithms, encapContentInfo, certificates,
/// signerInfos.
struct FilledSignedData<'a> {
    template: &'a SignedDataTemplate,
    encap_content_info: EncapsulatedContentInfo,
    signer_infos: SignerInfos,
}

impl FixedTag for FilledSignedData<'_> {
    const TAG: Tag = Tag::Sequence;
}

impl EncodeValue for FilledSignedData<'_> {
    fn value_len(&self) -> der::Result<Length> {
        self.template.version.encoded_len()?
            + self.template.digest_algorithms.encoded_len()?
            + self.encap_content_info.encoded_len()?
            + Length::try_from(self.template.certificates.len())?
            + self.signer_infos.encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.template.version.encode(writer)?;
        self.template.digest_algorithms.encode(writer)?;
        self.encap_content_info.encode(writer)?;
        writer.write(&self.template.certificates)?;
        self.signer_infos.encode(writer)
    }
}

fn encoding(error: der::Error) -> SigningError {
    SigningError::Sign(format!("DER encoding: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signingTime value that `assemble` writes for a UTC calendar time.
    fn signing_time(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Vec<u8> {
        let signer = crate::signing::Signer::development().unwrap();
        let template = signer.template.as_ref().unwrap();
        let at = DateTime::new(year, month, day, hour, minute, second)
            .unwrap()
            .to_system_time();
        let der = template
            .assemble(b"x", &openssl::sha::sha256(b"x"), at, |_| Ok(vec![0; 256]))
            .unwrap();
        let signed: SignedData = ContentInfo::from_der(&der)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let signer = signed.signer_infos.0.get(0).unwrap();
        let time = signer
            .signed_attrs
            .as_ref()
            .unwrap()
            .iter()
            .find(|attribute| attribute.oid == rfc6268::ID_SIGNING_TIME)
            .unwrap();
        time.values.get(0).unwrap().to_der().unwrap()
    }

    #[test]
    fn times_use_utctime_until_2049_and_generalizedtime_after() {
        assert_eq!(signing_time(2026, 3, 7, 8, 9, 10), b"\x17\x0d260307080910Z");
        assert_eq!(
            signing_time(2049, 12, 31, 23, 59, 59),
            b"\x17\x0d491231235959Z"
        );
        assert_eq!(
            signing_time(2050, 3, 7, 8, 9, 10),
            b"\x18\x0f20500307080910Z"
        );
    }

    #[test]
    fn other_shapes_are_not_templates() {
        assert!(SignedDataTemplate::from_reference(b"").is_none());
        assert!(SignedDataTemplate::from_reference(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_none());
    }
}
