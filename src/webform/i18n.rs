//! The form's words, one [`Strings`] table per language, and the choice of language from
//! `?lang=` and `Accept-Language`. To add a language: write one more table, add a [`Lang`]
//! variant and its line in [`Lang::ALL`]; the compiler points at every other place.

use serde::Serialize;

use crate::account::AddressError;

/// A language the form speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    /// Every language, the default first (used when nothing the visitor accepts matches).
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The BCP 47 primary tag: `<html lang>`, `Content-Language`, `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }

    /// A `?lang=` value: a primary tag, any case, region ignored (`de-AT` → German).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        Lang::ALL
            .into_iter()
            .find(|lang| lang.code().eq_ignore_ascii_case(primary))
    }

    /// `?lang=` wins; else the `Accept-Language` entry with the highest q-value that we speak
    /// (the header's order breaks ties, `q=0` means "not this one", `*` is our default);
    /// else English.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = query.and_then(Lang::from_tag) {
            return lang;
        }
        let mut best: Option<(u16, Lang)> = None;
        for entry in accept_language.unwrap_or_default().split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let quality = parts
                .find_map(|param| {
                    let (key, value) = param.split_once('=')?;
                    key.trim().eq_ignore_ascii_case("q").then(|| parse_q(value))
                })
                .unwrap_or(Some(1000));
            let (Some(quality), false) = (quality, tag.is_empty()) else {
                continue;
            };
            let lang = if tag == "*" {
                Some(Lang::ALL[0])
            } else {
                Lang::from_tag(tag)
            };
            if let Some(lang) = lang
                && quality > 0
                && best.is_none_or(|(q, _)| quality > q)
            {
                best = Some((quality, lang));
            }
        }
        best.map_or(Lang::ALL[0], |(_, lang)| lang)
    }
}

/// RFC 9110 §12.4.2 qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed, which
/// drops the entry rather than guessing.
fn parse_q(text: &str) -> Option<u16> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Why the form is shown again with a message (a bad address is refused in the page itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormProblem {
    Address(AddressError),
    /// The address is fine but this service does not configure its domain (shown as typed).
    UnknownDomain(String),
    /// The profile service refused the request for another reason (400).
    Rejected,
    /// Signing or a backend failed (503); the visitor can only retry later.
    Unavailable,
    /// Rate limited (429): the visitor may try again in this many minutes (at least 1).
    TooMany {
        minutes: u64,
    },
}

impl FormProblem {
    /// The visitor-facing message. It is plain text: the template escapes it.
    pub fn message(&self, lang: Lang) -> String {
        let t = lang.strings();
        match self {
            FormProblem::Address(error) => match error {
                AddressError::Empty => t.error_empty,
                AddressError::TooLong => t.error_too_long,
                AddressError::MissingAt => t.error_missing_at,
                AddressError::LocalPartLength
                | AddressError::LocalPartCharacter
                | AddressError::LocalPartDot => t.error_local_part,
                AddressError::InvalidDomain => t.error_domain,
            }
            .to_owned(),
            FormProblem::UnknownDomain(domain) => {
                t.error_unknown_domain.replace("{domain}", domain)
            }
            FormProblem::Rejected => t.error_rejected.to_owned(),
            FormProblem::Unavailable => t.error_unavailable.to_owned(),
            FormProblem::TooMany { minutes: 0 | 1 } => t.error_too_many_one.to_owned(),
            FormProblem::TooMany { minutes } => {
                t.error_too_many.replace("{minutes}", &minutes.to_string())
            }
        }
    }
}

/// Every visible word of the page in one language. Plain text only (the template escapes);
/// `{provider}` and `{domain}` are filled in by the code that uses the string.
#[derive(Debug, Serialize)]
pub struct Strings {
    /// The language's own name, for the language switcher.
    pub language_name: &'static str,
    pub title: &'static str,
    pub lead: &'static str,
    pub email_label: &'static str,
    pub email_placeholder: &'static str,
    pub name_label: &'static str,
    pub optional: &'static str,
    pub name_hint: &'static str,
    pub submit: &'static str,
    pub ios_heading: &'static str,
    pub ipad_heading: &'static str,
    pub ios_steps: &'static [&'static str],
    pub ios_window: &'static str,
    pub ios_safari: &'static str,
    pub mac_heading: &'static str,
    pub mac_steps: &'static [&'static str],
    pub desktop_heading: &'static str,
    pub desktop_qr: &'static str,
    pub qr_label: &'static str,
    pub android_heading: &'static str,
    pub android_text: &'static str,
    pub clients_line: &'static str,
    pub languages_label: &'static str,
    pub error_heading: &'static str,
    pub error_empty: &'static str,
    pub error_too_long: &'static str,
    pub error_missing_at: &'static str,
    pub error_local_part: &'static str,
    pub error_domain: &'static str,
    pub error_unknown_domain: &'static str,
    pub error_rejected: &'static str,
    pub error_unavailable: &'static str,
    /// `{minutes}` is filled in; `error_too_many_one` is the singular.
    pub error_too_many: &'static str,
    pub error_too_many_one: &'static str,
    /// Shown by the optional script when the browser's own check fails.
    pub error_browser_invalid: &'static str,
}

const EN: Strings = Strings {
    language_name: "English",
    title: "Set up your email",
    lead: "Enter your email address to download a configuration profile for iPhone, iPad or Mac. \
           It sets up mail, and calendar and contacts where available.",
    email_label: "Email address",
    email_placeholder: "jane.doe@example.com",
    name_label: "Your name",
    optional: "optional",
    name_hint: "Shown to the people you write to.",
    submit: "Download profile",
    ios_heading: "On your iPhone or iPad",
    ipad_heading: "On an iPad",
    ios_steps: &[
        "Enter your address above and tap “Download profile”.",
        "When Safari asks whether to allow the download, tap “Allow”.",
        "Open the Settings app and tap “Profile Downloaded” near the top \
         (or General → VPN & Device Management).",
        "Tap “Install”, enter your passcode and confirm with “Install”. \
         Enter your mail password when asked.",
    ],
    ios_window: "Install within 8 minutes: after that, iOS deletes the downloaded profile \
                 and you need to download it again.",
    ios_safari: "Use Safari: some other browsers only save the file.",
    mac_heading: "On your Mac",
    mac_steps: &[
        "Enter your address above and click “Download profile”.",
        "Open System Settings → Privacy & Security → Profiles \
         (on some versions: General → Device Management).",
        "Double-click the downloaded profile, click “Install” and enter your mail password \
         when asked.",
    ],
    desktop_heading: "Setting up an iPhone or iPad?",
    desktop_qr: "Scan this code with the phone’s camera to open this page there, \
                 then follow the steps on the phone.",
    qr_label: "QR code that opens this page",
    android_heading: "On Android",
    android_text: "Configuration profiles are for Apple devices. Add your account in your mail \
                   app with just your address.",
    clients_line: "Thunderbird, Outlook and many other mail programs need no profile: \
                   enter your email address there and they configure themselves.",
    languages_label: "Language",
    error_heading: "Please check your address",
    error_empty: "Please enter your email address.",
    error_too_long: "This address is too long.",
    error_missing_at: "An email address contains an @ sign, like jane@example.com.",
    error_local_part: "The part before the @ is not valid.",
    error_domain: "The part after the @ is not a valid domain name.",
    error_unknown_domain: "We do not provide email settings for {domain}.",
    error_rejected: "The profile could not be created from these details.",
    error_unavailable: "The profile cannot be created right now. Please try again later.",
    error_too_many: "Too many attempts. Please try again in {minutes} minutes.",
    error_too_many_one: "Too many attempts. Please try again in a minute.",
    error_browser_invalid: "Please enter a complete email address, like jane@example.com.",
};

const DE: Strings = Strings {
    language_name: "Deutsch",
    title: "E-Mail einrichten",
    lead: "Geben Sie Ihre E-Mail-Adresse ein, um ein Konfigurationsprofil für iPhone, iPad oder \
           Mac zu laden. Es richtet E-Mail ein, und Kalender und Kontakte, wo verfügbar.",
    email_label: "E-Mail-Adresse",
    email_placeholder: "erika.muster@example.com",
    name_label: "Ihr Name",
    optional: "optional",
    name_hint: "Wird den Empfängern Ihrer E-Mails angezeigt.",
    submit: "Profil laden",
    ios_heading: "Auf dem iPhone oder iPad",
    ipad_heading: "Auf einem iPad",
    ios_steps: &[
        "Geben Sie oben Ihre Adresse ein und tippen Sie auf „Profil laden“.",
        "Wenn Safari fragt, ob der Download erlaubt werden soll, tippen Sie auf „Erlauben“.",
        "Öffnen Sie die Einstellungen und tippen Sie oben auf „Profil geladen“ \
         (oder Allgemein → VPN und Geräteverwaltung).",
        "Tippen Sie auf „Installieren“, geben Sie Ihren Code ein und bestätigen Sie mit \
         „Installieren“. Geben Sie Ihr E-Mail-Passwort ein, wenn Sie danach gefragt werden.",
    ],
    ios_window: "Installieren Sie innerhalb von 8 Minuten: danach löscht iOS das geladene \
                 Profil und Sie müssen es erneut laden.",
    ios_safari: "Verwenden Sie Safari: manche andere Browser speichern die Datei nur.",
    mac_heading: "Auf dem Mac",
    mac_steps: &[
        "Geben Sie oben Ihre Adresse ein und klicken Sie auf „Profil laden“.",
        "Öffnen Sie Systemeinstellungen → Datenschutz & Sicherheit → Profile \
         (je nach Version: Allgemein → Geräteverwaltung).",
        "Doppelklicken Sie auf das geladene Profil, klicken Sie auf „Installieren“ und geben \
         Sie Ihr E-Mail-Passwort ein, wenn Sie danach gefragt werden.",
    ],
    desktop_heading: "iPhone oder iPad einrichten?",
    desktop_qr: "Scannen Sie diesen Code mit der Kamera des Telefons, um diese Seite dort zu \
                 öffnen, und folgen Sie dann den Schritten auf dem Telefon.",
    qr_label: "QR-Code, der diese Seite öffnet",
    android_heading: "Unter Android",
    android_text: "Konfigurationsprofile sind für Apple-Geräte. Fügen Sie Ihr Konto in Ihrer \
                   E-Mail-App einfach mit Ihrer Adresse hinzu.",
    clients_line: "Thunderbird, Outlook und viele andere E-Mail-Programme brauchen kein Profil: \
                   Geben Sie dort Ihre E-Mail-Adresse ein, und sie richten sich selbst ein.",
    languages_label: "Sprache",
    error_heading: "Bitte prüfen Sie Ihre Adresse",
    error_empty: "Bitte geben Sie Ihre E-Mail-Adresse ein.",
    error_too_long: "Diese Adresse ist zu lang.",
    error_missing_at: "Eine E-Mail-Adresse enthält ein @-Zeichen, etwa erika@example.com.",
    error_local_part: "Der Teil vor dem @ ist ungültig.",
    error_domain: "Der Teil nach dem @ ist kein gültiger Domainname.",
    error_unknown_domain: "Für {domain} stellen wir keine E-Mail-Einstellungen bereit.",
    error_rejected: "Aus diesen Angaben konnte kein Profil erstellt werden.",
    error_unavailable: "Das Profil kann gerade nicht erstellt werden. Bitte versuchen Sie es \
                        später noch einmal.",
    error_too_many: "Zu viele Versuche. Bitte versuchen Sie es in {minutes} Minuten erneut.",
    error_too_many_one: "Zu viele Versuche. Bitte versuchen Sie es in einer Minute erneut.",
    error_browser_invalid: "Bitte geben Sie eine vollständige E-Mail-Adresse ein, \
                            etwa erika@example.com.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_overrides_header() {
        assert_eq!(Lang::negotiate(Some("de"), Some("en")), Lang::De);
        assert_eq!(Lang::negotiate(Some("DE-at"), None), Lang::De);
        assert_eq!(Lang::negotiate(Some("en"), Some("de")), Lang::En);
        // An unknown override falls back to the header, not to English.
        assert_eq!(Lang::negotiate(Some("fr"), Some("de")), Lang::De);
    }

    #[test]
    fn accept_language_honours_q_values() {
        let cases = [
            ("de", Lang::De),
            ("de-DE,de;q=0.9,en;q=0.8", Lang::De),
            ("en-US,en;q=0.9,de;q=0.8", Lang::En),
            ("fr-CH, fr;q=0.9, de;q=0.8, en;q=0.7", Lang::De),
            ("en;q=0.5, de;q=0.6", Lang::De),
            ("de;q=0, en;q=0.1", Lang::En),
            ("de;q=0", Lang::En),
            ("fr, *;q=0.5", Lang::En),
            ("en;q=1.5, de;q=0.2", Lang::De),
            ("de; Q=0.4 , en;q=0.3", Lang::De),
            ("", Lang::En),
            (";;,,=", Lang::En),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::negotiate(None, Some(header)), expected, "{header:?}");
        }
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }

    #[test]
    fn q_values_parse_strictly() {
        assert_eq!(parse_q("0.8"), Some(800));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0"), Some(0));
        for bad in ["1.1", "0.1234", "-1", "x", "2"] {
            assert_eq!(parse_q(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_address_error_has_a_message_in_every_language() {
        use AddressError::*;
        for lang in Lang::ALL {
            for error in [
                Empty,
                TooLong,
                MissingAt,
                LocalPartLength,
                LocalPartCharacter,
                LocalPartDot,
                InvalidDomain,
            ] {
                assert!(!FormProblem::Address(error).message(lang).is_empty());
            }
            let unknown = FormProblem::UnknownDomain("example.net".into()).message(lang);
            assert!(unknown.contains("example.net") && !unknown.contains('{'));
        }
    }

    #[test]
    fn too_many_says_when_in_minutes() {
        let message = |minutes, lang| FormProblem::TooMany { minutes }.message(lang);
        assert_eq!(
            message(10, Lang::En),
            "Too many attempts. Please try again in 10 minutes."
        );
        assert_eq!(
            message(1, Lang::En),
            "Too many attempts. Please try again in a minute."
        );
        assert_eq!(
            message(7, Lang::De),
            "Zu viele Versuche. Bitte versuchen Sie es in 7 Minuten erneut."
        );
        assert!(message(1, Lang::De).contains("einer Minute"));
    }
}
