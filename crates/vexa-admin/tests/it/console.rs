//! The console at `/console` over HTTP (the browser suite is in the `vexa` crate): sign-in,
//! the session cookie, the same-origin and CSRF gate on every POST, expiry, sign-out, and that
//! every screen's mutation is the admin service's (both backends).
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use vexa_core::replica::ReplicaBeat;
use vexa_core::store::IdentityChange;
use vexa_core::usage::{hour_start, KeyUse, Outcome, UsageCount, HOUR_MS};
use vexa_core::{KeyId, Timestamp, UserId};
use vexa_testkit::{metrics, on_both_backends, Backend, Reply, TestDb, ADMIN_TOKEN};

use crate::support::{app_on, TestApp, START};

const HOST: &str = "127.0.0.1:18057";
const ORIGIN: &str = "http://127.0.0.1:18057";

/// A browser-like request to the console: our `Host`, and for a POST our `Origin` and a form.
struct Browse<'a> {
    app: &'a TestApp,
    req: axum::http::request::Builder,
    body: String,
}

fn get<'a>(app: &'a TestApp, uri: &str, cookie: Option<&str>) -> Browse<'a> {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header("host", HOST);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("vexa_console={c}"));
    }
    Browse {
        app,
        req,
        body: String::new(),
    }
}

fn post<'a>(app: &'a TestApp, uri: &str, cookie: Option<&str>, form: &str) -> Browse<'a> {
    let mut b = get(app, uri, cookie);
    b.req = b
        .req
        .method(Method::POST)
        .header("content-type", "application/x-www-form-urlencoded");
    b.body = form.to_owned();
    b
}

impl Browse<'_> {
    fn header(mut self, k: &str, v: &str) -> Self {
        self.req = self.req.header(k, v);
        self
    }

    /// Replaces the `Host` the request is addressed to.
    fn host(mut self, host: &str) -> Self {
        if let Some(h) = self.req.headers_mut() {
            h.insert("host", host.parse().unwrap());
        }
        self
    }

    fn same_origin(self) -> Self {
        self.header("origin", ORIGIN)
    }

    async fn send(self) -> Reply {
        let req = self.req.body(Body::from(self.body)).unwrap();
        Reply::read(self.app.router.clone().oneshot(req).await.unwrap()).await
    }
}

/// Signs in; the session id and the CSRF token of its pages.
async fn sign_in(app: &TestApp) -> (String, String) {
    let form = format!("token={ADMIN_TOKEN}");
    let res = post(app, "/console/login", None, &form)
        .same_origin()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    assert_eq!(res.header("location"), Some("/console/users"));
    let cookie = res.header("set-cookie").unwrap().to_owned();
    let id = cookie
        .strip_prefix("vexa_console=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let page = get(app, "/console/users", Some(&id)).send().await;
    assert_eq!(page.status, StatusCode::OK);
    (id, csrf_of(&page.text()))
}

fn csrf_of(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    page[at..at + 64].to_owned()
}

async fn signing_in_sets_a_strict_http_only_session_cookie(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let login = get(&app, "/console/login", None).send().await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login
        .text()
        .contains(r#"<label for="token">Admin token</label>"#));
    let form = format!("token={ADMIN_TOKEN}");
    let res = post(&app, "/console/login", None, &form)
        .same_origin()
        .send()
        .await;
    let cookie = res.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/console"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP on loopback: {cookie}"
    );
    assert!(!cookie.contains(ADMIN_TOKEN));
    // Off loopback the cookie only travels over HTTPS.
    let res = post(&app, "/console/login", None, &form)
        .host("admin.acme.com")
        .header("origin", "https://admin.acme.com")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.header("set-cookie").unwrap().ends_with("; Secure"));

    let (id, _) = sign_in(&app).await;
    let page = get(&app, "/console/users", Some(&id)).send().await;
    assert!(
        !page.text().contains(ADMIN_TOKEN),
        "the token is never on a page"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
}

async fn a_wrong_admin_token_is_refused_in_words_and_counted(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let res = post(&app, "/console/login", None, "token=not-the-token")
        .same_origin()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.header("set-cookie").is_none());
    assert!(res.text().contains("That is not the admin token."));
    assert!(res.text().contains(r#"aria-invalid="true""#));
    let counted = metrics().render();
    assert!(
        counted.contains(r#"vexa_admin_auth_refusals_total{surface="console"}"#),
        "{counted}"
    );
    // Without a session every screen sends the browser to sign in.
    let res = get(&app, "/console/users", None).send().await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/console/login"));
    let res = get(&app, "/console/users", Some("forged-session-id"))
        .send()
        .await;
    assert_eq!(res.header("location"), Some("/console/login"));
}

async fn forged_cross_site_posts_are_refused_with_a_detail(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    let form = |csrf: &str| format!("csrf={csrf}&email=forged%40acme.com");
    let cases = [
        ("no Origin", None, form(&csrf)),
        ("a foreign Origin", Some("http://evil.example"), form(&csrf)),
        ("another port", Some("http://127.0.0.1:9999"), form(&csrf)),
        (
            "no CSRF token",
            Some(ORIGIN),
            "email=forged%40acme.com".to_owned(),
        ),
        ("a wrong CSRF token", Some(ORIGIN), form(&"0".repeat(64))),
    ];
    for (what, origin, body) in cases {
        let mut req = post(&app, "/console/users", Some(&id), &body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{what}");
        assert!(!res.detail().is_empty(), "{what}: {}", res.text());
    }
    let sign_in_elsewhere = post(
        &app,
        "/console/login",
        None,
        &format!("token={ADMIN_TOKEN}"),
    )
    .header("origin", "http://evil.example")
    .send()
    .await;
    assert_eq!(sign_in_elsewhere.status, StatusCode::FORBIDDEN);
    assert!(sign_in_elsewhere.header("set-cookie").is_none());
    let res = post(&app, "/console/users", None, &form(&csrf))
        .same_origin()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "no session");
    assert_eq!(res.detail(), "Not signed in to the console.");
    let (_, total) = app.store.list_users(0, 10).await.unwrap();
    assert_eq!(total, 0, "no forged request created a user");
}

async fn sessions_expire_and_signing_out_ends_them(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    let out = post(&app, "/console/logout", Some(&id), &format!("csrf={csrf}"))
        .same_origin()
        .send()
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let res = get(&app, "/console/users", Some(&id)).send().await;
    assert_eq!(res.header("location"), Some("/console/login"));

    let (id, _) = sign_in(&app).await;
    app.clock.advance_millis((8 * 3600 - 1) * 1000);
    assert_eq!(
        get(&app, "/console/users", Some(&id)).send().await.status,
        StatusCode::OK
    );
    app.clock.advance_millis(1000);
    let res = get(&app, "/console/users", Some(&id)).send().await;
    assert_eq!(res.header("location"), Some("/console/login"), "expired");
}

async fn every_screen_mutates_through_the_admin_service(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    let send = |uri: &str, form: String| {
        let uri = uri.to_owned();
        let id = id.clone();
        let app = &app;
        async move { post(app, &uri, Some(&id), &form).same_origin().send().await }
    };

    let bad = send("/console/users", format!("csrf={csrf}&email=not-an-email")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .contains(r#"id="new-email-error" role="alert">value is not a valid email address"#));

    let created = send(
        "/console/users",
        format!("csrf={csrf}&email=Jane%40acme.com&name=Jane&max_concurrent_bots=2"),
    )
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let user = app.user("jane@acme.com").await;
    assert_eq!(
        created.header("location"),
        Some(format!("/console/users/{user}?notice=created").as_str())
    );

    let found = get(&app, "/console/users?email=JANE%40acme.com", Some(&id))
        .send()
        .await;
    assert!(found
        .text()
        .contains(&format!(r#"href="/console/users/{user}">"#)));

    let edited = send(
        &format!("/console/users/{user}"),
        format!("csrf={csrf}&name=Jane+D&max_concurrent_bots=5"),
    )
    .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    let row = app
        .store
        .user(vexa_core::UserId(user))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.name.as_deref(), row.max_concurrent_bots),
        (Some("Jane D"), 5)
    );
    let refused = send(
        &format!("/console/users/{user}"),
        format!("csrf={csrf}&name=Jane&max_concurrent_bots=-1"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .text()
        .contains(r#"id="edit-bots-error" role="alert">max_concurrent_bots must be between"#));

    let no_scope = send(
        &format!("/console/users/{user}/keys"),
        format!("csrf={csrf}&name=ci"),
    )
    .await;
    assert_eq!(no_scope.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_scope.text().contains("scopes must not be empty"));

    let minted = send(
        &format!("/console/users/{user}/keys"),
        format!("csrf={csrf}&scopes=bot&scopes=tx&name=ci&expires_in=3600"),
    )
    .await;
    assert_eq!(minted.status, StatusCode::OK);
    assert_eq!(minted.header("cache-control"), Some("no-store"));
    let page = minted.text();
    assert!(page.contains("It will not be shown again"));
    let at = page.find(r#"value="vxa_bot_"#).unwrap() + 7;
    let token: String = page[at..].chars().take_while(|c| *c != '"').collect();
    let keys = app
        .store
        .list_keys(vexa_core::UserId(user))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].scopes.to_csv(), "bot,tx");
    assert!(token.starts_with(&keys[0].prefix));

    let listed = get(&app, &format!("/console/users/{user}"), Some(&id))
        .send()
        .await
        .text();
    assert!(listed.contains(&keys[0].prefix));
    assert!(listed.contains("expiring within 24 h"));
    assert!(!listed.contains(&token), "the key is shown only once");

    let kid = keys[0].id.0;
    let confirm = get(
        &app,
        &format!("/console/keys/{kid}/revoke?user={user}"),
        Some(&id),
    )
    .send()
    .await;
    assert!(confirm.text().contains("Revoke key"));
    let revoked = send(
        &format!("/console/keys/{kid}/revoke"),
        format!("csrf={csrf}&user={user}"),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(matches!(
        app.changes().last(),
        Some(IdentityChange::KeyRevoked(_))
    ));
    assert!(app
        .store
        .list_keys(vexa_core::UserId(user))
        .await
        .unwrap()
        .unwrap()
        .is_empty());

    let deleted = send(
        &format!("/console/users/{user}/delete"),
        format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(app
        .store
        .user(vexa_core::UserId(user))
        .await
        .unwrap()
        .is_none());
    let gone = get(&app, &format!("/console/users/{user}"), Some(&id))
        .send()
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.text().contains("User not found"));

    let replicas = get(&app, "/console/replicas", Some(&id)).send().await;
    assert!(replicas.text().contains("reachable"));
    assert!(replicas.text().contains("No gateway has registered"));

    // Each successful console action wrote one audit entry as the console; refusals none.
    let entries = app.audited.audit_entries_from(0, 100).await.unwrap();
    let recorded: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        recorded,
        [
            ("console", "user.create"),
            ("console", "user.update"),
            ("console", "key.mint"),
            ("console", "key.revoke"),
            ("console", "user.delete"),
        ],
        "{}",
        app.backend
    );
    assert!(entries.iter().all(|e| e.request_id.is_some()));
    assert!(!format!("{entries:?}").contains(&token));
}

/// Mints a key on the user's console page; its id and the key as the page shows it once.
async fn mint_in_console(app: &TestApp, session: &str, csrf: &str, user: i64) -> (i64, String) {
    let minted = post(
        app,
        &format!("/console/users/{user}/keys"),
        Some(session),
        &format!("csrf={csrf}&scopes=bot&name=ci"),
    )
    .same_origin()
    .send()
    .await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text());
    (newest_key(app, user).await, shown_key(&minted.text()))
}

async fn newest_key(app: &TestApp, user: i64) -> i64 {
    let keys = app.store.list_keys(UserId(user)).await.unwrap().unwrap();
    keys.iter().map(|k| k.id.0).max().unwrap()
}

/// The key in the `#minted-key` field of a page.
fn shown_key(page: &str) -> String {
    let at = page.find(r#"id="minted-key""#).expect("a shown key");
    let at = at + page[at..].find(r#"value=""#).unwrap() + 7;
    page[at..].chars().take_while(|c| *c != '"').collect()
}

/// Usage as a gateway's batcher flushes it: `counts` of (hours before START, outcome, n).
async fn seed_usage(app: &TestApp, key: i64, client: &str, counts: &[(i64, Outcome, i64)]) {
    let uses = [KeyUse {
        key_id: KeyId(key),
        at: START,
        client: Some(client.parse().unwrap()),
    }];
    let counts: Vec<_> = counts
        .iter()
        .map(|&(ago, outcome, count)| UsageCount {
            key_id: KeyId(key),
            hour: hour_start(Timestamp(START.0 - ago * HOUR_MS)),
            outcome,
            count,
        })
        .collect();
    app.store.record_key_activity(&uses, &counts).await.unwrap();
}

async fn the_keys_table_shows_badges_last_client_and_a_usage_sparkline(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    let user = app.user("jane@acme.com").await;
    let (busy, _) = mint_in_console(&app, &id, &csrf, user).await;
    let (idle, _) = mint_in_console(&app, &id, &csrf, user).await;
    seed_usage(
        &app,
        busy,
        "203.0.113.7",
        &[
            (0, Outcome::Allowed, 5),
            (0, Outcome::RateLimited, 2),
            (30, Outcome::Allowed, 3),
        ],
    )
    .await;
    let page = get(&app, &format!("/console/users/{user}"), Some(&id))
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.text();
    assert!(page.contains("<code>203.0.113.7</code>"), "last client");
    assert!(
        page.contains(r#"<span class="badge limited">rate limited in the last hour</span>"#),
        "{page}"
    );
    assert!(page.contains(r#"<span class="badge active">active</span>"#));
    // One sparkline per key, its box reserved, its total in words and linked to the chart.
    assert_eq!(page.matches(r#"<svg width="120" height="28""#).count(), 2);
    assert!(page.contains("<title>10 requests in the last 36 h for key"));
    assert!(page.contains("<title>0 requests in the last 36 h for key"));
    assert!(page.contains(&format!(r#"href="/console/keys/{busy}/usage""#)));
    assert!(page.contains(&format!(r#"href="/console/keys/{idle}/rotate""#)));
}

async fn a_key_is_rotated_with_a_grace_and_the_new_key_shown_once(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    let user = app.user("jane@acme.com").await;
    let (kid, old_token) = mint_in_console(&app, &id, &csrf, user).await;
    let uri = format!("/console/keys/{kid}/rotate");

    let confirm = get(&app, &uri, Some(&id)).send().await;
    assert_eq!(confirm.status, StatusCode::OK);
    let text = confirm.text();
    assert!(text.contains(r#"<label for="grace">Grace period (seconds)</label>"#));
    assert!(text.contains("0 = the old key stops at once"));
    assert!(text.contains(
        r#"name="grace_seconds" type="number" min="0" step="1" inputmode="numeric" value="0""#
    ));

    let forged = post(&app, &uri, Some(&id), "grace_seconds=60")
        .same_origin()
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forged.detail(),
        "Missing or wrong CSRF token: reload the page and try again."
    );
    let send = |form: String| post(&app, &uri, Some(&id), &form).same_origin().send();
    for (grace, words) in [
        (
            "-5",
            "grace_seconds must be a non-negative integer number of seconds",
        ),
        ("soon", "grace_seconds must be a whole number"),
    ] {
        let bad = send(format!("csrf={csrf}&grace_seconds={grace}")).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{grace}");
        let text = bad.text();
        assert!(
            text.contains(&format!(r#"id="grace-error" role="alert">{words}</p>"#)),
            "{text}"
        );
        assert!(text.contains(r#"aria-invalid="true""#));
        assert!(
            text.contains(&format!(r#"value="{grace}""#)),
            "the typed value is kept"
        );
    }
    let untouched = app.store.key(KeyId(kid)).await.unwrap().unwrap();
    assert_eq!(
        untouched.record.retires_at, None,
        "no refusal rotated the key"
    );

    let done = send(format!("csrf={csrf}&grace_seconds=60")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.header("cache-control"), Some("no-store"));
    let text = done.text();
    let new_token = shown_key(&text);
    assert!(new_token.starts_with("vxa_bot_") && new_token != old_token);
    assert!(text.contains("It will not be shown again"));
    assert!(text.contains(r#"data-copy="minted-key""#));
    assert!(
        text.contains(r#"stops working at <time datetime="2026-11-28T18:01:00"#),
        "{text}"
    );
    assert!(matches!(
        app.changes().last(),
        Some(IdentityChange::KeyChanged(_))
    ));

    // Shown once: not on the user's page (which lists both keys, the old one retiring), and a
    // repeated POST (a reload of the result) is refused next to the action, with no key.
    let listed = get(&app, &format!("/console/users/{user}"), Some(&id))
        .send()
        .await
        .text();
    assert!(!listed.contains(&new_token) && !listed.contains(&old_token));
    assert!(listed.contains(r#"<span class="badge retiring">retiring</span>"#));
    assert!(!listed.contains(&format!(r#"href="/console/keys/{kid}/rotate""#)));
    let again = send(format!("csrf={csrf}&grace_seconds=60")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let text = again.text();
    assert!(text.contains(
        r#"<p class="error" role="alert">Token already rotated; rotate its replacement</p>"#
    ));
    assert!(!text.contains(&new_token) && !text.contains("minted-key"));

    let gone = post(
        &app,
        "/console/keys/999999/rotate",
        Some(&id),
        &format!("csrf={csrf}&grace_seconds=0"),
    )
    .same_origin()
    .send()
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.text().contains("Token not found"));

    // The rotation is the console's, in the audit log, once (the refused repeat wrote nothing).
    let entries = app.audited.audit_entries_from(0, 100).await.unwrap();
    let rotations: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "key.rotate")
        .collect();
    assert_eq!(rotations.len(), 1, "{}", app.backend);
    assert_eq!(rotations[0].actor, "console");
    assert_eq!(rotations[0].key_id, Some(vexa_core::KeyId(kid)));
}

async fn the_usage_page_charts_the_chosen_window(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    let user = app.user("jane@acme.com").await;
    let (kid, _) = mint_in_console(&app, &id, &csrf, user).await;
    seed_usage(
        &app,
        kid,
        "198.51.100.4",
        &[
            (0, Outcome::Allowed, 5),
            (0, Outcome::Scope, 1),
            (50, Outcome::Expired, 9),
        ],
    )
    .await;
    let uri = |hours: &str| format!("/console/keys/{kid}/usage{hours}");

    let day = get(&app, &uri("?hours=24"), Some(&id)).send().await;
    assert_eq!(day.status, StatusCode::OK);
    let text = day.text();
    assert!(text.contains(r#"<svg class="chart" width="720" height="260""#));
    assert!(text.contains(&format!(
        r#"href="/console/keys/{kid}/usage?hours=24" aria-current="page">Last 24 h"#
    )));
    assert!(text.contains(r#"class="bar o-allowed" data-count="5""#));
    assert!(text.contains(r#"class="bar o-scope" data-count="1""#));
    assert!(
        !text.contains(r#"data-count="9""#),
        "50 h ago is outside 24 h"
    );
    assert!(text.contains("6 requests in the last 24 hours"));
    assert!(text.contains("Requests per hour") && text.contains("Hour (UTC)"));
    assert!(
        text.contains("rate limited: 0</li>"),
        "the legend names every outcome"
    );
    assert!(
        text.contains(r#"<table class="sr">"#),
        "the numbers for screen readers"
    );

    let week = get(&app, &uri("?hours=72"), Some(&id)).send().await.text();
    assert!(week.contains(r#"class="bar o-expired" data-count="9""#));
    assert!(week.contains("15 requests in the last 72 hours"));
    let default = get(&app, &uri(""), Some(&id)).send().await.text();
    assert!(default.contains(r#"aria-current="page">Last 36 h"#));

    let unknown = get(&app, "/console/keys/999999/usage", Some(&id))
        .send()
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.text().contains("Token not found"));
}

/// The `(seq, actor, action)` of each row of an audit screen, top to bottom.
fn audit_rows(page: &str) -> Vec<(i64, String, String)> {
    page.split(r#"<tr><td class="num">"#)
        .skip(1)
        .map(|row| {
            let seq = row.split('<').next().unwrap().parse().unwrap();
            let cells: Vec<&str> = row.split("<td>").collect();
            let actor = cells[2].split('<').next().unwrap().to_owned();
            let action = cells[3]
                .trim_start_matches("<code>")
                .split('<')
                .next()
                .unwrap()
                .to_owned();
            (seq, actor, action)
        })
        .collect()
}

/// `datetime-local`'s shape of a time (UTC, minutes).
fn local_input(t: Timestamp) -> String {
    t.to_rfc3339().chars().take(16).collect()
}

async fn the_audit_screen_lists_and_filters_console_and_api_actions(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    let created = post(
        &app,
        "/console/users",
        Some(&id),
        &format!("csrf={csrf}&email=jane%40acme.com"),
    )
    .same_origin()
    .send()
    .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let jane = app.user("jane@acme.com").await;
    let bob = app.user("bob@acme.com").await;
    app.mint(bob, "").await;
    let bob_key = newest_key(&app, bob).await;
    app.clock.advance_millis(3600 * 1000);
    let (jane_key, _) = mint_in_console(&app, &id, &csrf, jane).await;

    let audit = |q: &str| {
        let uri = format!("/console/audit{q}");
        let id = id.clone();
        let app = &app;
        async move { get(app, &uri, Some(&id)).send().await }
    };
    let all = audit("").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text());
    let page = all.text();
    assert!(page.contains(r#"<a href="/console/audit" aria-current="page">Audit log</a>"#));
    let rows = audit_rows(&page);
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|(_, who, what)| (who.as_str(), what.as_str()))
        .collect();
    // `app.user` finds jane by creating her again: the API's create answers the existing user
    // and records nothing, so there are four entries, newest first.
    assert_eq!(
        seen,
        [
            ("console", "key.mint"),
            ("admin_api", "key.mint"),
            ("admin_api", "user.create"),
            ("console", "user.create"),
        ],
        "{page}"
    );
    assert!(rows.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
    assert!(page.contains(&format!(
        r#"<a href="/console/users/{jane}">user {jane}</a>"#
    )));
    assert!(page.contains(r#"<time datetime=""#));
    assert!(page.contains("scopes: [bot]"), "changes as key: value text");

    let actions = |q: &'static str| {
        let audit = &audit;
        async move {
            let res = audit(q).await;
            assert_eq!(res.status, StatusCode::OK, "{q}: {}", res.text());
            audit_rows(&res.text())
                .into_iter()
                .map(|(_, who, what)| format!("{who} {what}"))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        actions("?action=key.mint").await,
        ["console key.mint", "admin_api key.mint"]
    );
    assert_eq!(actions("?action=any").await.len(), 4);
    let by_user = audit(&format!("?user_id={bob}")).await;
    assert_eq!(audit_rows(&by_user.text()).len(), 2);
    assert!(by_user.text().contains(&format!(
        r#"name="user_id" type="text" inputmode="numeric" autocomplete="off" value="{bob}""#
    )));
    let by_key = audit(&format!("?key_id={bob_key}")).await;
    assert_eq!(audit_rows(&by_key.text())[0].2, "key.mint");
    assert_eq!(audit_rows(&by_key.text()).len(), 1);
    let half = local_input(Timestamp(START.0 + 1800 * 1000));
    let since = audit(&format!("?since={half}")).await;
    assert_eq!(audit_rows(&since.text()).len(), 1, "only the later mint");
    let until = audit(&format!("?until={half}&action=user.create")).await;
    assert_eq!(audit_rows(&until.text()).len(), 2);
    let day = audit(&format!("?since={}", &half[..10])).await;
    assert_eq!(
        audit_rows(&day.text()).len(),
        4,
        "a bare date is its midnight, UTC"
    );

    let bad = audit("?user_id=abc&action=nope&since=soon&key_id=").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = bad.text();
    assert!(text.contains(
        r#"id="audit-user-id-error" role="alert">user_id must be an integer between 0 and"#
    ));
    assert!(
        text.contains(r#"value="abc""#),
        "the form keeps what was typed"
    );
    assert!(
        text.contains(r#"id="audit-action-error" role="alert">action must be one of: user.create"#)
    );
    assert!(text.contains(
        r#"id="audit-since-error" role="alert">since must be epoch milliseconds or an RFC 3339 time"#
    ));
    assert!(text.contains(r#"type="text" step="1" value="soon""#));
    assert!(text.contains("Fix the filter above to see entries."));
    assert!(audit_rows(&text).is_empty());

    let user_page = get(&app, &format!("/console/users/{jane}"), Some(&id))
        .send()
        .await;
    assert!(user_page.text().contains(&format!(
        r#"<a href="/console/audit?key_id={jane_key}" aria-label="History of key"#
    )));

    let anon = get(&app, "/console/audit", None).send().await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert_eq!(anon.header("location"), Some("/console/login"));
}

async fn the_audit_screen_pages_with_before_seq_keeping_the_filter(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, _) = sign_in(&app).await;
    for n in 0..30 {
        app.user(&format!("u{n}@acme.com")).await;
    }
    let u0 = app.user("u0@acme.com").await;
    app.mint(u0, "").await;

    let first = get(&app, "/console/audit?action=user.create", Some(&id))
        .send()
        .await;
    let page = first.text();
    let rows = audit_rows(&page);
    assert_eq!(rows.len(), 25, "a page is 25 entries");
    assert!(rows.iter().all(|r| r.2 == "user.create"));
    assert!(
        !page.contains(">Newest</a>"),
        "the first page is the newest"
    );
    let last_seq = rows[24].0;
    let older = format!(
        r#"<a href="/console/audit?action=user.create&amp;before_seq={last_seq}">Older</a>"#
    );
    assert!(page.contains(&older), "{page}");

    let second = get(
        &app,
        &format!("/console/audit?action=user.create&before_seq={last_seq}"),
        Some(&id),
    )
    .send()
    .await;
    let page = second.text();
    let rows = audit_rows(&page);
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r.0 < last_seq));
    assert!(!page.contains(">Older</a>"), "nothing older");
    assert!(page.contains(r#"<a href="/console/audit?action=user.create">Newest</a>"#));

    // The chain line covers the whole log (31 entries), whatever the filter or page.
    assert!(page.contains("Hash chain verified: 31 entries."), "{page}");
    vexa_store::testing::tamper::edit_changes(&app.db.db, 3, r#"{"email":"forged@acme.com"}"#)
        .await
        .unwrap();
    let broken = get(&app, "/console/audit", Some(&id)).send().await.text();
    assert!(
        broken.contains(
            r#"role="alert">Hash chain not verified: audit chain broken at entry seq 3: "#
        ),
        "{broken}"
    );

    let bad = get(&app, "/console/audit?before_seq=-1", Some(&id))
        .send()
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .contains("before_seq must be an integer between 0 and"));
}

fn beat(id: &str, port: u16, last_seen: Timestamp, applied_seq: i64) -> ReplicaBeat {
    ReplicaBeat {
        id: id.to_owned(),
        host: "gw-host".to_owned(),
        pid: 4242,
        addr: format!("10.0.0.7:{port}"),
        started_at: Timestamp(START.0 - 3_725_000),
        last_seen,
        heartbeat_ms: 1000,
        cache_entries: 17,
        applied_seq,
        applied_at: Some(last_seen),
    }
}

async fn the_replicas_screen_lists_every_gateway_with_health_and_lag(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, csrf) = sign_in(&app).await;
    // One identity event for a replica to lag behind: a key revoked in the console.
    let user = app.user("fleet@acme.com").await;
    let (kid, _) = mint_in_console(&app, &id, &csrf, user).await;
    app.store.revoke_key(KeyId(kid), START).await.unwrap();
    let latest = app.store.latest_event_seq().await.unwrap();
    assert!(latest >= 1);
    let prune_before = Timestamp(START.0 - 3_600_000);
    // What two gateway heartbeats write: one current and caught up, one silent for 10 beats
    // and one event behind.
    app.store
        .record_replica(&beat("aaaa1111", 8056, START, latest), prune_before)
        .await
        .unwrap();
    app.store
        .record_replica(
            &beat("bbbb2222", 8057, Timestamp(START.0 - 10_000), latest - 1),
            prune_before,
        )
        .await
        .unwrap();

    let page = get(&app, "/console/replicas", Some(&id)).send().await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text();
    assert!(text.contains("reachable"), "the store line stays");
    assert!(text.contains(r#"<table class="replicas">"#));
    let rows: Vec<&str> = text.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{text}");
    let healthy = rows.iter().find(|r| r.contains("aaaa1111")).unwrap();
    assert!(healthy.contains("<code>10.0.0.7:8056</code>"));
    assert!(healthy.contains("gw-host, pid 4242"));
    assert!(healthy.contains(r#"<span class="badge active">healthy</span>"#));
    assert!(healthy.contains("1 h 2 min"), "uptime: {healthy}");
    assert!(healthy.contains("<td>17</td>"), "cache size: {healthy}");
    assert!(healthy.contains(&format!("<td>#{latest}</td><td>0</td><td>up to date</td>")));
    let stale = rows.iter().find(|r| r.contains("bbbb2222")).unwrap();
    assert!(
        stale.contains(r#"<span class="badge expired">stale</span>"#),
        "{stale}"
    );
    assert!(
        stale.contains(&format!("<td>#{}</td><td>1</td>", latest - 1)),
        "{stale}"
    );
    assert!(stale.contains("oldest unapplied event"), "{stale}");

    // The same as JSON for scripts, behind the admin token.
    let json = app.admin(Method::GET, "/admin/replicas").send().await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.text());
    let body = json.json();
    assert_eq!(body["store"]["latest_event_seq"], latest);
    let replicas = body["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 2);
    let by_id = |id: &str| replicas.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(by_id("aaaa1111")["status"], "healthy");
    assert_eq!(by_id("aaaa1111")["lag_ms"], serde_json::Value::Null);
    assert_eq!(by_id("bbbb2222")["status"], "stale");
    assert_eq!(by_id("bbbb2222")["lag_events"], 1);
    assert_eq!(by_id("bbbb2222")["address"], "10.0.0.7:8057");
    let anonymous = app.anon(Method::GET, "/admin/replicas").send().await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    assert!(anonymous.json()["detail"].is_string());

    // A graceful stop removes the row; a row silent for over an hour is pruned by any beat.
    app.store.remove_replica("aaaa1111").await.unwrap();
    app.store
        .record_replica(
            &beat("cccc3333", 8058, START, latest),
            Timestamp(START.0 - 5_000),
        )
        .await
        .unwrap();
    let left: Vec<String> = app
        .store
        .replicas()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.beat.id)
        .collect();
    assert_eq!(left, ["cccc3333"]);
}

on_both_backends!(
    the_replicas_screen_lists_every_gateway_with_health_and_lag,
    the_keys_table_shows_badges_last_client_and_a_usage_sparkline,
    a_key_is_rotated_with_a_grace_and_the_new_key_shown_once,
    the_usage_page_charts_the_chosen_window,
    signing_in_sets_a_strict_http_only_session_cookie,
    a_wrong_admin_token_is_refused_in_words_and_counted,
    forged_cross_site_posts_are_refused_with_a_detail,
    sessions_expire_and_signing_out_ends_them,
    every_screen_mutates_through_the_admin_service,
    the_audit_screen_lists_and_filters_console_and_api_actions,
    the_audit_screen_pages_with_before_seq_keeping_the_filter,
);
