//! The certificates the TLS listeners serve, chosen per handshake by SNI. Readers (every
//! handshake) load an immutable index through `ArcSwap`, lock-free; writers (start-up, a file
//! that changed, a renewal) rebuild the index under a mutex and swap it in whole, so a
//! handshake sees either the old set or the new one, never a mix.
//!
//! Certificates sit in named slots (`file:<path>` for `[[tls.certificate]]`, whatever name
//! another installer chooses), in the order they were first installed; replacing a slot keeps
//! its place. The first slot holds the default certificate, served to clients that send no SNI
//! or a name no certificate has.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::ServedCertificate;

/// Every served certificate and every pending tls-alpn-01 challenge.
#[derive(Default)]
pub struct CertificateStore {
    index: ArcSwap<Index>,
    /// The slots in order; only writers take it.
    slots: Mutex<Vec<(String, Arc<ServedCertificate>)>>,
    /// tls-alpn-01 challenge certificates by host name (RFC 8737).
    challenges: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    challenge_writer: Mutex<()>,
}

impl std::fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateStore")
            .field("slots", &self.lock().len())
            .finish_non_exhaustive()
    }
}

/// What a handshake looks up, built from the slots.
#[derive(Default)]
struct Index {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.org` under `example.org`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl Index {
    fn build(slots: &[(String, Arc<ServedCertificate>)]) -> Index {
        let mut index = Index {
            default: slots.first().map(|(_, served)| served.certified()),
            ..Index::default()
        };
        // The first slot with a name wins it.
        for (_, served) in slots {
            for name in served.names() {
                let table = match name.strip_prefix("*.") {
                    Some(parent) => index.wildcard.entry(parent.to_owned()),
                    None => index.exact.entry(name.clone()),
                };
                table.or_insert_with(|| served.certified());
            }
        }
        index
    }

    fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let chosen = name.and_then(|name| self.find(name));
        chosen.or(self.default.as_ref()).map(Arc::clone)
    }

    /// The certificate named for `name`, by its exact name or a wildcard one label up.
    fn find(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let name = normalize(name);
        self.exact.get(&name).or_else(|| {
            name.split_once('.')
                .and_then(|(_, parent)| self.wildcard.get(parent))
        })
    }
}

/// SNI as looked up: lower-case, without a trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl CertificateStore {
    pub fn new() -> Self {
        CertificateStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(String, Arc<ServedCertificate>)>> {
        // Writers leave the vector whole whatever happens; a poisoned lock holds good data.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Serves `certificate` from `slot` on, replacing what the slot held (it keeps its place)
    /// or adding it last. The next handshake sees it.
    pub fn install(&self, slot: &str, certificate: ServedCertificate) {
        let certificate = Arc::new(certificate);
        let mut slots = self.lock();
        match slots.iter_mut().find(|(name, _)| name == slot) {
            Some(entry) => entry.1 = certificate,
            None => slots.push((slot.to_owned(), certificate)),
        }
        self.index.store(Arc::new(Index::build(&slots)));
    }

    /// Stops serving `slot`; `false` when there was no such slot.
    pub fn remove(&self, slot: &str) -> bool {
        let mut slots = self.lock();
        let before = slots.len();
        slots.retain(|(name, _)| name != slot);
        let removed = slots.len() != before;
        if removed {
            self.index.store(Arc::new(Index::build(&slots)));
        }
        removed
    }

    /// Serves `first`, in its order, ahead of every slot that `replaced` does not pick, and
    /// stops serving the slots it picks, in one swap: a handshake sees the old set or the new.
    pub fn replace_leading(
        &self,
        replaced: impl Fn(&str) -> bool,
        first: Vec<(String, ServedCertificate)>,
    ) {
        let mut slots = self.lock();
        let kept: Vec<_> = slots
            .drain(..)
            .filter(|(name, _)| !replaced(name))
            .collect();
        *slots = first
            .into_iter()
            .map(|(name, served)| (name, Arc::new(served)))
            .chain(kept)
            .collect();
        self.index.store(Arc::new(Index::build(&slots)));
    }

    /// What `slot` serves now.
    pub fn get(&self, slot: &str) -> Option<Arc<ServedCertificate>> {
        self.lock()
            .iter()
            .find(|(name, _)| name == slot)
            .map(|(_, served)| Arc::clone(served))
    }

    /// Every slot in order; the first serves clients without SNI or with an unknown name.
    pub fn slots(&self) -> Vec<(String, Arc<ServedCertificate>)> {
        self.lock().clone()
    }

    /// Whether a certificate names `name` (exactly or by a wildcard): a client asking for it
    /// gets one it can verify, not merely the default.
    pub fn covers(&self, name: &str) -> bool {
        self.index.load().find(name).is_some()
    }

    /// Whether any certificate is installed (without one, every handshake is refused).
    pub fn is_empty(&self) -> bool {
        self.index.load().default.is_none()
    }

    /// tls-alpn-01: while set, a ClientHello for `name` that offers ALPN `acme-tls/1` is
    /// answered with `certificate` and `acme-tls/1`, and nothing else sees it.
    pub fn set_challenge(&self, name: &str, certificate: ServedCertificate) {
        self.edit_challenges(|challenges| {
            challenges.insert(normalize(name), certificate.certified());
        });
    }

    /// Ends the challenge for `name` (answered or abandoned).
    pub fn clear_challenge(&self, name: &str) {
        self.edit_challenges(|challenges| {
            challenges.remove(&normalize(name));
        });
    }

    fn edit_challenges(&self, edit: impl FnOnce(&mut HashMap<String, Arc<CertifiedKey>>)) {
        let _writer = self
            .challenge_writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut challenges = HashMap::clone(&self.challenges.load());
        edit(&mut challenges);
        self.challenges.store(Arc::new(challenges));
    }

    /// The challenge certificate for this SNI, if one is pending.
    pub(super) fn challenge(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let name = normalize(name?);
        self.challenges.load().get(&name).map(Arc::clone)
    }

    /// The certificate a client asking for `name` (its SNI, if any) gets.
    fn choose(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        self.index.load().choose(name)
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name())
    }
}

/// The resolver of the tls-alpn-01 configuration: challenge certificates only.
#[derive(Debug)]
pub(super) struct Challenges(pub(super) Arc<CertificateStore>);

impl ResolvesServerCert for Challenges {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.challenge(hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::tests::self_signed;

    fn leaf(store: &CertificateStore, name: Option<&str>) -> Option<Vec<u8>> {
        store
            .choose(name)
            .map(|certified| certified.cert[0].as_ref().to_vec())
    }

    fn der(served: &ServedCertificate) -> Vec<u8> {
        served.certified().cert[0].as_ref().to_vec()
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let store = CertificateStore::new();
        assert_eq!(leaf(&store, Some("a.example")), None);
        let first = self_signed(&["autoconfig.a.example", "autodiscover.a.example"]);
        let second = self_signed(&["*.b.example", "autoconfig.a.example"]);
        let (first_der, second_der) = (der(&first), der(&second));
        store.install("file:a", first);
        store.install("file:b", second);
        assert_eq!(
            leaf(&store, Some("Autodiscover.A.Example.")),
            Some(first_der.clone())
        );
        // The first slot with a name wins it.
        assert_eq!(
            leaf(&store, Some("autoconfig.a.example")),
            Some(first_der.clone())
        );
        assert_eq!(
            leaf(&store, Some("autoconfig.b.example")),
            Some(second_der.clone())
        );
        // A wildcard covers one label only; anything else gets the default (first slot).
        assert_eq!(leaf(&store, Some("x.y.b.example")), Some(first_der.clone()));
        assert_eq!(leaf(&store, Some("b.example")), Some(first_der.clone()));
        assert_eq!(leaf(&store, None), Some(first_der.clone()));
        // Covered: only what a certificate names, never the default's fallback.
        assert!(store.covers("Autodiscover.A.Example."));
        assert!(store.covers("autoconfig.b.example"));
        assert!(!store.covers("x.y.b.example"));
        assert!(!store.covers("b.example"));
        // Replacing keeps the slot's place; removing hands the default on.
        let renewed = self_signed(&["autoconfig.a.example"]);
        let renewed_der = der(&renewed);
        store.install("file:a", renewed);
        assert_eq!(leaf(&store, None), Some(renewed_der));
        assert!(store.remove("file:a"));
        assert!(!store.remove("file:a"));
        assert_eq!(leaf(&store, None), Some(second_der));
        assert_eq!(store.slots().len(), 1);
    }

    #[test]
    fn leading_slots_replaced_in_one_swap() {
        let store = CertificateStore::new();
        let old = self_signed(&["autoconfig.a.example"]);
        let acme = self_signed(&["autoconfig.c.example"]);
        let (old_der, acme_der) = (der(&old), der(&acme));
        store.install("file:a", old);
        store.install("acme:c", acme);
        let new = self_signed(&["autoconfig.b.example"]);
        let new_der = der(&new);
        let kept = self_signed(&["autoconfig.a.example"]);
        let kept_der = der(&kept);
        store.replace_leading(
            |slot| slot.starts_with("file:"),
            vec![("file:b".into(), new), ("file:a".into(), kept)],
        );
        assert_eq!(leaf(&store, None), Some(new_der.clone()));
        assert_eq!(leaf(&store, Some("autoconfig.b.example")), Some(new_der));
        assert_eq!(leaf(&store, Some("autoconfig.a.example")), Some(kept_der));
        assert_ne!(leaf(&store, Some("autoconfig.a.example")), Some(old_der));
        assert_eq!(leaf(&store, Some("autoconfig.c.example")), Some(acme_der));
        let slots: Vec<String> = store.slots().into_iter().map(|(slot, _)| slot).collect();
        assert_eq!(slots, ["file:b", "file:a", "acme:c"]);
    }

    #[test]
    fn challenges_by_name() {
        let store = CertificateStore::new();
        store.set_challenge(
            "Autoconfig.A.Example",
            self_signed(&["autoconfig.a.example"]),
        );
        assert!(store.challenge(Some("autoconfig.a.example")).is_some());
        assert!(store.challenge(Some("autodiscover.a.example")).is_none());
        assert!(store.challenge(None).is_none());
        store.clear_challenge("autoconfig.a.example");
        assert!(store.challenge(Some("autoconfig.a.example")).is_none());
        // A challenge is never a served certificate.
        assert!(store.is_empty());
    }
}
