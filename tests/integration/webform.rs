//! The download form in a real browser (issue 4): headless Chromium driven over WebDriver on
//! an iPhone-sized screen, with and without JavaScript, in English and German.

use crate::support::webdriver::{Browser, BrowserOptions, Driver};
use crate::support::{TestServer, demo_config};

async fn open(options: &BrowserOptions) -> (TestServer, Driver, Browser) {
    let server = TestServer::start(demo_config()).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, options).await;
    (server, driver, browser)
}

async fn load(browser: &Browser, url: &str) {
    browser.goto(url).await;
    browser.wait_for("document.readyState === 'complete'").await;
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
