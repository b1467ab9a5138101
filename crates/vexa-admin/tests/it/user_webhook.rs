//! The user tier's `PUT`/`GET /user/webhook` (authenticated by the user's own `X-API-Key`) and
//! the webhook settings as the admin routes show them: kept in the user's `data`, the secret
//! never shown back; `PATCH /admin/users/{id}` refuses the reserved `data` keys.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use vexa_core::webhook::RESERVED_DATA_KEYS;

use crate::support::{app_on, TestApp};
use vexa_testkit::{on_both_backends, Backend, TestDb};

const SECRET: &str = "whsec_test_secret";

/// A user with a `bot` key: (user id, key).
async fn user_with_key(app: &TestApp, email: &str, scopes: &str) -> (i64, String) {
    let id = app.user(email).await;
    let minted = app.mint(id, &format!("?scopes={scopes}")).await;
    (id, minted["token"].as_str().unwrap().to_owned())
}

async fn put_hook(app: &TestApp, key: &str, body: &Value) -> vexa_testkit::Reply {
    app.anon(Method::PUT, "/user/webhook")
        .header("x-api-key", key)
        .json(body)
        .send()
        .await
}

async fn put_answers_the_user_record_and_the_admin_routes_show_the_settings(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, key) = user_with_key(&app, "hooks@acme.com", "bot").await;
    let events = json!({"meeting.completed": true, "bot.failed": true});
    let res = put_hook(
        &app,
        &key,
        &json!({"webhook_url": "https://hooks.acme.com/v", "webhook_secret": SECRET, "webhook_events": events}),
    )
    .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{}: {}",
        app.backend,
        res.text()
    );
    assert!(!res.text().contains(SECRET), "{}", res.text());
    let user = res.json();
    assert_eq!(user["id"], id);
    assert_eq!(user["email"], "hooks@acme.com");
    assert_eq!(
        user["data"],
        json!({"webhook_url": "https://hooks.acme.com/v", "webhook_events": events})
    );

    let read = app
        .anon(Method::GET, "/user/webhook")
        .header("x-api-key", &key)
        .send()
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(
        read.json(),
        json!({"webhook_url": "https://hooks.acme.com/v", "webhook_secret_set": true,
               "webhook_secret": "********cret", "webhook_events": events})
    );

    // The admin routes show the URL and events in `data`, never the secret.
    let got = app
        .admin(Method::GET, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(!got.text().contains(SECRET));
    assert_eq!(got.json()["data"], user["data"]);
    let patched = app
        .admin(Method::PATCH, &format!("/admin/users/{id}"))
        .json(&json!({"max_concurrent_bots": 5, "data": {"subscription_tier": "pro"}}))
        .send()
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert!(!patched.text().contains(SECRET));
    assert_eq!(
        patched.json()["data"]["webhook_url"],
        "https://hooks.acme.com/v"
    );
    assert_eq!(patched.json()["data"]["webhook_events"], events);
    assert_eq!(patched.json()["data"]["subscription_tier"], "pro");

    // An empty secret and absent events keep what is stored; the URL is replaced.
    let again = put_hook(
        &app,
        &key,
        &json!({"webhook_url": "https://hooks.acme.com/w", "webhook_secret": ""}),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["data"]["webhook_events"], events);
    let read = app
        .anon(Method::GET, "/user/webhook")
        .header("x-api-key", &key)
        .send()
        .await
        .json();
    assert_eq!(read["webhook_url"], "https://hooks.acme.com/w");
    assert_eq!(read["webhook_secret"], "********cret");
    // The stored secret is the one delivery signs with.
    let stored = app
        .store
        .user(vexa_core::UserId(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.data["webhook_secret"], SECRET);
    // A user without a webhook reads nulls.
    let (_, other) = user_with_key(&app, "nohook@acme.com", "tx").await;
    let none = app
        .anon(Method::GET, "/user/webhook")
        .header("x-api-key", &other)
        .send()
        .await;
    assert_eq!(
        none.json(),
        json!({"webhook_url": null, "webhook_secret_set": false, "webhook_secret": null, "webhook_events": null})
    );
}

async fn bad_webhook_bodies_are_422_with_the_contract_detail(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (id, key) = user_with_key(&app, "bad@acme.com", "bot").await;
    let url = "https://hooks.acme.com/v";
    for (body, detail) in [
        (json!({}), "'webhook_url' is required"),
        (json!({"webhook_url": null}), "'webhook_url' is required"),
        (
            json!({"webhook_url": "ftp://x.example"}),
            "'webhook_url' must be an http(s) URL",
        ),
        (
            json!({"webhook_url": "not a url"}),
            "'webhook_url' must be an http(s) URL",
        ),
        (
            json!({"webhook_url": 7}),
            "'webhook_url' must be an http(s) URL",
        ),
        (
            json!({"webhook_url": url, "webhook_events": {"meeting.completed": "yes"}}),
            "'webhook_events' must be an object of booleans",
        ),
        (
            json!({"webhook_url": url, "webhook_events": [1]}),
            "'webhook_events' must be an object of booleans",
        ),
        (
            json!({"webhook_url": url, "webhook_events": {"meeting.exploded": true}}),
            "unknown webhook event 'meeting.exploded'; known: meeting.status_change, \
             meeting.started, meeting.completed, bot.failed, recording.ready, transcription.ready, \
             key.rotated, key.revoked, key.expiring",
        ),
        (
            json!({"webhook_url": url, "webhook_secret": 5}),
            "'webhook_secret' must be a string of at most 256 characters",
        ),
        (json!([url]), "Request body must be a JSON object"),
    ] {
        let res = put_hook(&app, &key, &body).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            res.text()
        );
        assert_eq!(res.detail(), detail, "{body}");
    }
    let res = app
        .anon(Method::PUT, "/user/webhook")
        .header("x-api-key", &key)
        .raw_json("{nope")
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        res.text()
    );
    assert!(res.json()["detail"].is_string());
    // Nothing was stored.
    let user = app
        .admin(Method::GET, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(user.json()["data"], json!({}));
}

async fn the_user_tier_refuses_missing_unknown_expired_revoked_and_out_of_scope_keys(
    backend: Backend,
) {
    let app = app_on(TestDb::new(backend).await);
    let body = json!({"webhook_url": "https://hooks.acme.com/v"});
    let missing = app
        .anon(Method::PUT, "/user/webhook")
        .json(&body)
        .send()
        .await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.detail(), "Missing API Key");
    let unknown = put_hook(&app, "vxa_bot_not-a-real-key", &body).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert_eq!(unknown.detail(), "Invalid API Key");
    let (_, browser) = user_with_key(&app, "browser@acme.com", "browser").await;
    let scoped = put_hook(&app, &browser, &body).await;
    assert_eq!(scoped.status, StatusCode::FORBIDDEN);
    assert_eq!(
        scoped.detail(),
        "Token scope not authorized for this endpoint"
    );

    let id = app.user("short@acme.com").await;
    let minted = app.mint(id, "?scopes=bot&expires_in=60").await;
    let key = minted["token"].as_str().unwrap().to_owned();
    assert_eq!(put_hook(&app, &key, &body).await.status, StatusCode::OK);
    app.clock.advance_millis(61_000);
    let expired = put_hook(&app, &key, &body).await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert_eq!(expired.detail(), "Invalid API Key");

    let (revoked_user, key) = user_with_key(&app, "revoked@acme.com", "tx").await;
    let key_id = app
        .admin(Method::GET, &format!("/admin/users/{revoked_user}/tokens"))
        .send()
        .await
        .json()
        .as_array()
        .and_then(|ks| ks.last().cloned())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(put_hook(&app, &key, &body).await.status, StatusCode::OK);
    let revoked = app
        .admin(Method::DELETE, &format!("/admin/tokens/{key_id}"))
        .send()
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = put_hook(&app, &key, &body).await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);
    assert_eq!(after.detail(), "Invalid API Key");
    // The admin token is not a user key.
    let admin = app.admin(Method::GET, "/user/webhook").send().await;
    assert_eq!(admin.status, StatusCode::UNAUTHORIZED);
}

async fn patch_refuses_each_reserved_data_key_with_422(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("reserved@acme.com").await;
    for key in RESERVED_DATA_KEYS {
        let res = app
            .admin(Method::PATCH, &format!("/admin/users/{id}"))
            .json(&json!({"data": {key: "https://evil.example", "subscription_tier": "pro"}}))
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{key}: {}",
            res.text()
        );
        let detail = res.detail();
        assert!(
            detail.starts_with(&format!("data.{key} is reserved")),
            "{key}: {detail}"
        );
    }
    let res = app
        .admin(Method::PATCH, &format!("/admin/users/{id}"))
        .json(&json!({"data": {"webhook_url": "https://h.example"}}))
        .send()
        .await;
    assert_eq!(
        res.detail(),
        "data.webhook_url is reserved: set it through PUT /user/webhook"
    );
    let user = app
        .admin(Method::GET, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(
        user.json()["data"],
        json!({}),
        "nothing of a refused patch is stored"
    );
}

on_both_backends!(
    put_answers_the_user_record_and_the_admin_routes_show_the_settings,
    bad_webhook_bodies_are_422_with_the_contract_detail,
    the_user_tier_refuses_missing_unknown_expired_revoked_and_out_of_scope_keys,
    patch_refuses_each_reserved_data_key_with_422,
);
