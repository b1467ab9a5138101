//! API keys: minting (body vs query, defaults, validation), listing, revoking, on both backends.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use vexa_core::store::IdentityChange;
use vexa_core::{ApiKey, KeyDigest, Scope};

use crate::support::{app_on, START};
use vexa_testkit::{on_both_backends, Backend, TestDb};

fn scopes(v: &Value) -> Vec<String> {
    v["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

async fn the_seed_page_curl_examples_work_verbatim(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    // curl -X POST "$ADMIN/admin/users" -H "X-Admin-API-Key: $ADMIN_TOKEN" -H "Content-Type: application/json" \
    //   -d '{"email":"jane@acme.com","name":"Jane","max_concurrent_bots":2}'
    let res = app
        .admin(Method::POST, "/admin/users")
        .raw_json(r#"{"email":"jane@acme.com","name":"Jane","max_concurrent_bots":2}"#)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let user = res.json();
    assert_eq!(user["email"], "jane@acme.com");
    assert_eq!(user["name"], "Jane");
    assert_eq!(user["max_concurrent_bots"], 2);
    let id = user["id"].as_i64().unwrap();

    // curl -X POST "$ADMIN/admin/users/1/tokens?scopes=bot,tx" -H "X-Admin-API-Key: $ADMIN_TOKEN"
    let res = app
        .admin(
            Method::POST,
            &format!("/admin/users/{id}/tokens?scopes=bot,tx"),
        )
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let key = res.json();
    let token = key["token"].as_str().unwrap();
    assert!(token.starts_with("vxa_bot_"), "{token}");
    assert_eq!(key["user_id"], id);
    assert_eq!(scopes(&key), ["bot", "tx"]);
    let token_id = key["id"].as_i64().unwrap();

    // curl -X DELETE "$ADMIN/admin/tokens/7" -H "X-Admin-API-Key: $ADMIN_TOKEN"   # → 204
    let res = app
        .admin(Method::DELETE, &format!("/admin/tokens/{token_id}"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(res.body.is_empty());
}

async fn a_minted_key_has_the_full_shape_parses_and_resolves_through_its_digest(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("k@acme.com").await;
    let res = app
        .admin(Method::POST, &format!("/admin/users/{id}/tokens"))
        .json(&json!({"scopes": ["tx", "bot"], "name": "ci", "expires_in": 3600}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let key = res.json();
    let mut fields: Vec<&String> = key.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_at",
            "expires_at",
            "id",
            "max_concurrent_bots",
            "name",
            "rate_limit_burst",
            "rate_limit_rps",
            "scopes",
            "token",
            "user_id"
        ]
    );
    assert_eq!(key["name"], "ci");
    assert_eq!(key["created_at"], "2026-11-28T18:00:00Z");
    assert_eq!(key["expires_at"], "2026-11-28T19:00:00Z");
    let token = key["token"].as_str().unwrap();
    let parsed = ApiKey::parse(token).unwrap();
    assert_eq!(parsed.primary_scope, Scope::Tx, "first scope is the prefix");
    let principal = app
        .store
        .resolve_key(&parsed.digest)
        .await
        .unwrap()
        .expect("resolves");
    assert_eq!(principal.user_id.0, id);
    assert_eq!(principal.key_id.0, key["id"].as_i64().unwrap());
    assert_eq!(principal.scopes.to_csv(), "tx,bot");
    assert_eq!(principal.expires_at.map(|t| t.0), Some(START.0 + 3_600_000));
    assert!(app
        .store
        .resolve_key(&KeyDigest::of("vxa_bot_nope"))
        .await
        .unwrap()
        .is_none());
}

async fn an_empty_body_with_a_json_content_type_mints_the_default_bot_key(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("client@acme.com").await;
    for body in ["", "  \n"] {
        let res = app
            .admin(Method::POST, &format!("/admin/users/{id}/tokens"))
            .raw_json(body)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{body:?}: {}", res.text());
        assert_eq!(scopes(&res.json()), ["bot"]);
        assert!(res.json()["token"]
            .as_str()
            .unwrap()
            .starts_with("vxa_bot_"));
        assert_eq!(res.json()["expires_at"], json!(null));
    }
    let res = app
        .admin(Method::POST, &format!("/admin/users/{id}/tokens"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "no body, no content type");
    assert_eq!(scopes(&res.json()), ["bot"]);
    let res = app
        .admin(
            Method::POST,
            &format!("/admin/users/{id}/tokens?scope=browser"),
        )
        .raw_json("")
        .send()
        .await;
    assert_eq!(scopes(&res.json()), ["browser"]);
    assert!(res.json()["token"]
        .as_str()
        .unwrap()
        .starts_with("vxa_browser_"));
    let res = app
        .admin(Method::POST, &format!("/admin/users/{id}/tokens"))
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(scopes(&res.json()), ["bot"], "empty object: defaults");
}

async fn body_wins_over_query_field_by_field(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("prec@acme.com").await;
    let uri = format!("/admin/users/{id}/tokens?scopes=bot&name=q&expires_in=60");
    let res = app
        .admin(Method::POST, &uri)
        .json(&json!({"scopes": ["browser"], "name": "b"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let key = res.json();
    assert_eq!(scopes(&key), ["browser"]);
    assert_eq!(key["name"], "b");
    assert_eq!(
        key["expires_at"], "2026-11-28T18:01:00Z",
        "expiry still from the query"
    );

    let res = app
        .admin(Method::POST, &uri)
        .json(&json!({"scopes": null, "expires_in": 120}))
        .send()
        .await;
    let key = res.json();
    assert_eq!(
        scopes(&key),
        ["bot"],
        "null body scopes fall back to the query"
    );
    assert_eq!(key["name"], "q");
    assert_eq!(key["expires_at"], "2026-11-28T18:02:00Z");

    let res = app
        .admin(
            Method::POST,
            &format!("/admin/users/{id}/tokens?scope=tx&scopes=browser,bot"),
        )
        .send()
        .await;
    assert_eq!(
        scopes(&res.json()),
        ["browser", "bot"],
        "scopes= beats scope="
    );
}

async fn duplicate_scopes_are_removed_keeping_order(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("dup@acme.com").await;
    let key = app.mint(id, "?scopes=tx,bot,tx,bot,browser").await;
    assert_eq!(scopes(&key), ["tx", "bot", "browser"]);
    let res = app
        .admin(Method::POST, &format!("/admin/users/{id}/tokens"))
        .json(&json!({"scopes": ["bot", "bot", " tx "]}))
        .send()
        .await;
    assert_eq!(scopes(&res.json()), ["bot", "tx"]);
}

async fn mint_rejects_bad_scopes_with_the_contract_messages(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("bad@acme.com").await;
    let base = format!("/admin/users/{id}/tokens");
    let res = app
        .admin(Method::POST, &base)
        .json(&json!({"scopes": []}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.detail(), "scopes must not be empty");
    let res = app
        .admin(Method::POST, &format!("{base}?scopes="))
        .send()
        .await;
    assert_eq!(res.detail(), "scopes must not be empty");
    let res = app
        .admin(Method::POST, &format!("{base}?scopes=bot,foo"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.detail(),
        "Invalid scope(s): ['foo']. Valid: ['bot', 'browser', 'tx']"
    );
    let res = app
        .admin(Method::POST, &base)
        .json(&json!({"scopes": ["superadmin"]}))
        .send()
        .await;
    assert_eq!(
        res.detail(),
        "Invalid scope(s): ['superadmin']. Valid: ['bot', 'browser', 'tx']"
    );
    let res = app
        .admin(Method::POST, &format!("{base}?scope=BOT"))
        .send()
        .await;
    assert_eq!(
        res.detail(),
        "Invalid scope(s): ['BOT']. Valid: ['bot', 'browser', 'tx']"
    );
    let keys = app.admin(Method::GET, &base).send().await;
    assert_eq!(keys.json(), json!([]), "nothing minted");
}

async fn mint_rejects_bad_expiry_in_body_and_query(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("exp@acme.com").await;
    let base = format!("/admin/users/{id}/tokens");
    for q in [
        "0",
        "-1",
        "abc",
        "1.5",
        "",
        "99999999999999999999",
        "4000000000",
    ] {
        let res = app
            .admin(Method::POST, &format!("{base}?expires_in={q}"))
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "query {q:?}: {}",
            res.text()
        );
        assert!(
            res.detail().starts_with("expires_in must be"),
            "{}",
            res.detail()
        );
    }
    for raw in [
        r#"{"expires_in": 0}"#,
        r#"{"expires_in": -60}"#,
        r#"{"expires_in": 1.5}"#,
        r#"{"expires_in": "60"}"#,
        r#"{"expires_in": 1e40}"#,
        r#"{"expires_in": 99999999999999999999999}"#,
        r#"{"expires_in": true}"#,
    ] {
        let res = app.admin(Method::POST, &base).raw_json(raw).send().await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "body {raw}: {}",
            res.text()
        );
        assert!(!res.detail().is_empty());
    }
    let key = app.mint(id, "?expires_in=1").await;
    assert_eq!(key["expires_at"], "2026-11-28T18:00:01Z");
}

async fn mint_rejects_unknown_fields_wrong_types_and_bad_json(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("strict@acme.com").await;
    let base = format!("/admin/users/{id}/tokens");
    for raw in [
        r#"{"scope": "bot"}"#,
        r#"{"scopes": "bot,tx"}"#,
        r#"{"scopes": [1]}"#,
        r#"{"name": 5}"#,
        r#"[]"#,
        r#""bot""#,
        r#"{"scopes": ["bot"]"#,
        "not json",
    ] {
        let res = app.admin(Method::POST, &base).raw_json(raw).send().await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{raw}: {}",
            res.text()
        );
        assert!(!res.detail().is_empty());
    }
    let long = "n".repeat(256);
    let res = app
        .admin(Method::POST, &base)
        .json(&json!({"name": long}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.detail(), "name must be at most 255 characters");
    let huge = "x".repeat(100_000);
    let res = app
        .admin(Method::POST, &base)
        .json(&json!({"scopes": [huge]}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.body.len() < 1000,
        "detail is bounded: {} bytes",
        res.body.len()
    );
}

async fn minting_for_an_unknown_user_is_404_even_with_bad_options(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let res = app
        .admin(Method::POST, "/admin/users/4242/tokens")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.detail(), "User not found");
    let res = app
        .admin(Method::POST, "/admin/users/4242/tokens?scopes=foo")
        .send()
        .await;
    assert_eq!(res.detail(), "User not found");
}

async fn listed_keys_carry_metadata_and_never_the_secret(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("list@acme.com").await;
    let a = app.mint(id, "?scopes=bot,tx&name=ci").await;
    app.clock.advance_millis(1500);
    let b = app.mint(id, "?scope=browser&expires_in=10").await;
    let res = app
        .admin(Method::GET, &format!("/admin/users/{id}/tokens"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let text = res.text();
    for minted in [&a, &b] {
        let token = minted["token"].as_str().unwrap();
        assert!(!text.contains(token));
        assert!(!text.contains(&token[12..]), "no part of the secret");
    }
    assert!(!text.contains("\"token\""));
    let list = res.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = &list[0];
    let mut fields: Vec<&String> = first.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_at",
            "expires_at",
            "id",
            "last_client",
            "last_used_at",
            "max_concurrent_bots",
            "name",
            "prefix",
            "rate_limit_burst",
            "rate_limit_rps",
            "scopes",
            "status",
            "user_id"
        ]
    );
    assert_eq!(
        (&first["status"], &first["last_client"]),
        (&json!("active"), &json!(null))
    );
    assert_eq!(list[1]["status"], "expiring", "expires within 24 h");
    assert_eq!(first["id"], a["id"]);
    assert_eq!(first["prefix"], a["token"].as_str().unwrap()[..12]);
    assert_eq!(first["name"], "ci");
    assert_eq!(first["last_used_at"], json!(null));
    assert_eq!(first["created_at"], "2026-11-28T18:00:00Z");
    assert_eq!(scopes(first), ["bot", "tx"]);
    assert_eq!(list[1]["id"], b["id"]);
    assert_eq!(list[1]["expires_at"], "2026-11-28T18:00:11.5Z");

    let res = app
        .admin(Method::GET, "/admin/users/999/tokens")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.detail(), "User not found");
}

async fn last_used_at_appears_in_the_listing_after_use_is_recorded(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("used@acme.com").await;
    let key = app.mint(id, "").await;
    let key_id = vexa_core::KeyId(key["id"].as_i64().unwrap());
    let used = vexa_core::Timestamp(START.0 + 5_000);
    app.store.record_key_use(&[(key_id, used)]).await.unwrap();
    let res = app
        .admin(Method::GET, &format!("/admin/users/{id}/tokens"))
        .send()
        .await;
    assert_eq!(res.json()[0]["last_used_at"], "2026-11-28T18:00:05Z");
}

async fn revoking_returns_204_stops_the_key_and_notifies_the_hook_once(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("rev@acme.com").await;
    let key = app.mint(id, "?scopes=tx").await;
    let keep = app.mint(id, "").await;
    let parsed = ApiKey::parse(key["token"].as_str().unwrap()).unwrap();
    let key_id = key["id"].as_i64().unwrap();

    let res = app
        .admin(Method::DELETE, &format!("/admin/tokens/{key_id}"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(res.body.is_empty());
    assert_eq!(
        app.changes(),
        vec![IdentityChange::KeyRevoked(parsed.digest)]
    );
    assert!(
        app.store
            .resolve_key(&parsed.digest)
            .await
            .unwrap()
            .is_none(),
        "{}",
        app.backend
    );

    let listed = app
        .admin(Method::GET, &format!("/admin/users/{id}/tokens"))
        .send()
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], keep["id"]);

    let res = app
        .admin(Method::DELETE, &format!("/admin/tokens/{key_id}"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.detail(), "Token not found");
    let res = app.admin(Method::DELETE, "/admin/tokens/0").send().await;
    assert_eq!(res.detail(), "Token not found");
    assert_eq!(app.changes().len(), 1, "a failed revoke notifies nobody");
}

async fn fifty_concurrent_mints_all_succeed_with_distinct_ids_and_keys(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("many@acme.com").await;
    let calls = (0..50).map(|i| {
        let scope = ["bot", "tx", "browser"][i % 3];
        app.admin(
            Method::POST,
            &format!("/admin/users/{id}/tokens?scope={scope}"),
        )
        .send()
    });
    let results = futures_util::future::join_all(calls).await;
    let mut ids = std::collections::HashSet::new();
    let mut tokens = std::collections::HashSet::new();
    for res in results {
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "{}: {}",
            app.backend,
            res.text()
        );
        ids.insert(res.json()["id"].as_i64().unwrap());
        tokens.insert(res.json()["token"].as_str().unwrap().to_owned());
    }
    assert_eq!((ids.len(), tokens.len()), (50, 50));
    let listed = app
        .admin(Method::GET, &format!("/admin/users/{id}/tokens"))
        .send()
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 50);
}

on_both_backends!(
    the_seed_page_curl_examples_work_verbatim,
    a_minted_key_has_the_full_shape_parses_and_resolves_through_its_digest,
    an_empty_body_with_a_json_content_type_mints_the_default_bot_key,
    body_wins_over_query_field_by_field,
    duplicate_scopes_are_removed_keeping_order,
    mint_rejects_bad_scopes_with_the_contract_messages,
    mint_rejects_bad_expiry_in_body_and_query,
    mint_rejects_unknown_fields_wrong_types_and_bad_json,
    minting_for_an_unknown_user_is_404_even_with_bad_options,
    listed_keys_carry_metadata_and_never_the_secret,
    last_used_at_appears_in_the_listing_after_use_is_recorded,
    revoking_returns_204_stops_the_key_and_notifies_the_hook_once,
    fifty_concurrent_mints_all_succeed_with_distinct_ids_and_keys,
);
