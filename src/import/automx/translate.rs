//! The whole automx.conf onto the model: the provider, the served domains (listed or `*`),
//! `[global]` as `[defaults]`, each domain's own section, and profile signing.

use std::collections::HashSet;

use super::text::{list, strip_variables};
use super::{AUTOMX, AUTOMX_OPTIONS, AutomxConf, DEFAULT, GLOBAL, known_option};
use crate::account::Domain;
use crate::import::{BackendOut, DomainOut, ImportError, Imported, fit};

impl AutomxConf<'_> {
    pub(super) fn translate(&self) -> Result<Imported, ImportError> {
        if !self.has_section(AUTOMX) {
            return Err(ImportError::Invalid {
                file: self.file.to_owned(),
                line: None,
                message: "no [automx] section (automx refuses to run without one)".into(),
            });
        }
        let provider_text = self.get(AUTOMX, "provider").ok_or_else(|| {
            self.invalid(AUTOMX, "provider", "missing (automx requires it)".into())
        })?;
        let provider_id = Domain::parse(provider_text)
            .map_err(|_| {
                self.invalid(
                    AUTOMX,
                    "provider",
                    format!("{provider_text:?} is not a domain name"),
                )
            })?
            .to_string();
        let domains_text = self.get(AUTOMX, "domains").ok_or_else(|| {
            self.invalid(AUTOMX, "domains", "missing (automx requires it)".into())
        })?;

        let mut header = vec![
            format!(
                "Imported from the automx configuration {} by `mxconf import automx`.",
                self.file
            ),
            "Check it with `mxconf check-config --config FILE` and read every comment below:"
                .into(),
            "each marks a setting that did not carry over as it was.".into(),
        ];
        let mut unhandled = self.automx_section_notes();
        unhandled.extend(self.unknown_option_notes());

        let items = list(domains_text);
        let wildcard = items.first().is_some_and(|first| first == "*");
        let mut provider_notes = Vec::new();
        let mut domain_names = Vec::new();
        if wildcard {
            header.push(String::new());
            header.extend([
                "automx had `domains = *`: it answered for ANY domain, using a domain's own section"
                    .to_owned(),
                "or else [global]. mxconf answers only for domains it lists, so [global] became"
                    .into(),
                "[defaults] below: add an empty table per domain you serve to give it those settings,"
                    .into(),
                "e.g.  [domains.\"example.org\"]".into(),
            ]);
            domain_names.extend(self.domain_sections(&mut unhandled));
        } else {
            for item in &items {
                if !crate::import::add_domain(&mut domain_names, item) {
                    unhandled.push(format!("[automx] domains: {item:?} is not a domain name"));
                }
            }
            if domains_text.contains(',') && domains_text.split_whitespace().count() < items.len() {
                unhandled.push(
                    "[automx] domains: a comma without a space after it made automx read two names as one; \
                     both are served here"
                        .into(),
                );
            }
        }

        let uses_global = wildcard
            || domain_names
                .iter()
                .any(|d| !self.has_section(d) || self.get(d, "backend") == Some(GLOBAL));
        let mut backends: Vec<BackendOut> = Vec::new();
        let mut collect = |found: Vec<BackendOut>| {
            for backend in found {
                if !backends.iter().any(|b| b.name == backend.name) {
                    backends.push(backend);
                }
            }
        };
        let defaults = if uses_global && self.has_section(GLOBAL) {
            let eval = self.evaluate(GLOBAL)?;
            let (out, found) = eval.instantiate(None);
            collect(found);
            Some((out, eval))
        } else {
            if uses_global {
                unhandled.push(
                    "automx needed a [global] section for some domain but there is none (it answered 500)"
                        .into(),
                );
            }
            None
        };

        let name_source = if self.has_section(GLOBAL) {
            GLOBAL
        } else {
            DEFAULT
        };
        let (display_name, short_name) =
            self.provider_names(name_source, &provider_id, &mut provider_notes);

        let mut domains = Vec::new();
        // (section, domain): which section's options automx read for each served domain.
        let mut serving: Vec<(&str, &str)> = Vec::new();
        if wildcard && self.has_section(GLOBAL) {
            serving.push((GLOBAL, "any other domain"));
        }
        for name in &domain_names {
            let section = if self.has_section(name) {
                name.as_str()
            } else {
                GLOBAL
            };
            if section == GLOBAL && !self.has_section(GLOBAL) {
                // automx answered 500 for such a domain; mxconf serves it with no servers
                // until the admin fills the table in.
                let mut out = DomainOut::default();
                out.notes.push(format!(
                    "automx had no section for {name} and no [global]: it answered 500. Fill this in."
                ));
                domains.push((name.clone(), out));
                continue;
            }
            serving.push((section, name));
            let from_global = section == GLOBAL || self.get(section, "backend") == Some(GLOBAL);
            let (mut out, found) = match (&defaults, from_global) {
                (Some((_, global)), true) => global.instantiate(Some(name)),
                _ => self.evaluate(section)?.instantiate(Some(name)),
            };
            collect(found);
            if from_global {
                // [global]'s own notes are already above [defaults].
                out.notes = vec![format!("automx served {name} from [global].")];
            } else {
                out.notes
                    .insert(0, format!("From automx section [{section}]."));
            }
            if let Some((default_out, _)) = &defaults {
                if default_out.same_settings(&out) {
                    out = DomainOut {
                        notes: out.notes,
                        ..DomainOut::default()
                    };
                    out.notes.push("Same settings as [defaults].".into());
                } else {
                    // automx did not fall back to [global] for a domain with its own
                    // section; an empty list keeps mxconf's [defaults] from filling in.
                    for (kind, theirs) in default_out.servers.iter() {
                        let mine = &mut out.servers[kind];
                        if mine.is_none() && theirs.is_some() {
                            *mine = Some(Vec::new());
                        }
                    }
                    if out.sources.is_none() && default_out.sources.is_some() {
                        out.sources = Some(Vec::new());
                    }
                }
            }
            out.notes.retain(|note| !note.is_empty());
            domains.push((name.clone(), out));
        }

        if !unhandled.is_empty() {
            header.push(String::new());
            header.push("Not carried over:".into());
            header.extend(unhandled.into_iter().map(|note| format!("- {note}")));
        }
        let defaults = defaults.map(|(mut out, _)| {
            out.notes.insert(
                0,
                "From automx section [global] (with [DEFAULT] merged in).".into(),
            );
            out
        });
        let signing = self.signing(&serving);
        let limits = self.limits()?;
        Ok(Imported {
            header,
            provider_id,
            display_name,
            short_name,
            provider_notes,
            signing: signing.table,
            limits,
            backends,
            defaults,
            domains,
            warnings: signing.warnings,
        })
    }

    /// `[automx]` options mxconf handles differently, each with the reason.
    fn automx_section_notes(&self) -> Vec<String> {
        self.own(AUTOMX)
            .into_iter()
            .filter_map(
                |(key, value)| match AUTOMX_OPTIONS.iter().find(|(name, _)| *name == key) {
                    Some((_, "")) => None,
                    Some((_, why)) => Some(format!("[automx] {key} = {value}: {why}")),
                    None => Some(format!("[automx] {key} = {value}: not an automx option")),
                },
            )
            .collect()
    }

    /// Options automx would not read at all (typos, options of other tools).
    fn unknown_option_notes(&self) -> Vec<String> {
        let filter_commands: HashSet<String> = self
            .ini
            .get_map_ref()
            .keys()
            .flat_map(|section| {
                self.get(section, "section_filter")
                    .map(list)
                    .unwrap_or_default()
            })
            .collect();
        let mut notes = Vec::new();
        for section in self.ini.get_map_ref().keys() {
            if section == AUTOMX {
                continue;
            }
            for (key, _) in self.own(section) {
                if !known_option(key) && !filter_commands.contains(key) {
                    notes.push(format!("[{section}] {key}: not an automx option, ignored"));
                }
            }
        }
        notes
    }

    /// With `domains = *`: the sections named like a domain that automx would pick for it.
    /// Sections only reached through `follow` or a filter are not domains of their own.
    fn domain_sections(&self, notes: &mut Vec<String>) -> Vec<String> {
        let mut reached: HashSet<String> = HashSet::new();
        for section in self.ini.get_map_ref().keys() {
            if let Some(target) = self.get(section, "follow") {
                reached.insert(target.to_ascii_lowercase());
            }
            if let Some(filters) = self.get(section, "section_filter") {
                reached.extend(list(filters));
            }
        }
        let mut names = Vec::new();
        for section in self.ini.get_map_ref().keys() {
            if [AUTOMX, DEFAULT, GLOBAL].contains(&section.as_str()) || reached.contains(section) {
                continue;
            }
            match Domain::parse(section) {
                Ok(domain) => names.push(domain.to_string()),
                Err(_) => notes.push(format!(
                    "[{section}]: not a domain name and not reached by follow/section_filter, so never used"
                )),
            }
        }
        names
    }

    /// `account_name` / `account_name_short` → the provider's names. mxconf has one provider
    /// name for all domains, and no per-user part, so `${…}` variables are cut out.
    fn provider_names(
        &self,
        section: &str,
        provider_id: &str,
        notes: &mut Vec<String>,
    ) -> (String, String) {
        let mut pick = |option: &str| {
            let raw = self.get(section, option)?;
            let stripped = strip_variables(raw);
            if stripped != raw {
                notes.push(format!(
                    "automx {option} = {raw}: mxconf's provider names are the same for every user, \
                     so the ${{…}} part was dropped"
                ));
            }
            (!stripped.is_empty()).then_some(stripped)
        };
        let display = pick("account_name").unwrap_or_else(|| provider_id.to_owned());
        let short = pick("account_name_short").unwrap_or_else(|| display.clone());
        (
            fit(&display, 60, "display-name", notes),
            fit(&short, 20, "short-name", notes),
        )
    }
}
