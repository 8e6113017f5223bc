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
    Fr,
    Es,
    It,
    Nl,
}

impl Lang {
    /// Every language, the default first (used when nothing the visitor accepts matches).
    pub const ALL: [Lang; 6] = [Lang::En, Lang::De, Lang::Fr, Lang::Es, Lang::It, Lang::Nl];

    /// The BCP 47 primary tag: `<html lang>`, `Content-Language`, `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
            Lang::It => "it",
            Lang::Nl => "nl",
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Fr => &FR,
            Lang::Es => &ES,
            Lang::It => &IT,
            Lang::Nl => &NL,
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
    /// Whether the address itself is the problem (not the server, not a limit).
    pub fn is_about_address(&self) -> bool {
        matches!(
            self,
            FormProblem::Address(_) | FormProblem::UnknownDomain(_) | FormProblem::Rejected
        )
    }

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

// French: "vous", French typography (a no-break space before `:`, inside « », a narrow one
// before `?`). The template puts `:` after `error_heading`, so its no-break space is part of
// the string.
const FR: Strings = Strings {
    language_name: "Français",
    title: "Configurer votre messagerie",
    lead: "Saisissez votre adresse e-mail pour télécharger un profil de configuration pour \
           iPhone, iPad ou Mac. Il configure votre messagerie, ainsi que le calendrier et les \
           contacts lorsqu’ils sont disponibles.",
    email_label: "Adresse e-mail",
    email_placeholder: "marie.dupont@example.com",
    name_label: "Votre nom",
    optional: "facultatif",
    name_hint: "Affiché aux personnes à qui vous écrivez.",
    submit: "Télécharger le profil",
    ios_heading: "Sur votre iPhone ou iPad",
    ipad_heading: "Sur un iPad",
    ios_steps: &[
        "Saisissez votre adresse ci-dessus et touchez «\u{a0}Télécharger le profil\u{a0}».",
        "Lorsque Safari vous demande s’il faut autoriser le téléchargement, touchez \
         «\u{a0}Autoriser\u{a0}».",
        "Ouvrez l’app Réglages et touchez «\u{a0}Profil téléchargé\u{a0}» en haut de l’écran \
         (ou Général → VPN et gestion de l’appareil).",
        "Touchez «\u{a0}Installer\u{a0}», saisissez votre code et confirmez avec \
         «\u{a0}Installer\u{a0}». Saisissez le mot de passe de votre messagerie lorsqu’il vous \
         est demandé.",
    ],
    ios_window: "Installez-le dans les 8\u{a0}minutes\u{a0}: passé ce délai, iOS supprime le \
                 profil téléchargé et vous devrez le télécharger à nouveau.",
    ios_safari: "Utilisez Safari\u{a0}: certains autres navigateurs se contentent d’enregistrer \
                 le fichier.",
    mac_heading: "Sur votre Mac",
    mac_steps: &[
        "Saisissez votre adresse ci-dessus et cliquez sur «\u{a0}Télécharger le profil\u{a0}».",
        "Ouvrez Réglages Système → Confidentialité et sécurité → Profils \
         (selon la version\u{a0}: Général → Gestion des appareils).",
        "Double-cliquez sur le profil téléchargé, cliquez sur «\u{a0}Installer\u{a0}» et \
         saisissez le mot de passe de votre messagerie lorsqu’il vous est demandé.",
    ],
    desktop_heading: "Vous configurez un iPhone ou un iPad\u{202f}?",
    desktop_qr: "Scannez ce code avec l’appareil photo du téléphone pour y ouvrir cette page, \
                 puis suivez les étapes sur le téléphone.",
    qr_label: "Code QR qui ouvre cette page",
    android_heading: "Sur Android",
    android_text: "Les profils de configuration sont destinés aux appareils Apple. Ajoutez votre \
                   compte dans votre application de messagerie en saisissant simplement votre \
                   adresse.",
    clients_line: "Thunderbird, Outlook et de nombreux autres logiciels de messagerie n’ont pas \
                   besoin de profil\u{a0}: saisissez-y votre adresse e-mail et ils se configurent \
                   tout seuls.",
    languages_label: "Langue",
    error_heading: "Vérifiez votre adresse\u{a0}",
    error_empty: "Veuillez saisir votre adresse e-mail.",
    error_too_long: "Cette adresse est trop longue.",
    error_missing_at: "Une adresse e-mail contient un @, par exemple marie@example.com.",
    error_local_part: "La partie avant le @ n’est pas valide.",
    error_domain: "La partie après le @ n’est pas un nom de domaine valide.",
    error_unknown_domain: "Nous ne fournissons pas de réglages de messagerie pour {domain}.",
    error_rejected: "Impossible de créer le profil à partir de ces informations.",
    error_unavailable: "Le profil ne peut pas être créé pour le moment. Veuillez réessayer plus \
                        tard.",
    error_too_many: "Trop de tentatives. Veuillez réessayer dans {minutes}\u{a0}minutes.",
    error_too_many_one: "Trop de tentatives. Veuillez réessayer dans une minute.",
    error_browser_invalid: "Veuillez saisir une adresse e-mail complète, par exemple \
                            marie@example.com.",
};

// Spanish: "tú", as Apple's own Spanish does; « » quotes.
const ES: Strings = Strings {
    language_name: "Español",
    title: "Configura tu correo",
    lead: "Introduce tu dirección de correo electrónico para descargar un perfil de \
           configuración para iPhone, iPad o Mac. Configura el correo y, si están disponibles, \
           también el calendario y los contactos.",
    email_label: "Dirección de correo electrónico",
    email_placeholder: "maria.garcia@example.com",
    name_label: "Tu nombre",
    optional: "opcional",
    name_hint: "Lo verán las personas a las que escribas.",
    submit: "Descargar perfil",
    ios_heading: "En tu iPhone o iPad",
    ipad_heading: "En un iPad",
    ios_steps: &[
        "Introduce tu dirección arriba y toca «Descargar perfil».",
        "Cuando Safari te pregunte si quieres permitir la descarga, toca «Permitir».",
        "Abre la app Ajustes y toca «Perfil descargado», en la parte superior \
         (o General → VPN y gestión de dispositivos).",
        "Toca «Instalar», introduce tu código y confirma con «Instalar». Cuando se te pida, \
         introduce la contraseña de tu correo.",
    ],
    ios_window: "Instálalo en un plazo de 8 minutos: pasado ese tiempo, iOS elimina el perfil \
                 descargado y tendrás que volver a descargarlo.",
    ios_safari: "Usa Safari: algunos otros navegadores solo guardan el archivo.",
    mac_heading: "En tu Mac",
    mac_steps: &[
        "Introduce tu dirección arriba y haz clic en «Descargar perfil».",
        "Abre Ajustes del Sistema → Privacidad y seguridad → Perfiles \
         (en algunas versiones: General → Gestión de dispositivos).",
        "Haz doble clic en el perfil descargado, haz clic en «Instalar» e introduce la \
         contraseña de tu correo cuando se te pida.",
    ],
    desktop_heading: "¿Vas a configurar un iPhone o un iPad?",
    desktop_qr: "Escanea este código con la cámara del teléfono para abrir esta página en él y \
                 sigue los pasos en el teléfono.",
    qr_label: "Código QR que abre esta página",
    android_heading: "En Android",
    android_text: "Los perfiles de configuración son para dispositivos Apple. Añade tu cuenta en \
                   tu app de correo con solo tu dirección.",
    clients_line: "Thunderbird, Outlook y muchos otros programas de correo no necesitan ningún \
                   perfil: introduce allí tu dirección de correo y se configuran solos.",
    languages_label: "Idioma",
    error_heading: "Revisa tu dirección",
    error_empty: "Introduce tu dirección de correo electrónico.",
    error_too_long: "Esta dirección es demasiado larga.",
    error_missing_at: "Una dirección de correo lleva una arroba (@), como maria@example.com.",
    error_local_part: "La parte anterior a la @ no es válida.",
    error_domain: "La parte posterior a la @ no es un nombre de dominio válido.",
    error_unknown_domain: "No ofrecemos ajustes de correo para {domain}.",
    error_rejected: "No se ha podido crear el perfil con estos datos.",
    error_unavailable: "Ahora mismo no se puede crear el perfil. Vuelve a intentarlo más tarde.",
    error_too_many: "Demasiados intentos. Vuelve a intentarlo dentro de {minutes} minutos.",
    error_too_many_one: "Demasiados intentos. Vuelve a intentarlo dentro de un minuto.",
    error_browser_invalid: "Introduce una dirección de correo completa, como maria@example.com.",
};

// Italian: "tu", as Apple's own Italian does; « » quotes.
const IT: Strings = Strings {
    language_name: "Italiano",
    title: "Configura la tua email",
    lead: "Inserisci il tuo indirizzo email per scaricare un profilo di configurazione per \
           iPhone, iPad o Mac. Configura la posta e, dove disponibili, anche calendario e \
           contatti.",
    email_label: "Indirizzo email",
    email_placeholder: "mario.rossi@example.com",
    name_label: "Il tuo nome",
    optional: "facoltativo",
    name_hint: "Viene mostrato alle persone a cui scrivi.",
    submit: "Scarica il profilo",
    ios_heading: "Sul tuo iPhone o iPad",
    ipad_heading: "Su un iPad",
    ios_steps: &[
        "Inserisci il tuo indirizzo qui sopra e tocca «Scarica il profilo».",
        "Quando Safari ti chiede se consentire il download, tocca «Consenti».",
        "Apri l’app Impostazioni e tocca «Profilo scaricato» in alto \
         (oppure Generali → VPN e gestione dispositivi).",
        "Tocca «Installa», inserisci il codice e conferma con «Installa». Quando richiesto, \
         inserisci la password della tua email.",
    ],
    ios_window: "Installalo entro 8 minuti: trascorso questo tempo, iOS elimina il profilo \
                 scaricato e dovrai scaricarlo di nuovo.",
    ios_safari: "Usa Safari: alcuni altri browser si limitano a salvare il file.",
    mac_heading: "Sul tuo Mac",
    mac_steps: &[
        "Inserisci il tuo indirizzo qui sopra e fai clic su «Scarica il profilo».",
        "Apri Impostazioni di Sistema → Privacy e sicurezza → Profili \
         (in alcune versioni: Generali → Gestione dispositivi).",
        "Fai doppio clic sul profilo scaricato, fai clic su «Installa» e, quando richiesto, \
         inserisci la password della tua email.",
    ],
    desktop_heading: "Devi configurare un iPhone o un iPad?",
    desktop_qr: "Inquadra questo codice con la fotocamera del telefono per aprire lì questa \
                 pagina, poi segui i passaggi sul telefono.",
    qr_label: "Codice QR che apre questa pagina",
    android_heading: "Su Android",
    android_text: "I profili di configurazione sono pensati per i dispositivi Apple. Aggiungi il \
                   tuo account nell’app di posta inserendo semplicemente il tuo indirizzo.",
    clients_line: "Thunderbird, Outlook e molti altri programmi di posta non hanno bisogno di un \
                   profilo: inserisci lì il tuo indirizzo email e si configurano da soli.",
    languages_label: "Lingua",
    error_heading: "Controlla il tuo indirizzo",
    error_empty: "Inserisci il tuo indirizzo email.",
    error_too_long: "Questo indirizzo è troppo lungo.",
    error_missing_at: "Un indirizzo email contiene una chiocciola (@), ad esempio \
                       mario@example.com.",
    error_local_part: "La parte prima della @ non è valida.",
    error_domain: "La parte dopo la @ non è un nome di dominio valido.",
    error_unknown_domain: "Non forniamo impostazioni email per {domain}.",
    error_rejected: "Non è stato possibile creare il profilo con questi dati.",
    error_unavailable: "Al momento non è possibile creare il profilo. Riprova più tardi.",
    error_too_many: "Troppi tentativi. Riprova tra {minutes} minuti.",
    error_too_many_one: "Troppi tentativi. Riprova tra un minuto.",
    error_browser_invalid: "Inserisci un indirizzo email completo, ad esempio mario@example.com.",
};

// Dutch: "je", as Apple's own Dutch does; ‘ ’ quotes.
const NL: Strings = Strings {
    language_name: "Nederlands",
    title: "Je e-mail instellen",
    lead: "Vul je e-mailadres in om een configuratieprofiel voor iPhone, iPad of Mac te \
           downloaden. Het stelt je e-mail in, en waar beschikbaar ook je agenda en contacten.",
    email_label: "E-mailadres",
    email_placeholder: "jan.jansen@example.com",
    name_label: "Je naam",
    optional: "optioneel",
    name_hint: "Wordt getoond aan de mensen naar wie je mailt.",
    submit: "Profiel downloaden",
    ios_heading: "Op je iPhone of iPad",
    ipad_heading: "Op een iPad",
    ios_steps: &[
        "Vul hierboven je adres in en tik op ‘Profiel downloaden’.",
        "Als Safari vraagt of je de download wilt toestaan, tik je op ‘Sta toe’.",
        "Open de Instellingen-app en tik bovenaan op ‘Profiel gedownload’ \
         (of ga naar Algemeen → VPN en apparaatbeheer).",
        "Tik op ‘Installeer’, voer je toegangscode in en bevestig met ‘Installeer’. Voer je \
         e-mailwachtwoord in als daarom wordt gevraagd.",
    ],
    ios_window: "Installeer het binnen 8 minuten: daarna verwijdert iOS het gedownloade profiel \
                 en moet je het opnieuw downloaden.",
    ios_safari: "Gebruik Safari: sommige andere browsers slaan het bestand alleen op.",
    mac_heading: "Op je Mac",
    mac_steps: &[
        "Vul hierboven je adres in en klik op ‘Profiel downloaden’.",
        "Open Systeeminstellingen → Privacy en beveiliging → Profielen \
         (in sommige versies: Algemeen → Apparaatbeheer).",
        "Dubbelklik op het gedownloade profiel, klik op ‘Installeer’ en voer je \
         e-mailwachtwoord in als daarom wordt gevraagd.",
    ],
    desktop_heading: "Stel je een iPhone of iPad in?",
    desktop_qr: "Scan deze code met de camera van je telefoon om deze pagina daar te openen, en \
                 volg daarna de stappen op de telefoon.",
    qr_label: "QR-code die deze pagina opent",
    android_heading: "Op Android",
    android_text: "Configuratieprofielen zijn bedoeld voor Apple-apparaten. Voeg je account toe \
                   in je e-mailapp; alleen je adres is genoeg.",
    clients_line: "Thunderbird, Outlook en veel andere e-mailprogramma’s hebben geen profiel \
                   nodig: vul daar je e-mailadres in en ze stellen zichzelf in.",
    languages_label: "Taal",
    error_heading: "Controleer je adres",
    error_empty: "Vul je e-mailadres in.",
    error_too_long: "Dit adres is te lang.",
    error_missing_at: "Een e-mailadres bevat een apenstaartje (@), zoals jan@example.com.",
    error_local_part: "Het deel vóór de @ is ongeldig.",
    error_domain: "Het deel na de @ is geen geldige domeinnaam.",
    error_unknown_domain: "Voor {domain} bieden wij geen e-mailinstellingen aan.",
    error_rejected: "Met deze gegevens kon geen profiel worden gemaakt.",
    error_unavailable: "Het profiel kan nu niet worden gemaakt. Probeer het later opnieuw.",
    error_too_many: "Te veel pogingen. Probeer het over {minutes} minuten opnieuw.",
    error_too_many_one: "Te veel pogingen. Probeer het over een minuut opnieuw.",
    error_browser_invalid: "Vul een volledig e-mailadres in, zoals jan@example.com.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_overrides_header() {
        assert_eq!(Lang::negotiate(Some("de"), Some("en")), Lang::De);
        assert_eq!(Lang::negotiate(Some("DE-at"), None), Lang::De);
        assert_eq!(Lang::negotiate(Some("en"), Some("de")), Lang::En);
        assert_eq!(Lang::negotiate(Some("nl-BE"), Some("de")), Lang::Nl);
        // An unknown override falls back to the header, not to English.
        assert_eq!(Lang::negotiate(Some("pt"), Some("de")), Lang::De);
    }

    #[test]
    fn accept_language_honours_q_values() {
        let cases = [
            ("de", Lang::De),
            ("de-DE,de;q=0.9,en;q=0.8", Lang::De),
            ("en-US,en;q=0.9,de;q=0.8", Lang::En),
            ("fr-CH, fr;q=0.9, de;q=0.8, en;q=0.7", Lang::Fr),
            ("pt-BR, pt;q=0.9, es;q=0.8, en;q=0.7", Lang::Es),
            ("it-IT,it;q=0.9", Lang::It),
            ("nl;q=0.4, fr;q=0.3", Lang::Nl),
            ("pt, *;q=0.5, es;q=0.6", Lang::Es),
            ("en;q=0.5, de;q=0.6", Lang::De),
            ("de;q=0, en;q=0.1", Lang::En),
            ("de;q=0", Lang::En),
            ("pt, *;q=0.5", Lang::En),
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

    /// Every language has every string of English, none empty, the same number of steps and
    /// the same `{…}` placeholders; only words that are the same in both may equal English.
    #[test]
    fn every_language_has_every_key() {
        fn placeholders(text: &str) -> Vec<&str> {
            text.split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                .collect()
        }
        /// A string, or each step of a list.
        fn texts(value: &serde_json::Value) -> Vec<&str> {
            match value {
                serde_json::Value::Array(steps) => {
                    steps.iter().filter_map(serde_json::Value::as_str).collect()
                }
                other => other.as_str().into_iter().collect(),
            }
        }
        let english = serde_json::to_value(Lang::En.strings()).unwrap();
        let english = english.as_object().unwrap();
        for lang in &Lang::ALL[1..] {
            let strings = serde_json::to_value(lang.strings()).unwrap();
            let strings = strings.as_object().unwrap();
            assert_eq!(
                strings.keys().collect::<Vec<_>>(),
                english.keys().collect::<Vec<_>>(),
                "{lang:?}"
            );
            for (key, value) in strings {
                let (theirs, ours) = (texts(value), texts(&english[key]));
                assert_eq!(theirs.len(), ours.len(), "{lang:?} {key}");
                for (text, original) in theirs.iter().zip(&ours) {
                    assert!(!text.trim().is_empty(), "{lang:?} {key}");
                    assert_eq!(placeholders(text), placeholders(original), "{lang:?} {key}");
                    let same_word = key == "optional";
                    assert!(text != original || same_word, "{lang:?} {key} is English");
                }
            }
        }
    }

    #[test]
    fn too_many_says_when_in_minutes() {
        let cases = [
            (
                10,
                Lang::En,
                "Too many attempts. Please try again in 10 minutes.",
            ),
            (
                1,
                Lang::En,
                "Too many attempts. Please try again in a minute.",
            ),
            (
                0,
                Lang::En,
                "Too many attempts. Please try again in a minute.",
            ),
            (
                7,
                Lang::De,
                "Zu viele Versuche. Bitte versuchen Sie es in 7 Minuten erneut.",
            ),
            (
                1,
                Lang::De,
                "Zu viele Versuche. Bitte versuchen Sie es in einer Minute erneut.",
            ),
            (
                3,
                Lang::Fr,
                "Trop de tentatives. Veuillez réessayer dans 3\u{a0}minutes.",
            ),
            (
                5,
                Lang::Es,
                "Demasiados intentos. Vuelve a intentarlo dentro de 5 minutos.",
            ),
            (1, Lang::It, "Troppi tentativi. Riprova tra un minuto."),
            (
                2,
                Lang::Nl,
                "Te veel pogingen. Probeer het over 2 minuten opnieuw.",
            ),
        ];
        for (minutes, lang, expected) in cases {
            assert_eq!(FormProblem::TooMany { minutes }.message(lang), expected);
        }
    }
}
