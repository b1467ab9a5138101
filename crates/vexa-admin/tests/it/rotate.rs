//! `POST /admin/tokens/{id}/rotate` (CONTRACT §10) on both backends: the replacement's shape and
//! inheritance, the old key through and past its grace period (user tier, `/internal/validate`,
//! the key list), no grace, 404/409, chains, bad bodies, imported keys, what the hook is told.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use vexa_core::store::IdentityChange;
use vexa_core::{ApiKey, Clock, KeyDigest, Timestamp, UserId};
use vexa_testkit::{on_both_backends, Backend, Reply, TestDb};

use crate::internal_validate::{import_legacy, validate, LEGACY};
use crate::support::{app_on, TestApp};

async fn rotate(app: &TestApp, id: i64, body: Option<Value>) -> Reply {
    let call = app.admin(Method::POST, &format!("/admin/tokens/{id}/rotate"));
    match body {
        Some(b) => call.json(&b).send().await,
        None => call.send().await,
    }
}

/// A user with one key minted as `query`; returns (user id, key JSON).
async fn user_with_key(app: &TestApp, email: &str, query: &str) -> (i64, Value) {
    let user = app.user(email).await;
    (user, app.mint(user, query).await)
}

fn token(v: &Value) -> String {
    v["token"].as_str().unwrap().to_owned()
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// What the user tier answers for this key (`GET /user/webhook`).
async fn user_tier(app: &TestApp, key: &str) -> (StatusCode, String) {
    let r = app
        .anon(Method::GET, "/user/webhook")
        .header("x-api-key", key)
        .send()
        .await;
    (
        r.status,
        r.lenient_json()["detail"].as_str().unwrap_or("").to_owned(),
    )
}

async fn listed_ids(app: &TestApp, user: i64) -> Vec<i64> {
    let r = app
        .admin(Method::GET, &format!("/admin/users/{user}/tokens"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.json().as_array().unwrap().iter().map(id).collect()
}

async fn the_replacement_is_answered_like_a_mint_with_the_same_user_scopes_name_and_expiry(
    backend: Backend,
) {
    let app = app_on(TestDb::new(backend).await);
    let (user, old) = user_with_key(
        &app,
        "rot@acme.com",
        "?scopes=tx,bot&name=ci&expires_in=86400",
    )
    .await;
    // Per-key limits of its own, which the replacement must inherit.
    let limits = json!({"rate_limit_rps": 2.5, "rate_limit_burst": 4, "max_concurrent_bots": 1});
    let patched = app
        .admin(Method::PATCH, &format!("/admin/tokens/{}", id(&old)))
        .json(&limits)
        .send()
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    app.clock.advance_millis(5_000);
    let r = rotate(&app, id(&old), Some(json!({"grace_seconds": 60}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let new = r.json();
    let field_names =
        |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(field_names(&new), field_names(&old), "the mint's shape");
    for (field, value) in limits.as_object().unwrap() {
        assert_eq!(&new[field], value, "{field} inherited");
    }
    assert_ne!(id(&new), id(&old));
    assert_eq!(new["user_id"], user);
    assert_eq!(new["scopes"], json!(["tx", "bot"]));
    assert_eq!(new["name"], "ci");
    assert_eq!(new["expires_at"], old["expires_at"], "absolute expiry kept");
    assert_eq!(new["created_at"], json!(app.clock.now().to_rfc3339()));
    let parsed = ApiKey::parse(&token(&new)).expect("our format");
    assert_eq!(parsed.primary_scope, vexa_core::Scope::Tx);
    let p = app
        .store
        .resolve_key(&parsed.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.user_id, UserId(user));
    assert_eq!(p.retires_at, None, "the replacement is not retiring");
    // Listed with the old key (still in grace), never with a secret.
    assert_eq!(listed_ids(&app, user).await, [id(&old), id(&new)]);
    let listing = app
        .admin(Method::GET, &format!("/admin/users/{user}/tokens"))
        .send()
        .await
        .text();
    assert!(!listing.contains(&token(&new)) && !listing.contains(&token(&old)));
}

async fn the_old_key_works_through_its_grace_period_and_is_invalid_after_it(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (user, old) = user_with_key(&app, "grace@acme.com", "?scopes=bot").await;
    let old_key = token(&old);
    let r = rotate(&app, id(&old), Some(json!({"grace_seconds": 3600}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let new_key = token(&r.json());
    let digest = KeyDigest::of(&old_key);
    assert_eq!(
        app.changes(),
        [IdentityChange::KeyChanged(digest)],
        "caches are told the old key changed, once, and nothing is revoked yet"
    );
    let grace_end = app.clock.now().plus_secs(3600);
    let p = app.store.resolve_key(&digest).await.unwrap().unwrap();
    assert_eq!(p.retires_at, Some(grace_end));

    app.clock.set(Timestamp(grace_end.0 - 1));
    assert_eq!(user_tier(&app, &old_key).await.0, StatusCode::OK);
    assert_eq!(
        validate(&app, json!({"token": old_key})).await.0,
        StatusCode::OK
    );
    assert_eq!(listed_ids(&app, user).await.len(), 2);

    app.clock.set(grace_end);
    assert_eq!(
        user_tier(&app, &old_key).await,
        (StatusCode::FORBIDDEN, "Invalid API Key".to_owned())
    );
    assert_eq!(
        validate(&app, json!({"token": old_key})).await,
        (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token"})),
        "revoked, never \"Token expired\""
    );
    assert_eq!(listed_ids(&app, user).await, [id(&r.json())]);
    assert_eq!(user_tier(&app, &new_key).await.0, StatusCode::OK);
}

async fn with_no_grace_the_old_key_is_revoked_at_once(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (user, old) = user_with_key(&app, "now@acme.com", "").await;
    // No body at all, and an empty body with a JSON content type, both mean grace 0.
    let r = rotate(&app, id(&old), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let digest = KeyDigest::of(&token(&old));
    assert_eq!(app.changes(), [IdentityChange::KeyRevoked(digest)]);
    assert_eq!(app.store.resolve_key(&digest).await.unwrap(), None);
    assert_eq!(listed_ids(&app, user).await, [id(&r.json())]);
    let next = app
        .admin(
            Method::POST,
            &format!("/admin/tokens/{}/rotate", id(&r.json())),
        )
        .raw_json("")
        .send()
        .await;
    assert_eq!(next.status, StatusCode::CREATED, "{}", next.text());
    assert_eq!(listed_ids(&app, user).await, [id(&next.json())]);
}

async fn unknown_and_revoked_keys_are_404_and_a_key_in_grace_is_409_until_its_grace_ends(
    backend: Backend,
) {
    let app = app_on(TestDb::new(backend).await);
    let not_found = json!({"detail": "Token not found"});
    let r = rotate(&app, 987_654, None).await;
    assert_eq!(r.parts(), (404, not_found.clone()));

    let (user, revoked) = user_with_key(&app, "states@acme.com", "").await;
    let del = app
        .admin(Method::DELETE, &format!("/admin/tokens/{}", id(&revoked)))
        .send()
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        rotate(&app, id(&revoked), None).await.parts(),
        (404, not_found.clone())
    );

    let old = app.mint(user, "").await;
    let grace = json!({"grace_seconds": 10});
    assert_eq!(
        rotate(&app, id(&old), Some(grace.clone())).await.status,
        201
    );
    let again = rotate(&app, id(&old), Some(grace.clone())).await;
    assert_eq!(
        again.parts(),
        (
            409,
            json!({"detail": "Token already rotated; rotate its replacement"})
        )
    );
    let keys_before = listed_ids(&app, user).await;
    app.clock.advance_millis(10_000);
    assert_eq!(
        rotate(&app, id(&old), Some(grace)).await.parts(),
        (404, not_found.clone()),
        "past its grace end the old key is gone"
    );
    assert_eq!(keys_before.len(), 2, "the 409 minted nothing");

    let expiring = app.mint(user, "?expires_in=1").await;
    app.clock.advance_millis(1_000);
    assert_eq!(
        rotate(&app, id(&expiring), None).await.parts(),
        (404, not_found)
    );
}

async fn rotating_the_replacement_chains(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (user, k1) = user_with_key(&app, "chain@acme.com", "?scopes=browser&name=b").await;
    let grace = Some(json!({"grace_seconds": 30}));
    let k2 = rotate(&app, id(&k1), grace.clone()).await.json();
    let k3 = rotate(&app, id(&k2), grace).await;
    assert_eq!(k3.status, StatusCode::CREATED, "{}", k3.text());
    let k3 = k3.json();
    assert_eq!(k3["scopes"], json!(["browser"]));
    assert_eq!(k3["name"], "b");
    assert_eq!(listed_ids(&app, user).await, [id(&k1), id(&k2), id(&k3)]);
    for k in [&k1, &k2, &k3] {
        assert_eq!(
            user_tier(&app, &token(k)).await.0,
            StatusCode::FORBIDDEN,
            "browser-only"
        );
        assert!(app
            .store
            .resolve_key(&KeyDigest::of(&token(k)))
            .await
            .unwrap()
            .is_some());
    }
    app.clock.advance_millis(30_000);
    assert_eq!(listed_ids(&app, user).await, [id(&k3)]);
}

async fn bad_grace_values_and_bodies_are_422(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let (user, old) = user_with_key(&app, "bad@acme.com", "").await;
    let path = format!("/admin/tokens/{}/rotate", id(&old));
    let rule = "grace_seconds must be a non-negative integer number of seconds";
    let cases: Vec<(&str, Option<&str>)> = vec![
        (r#"{"grace_seconds": -1}"#, Some(rule)),
        (
            r#"{"grace_seconds": 3153600001}"#,
            Some("grace_seconds must be at most 3153600000 seconds"),
        ),
        (r#"{"grace_seconds": "60"}"#, None),
        (r#"{"grace_seconds": 1.5}"#, None),
        (r#"{"grace_seconds": 1e30}"#, None),
        (r#"{"grace_seconds": 99999999999999999999999}"#, None),
        (r#"{"grace": 60}"#, None),
        (r#"[60]"#, None),
        (r#"60"#, None),
        (r#"{"grace_seconds": 60"#, None),
    ];
    for (body, want) in cases {
        let r = app.admin(Method::POST, &path).raw_json(body).send().await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
        let detail = r.detail();
        assert!(!detail.is_empty(), "{body}: a detail");
        if let Some(want) = want {
            assert_eq!(detail, want, "{body}");
        }
    }
    for query in [
        "?grace_seconds=-5",
        "?grace_seconds=abc",
        "?grace_seconds=1.5",
    ] {
        let r = app
            .admin(Method::POST, &format!("{path}{query}"))
            .send()
            .await;
        assert_eq!(r.parts(), (422, json!({"detail": rule})), "{query}");
    }
    let r = app
        .admin(Method::POST, "/admin/tokens/abc/rotate")
        .send()
        .await;
    assert_eq!(
        r.parts(),
        (422, json!({"detail": "token_id must be an integer"}))
    );
    let r = app
        .anon(Method::POST, &path)
        .json(&json!({"grace_seconds": 1}))
        .send()
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "admin gate before the body"
    );
    assert!(app.changes().is_empty(), "nothing was rotated");
    assert_eq!(listed_ids(&app, user).await, [id(&old)]);
    // The query is read when the body says nothing; the body wins when it does.
    let r = app
        .admin(Method::POST, &format!("{path}?grace_seconds=120"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let p = app
        .store
        .resolve_key(&KeyDigest::of(&token(&old)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.retires_at, Some(app.clock.now().plus_secs(120)));
}

async fn an_imported_key_rotates_into_a_key_of_our_format(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    import_legacy(&app).await;
    let r = rotate(&app, 900, Some(json!({"grace_seconds": 60}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let new = r.json();
    assert_eq!(new["user_id"], 500);
    assert_eq!(new["scopes"], json!(["bot", "tx", "browser"]));
    assert!(ApiKey::parse(&token(&new)).is_ok(), "our checksum format");
    assert_eq!(
        validate(&app, json!({"token": LEGACY})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        validate(&app, json!({"token": token(&new)})).await.0,
        StatusCode::OK
    );
    app.clock.advance_millis(60_000);
    assert_eq!(
        validate(&app, json!({"token": LEGACY})).await,
        (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token"}))
    );
    assert_eq!(listed_ids(&app, 500).await, [id(&new)]);
}

on_both_backends!(
    the_replacement_is_answered_like_a_mint_with_the_same_user_scopes_name_and_expiry,
    the_old_key_works_through_its_grace_period_and_is_invalid_after_it,
    with_no_grace_the_old_key_is_revoked_at_once,
    unknown_and_revoked_keys_are_404_and_a_key_in_grace_is_409_until_its_grace_ends,
    rotating_the_replacement_chains,
    bad_grace_values_and_bodies_are_422,
    an_imported_key_rotates_into_a_key_of_our_format,
);
