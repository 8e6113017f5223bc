use super::*;
use crate::config::Config;

fn form() -> Webform {
    let config = Config::demo().unwrap();
    Webform::new(&config.provider, &config.web).unwrap()
}

/// minijinja escapes `/` as `&#x2f;`, which browsers read as `/`; assertions read it back.
fn render(form: &Webform, visit: &Visit<'_>) -> String {
    form.render(visit).unwrap().replace("&#x2f;", "/")
}

fn visit(platform: Platform) -> Visit<'static> {
    Visit {
        lang: Lang::En,
        lang_pinned: false,
        platform,
        page_url: Some("https://mail.example.com/"),
        email: "",
        name: "",
        problem: None,
    }
}

#[test]
fn platforms_from_real_user_agents() {
    let cases = [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            Platform::Ios,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
            Platform::Ios,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            Platform::Mac,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
            Platform::Android,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
            Platform::Desktop,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            Platform::Desktop,
        ),
        ("", Platform::Desktop),
    ];
    for (ua, expected) in cases {
        assert_eq!(Platform::from_user_agent(ua), expected, "{ua}");
    }
}

#[test]
fn page_has_the_required_form_fields() {
    let html = render(&form(), &visit(Platform::Ios));
    assert!(html.contains("<title>Set up your email · Example Mail</title>"));
    for attribute in [
        r#"type="email""#,
        "required",
        r#"autocomplete="email""#,
        r#"autocapitalize="off""#,
        r#"inputmode="email""#,
        r#"name="emailaddress""#,
        r#"autocomplete="name""#,
        r#"method="post" action="/mobileconfig""#,
        r#"<label for="email">"#,
        r#"<label for="name">"#,
    ] {
        assert!(html.contains(attribute), "missing {attribute}");
    }
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("style="), "no inline style");
}

#[test]
fn instructions_follow_the_platform() {
    let form = form();
    let ios = render(&form, &visit(Platform::Ios));
    assert!(ios.contains("Profile Downloaded") && ios.contains("8 minutes"));
    assert!(!ios.contains("qr-code") && !ios.contains("Privacy &amp; Security"));
    let mac = render(&form, &visit(Platform::Mac));
    assert!(mac.contains("System Settings → Privacy &amp; Security → Profiles"));
    assert!(mac.contains(r#"id="steps-ipad""#), "iPadOS sends a Mac UA");
    let desktop = render(&form, &visit(Platform::Desktop));
    assert!(desktop.contains(r#"<svg class="qr-code""#));
    assert!(desktop.contains("<figcaption>https://mail.example.com/</figcaption>"));
    let android = render(&form, &visit(Platform::Android));
    assert!(!android.contains("qr-code") && android.contains("Android"));
    for html in [ios, mac, desktop, android] {
        assert!(html.contains("Thunderbird, Outlook"));
    }
}

#[test]
fn hostile_input_is_escaped() {
    let problem = FormProblem::UnknownDomain("<b>x</b>.example".into());
    let html = form()
        .render(&Visit {
            email: "\"><script>alert(1)</script>@example.com",
            name: "</textarea><img src=x onerror=alert(2)>",
            problem: Some(&problem),
            page_url: Some("https://e.example/\"><svg onload=alert(3)>"),
            ..visit(Platform::Desktop)
        })
        .unwrap();
    for raw in ["<script>alert", "<img src=x", "<b>x</b>", "<svg onload"] {
        assert!(!html.contains(raw), "{raw} reflected raw");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
    assert!(html.contains(r#"aria-invalid="true""#));
}

#[test]
fn german_page_and_pinned_language() {
    let html = render(
        &form(),
        &Visit {
            lang: Lang::De,
            lang_pinned: true,
            ..visit(Platform::Ios)
        },
    );
    assert!(html.contains(r#"<html lang="de">"#));
    assert!(html.contains("E-Mail einrichten") && html.contains("„Profil geladen“"));
    assert!(html.contains(r#"action="/mobileconfig?lang=de""#));
}

#[test]
fn csp_forbids_inline_code_and_framing() {
    let form = form();
    let csp = form.content_security_policy();
    assert!(csp.contains("script-src 'self';") && csp.contains("style-src 'self';"));
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
}

#[test]
fn remote_logo_origin_joins_img_src() {
    let config = Config::from_toml(
        &format!(
            "{}\n[web]\nlogo-url = \"https://cdn.example.org/logo.svg\"\naccent-colour = \"#FFD700\"\n",
            crate::config::DEMO_TOML.split("\n[server]").next().unwrap()
        ),
        crate::config::ConfigSource::EmbeddedDemo,
    )
    .unwrap();
    let form = Webform::new(&config.provider, &config.web).unwrap();
    assert!(
        form.content_security_policy()
            .contains("img-src 'self' https://cdn.example.org;")
    );
    let html = render(&form, &visit(Platform::Ios));
    assert!(html.contains(r#"<img class="logo" src="https://cdn.example.org/logo.svg""#));
    // Gold is light: the button text turns dark for contrast.
    let theme = String::from_utf8(form.asset("theme.css").unwrap().bytes.to_vec()).unwrap();
    assert_eq!(theme, ":root{--accent:#ffd700;--on-accent:#111111}\n");
}

#[test]
fn accent_text_colour_keeps_contrast() {
    assert!(theme_css("#1a56b0").contains("--on-accent:#ffffff"));
    assert!(theme_css("#000").contains("--on-accent:#ffffff"));
    assert!(theme_css("#fff").contains("--on-accent:#111111"));
    assert!(theme_css("#7fffd4").contains("--on-accent:#111111"));
}

#[test]
fn broken_admin_template_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "{{ t.no_such_string }}").unwrap();
    let config = Config::demo().unwrap();
    let web = WebSettings {
        templates_dir: Some(dir.path().to_path_buf()),
        ..config.web.clone()
    };
    let error = Webform::new(&config.provider, &web).unwrap_err();
    assert!(error.to_string().contains("no_such_string"), "{error}");
}
