//! PACC documents, rendered once per configuration for every domain served by name with
//! `pacc = true`: the bytes `ua-auto-config.<domain>` serves, the digest `mxconf dns` prints
//! and the doctor's comparison are all this one rendering. Wildcard entries serve none (no
//! certificate can be planned for their hosts), and neither does a domain whose Autodiscover
//! lives on another server.

use std::collections::HashMap;

use super::{Answers, Refusal};
use crate::account::Domain;
use crate::config::{Config, DomainRedirect};
use crate::protocol::{Rendered, pacc};
use crate::resolve::Resolver;

#[derive(Debug, Default)]
pub(super) struct PaccDocuments {
    documents: HashMap<Domain, Rendered>,
    /// `file: domain "x": pacc: reason` for each enabled domain without a document.
    problems: Vec<String>,
}

impl PaccDocuments {
    pub(super) fn build(config: &Config, resolver: &Resolver) -> Self {
        let mut built = PaccDocuments::default();
        for settings in config.domain_patterns() {
            if !settings.pacc || matches!(settings.redirect, Some(DomainRedirect::Url(_))) {
                continue;
            }
            // Wildcards and names that are no domain (reported at load) have no host here.
            let Ok(domain) = Domain::parse(&settings.pattern) else {
                continue;
            };
            let rendered = resolver
                .resolve_domain(&domain)
                .map_err(|error| error.to_string())
                .and_then(|account| pacc::render(&account).map_err(|error| error.to_string()));
            match rendered {
                Ok(rendered) => {
                    built.documents.insert(domain, rendered);
                }
                Err(reason) => built.problems.push(format!(
                    "{}: domain {:?}: pacc: {reason}",
                    config.source_name(),
                    settings.pattern
                )),
            }
        }
        built.problems.sort();
        built
    }
}

impl Answers {
    /// The PACC document of `domain`; 404 where it serves none.
    pub fn pacc(&self, domain: &Domain) -> Result<Rendered, Refusal> {
        self.pacc
            .documents
            .get(domain)
            .cloned()
            .ok_or(Refusal::UnknownDomain)
    }

    /// The enabled domains whose settings make no document, each as a config error line: the
    /// server refuses to start with any (a client would find the host and no document).
    pub fn pacc_problems(&self) -> &[String] {
        &self.pacc.problems
    }
}
