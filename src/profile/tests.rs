use std::path::PathBuf;
use std::sync::Arc;

use plist::{Dictionary, Value};

use super::*;
use crate::account::EmailAddress;
use crate::config::{Config, ConfigSource};
use crate::resolve::Resolver;

/// Apple's YAML as shipped in `schema/apple/` (see its SOURCE.md).
fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/apple")
}

const PROVIDER: &str =
    "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n";

fn config(text: &str) -> Config {
    Config::from_toml(text, ConfigSource::File("test.toml".into())).unwrap()
}

fn account(config: &Config, address: &str, name: Option<&str>) -> Account {
    let resolver = Resolver::new(Arc::new(config.clone()));
    let email = EmailAddress::parse(address).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut account = runtime.block_on(resolver.resolve(&email)).unwrap();
    account.display_name = name.map(str::to_owned);
    account
}

/// Builds, serializes, parses the bytes back and checks them against Apple's YAML.
fn build_checked(config: &Config, address: &str, name: Option<&str>) -> Dictionary {
    let bytes = build(&account(config, address, name), &config.profile).unwrap();
    assert!(bytes.starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(
        !text.contains("<string></string>"),
        "empty value in\n{text}"
    );
    let value = Value::from_reader_xml(bytes.as_slice()).unwrap();
    let violations = validate_profile(&value, &spec_dir()).unwrap();
    assert!(violations.is_empty(), "{violations:#?}\n{text}");
    value.into_dictionary().unwrap()
}

fn payloads(top: &Dictionary) -> Vec<Dictionary> {
    top["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_dictionary().unwrap().clone())
        .collect()
}

fn types(top: &Dictionary) -> Vec<String> {
    payloads(top)
        .iter()
        .map(|p| p["PayloadType"].as_string().unwrap().to_owned())
        .collect()
}

fn int(dict: &Dictionary, key: &str) -> i64 {
    dict[key].as_signed_integer().unwrap()
}

#[test]
fn demo_account_has_all_four_payloads() {
    let config = Config::demo().unwrap();
    let top = build_checked(&config, "jane@example.com", Some("Jane Doe"));
    assert_eq!(
        types(&top),
        [
            "com.apple.mail.managed",
            "com.apple.eas.account",
            "com.apple.caldav.account",
            "com.apple.carddav.account"
        ]
    );
    assert_eq!(
        top["PayloadIdentifier"].as_string(),
        Some("com.example.jane@example.com")
    );
    assert_eq!(top["PayloadOrganization"].as_string(), Some("Example Mail"));
    // EAS is iOS-only: the profile says so, sparing the device-choice prompt.
    assert_eq!(int(&top, "TargetDeviceType"), 1);
    let all = payloads(&top);
    let mail = &all[0];
    assert_eq!(mail["EmailAccountType"].as_string(), Some("EmailTypeIMAP"));
    assert_eq!(
        mail["IncomingMailServerHostName"].as_string(),
        Some("imap.example.com")
    );
    assert_eq!(int(mail, "IncomingMailServerPortNumber"), 993);
    assert_eq!(mail["IncomingMailServerUseSSL"].as_boolean(), Some(true));
    assert_eq!(int(mail, "OutgoingMailServerPortNumber"), 465);
    assert_eq!(mail["OutgoingMailServerUseSSL"].as_boolean(), Some(true));
    assert_eq!(
        mail["IncomingMailServerUsername"].as_string(),
        Some("jane@example.com")
    );
    assert_eq!(mail["EmailAccountName"].as_string(), Some("Jane Doe"));
    assert_eq!(mail["EmailAddress"].as_string(), Some("jane@example.com"));
    assert_eq!(
        mail["IncomingMailServerAuthentication"].as_string(),
        Some("EmailAuthPassword")
    );
    let eas = &all[1];
    assert_eq!(eas["Host"].as_string(), Some("mail.example.com"));
    assert_eq!(eas["SSL"].as_boolean(), Some(true));
    assert_eq!(eas["UserName"].as_string(), Some("jane@example.com"));
    let caldav = &all[2];
    assert_eq!(
        caldav["CalDAVHostName"].as_string(),
        Some("dav.example.com")
    );
    assert_eq!(int(caldav, "CalDAVPort"), 443);
    assert_eq!(caldav["CalDAVUseSSL"].as_boolean(), Some(true));
    // A root URL gives no principal: the client's /.well-known discovery does better.
    assert!(!caldav.contains_key("CalDAVPrincipalURL"));
}

#[test]
fn identifiers_and_uuids_are_distinct_and_stable() {
    let config = Config::demo().unwrap();
    let top = build_checked(&config, "jane@example.com", None);
    let mut ids = vec![top["PayloadIdentifier"].as_string().unwrap().to_owned()];
    let mut uuids = vec![top["PayloadUUID"].as_string().unwrap().to_owned()];
    for payload in payloads(&top) {
        let id = payload["PayloadIdentifier"].as_string().unwrap();
        assert!(id.starts_with(&format!("{}.", ids[0])), "{id}");
        ids.push(id.to_owned());
        uuids.push(payload["PayloadUUID"].as_string().unwrap().to_owned());
    }
    for list in [&mut ids, &mut uuids] {
        let count = list.len();
        list.sort();
        list.dedup();
        assert_eq!(list.len(), count, "{list:?}");
    }
    // A re-download is byte-identical, so it replaces the installed profile.
    let account = account(&config, "jane@example.com", None);
    assert_eq!(
        build(&account, &config.profile).unwrap(),
        build(&account, &config.profile).unwrap()
    );
    let other = build_checked(&config, "john@example.com", None);
    assert_ne!(other["PayloadUUID"], top["PayloadUUID"]);
}

#[test]
fn pop_only_domain_gets_a_pop_account() {
    let config = config(&format!(
        "{PROVIDER}[[domains.\"example.org\".pop3]]\nhost = \"pop.example.org\"\nport = 110\nsecurity = \"starttls\"\n\
         authentication = \"password-encrypted\"\nusername = \"%EMAILLOCALPART%\"\n\
         [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 587\nsecurity = \"starttls\"\n"
    ));
    let top = build_checked(&config, "bob@example.org", None);
    assert_eq!(types(&top), ["com.apple.mail.managed"]);
    assert!(!top.contains_key("TargetDeviceType"));
    let mail = &payloads(&top)[0];
    assert_eq!(mail["EmailAccountType"].as_string(), Some("EmailTypePOP"));
    assert_eq!(int(mail, "IncomingMailServerPortNumber"), 110);
    assert_eq!(mail["IncomingMailServerUseSSL"].as_boolean(), Some(false));
    assert_eq!(
        mail["IncomingMailServerAuthentication"].as_string(),
        Some("EmailAuthCRAMMD5")
    );
    assert_eq!(mail["IncomingMailServerUsername"].as_string(), Some("bob"));
    assert_eq!(
        mail["OutgoingMailServerUsername"].as_string(),
        Some("bob@example.org")
    );
    assert!(!mail.contains_key("OutgoingPasswordSameAsIncomingPassword"));
    assert_eq!(int(mail, "OutgoingMailServerPortNumber"), 587);
    assert!(!mail.contains_key("EmailAccountName"));
}

#[test]
fn oauth_only_imap_falls_back_to_pop_and_no_eas_domain_has_no_eas() {
    let config = config(&format!(
        "{PROVIDER}[[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\nauthentication = \"oauth2\"\n\
         [[domains.\"example.org\".pop3]]\nhost = \"pop.example.org\"\nport = 995\nsecurity = \"tls\"\n\
         [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\nauthentication = [\"oauth2\", \"password-cleartext\"]\n\
         [domains.\"example.org\"]\ncaldav = \"https://cal.example.org:8443/dav/%EMAILADDRESS%/\"\n"
    ));
    let top = build_checked(&config, "bob@example.org", None);
    assert_eq!(
        types(&top),
        ["com.apple.mail.managed", "com.apple.caldav.account"]
    );
    let all = payloads(&top);
    assert_eq!(all[0]["EmailAccountType"].as_string(), Some("EmailTypePOP"));
    assert_eq!(
        all[0]["OutgoingMailServerAuthentication"].as_string(),
        Some("EmailAuthPassword")
    );
    assert_eq!(
        all[1]["CalDAVHostName"].as_string(),
        Some("cal.example.org")
    );
    assert_eq!(int(&all[1], "CalDAVPort"), 8443);
    assert_eq!(
        all[1]["CalDAVPrincipalURL"].as_string(),
        Some("https://cal.example.org:8443/dav/bob@example.org/")
    );
}

#[test]
fn dav_only_domain() {
    let config = config(&format!(
        "{PROVIDER}[domains.\"example.org\"]\ncaldav = \"http://dav.example.org/cal/\"\ncarddav = \"https://dav.example.org/card/%EMAILLOCALPART%\"\n"
    ));
    let top = build_checked(&config, "bob@example.org", None);
    assert_eq!(
        types(&top),
        ["com.apple.caldav.account", "com.apple.carddav.account"]
    );
    let all = payloads(&top);
    assert_eq!(all[0]["CalDAVUseSSL"].as_boolean(), Some(false));
    assert_eq!(int(&all[0], "CalDAVPort"), 80);
    assert_eq!(
        all[1]["CardDAVPrincipalURL"].as_string(),
        Some("https://dav.example.org/card/bob")
    );
    // No mail server, no known login: the device asks for it rather than being told a guess.
    assert!(!all[0].contains_key("CalDAVUsername"));
}

/// Markup, quotes and non-ASCII in every user- and admin-supplied string.
fn hostile_config() -> Config {
    config(&format!(
        "{PROVIDER}[profile]\norganization = \"Smith & Sons <Mail>\"\ndisplay-name = \"Mail \\\"%EMAILADDRESS%\\\" ]]>\"\n\
         description = \"Für %EMAILLOCALPART% & co\"\nconsent-text = \"Ich stimme zu <ok> & fertig\"\n\
         [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\n\
         [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 465\nsecurity = \"tls\"\n"
    ))
}

const HOSTILE_ADDRESS: &str = "a&b+jörg@example.org";
const HOSTILE_NAME: &str = "Zoë <script>&amp; \u{1F47B} ]]> \u{7}Ω";

#[test]
fn hostile_names_survive_as_data() {
    let config = hostile_config();
    let top = build_checked(&config, HOSTILE_ADDRESS, Some(HOSTILE_NAME));
    assert_eq!(
        top["PayloadOrganization"].as_string(),
        Some("Smith & Sons <Mail>")
    );
    assert_eq!(
        top["PayloadDisplayName"].as_string(),
        Some("Mail \"a&b+jörg@example.org\" ]]>")
    );
    assert_eq!(
        top["PayloadDescription"].as_string(),
        Some("Für a&b+jörg & co")
    );
    assert_eq!(
        top["ConsentText"].as_dictionary().unwrap()["default"].as_string(),
        Some("Ich stimme zu <ok> & fertig")
    );
    let mail = &payloads(&top)[0];
    // The control character is dropped (XML 1.0 cannot carry it); everything else is kept.
    assert_eq!(
        mail["EmailAccountName"].as_string(),
        Some("Zoë <script>&amp; \u{1F47B} ]]> Ω")
    );
    assert_eq!(
        mail["EmailAddress"].as_string(),
        Some("a&b+jörg@example.org")
    );
}

#[test]
fn mac_target_drops_ios_only_parts() {
    let text =
        crate::config::DEMO_TOML.replace("# target-device-type = 1", "target-device-type = 5");
    let config = config(&text);
    let top = build_checked(&config, "jane@example.com", None);
    assert_eq!(int(&top, "TargetDeviceType"), 5);
    assert!(!types(&top).contains(&"com.apple.eas.account".to_owned()));
}

#[test]
fn domain_level_account_or_nothing_to_configure_is_an_error() {
    let config = Config::demo().unwrap();
    let resolver = Resolver::new(Arc::new(config.clone()));
    let domain = resolver
        .resolve_domain(&crate::account::Domain::parse("example.com").unwrap())
        .unwrap();
    assert!(matches!(
        build(&domain, &config.profile),
        Err(ProfileError::NoAddress)
    ));
    let oauth_only = self::config(&format!(
        "{PROVIDER}[[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 993\nsecurity = \"tls\"\nauthentication = \"oauth2\"\n"
    ));
    let account = account(&oauth_only, "bob@example.org", None);
    assert!(matches!(
        build(&account, &oauth_only.profile),
        Err(ProfileError::NothingToConfigure)
    ));
}

#[test]
fn schema_reports_a_broken_profile() {
    let config = Config::demo().unwrap();
    let mut top = build_checked(&config, "jane@example.com", None);
    top.insert("PayloadVersion".into(), Value::String("1".into()));
    top.insert("TargetDeviceType".into(), Value::Integer(9.into()));
    top.insert("Frobnicate".into(), true.into());
    let mut content = payloads(&top);
    content[0].insert("IncomingMailServerPortNumber".into(), "993".into());
    content[0].insert("IncomingMailServerUseSSL".into(), Value::Integer(1.into()));
    content[0].remove("OutgoingMailServerHostName");
    content[0].insert(
        "IncomingMailServerAuthentication".into(),
        "EmailAuthOAuth".into(),
    );
    content[1].insert("PayloadType".into(), "com.apple.unknown".into());
    content[2].insert("CalDAVHostNmae".into(), "typo".into());
    top.insert(
        "PayloadContent".into(),
        Value::Array(content.into_iter().map(Value::Dictionary).collect()),
    );
    let violations = validate_profile(&Value::Dictionary(top), &spec_dir()).unwrap();
    let expected = [
        "profile: PayloadVersion: expected <integer>, found <string>",
        "profile: TargetDeviceType: not one of the allowed values 0, 1, 2, 3, 4, 5, 6",
        "profile: unknown key Frobnicate",
        "IncomingMailServerPortNumber: expected <integer>, found <string>",
        "IncomingMailServerUseSSL: expected <boolean>, found <integer>",
        "PayloadContent[0] (com.apple.mail.managed): missing required key OutgoingMailServerHostName",
        "IncomingMailServerAuthentication: not one of the allowed values EmailAuthNone",
        "PayloadContent[1] (com.apple.unknown): unknown payload type",
        "PayloadContent[2] (com.apple.caldav.account): unknown key CalDAVHostNmae",
    ];
    for needle in expected {
        assert!(
            violations.iter().any(|v| v.contains(needle)),
            "{needle:?} not in {violations:#?}"
        );
    }
    assert_eq!(violations.len(), expected.len(), "{violations:#?}");
}

#[test]
fn schema_knows_platforms() {
    let config = Config::demo().unwrap();
    let mut top = build_checked(&config, "jane@example.com", None);
    top.insert("TargetDeviceType".into(), Value::Integer(5.into()));
    let violations = validate_profile(&Value::Dictionary(top), &spec_dir()).unwrap();
    assert_eq!(
        violations,
        [
            "PayloadContent[1] (com.apple.eas.account): payload type is not supported on macOS (TargetDeviceType)"
        ]
    );
}

#[test]
fn schema_load_errors_name_the_file() {
    let error = Schema::load(std::path::Path::new("/nonexistent")).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/TopLevel.yaml"),
        "{error}"
    );
}

#[test]
fn embedded_schema_agrees_with_the_files() {
    let config = Config::demo().unwrap();
    let bytes = build(
        &account(&config, "jane@example.com", Some("Jane & <Co>")),
        &config.profile,
    )
    .unwrap();
    let value: plist::Value = plist::from_bytes(&bytes).unwrap();
    assert_eq!(
        schema::Schema::embedded().unwrap().validate(&value),
        Vec::<String>::new()
    );
    let mut broken = value.as_dictionary().unwrap().clone();
    broken.insert("PayloadVersion".into(), plist::Value::String("1".into()));
    assert_eq!(
        schema::Schema::embedded()
            .unwrap()
            .validate(&plist::Value::Dictionary(broken))
            .len(),
        1
    );
}

/// Every key the builder can write: IMAP and SMTP with different logins, ActiveSync on a
/// non-default port, CalDAV with a principal path, CardDAV at the root, description and consent.
const EVERY_KEY: &str = "[provider]\nid = \"example.org\"\ndisplay-name = \"Org Mail\"\nshort-name = \"Org\"\n\
    [profile]\ndescription = \"Mail for %EMAILADDRESS%\"\nconsent-text = \"Agree & go\"\n\
    [domains.\"example.org\"]\nactivesync = \"https://eas.example.org:8443/Microsoft-Server-ActiveSync\"\n\
    caldav = \"https://dav.example.org/cal/%EMAILLOCALPART%/\"\ncarddav = \"http://dav.example.org/\"\n\
    [[domains.\"example.org\".imap]]\nhost = \"imap.example.org\"\nport = 143\nsecurity = \"starttls\"\n\
    authentication = \"password-encrypted\"\nusername = \"%EMAILLOCALPART%\"\n\
    [[domains.\"example.org\".smtp]]\nhost = \"smtp.example.org\"\nport = 587\nsecurity = \"starttls\"\n";

/// Today's bytes, byte for byte: identifiers, UUIDs, key order and types must never change,
/// or a re-download would install a second profile instead of updating the first.
#[test]
fn profiles_are_byte_for_byte_what_earlier_releases_wrote() {
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/profile/golden");
    let mac = EVERY_KEY.replace("[profile]\n", "[profile]\ntarget-device-type = 5\n");
    let cases = [
        ("every-key", EVERY_KEY, Some("Jane Doe")),
        ("mac", mac.as_str(), None),
    ];
    let hostile = (hostile_config(), HOSTILE_ADDRESS, Some(HOSTILE_NAME));
    let cases = cases
        .map(|(name, text, display_name)| (name, (config(text), "Jane@example.org", display_name)))
        .into_iter()
        .chain([("hostile", hostile)]);
    for (name, (config, address, display_name)) in cases {
        let bytes = build(&account(&config, address, display_name), &config.profile).unwrap();
        let file = golden.join(format!("{name}.mobileconfig"));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            std::fs::read_to_string(&file).unwrap(),
            "{name}"
        );
        build_checked(&config, address, display_name);
    }
}

#[test]
fn names_lose_controls_non_characters_and_invisible_or_bidi_characters() {
    assert_eq!(
        clean_name("\u{202E}Jane\u{200B} Doe\u{FEFF}\u{FFFE}\u{1}").as_deref(),
        Some("Jane Doe")
    );
    assert_eq!(clean_name("Zoë Ñandú").as_deref(), Some("Zoë Ñandú"));
    assert_eq!(clean_name("\u{200B}\u{2066}\u{FFFF}"), None);
}
