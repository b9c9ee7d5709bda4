//! A minimal W3C WebDriver client for browser tests: headless Chromium driven by chromedriver,
//! spoken to over `reqwest` with `serde_json` bodies.
//!
//! Hand-written rather than fantoccini or thirtyfour, which pull in Mozilla's `webdriver` crate
//! (with an ICU segmenter), a second `http` and `cookie`, or aws-lc.
//!
//! Every failure panics with the command, the WebDriver error, its message and the page's URL at
//! the time, so a failed browser test says what it was doing and where.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

/// The key that marks a web element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How often the `wait_*` helpers look again.
const POLL: Duration = Duration::from_millis(100);

/// W3C WebDriver key codes, for [`Element::send_keys`] and [`Browser::press_keys`].
#[allow(
    dead_code,
    reason = "the keys keyboard tests need, whether or not a test uses each yet"
)]
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    /// Held down for the rest of the string: `format!("{SHIFT}{TAB}")` moves focus backwards.
    pub const SHIFT: &str = "\u{E008}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const SPACE: &str = "\u{E00D}";
}

/// Modifier keys, which stay pressed until the end of a key sequence.
const MODIFIERS: [char; 8] = [
    '\u{E008}', '\u{E009}', '\u{E00A}', '\u{E03D}', // Shift, Control, Alt, Meta
    '\u{E050}', '\u{E051}', '\u{E052}', '\u{E053}', // their right-hand twins
];

/// A WebDriver error answer (or a failure to get any answer).
struct Failure {
    status: u16,
    error: String,
    message: String,
}

/// What a [`Browser`] and its [`Element`]s share: the HTTP client and the session's address.
struct Session {
    http: reqwest::Client,
    id: String,
    /// `http://127.0.0.1:<port>/session/<id>`
    url: String,
}

impl Session {
    /// One WebDriver command, relative to the session; `Err` on any error answer.
    async fn raw(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        send(&self.http, method, &format!("{}{path}", self.url), body).await
    }

    /// One WebDriver command that must succeed: panics with the command, the error and the
    /// page's URL.
    async fn cmd(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        match self.raw(method.clone(), path, body).await {
            Ok(value) => value,
            Err(failure) => self.fail(&method, path, body, &failure).await,
        }
    }

    async fn fail(&self, method: &Method, path: &str, body: Option<&Value>, failure: &Failure) -> ! {
        let body = body.map(|b| format!(" {b}")).unwrap_or_default();
        let url = self.url_for_messages().await;
        panic!(
            "WebDriver command {method} /session/{}{path}{body} failed: {} (HTTP {}): {}\n  page: {url}",
            self.id, failure.error, failure.status, failure.message
        )
    }

    /// The current URL for a failure message; never panics.
    async fn url_for_messages(&self) -> String {
        match self.raw(Method::GET, "/url", None).await {
            Ok(Value::String(url)) => url,
            Ok(other) => other.to_string(),
            Err(f) => format!("<unknown: {}: {}>", f.error, f.message),
        }
    }

    async fn find_in(&self, scope: &str, css: &str) -> Result<Option<String>, Failure> {
        let body = json!({ "using": "css selector", "value": css });
        match self
            .raw(Method::POST, &format!("{scope}/element"), Some(&body))
            .await
        {
            Ok(value) => Ok(Some(element_id(&value))),
            Err(f) if f.error == "no such element" => Ok(None),
            Err(f) => Err(f),
        }
    }

    async fn find_all_in(&self, scope: &str, css: &str) -> Vec<String> {
        let body = json!({ "using": "css selector", "value": css });
        let value = self
            .cmd(Method::POST, &format!("{scope}/elements"), Some(&body))
            .await;
        value
            .as_array()
            .map(|v| v.iter().map(element_id).collect())
            .unwrap_or_default()
    }

    /// Panics that `css` matched nothing, with the URL and a short excerpt of the page.
    async fn not_found(&self, css: &str, within: &str, waited: Option<Duration>) -> ! {
        let url = self.url_for_messages().await;
        let source = match self.raw(Method::GET, "/source", None).await {
            Ok(Value::String(source)) => excerpt(&source, 600),
            _ => "<page source unavailable>".to_string(),
        };
        let waited = waited
            .map(|d| format!(" after waiting {d:?}"))
            .unwrap_or_default();
        panic!("no element matches {css:?}{within}{waited}\n  page: {url}\n  source: {source}")
    }
}

/// Sends one request to chromedriver and unpacks the W3C `{"value": ...}` envelope.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    // A POST always carries a JSON body, `{}` when the command takes no parameters.
    let bytes = match body {
        Some(body) => Some(serde_json::to_vec(body).unwrap()),
        None if method == Method::POST => Some(b"{}".to_vec()),
        None => None,
    };
    let mut request = http.request(method, url);
    if let Some(bytes) = bytes {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
    }
    let transport = |e: reqwest::Error| Failure {
        status: 0,
        error: "no answer from chromedriver".to_string(),
        message: e.to_string(),
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(transport)?;
    let mut answer: Value = serde_json::from_slice(&bytes).map_err(|e| Failure {
        status: status.as_u16(),
        error: "unreadable answer".to_string(),
        message: format!("{e}: {}", String::from_utf8_lossy(&bytes)),
    })?;
    let value = answer.get_mut("value").map(Value::take).unwrap_or(Value::Null);
    match value.get("error").and_then(Value::as_str) {
        Some(error) => Err(Failure {
            status: status.as_u16(),
            error: error.to_string(),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }),
        None if !status.is_success() => Err(Failure {
            status: status.as_u16(),
            error: "error status".to_string(),
            message: value.to_string(),
        }),
        None => Ok(value),
    }
}

fn element_id(value: &Value) -> String {
    match value.get(ELEMENT_KEY).and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => panic!("not a WebDriver element reference: {value}"),
    }
}

/// The page's text with its whitespace squeezed, cut to about `max` characters.
fn excerpt(source: &str, max: usize) -> String {
    let squeezed = source.split_whitespace().collect::<Vec<_>>().join(" ");
    match squeezed.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &squeezed[..cut]),
        None => squeezed,
    }
}

/// Headless Chromium under a chromedriver of its own, with one WebDriver session.
///
/// Dropping it kills chromedriver and everything it started; [`Browser::close`] ends the
/// session politely first.
pub struct Browser {
    session: Arc<Session>,
    driver: Child,
    /// The chromedriver log and Chromium's profile (`--user-data-dir`), removed after both die.
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver (`$CHROMEDRIVER`, default `/usr/bin/chromedriver`) on a free loopback
    /// port and opens a session in headless Chromium (`$CHROMIUM`, default `/usr/bin/chromium`).
    pub async fn start() -> Browser {
        let driver_bin =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_string());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
        let dir = tempfile::Builder::new()
            .prefix("warden-browser-")
            .tempdir()
            .unwrap();
        let profile = dir.path().join("profile");
        let log_path = dir.path().join("chromedriver.log");
        let log = File::create(&log_path).unwrap();

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Its own process group, so that Drop can take Chromium and its helpers down with it.
        let driver = std::os::unix::process::CommandExt::process_group(
            Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
            0,
        )
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start chromedriver at {driver_bin} ({e}); set CHROMEDRIVER or install Debian's chromium-driver")
        });

        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(90))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        // The session URL is not known yet; the Browser exists now so that a panic below
        // still kills chromedriver.
        let mut browser = Browser {
            session: Arc::new(Session {
                http: http.clone(),
                id: String::new(),
                url: String::new(),
            }),
            driver,
            dir,
        };

        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = send(&http, Method::GET, &format!("{base}/status"), None).await;
            if let Ok(status) = &status
                && status.get("ready").and_then(Value::as_bool) == Some(true)
            {
                break;
            }
            if let Ok(Some(exit)) = browser.driver.try_wait() {
                panic!(
                    "chromedriver exited ({exit}) before it was ready:\n{}",
                    browser.driver_log()
                );
            }
            if Instant::now() > deadline {
                let last = match status {
                    Ok(value) => value.to_string(),
                    Err(f) => format!("{}: {}", f.error, f.message),
                };
                panic!(
                    "chromedriver on port {port} not ready after 20 s (last /status: {last}):\n{}",
                    browser.driver_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                    "--lang=en-US",
                ],
            },
        }}});
        let created = match send(
            &http,
            Method::POST,
            &format!("{base}/session"),
            Some(&capabilities),
        )
        .await
        {
            Ok(created) => created,
            Err(f) => panic!(
                "chromedriver could not start Chromium at {chromium}: {}: {}\n{}",
                f.error,
                f.message,
                browser.driver_log()
            ),
        };
        let Some(id) = created.get("sessionId").and_then(Value::as_str) else {
            panic!("new session answer without a sessionId: {created}")
        };
        browser.session = Arc::new(Session {
            http,
            id: id.to_string(),
            url: format!("{base}/session/{id}"),
        });
        let timeouts = json!({ "implicit": 0, "pageLoad": 30_000 });
        browser
            .session
            .cmd(Method::POST, "/timeouts", Some(&timeouts))
            .await;
        browser
    }

    /// Ends the session (Chromium quits), then stops chromedriver.
    pub async fn close(self) {
        self.session.cmd(Method::DELETE, "", None).await;
        // Drop kills chromedriver.
    }

    /// What chromedriver has printed so far, for panic messages.
    fn driver_log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("--- chromedriver output (last 40 lines) ---\n{tail}")
    }

    fn element(&self, id: String) -> Element {
        Element {
            session: Arc::clone(&self.session),
            id,
        }
    }

    // ---- navigation ----

    pub async fn goto(&self, url: &str) {
        self.session
            .cmd(Method::POST, "/url", Some(&json!({ "url": url })))
            .await;
    }

    pub async fn current_url(&self) -> String {
        as_string(self.session.cmd(Method::GET, "/url", None).await)
    }

    pub async fn title(&self) -> String {
        as_string(self.session.cmd(Method::GET, "/title", None).await)
    }

    pub async fn source(&self) -> String {
        as_string(self.session.cmd(Method::GET, "/source", None).await)
    }

    pub async fn back(&self) {
        self.session.cmd(Method::POST, "/back", None).await;
    }

    pub async fn refresh(&self) {
        self.session.cmd(Method::POST, "/refresh", None).await;
    }

    /// The text of the open `confirm()` or `alert()` dialog, waited for, then accepted (OK).
    pub async fn accept_dialog(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.session.raw(Method::GET, "/alert/text", None).await.ok() {
                Some(text) => {
                    self.session
                        .cmd(Method::POST, "/alert/accept", Some(&json!({})))
                        .await;
                    return text.as_str().unwrap_or_default().to_string();
                }
                None if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                None => panic!("no dialog opened within {timeout:?}"),
            }
        }
    }

    // ---- elements ----

    /// The first element matching `css`; panics (with the URL and a bit of the page) if none.
    pub async fn find(&self, css: &str) -> Element {
        match self.try_find(css).await {
            Some(element) => element,
            None => self.session.not_found(css, "", None).await,
        }
    }

    /// The first element matching `css`, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        match self.session.find_in("", css).await {
            Ok(found) => found.map(|id| self.element(id)),
            Err(f) => {
                let body = json!({ "using": "css selector", "value": css });
                self.session
                    .fail(&Method::POST, "/element", Some(&body), &f)
                    .await
            }
        }
    }

    /// Every element matching `css`, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let ids = self.session.find_all_in("", css).await;
        ids.into_iter().map(|id| self.element(id)).collect()
    }

    /// Waits (polling every 100 ms) for an element matching `css` to exist.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            if Instant::now() > deadline {
                self.session.not_found(css, "", Some(timeout)).await
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for an element matching `css` whose text contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            // The page may change under us: an element gone stale is simply looked for again.
            let mut seen = Vec::new();
            if let Ok(Value::Array(found)) = self
                .session
                .raw(
                    Method::POST,
                    "/elements",
                    Some(&json!({ "using": "css selector", "value": css })),
                )
                .await
            {
                for id in found.iter().map(element_id) {
                    if let Ok(Value::String(text)) = self
                        .session
                        .raw(Method::GET, &format!("/element/{id}/text"), None)
                        .await
                    {
                        if text.contains(needle) {
                            return self.element(id);
                        }
                        seen.push(text);
                    }
                }
            }
            if Instant::now() > deadline {
                let url = self.session.url_for_messages().await;
                panic!(
                    "no element matching {css:?} has text containing {needle:?} after {timeout:?}\n  page: {url}\n  texts of the matches: {seen:?}"
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for the current URL to contain `needle`.
    pub async fn wait_until_url_contains(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.current_url().await;
            if url.contains(needle) {
                return;
            }
            if Instant::now() > deadline {
                panic!("the URL never contained {needle:?} within {timeout:?}; it is {url}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    // ---- keyboard ----

    /// The element that has the focus (the `<body>` when nothing has).
    pub async fn active_element(&self) -> Element {
        let value = self.session.cmd(Method::GET, "/element/active", None).await;
        self.element(element_id(&value))
    }

    /// Types `keys` (text and [`keys`] codes) into whatever has the focus, as a user would,
    /// through the Actions API: unlike [`Element::send_keys`] it does not move the focus first.
    /// Modifiers stay down until the end of `keys`.
    pub async fn press_keys(&self, keys: &str) {
        let mut actions = Vec::new();
        let mut held = Vec::new();
        for key in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": key.to_string() }));
            if MODIFIERS.contains(&key) {
                held.push(key);
            } else {
                actions.push(json!({ "type": "keyUp", "value": key.to_string() }));
            }
        }
        for key in held.into_iter().rev() {
            actions.push(json!({ "type": "keyUp", "value": key.to_string() }));
        }
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        self.session.cmd(Method::POST, "/actions", Some(&body)).await;
    }

    // ---- scripts, cookies, window ----

    /// Runs `script` as the body of a function (`return ...` gives the result) with `args` as
    /// its `arguments`; pass elements with [`Element::as_arg`].
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        let body = json!({ "script": script, "args": args });
        self.session.cmd(Method::POST, "/execute/sync", Some(&body)).await
    }

    /// Every cookie visible to the current page, as WebDriver reports them: `name`, `value`,
    /// `path`, `domain`, `secure`, `httpOnly`, `sameSite`, maybe `expiry`.
    pub async fn cookies(&self) -> Vec<Value> {
        match self.session.cmd(Method::GET, "/cookie", None).await {
            Value::Array(cookies) => cookies,
            other => panic!("cookies: expected a list, got {other}"),
        }
    }

    /// Resizes the browser window (outer size, in CSS pixels).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        let body = json!({ "width": width, "height": height });
        self.session.cmd(Method::POST, "/window/rect", Some(&body)).await;
    }

    /// Saves what the viewport shows as a PNG at `path`, creating its directories.
    pub async fn screenshot(&self, path: &Path) {
        let encoded = as_string(self.session.cmd(Method::GET, "/screenshot", None).await);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG ({} bytes)",
            png.len()
        );
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, &png)
            .unwrap_or_else(|e| panic!("cannot write the screenshot to {}: {e}", path.display()));
    }

    /// Like [`Browser::screenshot`], with the window made tall enough for the whole page (up to
    /// 4000 px), then put back as it was.
    pub async fn full_page_screenshot(&self, path: &Path) {
        let rect = self.session.cmd(Method::GET, "/window/rect", None).await;
        let dimension = |name: &str| {
            rect.get(name)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or_else(|| panic!("window rect without a {name}: {rect}"))
        };
        let (width, height) = (dimension("width"), dimension("height"));
        let sizes = self
            .execute(
                "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]",
                vec![],
            )
            .await;
        let number = |i: usize| sizes.get(i).and_then(Value::as_u64).unwrap_or(0);
        let wanted = (number(0) + number(1)).min(4000);
        let wanted = u32::try_from(wanted).unwrap_or(4000).max(height);
        self.set_window_size(width, wanted).await;
        self.screenshot(path).await;
        self.set_window_size(width, height).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leads its own process group (see `start`), which holds Chromium and all
        // its helpers: kill the lot, then reap chromedriver.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One element of the page, as WebDriver knows it (it goes stale if the page changes).
#[derive(Clone)]
pub struct Element {
    session: Arc<Session>,
    id: String,
}

impl Element {
    fn path(&self, command: &str) -> String {
        format!("/element/{}{command}", self.id)
    }

    async fn get(&self, command: &str) -> Value {
        self.session.cmd(Method::GET, &self.path(command), None).await
    }

    async fn post(&self, command: &str, body: Option<&Value>) -> Value {
        self.session.cmd(Method::POST, &self.path(command), body).await
    }

    pub async fn click(&self) {
        self.post("/click", None).await;
    }

    /// Focuses the element and types `text` into it (text and [`keys`] codes).
    pub async fn send_keys(&self, text: &str) {
        self.post("/value", Some(&json!({ "text": text }))).await;
    }

    pub async fn clear(&self) {
        self.post("/clear", None).await;
    }

    /// The rendered text, as a user would see it.
    pub async fn text(&self) -> String {
        as_string(self.get("/text").await)
    }

    /// The HTML attribute `name` as written in the markup (`None` if absent).
    pub async fn attr(&self, name: &str) -> Option<String> {
        match self.get(&format!("/attribute/{name}")).await {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// The DOM property `name` (e.g. `value`, `checked`), `None` if undefined or null.
    pub async fn property(&self, name: &str) -> Option<Value> {
        match self.get(&format!("/property/{name}")).await {
            Value::Null => None,
            other => Some(other),
        }
    }

    pub async fn is_displayed(&self) -> bool {
        match self.get("/displayed").await {
            Value::Bool(shown) => shown,
            other => panic!("displayed: expected a boolean, got {other}"),
        }
    }

    /// The lower-case tag name, e.g. `input`.
    pub async fn tag_name(&self) -> String {
        as_string(self.get("/name").await)
    }

    /// The first element inside this one matching `css`; panics if none.
    pub async fn find(&self, css: &str) -> Element {
        match self.session.find_in(&self.path(""), css).await {
            Ok(Some(id)) => Element {
                session: Arc::clone(&self.session),
                id,
            },
            Ok(None) => {
                let within = format!(" inside element {}", self.id);
                self.session.not_found(css, &within, None).await
            }
            Err(f) => {
                let body = json!({ "using": "css selector", "value": css });
                self.session
                    .fail(&Method::POST, &self.path("/element"), Some(&body), &f)
                    .await
            }
        }
    }

    /// This element as an argument for [`Browser::execute`].
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}

fn as_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => panic!("expected a string from WebDriver, got {other}"),
    }
}
