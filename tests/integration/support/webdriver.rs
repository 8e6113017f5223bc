//! A minimal W3C WebDriver client for headless Chromium: starts Debian's `chromedriver` on a
//! port it picks itself (`--port=0`), opens sessions with the flags this closed network needs,
//! and speaks the JSON wire protocol with reqwest. Every process and profile dies with its value.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long any one wait (driver start, page load, download) may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);
/// The W3C "element" key in WebDriver responses.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A real iPhone Safari User-Agent (iOS 17), so the server shows the iOS steps.
pub const IPHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
pub const LINUX_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// `chromium` and `chromedriver` from Debian, or the test cannot run at all.
pub fn chromium_binaries() -> (PathBuf, PathBuf) {
    let find = |name: &str| {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
            .unwrap_or_else(|| panic!("{name} not found: apt-get install chromium chromium-driver"))
    };
    (find("chromium"), find("chromedriver"))
}

/// One running chromedriver; killed on drop.
pub struct Driver {
    child: Child,
    base: String,
    chromium: PathBuf,
}

impl Driver {
    /// Starts chromedriver, up to three times: on a loaded machine it has been seen to exit
    /// before announcing its port, which is the driver's start-up, not what a test checks. Each
    /// failed attempt is reported with chromedriver's exit status and what it wrote to stderr.
    pub async fn start() -> Driver {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Driver::try_start().await {
                Ok(driver) => return driver,
                Err(failure) => {
                    eprintln!("chromedriver did not start: {failure}");
                    failures.push(failure);
                }
            }
        }
        panic!("chromedriver did not start three times: {failures:?}");
    }

    async fn try_start() -> Result<Driver, String> {
        let (chromium, chromedriver) = chromium_binaries();
        let mut child = Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot run chromedriver: {error}"))?;
        let stdout = child.stdout.take().expect("stdout piped");
        let mut stderr = child.stderr.take().expect("stderr piped");
        // Keep draining stderr so chromedriver never blocks on a full pipe; kept for the report.
        let stderr_text = tokio::spawn(async move {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
            text
        });
        let mut lines = BufReader::new(stdout).lines();
        let announced = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    return Some(port);
                }
            }
            None
        })
        .await;
        let Ok(Some(port)) = announced else {
            let _ = child.start_kill();
            let status = child.wait().await.map(|status| status.to_string());
            let stderr = stderr_text.await.unwrap_or_default();
            let what = if announced.is_err() {
                "did not announce its port in time"
            } else {
                "exited before listening"
            };
            return Err(format!(
                "{what} (status {status:?}; stderr: {:?})",
                stderr.trim()
            ));
        };
        // Keep draining stdout so chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            chromium,
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// How to open the browser.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// CSS pixel width and height; with `mobile`, an emulated phone screen.
    pub size: (u32, u32),
    /// Phone emulation (touch, device metrics, this User-Agent).
    pub mobile_user_agent: Option<&'static str>,
    /// Desktop User-Agent override.
    pub user_agent: Option<&'static str>,
    pub javascript: bool,
    /// `intl.accept_languages`, which Chromium sends as `Accept-Language`.
    pub accept_language: &'static str,
}

impl BrowserOptions {
    pub fn iphone() -> BrowserOptions {
        BrowserOptions {
            size: (390, 844),
            mobile_user_agent: Some(IPHONE_UA),
            user_agent: None,
            javascript: true,
            accept_language: "en-US,en",
        }
    }

    pub fn desktop() -> BrowserOptions {
        BrowserOptions {
            size: (1280, 900),
            mobile_user_agent: None,
            user_agent: Some(LINUX_UA),
            javascript: true,
            accept_language: "en-US,en",
        }
    }
}

/// One browser session with its own fresh profile and download directory.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(driver: &Driver, options: &BrowserOptions) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("download dir");
        let (width, height) = options.size;
        let mut args = vec![
            // Headless as root in a container without GPU, shared memory or a network to
            // update from: each flag turns off one thing that would fail or phone home.
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!(
                "--lang={}",
                options.accept_language.split(',').next().unwrap_or("en")
            ),
        ];
        if options.mobile_user_agent.is_none() {
            args.push(format!("--window-size={width},{height}"));
        }
        if let Some(ua) = options.user_agent {
            args.push(format!("--user-agent={ua}"));
        }
        let mut prefs = json!({
            "download.default_directory": downloads.path(),
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
            "safebrowsing.enabled": false,
            "intl.accept_languages": options.accept_language,
        });
        if !options.javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut chrome_options = json!({
            "binary": driver.chromium,
            "args": args,
            "prefs": prefs,
        });
        if let Some(ua) = options.mobile_user_agent {
            chrome_options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true, "mobile": true},
                "userAgent": ua,
            });
        }
        // No WebDriver command may hang a test: each is bounded like every other wait.
        let http = reqwest::Client::builder()
            .timeout(WAIT)
            .build()
            .expect("http client");
        let created: Value = http
            .post(format!("{}/session", driver.base))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                // Commands return at once; tests wait for what they mean to see. A click that
                // starts a download never "loads" a page, and "normal" would wait for it.
                "pageLoadStrategy": "none",
                "timeouts": {"script": 10_000, "pageLoad": 20_000, "implicit": 0},
                "goog:chromeOptions": chrome_options,
            }}}))
            .send()
            .await
            .expect("new session request")
            .json()
            .await
            .expect("new session answer");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"));
        let browser = Browser {
            http,
            session: format!("{}/session/{id}", driver.base),
            downloads,
            _profile: profile,
        };
        // Headless Chromium saves downloads only when told where (CDP, as DevTools does).
        browser
            .cdp(
                "Browser.setDownloadBehavior",
                json!({"behavior": "allow", "downloadPath": browser.downloads.path()}),
            )
            .await;
        browser
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        if let Some(error) = answer["value"].get("error") {
            panic!("WebDriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    /// A Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        let url = self.command(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    pub async fn find(&self, css: &str) -> String {
        let element = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        element[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element id in {element}"))
            .to_owned()
    }

    pub async fn count(&self, css: &str) -> usize {
        let elements = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await;
        elements.as_array().map_or(0, Vec::len)
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Presses Enter in a field: the keyboard's implicit form submission. With page
    /// JavaScript off, chromedriver's element click hangs (its atoms need script), so the
    /// JavaScript-off tests submit the way a keyboard user does.
    pub async fn press_enter(&self, css: &str) {
        self.type_into(css, "\u{E007}").await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// The rendered, visible text of the first match.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let text = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Runs a script through DevTools (works with page JavaScript disabled, too).
    pub async fn eval(&self, expression: &str) -> Value {
        let result = self
            .cdp(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true` (a page load, a re-render), or fails the test.
    pub async fn wait_for(&self, expression: &str) {
        let deadline = Instant::now() + WAIT;
        while self.eval(expression).await != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {expression}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the whole page (beyond the viewport).
    pub async fn screenshot(&self) -> Vec<u8> {
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        decode_base64(shot["data"].as_str().expect("screenshot data"))
    }

    pub fn download_dir(&self) -> &Path {
        self.downloads.path()
    }

    /// Files in the download directory (finished or not).
    pub fn downloads(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.downloads.path())
            .expect("read download dir")
            .map(|entry| entry.expect("dir entry").path())
            .collect();
        files.sort();
        files
    }

    /// Waits for one finished download (no `.crdownload` left) and returns its path.
    pub async fn wait_for_download(&self) -> PathBuf {
        let deadline = Instant::now() + WAIT;
        loop {
            let files = self.downloads();
            let partial = files
                .iter()
                .any(|file| file.extension().is_some_and(|ext| ext == "crdownload"));
            if let ([file], false) = (files.as_slice(), partial) {
                return file.clone();
            }
            assert!(Instant::now() < deadline, "no download; have {files:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn quit(self) {
        let _ = self
            .http
            .delete(&self.session)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| eprintln!("closing session: {e}"));
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let bits = chunk.iter().fold(0u32, |acc, &d| (acc << 6) | u32::from(d))
                << (6 * (4 - chunk.len()));
            let bytes = bits.to_be_bytes();
            bytes[1..chunk.len()].to_vec()
        })
        .collect()
}
