//! The answers to the CA's challenges while an order is pending: http-01 tokens, served on
//! the plain HTTP port under `/.well-known/acme-challenge/` (RFC 8555 §8.3). Shared by the
//! ordering task, which publishes and withdraws them, and the HTTP layer, which only reads;
//! it outlives configuration reloads.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// http-01 key authorizations by token.
#[derive(Debug, Default)]
pub struct Http01Tokens {
    tokens: RwLock<HashMap<String, String>>,
}

impl Http01Tokens {
    /// The key authorization to answer for `token`, while its challenge is pending.
    pub fn answer(&self, token: &str) -> Option<String> {
        self.tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
    }

    pub(super) fn publish(&self, token: &str, key_authorization: &str) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    pub(super) fn withdraw(&self, token: &str) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }
}
