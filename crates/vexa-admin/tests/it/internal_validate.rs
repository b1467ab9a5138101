//! `POST /internal/validate`, the original identity service's oracle
//! (`reference/vexa-gateway-identity.md` §1.4), on both backends: the secret gate (fail-closed),
//! every status code and detail string, expiry, revocation, an imported legacy key, a minted
//! key, the answer's shape, and no database write per validation (last use is batched).
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use vexa_core::import::{display_prefix, ImportedKey, ImportedUser};
use vexa_core::{KeyDigest, KeyId, Scope, Timestamp, UserId, UserPatch};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::import::ImportBatch;
use vexa_testkit::{on_both_backends, Backend, TestDb, INTERNAL_SECRET};

use crate::support::{app_on, app_with_internal_secret, TestApp, START};

pub(crate) const LEGACY: &str = "legacy-0.10-token-without-prefix";

pub(crate) async fn validate(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let r = app
        .anon(Method::POST, "/internal/validate")
        .header("x-internal-secret", INTERNAL_SECRET)
        .json(&body)
        .send()
        .await;
    (r.status, r.lenient_json())
}

fn detail(s: &str) -> Value {
    json!({ "detail": s })
}

/// Imports one user (id 500) and a scope-less legacy key of theirs, as `vexa import vexa` does.
pub(crate) async fn import_legacy(app: &TestApp) {
    let store = SqlIdentityStore::new(app.db.db.clone());
    let full: vexa_core::ScopeSet = [Scope::Bot, Scope::Tx, Scope::Browser]
        .into_iter()
        .collect();
    let batch = ImportBatch {
        new_users: vec![ImportedUser {
            id: UserId(500),
            email: "Old.Timer@acme.com".into(),
            email_lower: "old.timer@acme.com".into(),
            name: None,
            image_url: None,
            max_concurrent_bots: 4,
            data: json!({"memberships": [{"workspace_id": "wsA"}, {"workspace_id": "wsB"}]})
                .as_object()
                .cloned()
                .unwrap(),
            created_at: START,
        }],
        new_keys: vec![ImportedKey {
            id: KeyId(900),
            user_id: UserId(500),
            digest: KeyDigest::of(LEGACY),
            display_prefix: display_prefix(LEGACY),
            scopes: full,
            name: None,
            created_at: START,
            last_used_at: None,
            expires_at: None,
        }],
        ..Default::default()
    };
    store
        .apply_import(
            &batch,
            START,
            &vexa_core::AuditContext::local(vexa_core::AuditActor::Import),
        )
        .await
        .unwrap();
    store.continue_id_sequences().await.unwrap();
}

async fn the_secret_gate_is_fail_closed_and_runs_before_the_body(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let no_header = app
        .anon(Method::POST, "/internal/validate")
        .json(&json!({"token": "x"}))
        .send()
        .await;
    assert_eq!(no_header.parts(), (403, detail("Invalid internal secret")));
    let wrong = app
        .anon(Method::POST, "/internal/validate")
        .header("x-internal-secret", "not-the-secret")
        .raw_json("not json at all")
        .send()
        .await;
    assert_eq!(wrong.parts(), (403, detail("Invalid internal secret")));
    let non_ascii = app
        .anon(Method::POST, "/internal/validate")
        .header("x-internal-secret", [0xffu8, 0xfe])
        .json(&json!({"token": "x"}))
        .send()
        .await;
    assert_eq!(non_ascii.parts(), (403, detail("Invalid internal secret")));

    let unset = app_with_internal_secret(TestDb::new(backend).await, "");
    for given in ["", "anything"] {
        let r = unset
            .anon(Method::POST, "/internal/validate")
            .header("x-internal-secret", given)
            .json(&json!({"token": "x"}))
            .send()
            .await;
        assert_eq!(
            r.parts(),
            (503, detail("INTERNAL_API_SECRET not configured"))
        );
    }
}

async fn every_refusal_has_the_originals_status_and_detail(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    for body in [json!({}), json!({"token": ""}), json!({"token": null})] {
        assert_eq!(
            validate(&app, body).await,
            (StatusCode::UNAUTHORIZED, detail("Missing token"))
        );
    }
    for body in [json!({"token": "vxa_bot_nope"}), json!({"token": 12345})] {
        assert_eq!(
            validate(&app, body).await,
            (StatusCode::UNAUTHORIZED, detail("Invalid token"))
        );
    }
    // A body that is not a JSON object: 422, like the original's `payload: dict`.
    let r = app
        .anon(Method::POST, "/internal/validate")
        .header("x-internal-secret", INTERNAL_SECRET)
        .raw_json(r#"["token"]"#)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["detail"].is_string());
}

async fn a_minted_key_answers_the_originals_shape_until_revoked(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("jane@acme.com").await;
    let key = app.mint(id, "?scopes=bot,tx").await;
    let token = key["token"].as_str().unwrap().to_owned();
    let (status, body) = validate(&app, json!({"token": token})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"user_id": id, "scopes": ["bot", "tx"], "max_concurrent": 3,
               "email": "jane@acme.com", "is_admin": false})
    );

    // Webhook settings and admin flag in the user's data, where 0.12 keeps them.
    let data = json!({"webhook_url": "https://hooks.acme.com/v", "webhook_secret": "whsec-1",
                      "webhook_events": {"meeting.completed": true}, "is_admin": true});
    let patch = UserPatch {
        data: data.as_object().cloned(),
        ..UserPatch::default()
    };
    app.store.update_user(UserId(id), &patch).await.unwrap();
    let (_, body) = validate(&app, json!({"token": token})).await;
    assert_eq!(body["is_admin"], true);
    assert_eq!(body["webhook_url"], "https://hooks.acme.com/v");
    assert_eq!(
        body["webhook_secret"], "whsec-1",
        "in clear over the internal hop"
    );
    assert_eq!(body["webhook_events"], json!({"meeting.completed": true}));
    assert!(body.get("workspaces").is_none());

    let r = app
        .admin(Method::DELETE, &format!("/admin/tokens/{}", key["id"]))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        validate(&app, json!({"token": token})).await,
        (StatusCode::UNAUTHORIZED, detail("Invalid token"))
    );
}

async fn an_expired_key_is_token_expired_strictly_after_its_expiry(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("exp@acme.com").await;
    let key = app.mint(id, "?scopes=tx&expires_in=60").await;
    let token = key["token"].as_str().unwrap().to_owned();
    app.clock.advance_millis(60_000);
    let (status, _) = validate(&app, json!({"token": token})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "at its expires_at the original still accepts it"
    );
    app.clock.advance_millis(1);
    assert_eq!(
        validate(&app, json!({"token": token})).await,
        (StatusCode::UNAUTHORIZED, detail("Token expired"))
    );
}

async fn an_imported_legacy_key_validates_with_its_scopes_and_workspaces(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    import_legacy(&app).await;
    let (status, body) = validate(&app, json!({"token": LEGACY})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"user_id": 500, "scopes": ["bot", "tx", "browser"], "max_concurrent": 4,
               "email": "Old.Timer@acme.com", "is_admin": false, "workspaces": ["wsA", "wsB"]})
    );
}

async fn many_validations_write_nothing_until_one_batched_flush(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("busy@acme.com").await;
    let key = app.mint(id, "?scopes=tx").await;
    let token = key["token"].as_str().unwrap().to_owned();
    let last_used = || async {
        let keys = app.store.list_keys(UserId(id)).await.unwrap().unwrap();
        keys[0].last_used_at
    };
    for _ in 0..50 {
        app.clock.advance_millis(10);
        assert_eq!(
            validate(&app, json!({"token": token})).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(last_used().await, None, "no write per validation");
    assert_eq!(
        app.last_used.flush().await.unwrap(),
        1,
        "one key, one row in the batch"
    );
    assert_eq!(last_used().await, Some(Timestamp(START.0 + 500)));
    assert_eq!(app.last_used.flush().await.unwrap(), 0, "nothing pending");
}

async fn validations_count_allowed_and_expired_in_the_keys_usage(backend: Backend) {
    use vexa_core::usage::{hour_start, Outcome};
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("counted@acme.com").await;
    let key = app.mint(id, "?scopes=tx&expires_in=60").await;
    let (key_id, token) = (
        KeyId(key["id"].as_i64().unwrap()),
        key["token"].as_str().unwrap().to_owned(),
    );
    for _ in 0..3 {
        assert_eq!(
            validate(&app, json!({"token": token})).await.0,
            StatusCode::OK
        );
    }
    app.clock.advance_millis(60_001);
    for _ in 0..2 {
        assert_eq!(
            validate(&app, json!({"token": token})).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let hour = hour_start(START);
    let usage = || async { app.store.key_usage(key_id, hour).await.unwrap().unwrap() };
    assert!(usage().await.is_empty(), "nothing written per validation");
    app.last_used.flush().await.unwrap();
    let mut rows: Vec<(Outcome, i64)> =
        usage().await.iter().map(|r| (r.outcome, r.count)).collect();
    rows.sort();
    assert_eq!(rows, vec![(Outcome::Allowed, 3), (Outcome::Expired, 2)]);
    let (status, body) = app
        .admin(
            Method::GET,
            &format!("/admin/tokens/{}/usage?hours=2", key_id.0),
        )
        .send()
        .await
        .parts();
    assert_eq!(status, 200, "{body}");
    let buckets = body["buckets"].as_array().cloned().unwrap_or_default();
    assert_eq!(buckets.len(), 2);
    let total = |k: &str| buckets.iter().map(|b| b[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!(
        (total("allowed"), total("expired"), total("scope")),
        (3, 2, 0)
    );
}

on_both_backends!(
    validations_count_allowed_and_expired_in_the_keys_usage,
    the_secret_gate_is_fail_closed_and_runs_before_the_body,
    every_refusal_has_the_originals_status_and_detail,
    a_minted_key_answers_the_originals_shape_until_revoked,
    an_expired_key_is_token_expired_strictly_after_its_expiry,
    an_imported_legacy_key_validates_with_its_scopes_and_workspaces,
    many_validations_write_nothing_until_one_batched_flush,
);
