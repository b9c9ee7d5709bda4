//! A smoke test of the WebDriver client: headless Chromium fills in and submits a small form
//! served on loopback, and every helper of `webdriver.rs` is used once against it.

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::json;

use crate::support::serve;
use crate::webdriver::{Browser, keys};

const WAIT: Duration = Duration::from_secs(10);

const FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Smoke form</title></head>
<body><main>
<h1>Who are you?</h1>
<form method="post" action="/hello">
  <label for="name">Your name</label>
  <input id="name" name="name" type="text" autocomplete="off">
  <button id="go" type="submit">Go</button>
</form>
<p id="hidden" hidden>not shown</p>
</main></body></html>"#;

async fn form() -> Html<&'static str> {
    Html(FORM)
}

async fn hello(body: String) -> impl IntoResponse {
    let name = form_field(&body, "name").unwrap_or_default();
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hello</title></head>
<body><main><p id="greeting">Hello, {}</p></main></body></html>"#,
        html_escape(&name)
    );
    (
        [(header::SET_COOKIE, "s=1; HttpOnly; SameSite=Strict; Path=/")],
        Html(page),
    )
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &str, wanted: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (url_decode(name) == wanted).then(|| url_decode(value))
    })
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Width and height from a PNG's header.
fn png_size(path: &Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap();
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn chromium_fills_in_a_form_and_keeps_an_http_only_cookie() {
    let app = Router::new()
        .route("/", get(form))
        .route("/hello", axum::routing::post(hello));
    let base = serve(app).await;
    let browser = Browser::start().await;

    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.title().await, "Smoke form");
    assert!(browser.source().await.contains("Who are you?"));
    assert!(browser.try_find("#greeting").await.is_none());
    assert_eq!(browser.find_all("form > *").await.len(), 3);
    assert!(!browser.find("#hidden").await.is_displayed().await);

    // Keyboard only: from the body, Tab reaches the text box (the label is not a stop).
    assert_eq!(browser.active_element().await.tag_name().await, "body");
    browser.press_keys(keys::TAB).await;
    let input = browser.active_element().await;
    assert_eq!(input.attr("id").await.as_deref(), Some("name"));
    assert_eq!(input.attr("placeholder").await, None);
    input.send_keys("someone").await;
    input.clear().await;
    input
        .send_keys(&format!("Ada{}<Lovelace> & co", keys::SPACE))
        .await;
    assert_eq!(input.property("value").await, Some(json!("Ada <Lovelace> & co")));
    // Tab on to the button and back again with Shift+Tab.
    browser.press_keys(keys::TAB).await;
    assert_eq!(
        browser.active_element().await.attr("id").await.as_deref(),
        Some("go")
    );
    browser.press_keys(&format!("{}{}", keys::SHIFT, keys::TAB)).await;
    let focused = browser.active_element().await;
    assert_eq!(focused.attr("id").await.as_deref(), Some("name"));
    focused.send_keys(keys::ENTER).await;

    browser.wait_until_url_contains("/hello", WAIT).await;
    let greeting = browser.wait_for_text("#greeting", "Hello", WAIT).await;
    // Escaped by the server, the angle brackets are text, not a tag.
    assert_eq!(greeting.text().await, "Hello, Ada <Lovelace> & co");
    assert_eq!(
        browser.find("main").await.find("#greeting").await.text().await,
        greeting.text().await
    );
    let cookies = browser.cookies().await;
    let cookie = cookies
        .iter()
        .find(|c| c["name"] == "s")
        .unwrap_or_else(|| panic!("no cookie `s` among {cookies:?}"));
    assert_eq!(cookie["value"], "1");
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Strict");
    // An HttpOnly cookie is invisible to scripts.
    assert_eq!(browser.execute("return document.cookie", vec![]).await, json!(""));
    let tag = browser
        .execute("return arguments[0].tagName", vec![greeting.as_arg()])
        .await;
    assert_eq!(tag, json!("P"));

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-smoke");
    let png = shots.join("form.png");
    let _ = std::fs::remove_file(&png);
    browser.screenshot(&png).await;
    let size = std::fs::metadata(&png).unwrap().len();
    assert!(size > 1000, "{} is only {size} bytes", png.display());

    browser.back().await;
    browser.wait_for("#name", WAIT).await.click().await;
    browser.refresh().await;
    assert!(browser.current_url().await.ends_with('/'));
    browser.set_window_size(800, 600).await;
    let viewport = || browser.execute("return [window.innerWidth, window.innerHeight]", vec![]);
    let small = viewport().await;
    assert_eq!(small[0], 800, "the viewport after resizing the window: {small}");
    // A page taller than the window comes out whole, and the window is put back afterwards.
    browser
        .execute(
            "document.querySelector('main').style.minHeight = '1500px'",
            vec![],
        )
        .await;
    let full = shots.join("form-full.png");
    browser.full_page_screenshot(&full).await;
    let (width, height) = png_size(&full);
    assert_eq!(width, 800);
    assert!(
        height >= 1500,
        "the full-page screenshot is only {height} px high"
    );
    assert_eq!(viewport().await, small);

    browser.close().await;
}
