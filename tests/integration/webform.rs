//! The download form in a real browser: headless Chromium driven over WebDriver on
//! an iPhone-sized screen, with and without JavaScript, in English, German and French.

use std::path::Path;

use crate::support::cli::{assert_success, check_config};
use crate::support::webdriver::{Browser, BrowserOptions, Driver};
use crate::support::{TestServer, config_from, demo_config};

/// Checks the CMS signature and chain with the openssl command line against the development
/// root in certs/ (as a device would against its trust store) and returns the signed plist.
fn verify_signed_profile(path: &Path) -> plist::Dictionary {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/root.pem");
    let output = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .arg("-CAfile")
        .arg(&root)
        .arg("-in")
        .arg(path)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl cms -verify failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    plist::from_bytes(&output.stdout).expect("signed content is a plist")
}

/// The mail payload of a profile.
fn mail_payload(profile: &plist::Dictionary) -> plist::Dictionary {
    profile["PayloadContent"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(plist::Value::as_dictionary)
        .find(|payload| payload["PayloadType"].as_string() == Some("com.apple.mail.managed"))
        .expect("a com.apple.mail.managed payload")
        .clone()
}

/// How the visitor sends the form.
#[derive(Clone, Copy)]
enum Submit {
    Button,
    EnterKey,
}

async fn submit(browser: &Browser, how: Submit) {
    match how {
        Submit::Button => browser.click("button[type=submit]").await,
        Submit::EnterKey => browser.press_enter("#email").await,
    }
}

/// Types an address (and a name), submits, and returns the verified profile.
async fn download_profile(
    browser: &Browser,
    server: &TestServer,
    how: Submit,
) -> plist::Dictionary {
    load(browser, &server.url("/")).await;
    browser.type_into("#email", "jane.doe@example.com").await;
    browser.type_into("#name", "Jane Doe & <Co>").await;
    submit(browser, how).await;
    let file = browser.wait_for_download().await;
    assert_eq!(
        file.file_name().unwrap(),
        "jane.doe@example.com.mobileconfig"
    );
    let profile = verify_signed_profile(&file);
    // Later steps of the same test assert that nothing more arrives.
    std::fs::remove_file(&file).unwrap();
    let mail = mail_payload(&profile);
    assert_eq!(
        mail["EmailAddress"].as_string(),
        Some("jane.doe@example.com")
    );
    assert_eq!(
        mail["EmailAccountName"].as_string(),
        Some("Jane Doe & <Co>")
    );
    assert_eq!(
        mail["IncomingMailServerHostName"].as_string(),
        Some("imap.example.com")
    );
    // The page stays where it was: the download did not navigate away from the form.
    assert_eq!(browser.current_url().await, server.url("/"));
    profile
}

/// Submits `address`, which the browser accepts but the server refuses, and returns the
/// message the re-rendered form shows.
async fn refused_on_server(
    browser: &Browser,
    server: &TestServer,
    address: &str,
    how: Submit,
) -> String {
    load(browser, &server.url("/")).await;
    browser.type_into("#email", address).await;
    submit(browser, how).await;
    browser
        .wait_for("location.pathname === '/mobileconfig' && document.readyState === 'complete'")
        .await;
    assert_eq!(
        browser.eval("document.getElementById('email').value").await,
        address,
        "the form comes back filled in"
    );
    assert_eq!(
        browser
            .eval("document.getElementById('form-error').hidden")
            .await,
        false
    );
    assert!(browser.downloads().is_empty(), "{:?}", browser.downloads());
    browser.text("#form-error").await
}

async fn open(options: &BrowserOptions) -> (TestServer, Driver, Browser) {
    let server = TestServer::start(demo_config()).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, options).await;
    (server, driver, browser)
}

/// Navigates and waits until the new document has finished loading.
async fn load(browser: &Browser, url: &str) {
    browser.goto(url).await;
    browser
        .wait_for(&format!(
            "location.href === {url:?} && document.readyState === 'complete'"
        ))
        .await;
}

#[tokio::test]
async fn no_horizontal_scroll_at_320_px() {
    let options = BrowserOptions {
        size: (320, 640),
        ..BrowserOptions::iphone()
    };
    let (server, _driver, browser) = open(&options).await;
    load(&browser, &server.url("/")).await;
    assert_eq!(browser.eval("window.innerWidth").await, 320);
    let width = browser.eval("document.documentElement.scrollWidth").await;
    assert!(width.as_u64().unwrap() <= 320, "scrollWidth {width}");
    // The same with a long address refused and shown back, the widest state of the page.
    browser
        .type_into("#email", &format!("{}@", "averyveryverylongname".repeat(3)))
        .await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for("document.getElementById('form-error').hidden === false")
        .await;
    let width = browser.eval("document.documentElement.scrollWidth").await;
    assert!(
        width.as_u64().unwrap() <= 320,
        "scrollWidth {width} with an error"
    );
    browser.quit().await;
}

#[tokio::test]
async fn iphone_sees_ios_steps_and_a_usable_form() {
    let (server, _driver, browser) = open(&BrowserOptions::iphone()).await;
    load(&browser, &server.url("/")).await;
    assert_eq!(
        browser.eval("document.title").await,
        "Set up your email · Example Mail"
    );
    let steps = browser.text("#steps-ios").await;
    assert!(
        steps.contains("“Allow”") && steps.contains("Profile Downloaded"),
        "{steps}"
    );
    assert!(steps.contains("8 minutes"));
    assert_eq!(browser.count("#steps-desktop, .qr-code").await, 0);
    // Labelled fields: every input has a label the accessibility tree uses.
    let labels = browser
        .eval("[...document.querySelectorAll('input')].every(i => i.labels.length === 1)")
        .await;
    assert_eq!(labels, true);
    // The optional script ran (the JavaScript-off test asserts the opposite).
    assert_eq!(
        browser
            .eval("document.documentElement.classList.contains('js')")
            .await,
        true
    );
    browser.quit().await;
}

#[tokio::test]
async fn desktop_gets_a_qr_code() {
    let (server, _driver, browser) = open(&BrowserOptions::desktop()).await;
    load(&browser, &server.url("/")).await;
    assert_eq!(browser.count("#steps-desktop svg.qr-code path").await, 1);
    let caption = browser.text("#steps-desktop figcaption").await;
    assert_eq!(caption, server.url("/"));
    let size = browser
        .eval("document.querySelector('svg.qr-code').getBoundingClientRect().width")
        .await;
    assert!(
        size.as_f64().unwrap() >= 150.0,
        "QR code too small to scan: {size}"
    );
    browser.quit().await;
}

/// iPadOS 13+ Safari sends a Mac User-Agent; the page script tells them apart by touch.
#[tokio::test]
async fn ipad_with_a_mac_user_agent_sees_the_ipad_steps() {
    const MAC_SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
         AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
    let ipad = BrowserOptions {
        size: (820, 1180),
        mobile_user_agent: Some(MAC_SAFARI),
        ..BrowserOptions::iphone()
    };
    let (server, driver, browser) = open(&ipad).await;
    load(&browser, &server.url("/")).await;
    assert_eq!(
        browser
            .eval("document.getElementById('steps-mac').hidden")
            .await,
        true
    );
    assert_eq!(
        browser
            .eval("document.getElementById('steps-ipad').hidden")
            .await,
        false
    );
    browser.quit().await;
    let mac = BrowserOptions {
        user_agent: Some(MAC_SAFARI),
        ..BrowserOptions::desktop()
    };
    let browser = Browser::open(&driver, &mac).await;
    load(&browser, &server.url("/")).await;
    assert_eq!(
        browser
            .eval("document.getElementById('steps-mac').hidden")
            .await,
        false
    );
    assert_eq!(
        browser
            .eval("document.getElementById('steps-ipad').hidden")
            .await,
        true
    );
    assert!(
        browser
            .text("#steps-mac")
            .await
            .contains("Privacy & Security → Profiles")
    );
    browser.quit().await;
}

#[tokio::test]
async fn keyboard_moves_through_the_form_in_order() {
    let (server, _driver, browser) = open(&BrowserOptions::desktop()).await;
    load(&browser, &server.url("/")).await;
    let tab = "\u{E004}";
    browser.type_into("#email", tab).await;
    assert_eq!(browser.eval("document.activeElement.id").await, "name");
    browser.type_into("#name", tab).await;
    assert_eq!(browser.eval("document.activeElement.type").await, "submit");
    browser.quit().await;
}

#[tokio::test]
async fn german_from_accept_language() {
    let options = BrowserOptions {
        accept_language: "de-DE,de",
        ..BrowserOptions::iphone()
    };
    let (server, _driver, browser) = open(&options).await;
    load(&browser, &server.url("/")).await;
    assert_eq!(browser.eval("document.documentElement.lang").await, "de");
    assert_eq!(browser.text("h1").await, "E-Mail einrichten");
    assert_eq!(browser.text("button[type=submit]").await, "Profil laden");
    assert!(
        browser
            .text("#steps-ios")
            .await
            .contains("„Profil geladen“")
    );
    browser.quit().await;
}

#[tokio::test]
async fn german_from_lang_query_in_an_english_browser() {
    let (server, _driver, browser) = open(&BrowserOptions::iphone()).await;
    load(&browser, &server.url("/?lang=de")).await;
    assert_eq!(browser.text("h1").await, "E-Mail einrichten");
    // The switcher leads back to English.
    browser.click("nav.langs a[lang=en]").await;
    browser
        .wait_for("document.documentElement.lang === 'en'")
        .await;
    assert_eq!(browser.text("h1").await, "Set up your email");
    browser.quit().await;
}

#[tokio::test]
async fn browser_validation_refuses_a_bad_address_and_downloads_nothing() {
    let (server, _driver, browser) = open(&BrowserOptions::iphone()).await;
    load(&browser, &server.url("/")).await;
    browser.type_into("#email", "not-an-address").await;
    browser.click("button[type=submit]").await;
    // The optional script puts the browser's refusal into the page.
    browser
        .wait_for("document.getElementById('form-error').hidden === false")
        .await;
    assert!(
        browser
            .text("#form-error")
            .await
            .contains("complete email address")
    );
    assert_eq!(
        browser
            .eval("document.getElementById('email').validity.valid")
            .await,
        false
    );
    assert_eq!(browser.current_url().await, server.url("/"));
    assert!(browser.downloads().is_empty());
    browser.quit().await;
}

#[tokio::test]
async fn iphone_downloads_a_signed_profile_for_the_typed_address() {
    let (server, _driver, browser) = open(&BrowserOptions::iphone()).await;
    let profile = download_profile(&browser, &server, Submit::Button).await;
    // TargetDeviceType 1 avoids "install on which device?" in the phone flow (docs/protocols.md,
    // "TargetDeviceType for the phone flow").
    assert_eq!(
        profile["TargetDeviceType"].as_unsigned_integer(),
        Some(1),
        "demo has ActiveSync"
    );
    browser.quit().await;
}

#[tokio::test]
async fn javascript_off_downloads_the_same_way() {
    let options = BrowserOptions {
        javascript: false,
        ..BrowserOptions::iphone()
    };
    let (server, _driver, browser) = open(&options).await;
    load(&browser, &server.url("/")).await;
    // Proof the page script really did not run (the JavaScript-on tests see the class).
    assert_eq!(
        browser
            .eval("document.documentElement.classList.contains('js')")
            .await,
        false
    );
    download_profile(&browser, &server, Submit::EnterKey).await;
    let message = refused_on_server(&browser, &server, "jane@localhost", Submit::EnterKey).await;
    assert!(message.contains("not a valid domain name"), "{message}");
    browser.quit().await;
}

#[tokio::test]
async fn server_refusals_show_the_form_again_with_the_reason() {
    let (server, _driver, browser) = open(&BrowserOptions::iphone()).await;
    let message = refused_on_server(&browser, &server, "jane@localhost", Submit::Button).await;
    assert_eq!(
        message,
        "Please check your address: The part after the @ is not a valid domain name."
    );
    let message = refused_on_server(&browser, &server, "jane@example.net", Submit::Button).await;
    assert!(
        message.contains("We do not provide email settings for example.net"),
        "{message}"
    );
    // Page scripts cannot run in it either: the re-rendered page has the same CSP.
    let width = browser.eval("document.documentElement.scrollWidth").await;
    assert!(width.as_u64().unwrap() <= 390);
    browser.quit().await;
}

#[tokio::test]
async fn german_refusal_after_lang_query() {
    let (server, _driver, browser) = open(&BrowserOptions::iphone()).await;
    load(&browser, &server.url("/?lang=de")).await;
    browser.type_into("#email", "jane@localhost").await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for("location.pathname === '/mobileconfig'")
        .await;
    browser.wait_for("document.readyState === 'complete'").await;
    assert_eq!(browser.eval("document.documentElement.lang").await, "de");
    assert!(
        browser
            .text("#form-error")
            .await
            .contains("Der Teil nach dem @ ist kein gültiger Domainname.")
    );
    browser.quit().await;
}

#[tokio::test]
async fn french_from_accept_language_fits_320_px_and_refuses_in_french() {
    let options = BrowserOptions {
        size: (320, 640),
        accept_language: "fr-CH, fr;q=0.9, en;q=0.8",
        ..BrowserOptions::iphone()
    };
    let (server, _driver, browser) = open(&options).await;
    load(&browser, &server.url("/")).await;
    assert_eq!(browser.eval("document.documentElement.lang").await, "fr");
    assert_eq!(browser.text("h1").await, "Configurer votre messagerie");
    assert_eq!(
        browser.text("button[type=submit]").await,
        "Télécharger le profil"
    );
    assert!(
        browser
            .text("#steps-ios")
            .await
            .contains("« Profil téléchargé »")
    );
    // Six languages in the switcher, wrapped rather than pushing the page sideways.
    assert_eq!(browser.count("nav.langs a, nav.langs span").await, 6);
    let width = browser.eval("document.documentElement.scrollWidth").await;
    assert!(width.as_u64().unwrap() <= 320, "scrollWidth {width}");
    let message = refused_on_server(&browser, &server, "jane@localhost", Submit::Button).await;
    // WebDriver's element text turns the no-break spaces of French typography into spaces.
    assert_eq!(
        message,
        "Vérifiez votre adresse : La partie après le @ n’est pas un nom de domaine valide."
    );
    assert_eq!(browser.eval("document.documentElement.lang").await, "fr");
    browser.quit().await;
}

#[tokio::test]
async fn too_many_attempts_are_shown_in_the_visitors_language() {
    // The loopback browser is counted here (not exempt), with one profile a minute.
    let text = mxconf::config::DEMO_TOML
        .replace("[limits]", "[limits]\nexempt = []\nprofiles-per-minute = 1");
    let server = TestServer::start(config_from(&text)).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, &BrowserOptions::iphone()).await;
    load(&browser, &server.url("/?lang=de")).await;
    browser.type_into("#email", "jane@example.com").await;
    browser.click("button[type=submit]").await;
    let file = browser.wait_for_download().await;
    std::fs::remove_file(&file).unwrap();
    // The second profile within the minute is refused, in the page and in German.
    browser.click("button[type=submit]").await;
    browser
        .wait_for("location.pathname === '/mobileconfig' && document.readyState === 'complete'")
        .await;
    assert_eq!(
        browser.text("#form-error").await,
        "Zu viele Versuche. Bitte versuchen Sie es in einer Minute erneut."
    );
    assert_eq!(browser.eval("document.documentElement.lang").await, "de");
    assert!(browser.downloads().is_empty(), "{:?}", browser.downloads());
    browser.quit().await;
}

/// Refreshes the README pictures: `cargo test --test integration screenshots -- --ignored`.
#[tokio::test]
#[ignore = "writes docs/webform-*.png; run on purpose to refresh them"]
async fn screenshots_for_docs() {
    let server = TestServer::start(demo_config()).await;
    let driver = Driver::start().await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (device, options) in [
        ("iphone", BrowserOptions::iphone()),
        ("desktop", BrowserOptions::desktop()),
    ] {
        for lang in ["en", "de"] {
            let browser = Browser::open(&driver, &options).await;
            load(&browser, &server.url(&format!("/?lang={lang}"))).await;
            let png = browser.screenshot().await;
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
            std::fs::write(docs.join(format!("webform-{device}-{lang}.png")), png).unwrap();
            browser.quit().await;
        }
    }
}

#[test]
fn check_config_test_renders_admin_templates() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::write(web.join("index.html"), "<h1>{{ t.titel }}</h1>").unwrap();
    let config = dir.path().join("mxconf.toml");
    std::fs::write(
        &config,
        "[provider]\nid = \"example.org\"\ndisplay-name = \"X\"\nshort-name = \"X\"\n\
         [web]\ntemplates-dir = \"web\"\naccent-colour = \"#0a0\"\n",
    )
    .unwrap();
    let output = check_config(&config);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("titel"), "{stderr}");
    std::fs::write(
        web.join("index.html"),
        "<h1>{{ t.title }} {{ provider }}</h1>",
    )
    .unwrap();
    assert_success(&check_config(&config));
}
