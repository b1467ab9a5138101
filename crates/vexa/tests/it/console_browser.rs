//! The admin console in a real browser: headless Chromium driven over WebDriver (`chromedriver`
//! as a child process of each test) against the real `vexa up` on both backends.
//!
//! What a browser adds to the HTTP suite of `vexa-admin`: the cookie as Chromium keeps it, the
//! forms as a person submits them, a key page that must not come back on Back or reload, a
//! cross-site form that Chromium itself submits from another origin, and the layout at phone
//! width. Each test saves its final screen under `target/console-screenshots/`.
//!
//! No browser is a failure, never a skip: `scripts/test.sh` installs Debian's `chromium` and
//! `chromium-driver` when they are missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use vexa_testkit::stack::{auth_me_status, free_port, Stack};
use vexa_testkit::{on_both_backends, Backend, ADMIN_TOKEN};

use crate::support::VEXA;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page may take to show the element a step waits for.
const STEP: Duration = Duration::from_secs(10);

/// `chromedriver` (in its own process group) and one browser session on it. Dropping it kills
/// the group, so a failed test leaves neither the driver nor Chromium behind.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start() -> Browser {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: install Debian's chromium and chromium-driver \
                 (scripts/test.sh does it: apt-get install -y chromium chromium-driver)"
            );
        }
        let port = free_port();
        let driver = std::os::unix::process::CommandExt::process_group(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        wait_driver_ready(&url).await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--window-size=1280,800", "--no-first-run",
                         "--disable-dev-shm-usage"],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session on chromedriver");
        Browser { client, driver }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for the element at `css` on the current page.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(STEP)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "no `{css}` on {}: {e}\n{}",
                self.url().await,
                self.client.source().await.unwrap_or_default()
            ),
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Creates a user with the users screen's form (and a display name when given) and returns
    /// the URL of the user's page it lands on, without its notice query.
    async fn create_user(&self, email: &str, name: Option<&str>) -> String {
        self.fill("#new-email", email).await;
        if let Some(name) = name {
            self.fill("#new-name", name).await;
        }
        self.click("form[method=post][action='/console/users'] button[type=submit]")
            .await;
        assert_eq!(self.text("p.notice").await, "User created.");
        self.url()
            .await
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Signs in with `token` on the console at `admin`.
    async fn sign_in(&self, admin: &str, token: &str) {
        self.goto(&format!("{admin}/console/login")).await;
        self.fill("#token", token).await;
        self.click("form[action='/console/login'] button[type=submit]")
            .await;
    }

    /// Saves the current screen as `target/console-screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Ends the session (Chromium quits); dropping `self` then ends chromedriver.
    async fn close(self) {
        self.client
            .clone()
            .close()
            .await
            .expect("end the browser session");
    }

    /// The HTTP status of the page on screen, as the browser received it.
    async fn page_status(&self) -> Value {
        self.client
            .execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus",
                vec![],
            )
            .await
            .expect("script")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium it started and did not end.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}

async fn wait_driver_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = reqwest::Client::builder().no_proxy().build().expect("http");
    loop {
        let ready = match http.get(format!("{url}/status")).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .is_ok_and(|v| v["value"]["ready"] == true),
            Err(_) => false,
        };
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver at {url} never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `target/console-screenshots`, in `CARGO_TARGET_DIR` when it is set (a relative one is
/// relative to the workspace root, where cargo is run; the tests run in the crate's directory).
fn screenshot_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
    target.join("console-screenshots")
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The user with `email` through the admin API: its status and body.
async fn user_by_email(stack: &Stack, email: &str) -> (u16, Value) {
    let res = stack
        .http
        .get(format!("{}/admin/users/email/{email}", stack.env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("admin api");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    an_operator_mints_a_key_sees_it_once_uses_it_and_revokes_it,
    a_wrong_admin_token_is_refused_with_a_clear_message,
    a_forged_cross_site_post_is_refused_and_creates_no_user,
    an_operator_rotates_a_key_with_a_grace_and_reads_its_usage_chart,
    an_operator_reads_the_audit_log_filtered_by_action,
    the_replicas_screen_lists_the_running_gateways,
);

async fn an_operator_mints_a_key_sees_it_once_uses_it_and_revokes_it(backend: Backend) {
    let name = format!(
        "an_operator_mints_a_key_sees_it_once_uses_it_and_revokes_it-{}",
        backend_name(backend)
    );
    let stack = Stack::start(VEXA, backend).await;
    let admin = stack.env.admin();
    let b = Browser::start().await;

    b.sign_in(&admin, ADMIN_TOKEN).await;
    b.find("#new-email").await;
    assert!(
        b.url().await.ends_with("/console/users"),
        "{}",
        b.url().await
    );
    assert!(!b.url().await.contains(ADMIN_TOKEN) && !b.source().await.contains(ADMIN_TOKEN));
    // The session cookie as Chromium keeps it: HttpOnly (no script sees it), SameSite=Strict,
    // not Secure on loopback (or plain-HTTP sign-in would never stick).
    let cookie = b
        .client
        .get_named_cookie("vexa_console")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert_ne!(cookie.secure(), Some(true));
    let seen_by_script = b
        .client
        .execute("return document.cookie", vec![])
        .await
        .expect("script");
    assert!(!seen_by_script.to_string().contains("vexa_console"));

    let user_page = b.create_user("ops@acme.com", Some("Ops Team")).await;
    let (status, user) = user_by_email(&stack, "ops@acme.com").await;
    assert_eq!(status, 200);
    assert_eq!(user["name"], "Ops Team");
    assert!(user_page.ends_with(&format!("/console/users/{}", user["id"])));

    b.click("#scope-tx").await;
    b.fill("#key-name", "ci runner").await;
    b.click("form[action$='/keys'] button[type=submit]").await;
    let key = b
        .find("#minted-key")
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(key.starts_with("vxa_"), "a key on the mint page: {key:?}");
    assert!(b
        .text("p.warning")
        .await
        .contains("will not be shown again"));
    b.click("button[data-copy='minted-key']").await;
    // The button's answer is written once the clipboard call settles.
    let deadline = Instant::now() + STEP;
    while b.text("#copy-status").await.is_empty() {
        assert!(Instant::now() < deadline, "the copy button never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(auth_me_status(&stack.env.gateway(), &key).await, 200);

    // Seen once: not on the user's page, not on Back (the mint page is `no-store`), not on reload.
    b.click("a.button[href^='/console/users/']").await;
    b.find("#keys-h").await;
    assert!(
        !b.source().await.contains(&key),
        "the key is on the user page"
    );
    b.client.back().await.expect("back");
    assert!(!b.source().await.contains(&key), "Back shows the key again");
    b.goto(&user_page).await;
    b.client.refresh().await.expect("reload");
    let page = b.source().await;
    assert!(!page.contains(&key), "a reload shows the key");
    assert!(
        page.contains(key.get(..12).unwrap_or("no prefix")),
        "the keys table lists the key's prefix"
    );
    assert!(page.contains("ci runner"));

    // Phone width: the same page, nothing wider than the screen.
    b.client.set_window_size(390, 844).await.expect("resize");
    let fits = b
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .expect("script");
    b.screenshot(&format!("{name}-phone")).await;
    let why = b
        .client
        .execute(
            "const w = window.innerWidth; return [w, document.documentElement.scrollWidth, \
             [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w) \
             .map(e => e.tagName + '.' + e.className + '#' + e.id + ':' + Math.round(e.getBoundingClientRect().right)).slice(0, 12)]",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(fits, json!(true), "horizontal scroll at 390 px: {why}");
    b.client.set_window_size(1280, 800).await.expect("resize");

    b.click("a[href^='/console/keys/'][href*='/revoke']").await;
    assert!(b.text("main form").await.contains("Revoke key"));
    b.click("form[action$='/revoke'] button[type=submit]").await;
    assert!(b.text("p.notice").await.starts_with("Key revoked"));
    assert!(b.text("#keys-h + p.empty").await.contains("No live keys"));
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = auth_me_status(&stack.env.gateway(), &key).await;
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway still answers {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.screenshot(&name).await;
    b.close().await;
    stack.shutdown().await;
}

async fn a_wrong_admin_token_is_refused_with_a_clear_message(backend: Backend) {
    let name = format!(
        "a_wrong_admin_token_is_refused_with_a_clear_message-{}",
        backend_name(backend)
    );
    let stack = Stack::start(VEXA, backend).await;
    let admin = stack.env.admin();
    let b = Browser::start().await;
    let wrong = "not-the-admin-token-at-all";

    b.sign_in(&admin, wrong).await;
    let message = b.text("#token-error").await;
    assert_eq!(
        message,
        "That is not the admin token. Check ADMIN_TOKEN and try again."
    );
    let field = b.find("#token").await;
    assert_eq!(
        field.attr("aria-invalid").await.expect("attr").as_deref(),
        Some("true")
    );
    let page = b.source().await;
    assert!(
        !page.contains(wrong),
        "the typed token is echoed into the page"
    );
    assert!(!b.url().await.contains(wrong), "the token is in the URL");
    // Still signed out: the users screen sends the browser back to sign in.
    b.goto(&format!("{admin}/console/users")).await;
    b.find("#token").await;
    assert!(b.url().await.ends_with("/console/login"));
    b.sign_in(&admin, wrong).await;
    b.find("#token-error").await;
    b.screenshot(&name).await;
    b.close().await;
    stack.shutdown().await;
}

/// The attacker's page: another origin (another port of the same host, so the same *site* and
/// the `SameSite=Strict` cookie still travels) whose form posts itself to the console.
async fn serve_forgery(target: String) -> (String, tokio::task::JoinHandle<()>) {
    let page = format!(
        r#"<!doctype html><html><body><h1>Win a prize</h1>
<form id="f" method="post" action="{target}"><input name="email" value="forged@evil.example">
<input name="csrf" value="guessed"></form>
<script>document.getElementById("f").submit();</script></body></html>"#
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

async fn a_forged_cross_site_post_is_refused_and_creates_no_user(backend: Backend) {
    let name = format!(
        "a_forged_cross_site_post_is_refused_and_creates_no_user-{}",
        backend_name(backend)
    );
    let stack = Stack::start(VEXA, backend).await;
    let admin = stack.env.admin();
    let b = Browser::start().await;
    b.sign_in(&admin, ADMIN_TOKEN).await;
    b.find("#new-email").await;

    let (evil, server) = serve_forgery(format!("{admin}/console/users")).await;
    b.goto(&evil).await;
    let deadline = Instant::now() + STEP;
    while !b.url().await.starts_with(&admin) {
        assert!(
            Instant::now() < deadline,
            "the forged form was never submitted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = b.text("body").await;
    let refusal: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON: {body}"));
    assert_eq!(
        refusal,
        json!({"detail": "Cross-site request refused: the Origin header must name this console."})
    );
    assert_eq!(b.page_status().await, json!(403));
    b.screenshot(&name).await;
    let (status, _) = user_by_email(&stack, "forged@evil.example").await;
    assert_eq!(status, 404, "the forged POST created a user");
    server.abort();
    b.close().await;
    stack.shutdown().await;
}

/// The gateway's answer to `key` on `/auth/me`: status and `detail`.
async fn gateway_refusal(stack: &Stack, key: &str) -> (u16, Value) {
    let res = stack
        .http
        .get(format!("{}/auth/me", stack.env.gateway()))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("gateway");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Whether the page on screen is no wider than the window.
async fn fits_the_width(b: &Browser) -> bool {
    b.client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .expect("script")
        == json!(true)
}

async fn an_operator_rotates_a_key_with_a_grace_and_reads_its_usage_chart(backend: Backend) {
    let name = format!(
        "an_operator_rotates_a_key_with_a_grace_and_reads_its_usage_chart-{}",
        backend_name(backend)
    );
    let stack = Stack::start(VEXA, backend).await;
    let admin = stack.env.admin();
    let gateway = stack.env.gateway();
    let b = Browser::start().await;

    b.sign_in(&admin, ADMIN_TOKEN).await;
    let user_page = b.create_user("rotate@acme.com", None).await;
    b.click("form[action$='/keys'] button[type=submit]").await;
    let old = b
        .find("#minted-key")
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert_eq!(auth_me_status(&gateway, &old).await, 200);

    // Rotate from the keys table, with a 3 s grace typed into the labelled field.
    b.click("a.button[href^='/console/users/']").await;
    // By keyboard: Enter on the rotate link, then Enter in the grace field submits the form.
    b.find("a[href$='/rotate']")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter on the link");
    assert!(b
        .text("#grace-hint")
        .await
        .contains("0 = the old key stops at once"));
    assert_eq!(b.text("label[for=grace]").await, "Grace period (seconds)");
    b.fill("#grace", "3").await;
    b.find("#grace")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter in the field");
    let rotated_at = Instant::now();
    let new = b
        .find("#minted-key")
        .await
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(new.starts_with("vxa_") && new != old, "a new key: {new:?}");
    assert!(b
        .text("p.warning")
        .await
        .contains("will not be shown again"));
    assert!(b.text("main .notice").await.contains("stops working at"));
    let card = b.text("main .card").await;
    let new_id: i64 = card
        .split("Key id ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a key id on the page: {card}"));

    // Within the grace both keys work; after it the old one is refused, the new one is not.
    assert_eq!(auth_me_status(&gateway, &new).await, 200, "the new key");
    assert_eq!(
        auth_me_status(&gateway, &old).await,
        200,
        "the old key within its grace ({:?} after the rotation)",
        rotated_at.elapsed()
    );
    let deadline = rotated_at + Duration::from_secs(13);
    let refusal = loop {
        let (status, body) = gateway_refusal(&stack, &old).await;
        if status == 401 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the old key still answers {status} {:?} after the rotation",
            rotated_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        rotated_at.elapsed() >= Duration::from_millis(2500),
        "refused before its grace ended: {:?}",
        rotated_at.elapsed()
    );
    assert_eq!(refusal, json!({"detail": "Invalid API key"}));
    for _ in 0..4 {
        assert_eq!(auth_me_status(&gateway, &new).await, 200);
    }

    // The keys table: the old key is gone (past its grace), the new one has its sparkline.
    b.goto(&user_page).await;
    b.find("#keys-h").await;
    let page = b.source().await;
    assert!(
        !page.contains(&new) && !page.contains(&old),
        "a key on the user page"
    );

    // The usage page, once the gateway's batched flush (every 3 s) has reached the store.
    let usage = format!("{admin}/console/keys/{new_id}/usage?hours=36");
    let deadline = Instant::now() + Duration::from_secs(12);
    let allowed = loop {
        b.goto(&usage).await;
        b.find("svg.chart").await;
        let bars = b
            .client
            .find_all(Locator::Css("rect.bar.o-allowed"))
            .await
            .expect("bars");
        let mut total = 0;
        for bar in &bars {
            let n: i64 = bar
                .attr("data-count")
                .await
                .expect("attr")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let h: f64 = bar
                .attr("height")
                .await
                .expect("attr")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0.0);
            assert!(h > 0.0, "a bar of {n} requests has no height");
            total += n;
        }
        if total >= 5 {
            break total;
        }
        assert!(
            Instant::now() < deadline,
            "the chart still shows {total} allowed requests"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(b
        .text(".legend")
        .await
        .contains(&format!("allowed: {allowed}")));
    assert_eq!(
        b.find(".windows a[aria-current=page]")
            .await
            .text()
            .await
            .expect("text"),
        "Last 36 h"
    );
    // The box is reserved from the markup: the chart's height is known before it draws.
    let size = b
        .client
        .execute(
            "const r = document.querySelector('svg.chart').getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(size, json!([720, 260]), "the chart at 1280×800");
    assert!(fits_the_width(&b).await, "horizontal scroll at 1280 px");
    b.screenshot(&format!("{name}-usage")).await;
    b.click(".windows a[href$='hours=168']").await;
    assert_eq!(b.text(".windows a[aria-current=page]").await, "Last 168 h");
    b.client.set_window_size(390, 844).await.expect("resize");
    assert!(fits_the_width(&b).await, "horizontal scroll at 390 px");
    b.screenshot(&format!("{name}-usage-phone")).await;
    b.client.set_window_size(1280, 800).await.expect("resize");
    b.goto(&user_page).await;
    b.find("a.spark").await;
    b.screenshot(&name).await;
    b.close().await;
    stack.shutdown().await;
}

async fn an_operator_reads_the_audit_log_filtered_by_action(backend: Backend) {
    let name = format!(
        "an_operator_reads_the_audit_log_filtered_by_action-{}",
        backend_name(backend)
    );
    let stack = Stack::start(VEXA, backend).await;
    let admin = stack.env.admin();
    // One change through the admin API, the rest through the console.
    let res = stack
        .http
        .post(format!("{admin}/admin/users"))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .json(&json!({ "email": "api@acme.com" }))
        .send()
        .await
        .expect("admin api");
    assert_eq!(res.status().as_u16(), 201);
    let b = Browser::start().await;
    b.sign_in(&admin, ADMIN_TOKEN).await;
    let user_page = b.create_user("ops@acme.com", None).await;
    b.click("form[action$='/keys'] button[type=submit]").await;
    b.find("#minted-key").await;
    b.goto(&user_page).await;
    b.click("a[href^='/console/keys/'][href*='/revoke']").await;
    b.click("form[action$='/revoke'] button[type=submit]").await;
    assert!(b.text("p.notice").await.starts_with("Key revoked"));

    // The navigation's link, then the filter form as a person uses it: choose, submit.
    b.click("nav a[href='/console/audit']").await;
    b.find("#audit-action").await;
    assert_eq!(b.text("nav a[aria-current=page]").await, "Audit log");
    assert_eq!(b.text("p.chain").await, "Hash chain verified: 4 entries.");
    let actions = |b: &Browser| {
        let client = b.client.clone();
        async move {
            client
                .execute(
                    "return [...document.querySelectorAll('table.audit tbody tr')].map(r => \
                     r.cells[2].textContent + ' ' + r.cells[3].textContent)",
                    vec![],
                )
                .await
                .expect("script")
        }
    };
    assert_eq!(
        actions(&b).await,
        json!([
            "console key.revoke",
            "console key.mint",
            "console user.create",
            "admin_api user.create"
        ]),
        "newest first"
    );
    b.find("#audit-action")
        .await
        .select_by_value("user.create")
        .await
        .expect("choose an action");
    b.click("form[action='/console/audit'] button[type=submit]")
        .await;
    b.find("#audit-action option[value='user.create'][selected]")
        .await;
    assert!(b.url().await.contains("action=user.create"), "a GET form");
    assert_eq!(
        actions(&b).await,
        json!(["console user.create", "admin_api user.create"])
    );
    assert!(fits_the_width(&b).await, "horizontal scroll at 1280 px");
    b.screenshot(&name).await;
    b.client.set_window_size(390, 844).await.expect("resize");
    assert!(fits_the_width(&b).await, "horizontal scroll at 390 px");
    b.screenshot(&format!("{name}-phone")).await;
    b.client.set_window_size(1280, 800).await.expect("resize");

    // A bad value typed into the id box: the API's words next to it, the value kept.
    b.fill("#audit-user-id", "abc").await;
    b.find("#audit-user-id")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
    assert!(b
        .text("#audit-user-id-error")
        .await
        .starts_with("user_id must be an integer"));
    let kept = b
        .find("#audit-user-id")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some("abc"));
    b.screenshot(&format!("{name}-error")).await;
    b.close().await;
    stack.shutdown().await;
}

/// `vexa up` plus one more `vexa gateway` on the same database: the replicas screen lists both
/// as healthy with their addresses, and the table stays in its box at phone width.
async fn the_replicas_screen_lists_the_running_gateways(backend: Backend) {
    let name = format!(
        "the_replicas_screen_lists_the_running_gateways-{}",
        backend_name(backend)
    );
    let mut stack = Stack::start_with(VEXA, backend, &[("REPLICA_HEARTBEAT_MS", "200")]).await;
    let mut extra = stack.env.clone();
    extra.set("API_GATEWAY_HOST_PORT", &free_port().to_string());
    let mut gateway = extra.spawn("gateway", "gateway-extra");
    stack.wait_healthy(&extra.gateway()).await;
    let admin = stack.env.admin();
    let (_, _, key) = stack.key("fleet@acme.com", "bot").await;
    assert_eq!(auth_me_status(&extra.gateway(), &key).await, 200);

    let b = Browser::start().await;
    b.sign_in(&admin, ADMIN_TOKEN).await;
    b.find("nav").await;
    let deadline = Instant::now() + STEP;
    let ports = [
        stack.env.port("API_GATEWAY_HOST_PORT"),
        extra.port("API_GATEWAY_HOST_PORT"),
    ];
    loop {
        b.goto(&format!("{admin}/console/replicas")).await;
        b.find("h1").await;
        let page = b.source().await;
        let healthy = page
            .matches(r#"<span class="badge active">healthy</span>"#)
            .count();
        let listed = ports.iter().all(|p| page.contains(&format!(":{p}</code>")));
        if healthy == 2 && listed {
            break;
        }
        assert!(Instant::now() < deadline, "two healthy gateways: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let nav = b.find("nav a[aria-current=page]").await;
    assert_eq!(nav.text().await.expect("text"), "Replicas");
    assert!(b.text("table.replicas").await.contains("up to date"));
    b.client.set_window_size(390, 844).await.expect("resize");
    assert!(
        fits_the_width(&b).await,
        "the replicas screen overflows a phone"
    );
    b.screenshot(&format!("{name}-phone")).await;
    b.client.set_window_size(1280, 800).await.expect("resize");
    b.screenshot(&name).await;
    b.close().await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &gateway.id().to_string()])
        .status();
    let _ = gateway.wait();
    stack.shutdown().await;
}
