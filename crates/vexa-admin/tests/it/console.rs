//! The console at `/console` over HTTP (the browser suite is in the `vexa` crate): sign-in,
//! the session cookie, the same-origin and CSRF gate on every POST, expiry, sign-out, and that
//! every screen's mutation is the admin service's (both backends).
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use vexa_core::store::IdentityChange;
use vexa_testkit::{metrics, on_both_backends, Backend, Reply, TestDb, ADMIN_TOKEN};

use crate::support::{app_on, TestApp};

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
    assert!(replicas.text().contains("no registry of gateways"));

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

on_both_backends!(
    signing_in_sets_a_strict_http_only_session_cookie,
    a_wrong_admin_token_is_refused_in_words_and_counted,
    forged_cross_site_posts_are_refused_with_a_detail,
    sessions_expire_and_signing_out_ends_them,
    every_screen_mutates_through_the_admin_service,
);
