//! Per-key limits (CONTRACT §10): set at mint, listed with the key, changed by
//! `PATCH /admin/tokens/{id}` (`null` clears), refused with 422 when out of range, and every
//! change announced so gateways evict the key. On both backends.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use vexa_core::store::IdentityChange;
use vexa_core::{ApiKey, KeyLimits};

use crate::support::{app_on, TestApp};
use vexa_testkit::{on_both_backends, Backend, TestDb};

fn limits_of(v: &Value) -> Value {
    json!({
        "rate_limit_rps": v["rate_limit_rps"],
        "rate_limit_burst": v["rate_limit_burst"],
        "max_concurrent_bots": v["max_concurrent_bots"],
    })
}

async fn mint_with(app: &TestApp, user: i64, body: Value) -> Value {
    let res = app
        .admin(Method::POST, &format!("/admin/users/{user}/tokens"))
        .json(&body)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{body}: {}", res.text());
    res.json()
}

async fn listed(app: &TestApp, user: i64, key_id: &Value) -> Value {
    let res = app
        .admin(Method::GET, &format!("/admin/users/{user}/tokens"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let list = res.json();
    list.as_array()
        .unwrap()
        .iter()
        .find(|k| &k["id"] == key_id)
        .cloned()
        .expect("the key is listed")
}

async fn patch(app: &TestApp, key_id: &Value, body: Value) -> (StatusCode, Value) {
    let res = app
        .admin(Method::PATCH, &format!("/admin/tokens/{key_id}"))
        .json(&body)
        .send()
        .await;
    (res.status, res.lenient_json())
}

async fn limits_given_at_mint_are_returned_listed_and_resolved(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let user = app.user("limits@acme.com").await;
    let want = json!({"rate_limit_rps": 2.5, "rate_limit_burst": 5, "max_concurrent_bots": 1});
    let body = json!({"scopes": ["bot"], "rate_limit_rps": 2.5, "rate_limit_burst": 5, "max_concurrent_bots": 1});
    let key = mint_with(&app, user, body).await;
    assert_eq!(limits_of(&key), want, "{key}");
    assert_eq!(limits_of(&listed(&app, user, &key["id"]).await), want);
    let digest = ApiKey::parse(key["token"].as_str().unwrap())
        .unwrap()
        .digest;
    let principal = app.store.resolve_key(&digest).await.unwrap().unwrap();
    assert_eq!(
        principal.limits,
        KeyLimits {
            rate_limit_rps: Some(2.5),
            rate_limit_burst: Some(5),
            max_concurrent_bots: Some(1),
        }
    );
    // A key minted without limits shows them as null, and an integer rate is a number too.
    let plain = mint_with(&app, user, json!({})).await;
    assert_eq!(
        limits_of(&listed(&app, user, &plain["id"]).await),
        json!({"rate_limit_rps": null, "rate_limit_burst": null, "max_concurrent_bots": null})
    );
    let whole = mint_with(&app, user, json!({"rate_limit_rps": 3})).await;
    assert_eq!(whole["rate_limit_rps"], 3.0);
}

async fn patch_sets_clears_and_keeps_fields_and_announces_the_change(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let user = app.user("patch@acme.com").await;
    let key = mint_with(
        &app,
        user,
        json!({"rate_limit_rps": 10, "max_concurrent_bots": 2}),
    )
    .await;
    let digest = ApiKey::parse(key["token"].as_str().unwrap())
        .unwrap()
        .digest;
    let before = app.changes().len();

    let (code, body) = patch(&app, &key["id"], json!({"rate_limit_burst": 4})).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(
        limits_of(&body),
        json!({"rate_limit_rps": 10.0, "rate_limit_burst": 4, "max_concurrent_bots": 2})
    );
    assert_eq!(body["id"], key["id"]);
    assert!(body.get("token").is_none(), "never the secret: {body}");

    let (code, body) = patch(
        &app,
        &key["id"],
        json!({"rate_limit_rps": null, "max_concurrent_bots": 0}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let want = json!({"rate_limit_rps": null, "rate_limit_burst": 4, "max_concurrent_bots": 0});
    assert_eq!(limits_of(&body), want);
    assert_eq!(limits_of(&listed(&app, user, &key["id"]).await), want);

    // Each change is announced in process and recorded for the other replicas.
    let changes = app.changes();
    assert_eq!(
        changes[before..],
        [
            IdentityChange::KeyChanged(digest),
            IdentityChange::KeyChanged(digest)
        ]
    );
    let events = app.store.events_since(0, 100).await.unwrap();
    let recorded = events
        .iter()
        .filter(|e| e.change == IdentityChange::KeyChanged(digest))
        .count();
    assert_eq!(recorded, 2, "{events:?}");
}

async fn bad_limits_are_422_at_mint_and_patch_and_change_nothing(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let user = app.user("bad@acme.com").await;
    let key = mint_with(&app, user, json!({"rate_limit_rps": 1})).await;
    let cases = [
        json!({"rate_limit_rps": -1}),
        json!({"rate_limit_rps": 0}),
        json!({"rate_limit_rps": "5"}),
        json!({"rate_limit_rps": 1e300}),
        json!({"rate_limit_burst": 0}),
        json!({"rate_limit_burst": -2}),
        json!({"rate_limit_burst": 2.5}),
        json!({"rate_limit_burst": "3"}),
        json!({"rate_limit_burst": 1_000_001}),
        json!({"max_concurrent_bots": -1}),
        json!({"max_concurrent_bots": 10_001}),
        json!({"max_concurrent_bots": true}),
        json!({"rate_limit": 5}),
        json!({"scopes": ["bot"]}),
    ];
    for body in &cases {
        let (code, reply) = patch(&app, &key["id"], body.clone()).await;
        assert_eq!(
            code,
            StatusCode::UNPROCESSABLE_ENTITY,
            "PATCH {body}: {reply}"
        );
        assert!(reply["detail"].is_string(), "{reply}");
    }
    for raw in [
        "{}",
        "{\"rate_limit_burst\": 99999999999999999999999}",
        "{\"rate_limit_rps\": 1e999}",
        "[]",
    ] {
        let res = app
            .admin(Method::PATCH, &format!("/admin/tokens/{}", key["id"]))
            .raw_json(raw)
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{raw}: {}",
            res.text()
        );
        assert!(!res.detail().is_empty());
    }
    let (_, reply) = patch(&app, &key["id"], json!({"rate_limit_rps": 0})).await;
    assert_eq!(
        reply["detail"],
        "rate_limit_rps must be a number above 0 and at most 1000000"
    );
    // The same rules at mint (the unknown-field and scope cases are the mint's own).
    for body in &cases[..12] {
        let res = app
            .admin(Method::POST, &format!("/admin/users/{user}/tokens"))
            .json(body)
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "mint {body}: {}",
            res.text()
        );
    }
    assert_eq!(
        limits_of(&listed(&app, user, &key["id"]).await),
        json!({"rate_limit_rps": 1.0, "rate_limit_burst": null, "max_concurrent_bots": null})
    );
    assert!(!app
        .changes()
        .iter()
        .any(|c| matches!(c, IdentityChange::KeyChanged(_))));
}

async fn patching_an_unknown_or_revoked_key_is_404(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let user = app.user("gone@acme.com").await;
    let key = mint_with(&app, user, json!({})).await;
    let (code, reply) = patch(&app, &json!(999_999), json!({"rate_limit_rps": 1})).await;
    assert_eq!(
        (code, reply["detail"].as_str()),
        (StatusCode::NOT_FOUND, Some("Token not found"))
    );
    let res = app
        .admin(Method::DELETE, &format!("/admin/tokens/{}", key["id"]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let (code, reply) = patch(&app, &key["id"], json!({"rate_limit_rps": 1})).await;
    assert_eq!(
        (code, reply["detail"].as_str()),
        (StatusCode::NOT_FOUND, Some("Token not found"))
    );
    // Without the admin token: 403 before the body is read.
    let res = app
        .anon(Method::PATCH, &format!("/admin/tokens/{}", key["id"]))
        .json(&json!({"rate_limit_rps": 1}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

on_both_backends!(
    limits_given_at_mint_are_returned_listed_and_resolved,
    patch_sets_clears_and_keeps_fields_and_announces_the_change,
    bad_limits_are_422_at_mint_and_patch_and_change_nothing,
    patching_an_unknown_or_revoked_key_is_404,
);
