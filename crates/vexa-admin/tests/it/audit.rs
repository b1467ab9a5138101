//! The audit log through the admin API (CONTRACT §10), on both backends: every mutation writes
//! exactly one entry with its actor, action, targets, request id and peer, and no secret; the
//! console's actions are recorded as the console's; `GET /admin/audit` filters and pages; no
//! route deletes an entry and deleting a user keeps theirs; the chain verifies.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use vexa_core::audit::verify_chain;
use vexa_testkit::{on_both_backends, Backend, TestDb};

use crate::support::{app_on, TestApp};

const HOOK_SECRET: &str = "whsec_audit_secret_value";

fn peer() -> SocketAddr {
    "10.1.2.3:45678".parse().unwrap()
}

/// Every entry, newest first (one page is enough for these tests).
async fn entries(app: &TestApp, query: &str) -> (Vec<Value>, i64) {
    let res = app
        .admin(Method::GET, &format!("/admin/audit{query}"))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{}: {}",
        app.backend,
        res.text()
    );
    let total = res
        .header("x-total-count")
        .and_then(|v| v.parse().ok())
        .expect("X-Total-Count");
    (res.json().as_array().unwrap().clone(), total)
}

/// The whole `audit_log` table as text, every column.
async fn table_text(app: &TestApp) -> String {
    let all = app.audited.audit_entries_from(0, 10_000).await.unwrap();
    format!("{all:?}")
}

async fn chain_ok(app: &TestApp) -> i64 {
    let all = app.audited.audit_entries_from(0, 10_000).await.unwrap();
    let head = app.audited.audit_head().await.unwrap();
    verify_chain(&all, &head).unwrap_or_else(|e| panic!("{}: {e}", app.backend))
}

async fn every_mutation_writes_one_entry_with_its_fields_and_no_secret(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let created = app
        .admin(Method::POST, "/admin/users")
        .header("x-request-id", "req-create-1")
        .with_peer(peer())
        .json(&json!({"email": "aud@acme.com", "name": "Aud"}))
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let uid = created.json()["id"].as_i64().unwrap();
    // Finding the existing user changes nothing and records nothing.
    app.user("aud@acme.com").await;
    let patched = app
        .admin(Method::PATCH, &format!("/admin/users/{uid}"))
        .json(&json!({"max_concurrent_bots": 7}))
        .send()
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    let minted = app.mint(uid, "?scopes=bot,tx&name=ci").await;
    let (kid, token) = (
        minted["id"].as_i64().unwrap(),
        minted["token"].as_str().unwrap().to_owned(),
    );
    let hook = app
        .anon(Method::PUT, "/user/webhook")
        .header("x-api-key", &token)
        .json(&json!({"webhook_url": "https://hooks.acme.com/a", "webhook_secret": HOOK_SECRET}))
        .send()
        .await;
    assert_eq!(hook.status, StatusCode::OK, "{}", hook.text());
    let revoked = app
        .admin(Method::DELETE, &format!("/admin/tokens/{kid}"))
        .send()
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    // Refused mutations record nothing.
    let again = app
        .admin(Method::DELETE, &format!("/admin/tokens/{kid}"))
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let deleted = app
        .admin(Method::DELETE, &format!("/admin/users/{uid}"))
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let (list, total) = entries(&app, "").await;
    let actions: Vec<&str> = list.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "user.delete",
            "key.revoke",
            "user.webhook",
            "key.mint",
            "user.update",
            "user.create"
        ],
        "{}",
        app.backend
    );
    assert_eq!(total, 6);
    for e in &list {
        assert_eq!(e["actor"], "admin_api");
        assert_eq!(e["user_id"], uid, "{e}");
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
        assert!(
            e["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{e}"
        );
    }
    let create = &list[5];
    assert_eq!(create["request_id"], "req-create-1");
    assert_eq!(create["client_addr"], "10.1.2.3");
    assert_eq!(create["prev_hash"], "0".repeat(64));
    assert_eq!(create["changes"]["email"], "aud@acme.com");
    assert_eq!(list[4]["changes"], json!({"max_concurrent_bots": 7}));
    let mint = &list[3];
    assert_eq!(mint["key_id"], kid);
    assert_eq!(mint["changes"]["prefix"], &token[..12]);
    assert_eq!(mint["changes"]["scopes"], json!(["bot", "tx"]));
    assert_eq!(mint["changes"]["name"], "ci");
    assert_eq!(list[2]["changes"]["data"]["webhook_secret"], "<set>");
    assert_eq!(
        list[2]["changes"]["data"]["webhook_url"],
        "https://hooks.acme.com/a"
    );
    assert_eq!(list[1]["key_id"], kid);
    assert_eq!(
        list[0]["changes"],
        json!({"email": "aud@acme.com", "keys_revoked": 0})
    );
    for w in list.windows(2) {
        assert_eq!(w[0]["prev_hash"], w[1]["hash"]);
    }

    let text = table_text(&app).await;
    assert!(
        !text.contains(&token),
        "the key's plaintext is in the audit log"
    );
    assert!(
        !text.contains(&token[12..]),
        "the key's secret part is in the audit log"
    );
    assert!(
        !text.contains(HOOK_SECRET),
        "the webhook secret is in the audit log"
    );
    assert_eq!(chain_ok(&app).await, 6);
}

async fn deleting_a_user_keeps_their_entries_and_no_route_deletes_any(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let uid = app.user("gone@acme.com").await;
    app.mint(uid, "").await;
    app.mint(uid, "").await;
    let del = app
        .admin(Method::DELETE, &format!("/admin/users/{uid}"))
        .send()
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let (list, total) = entries(&app, &format!("?user_id={uid}")).await;
    assert_eq!(total, 4, "{}: {list:?}", app.backend);
    assert_eq!(list[0]["changes"]["keys_revoked"], 2);
    for method in [Method::DELETE, Method::PUT, Method::PATCH, Method::POST] {
        for path in ["/admin/audit", "/admin/audit/1"] {
            let res = app.admin(method.clone(), path).send().await;
            assert!(
                res.status == StatusCode::METHOD_NOT_ALLOWED || res.status == StatusCode::NOT_FOUND,
                "{method} {path}: {}",
                res.status
            );
        }
    }
    assert_eq!(entries(&app, "").await.1, 4);
    assert_eq!(chain_ok(&app).await, 4);
}

async fn the_listing_filters_and_pages_newest_first(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let a = app.user("a@acme.com").await;
    let b = app.user("b@acme.com").await;
    let mut keys = Vec::new();
    for i in 0..5 {
        app.clock.advance_millis(60_000);
        let user = if i % 2 == 0 { a } else { b };
        keys.push(app.mint(user, "").await["id"].as_i64().unwrap());
    }
    let k0 = keys[0];
    app.admin(Method::DELETE, &format!("/admin/tokens/{k0}"))
        .send()
        .await;

    let (all, total) = entries(&app, "").await;
    assert_eq!((all.len(), total), (8, 8), "{}", app.backend);
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");

    let (by_user, n) = entries(&app, &format!("?user_id={a}&action=key.mint")).await;
    assert_eq!((by_user.len(), n), (3, 3));
    let (by_key, n) = entries(&app, &format!("?key_id={k0}")).await;
    assert_eq!(n, 2);
    assert_eq!(by_key[0]["action"], "key.revoke");
    assert_eq!(by_key[1]["action"], "key.mint");

    // Times as epoch milliseconds or RFC 3339, both ends inclusive.
    let t2 = all[5]["time_ms"].as_i64().unwrap();
    let t3 = all[4]["time_ms"].as_i64().unwrap();
    let (window, n) = entries(&app, &format!("?since={t2}&until={t3}&action=key.mint")).await;
    assert_eq!((window.len(), n), (2, 2));
    let rfc = all[4]["time"].as_str().unwrap().to_owned();
    let (after, _) = entries(&app, &format!("?since={rfc}&action=key.mint")).await;
    assert_eq!(after.len(), 4);

    // Paging by cursor: pages of 3 walk every entry once; the total stays the filter's.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (page, n) = entries(&app, &format!("?limit=3{cursor}")).await;
        assert_eq!(n, 8);
        let Some(last) = page.last() else { break };
        cursor = format!("&before_seq={}", last["seq"]);
        seen.extend(page.iter().map(|e| e["seq"].as_i64().unwrap()));
    }
    assert_eq!(seen, seqs);
    assert_eq!(entries(&app, "?limit=0").await.0.len(), 0);
}

async fn bad_listing_parameters_are_422_with_a_detail(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    for (query, detail) in [
        ("limit=501", "limit must be an integer between 0 and 500"),
        ("limit=x", "limit must be an integer between 0 and 500"),
        (
            "user_id=-1",
            "user_id must be an integer between 0 and 9223372036854775807",
        ),
        (
            "key_id=abc",
            "key_id must be an integer between 0 and 9223372036854775807",
        ),
        (
            "before_seq=1.5",
            "before_seq must be an integer between 0 and 9223372036854775807",
        ),
        (
            "since=yesterday",
            "since must be epoch milliseconds or an RFC 3339 time",
        ),
        (
            "until=2026-13-01T00:00:00Z",
            "until must be epoch milliseconds or an RFC 3339 time",
        ),
    ] {
        let res = app
            .admin(Method::GET, &format!("/admin/audit?{query}"))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(res.json(), json!({"detail": detail}), "{query}");
    }
    let res = app
        .admin(Method::GET, "/admin/audit?action=key.frobnicate")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("action must be one of: user.create, "));
    let anon = app.anon(Method::GET, "/admin/audit").send().await;
    assert_eq!(anon.status, StatusCode::FORBIDDEN);
}

/// Rotation and a key's limits are admin mutations too: one entry each, the replacement by id
/// and display prefix only, a refused rotation (409) records nothing.
async fn rotating_and_patching_a_key_write_their_entries(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let uid = app.user("rot-aud@acme.com").await;
    let minted = app.mint(uid, "?scopes=bot").await;
    let kid = minted["id"].as_i64().unwrap();
    let patched = app
        .admin(Method::PATCH, &format!("/admin/tokens/{kid}"))
        .json(&json!({"rate_limit_rps": 3, "max_concurrent_bots": null}))
        .send()
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    let rotated = app
        .admin(Method::POST, &format!("/admin/tokens/{kid}/rotate"))
        .json(&json!({"grace_seconds": 60}))
        .send()
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.text());
    let new = rotated.json();
    let again = app
        .admin(Method::POST, &format!("/admin/tokens/{kid}/rotate"))
        .send()
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let (list, total) = entries(&app, "").await;
    let actions: Vec<&str> = list.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["key.rotate", "key.update", "key.mint", "user.create"],
        "{}",
        app.backend
    );
    assert_eq!(total, 4);
    let rotate = &list[0];
    assert_eq!(rotate["key_id"], kid);
    assert_eq!(rotate["user_id"], uid);
    assert_eq!(rotate["changes"]["replaced_by"], new["id"]);
    let new_token = new["token"].as_str().unwrap();
    assert_eq!(rotate["changes"]["replacement_prefix"], &new_token[..12]);
    assert_eq!(rotate["changes"]["revoked_at_once"], false);
    assert_eq!(
        list[1]["changes"],
        json!({"prefix": &minted["token"].as_str().unwrap()[..12],
               "limits": {"rate_limit_rps": 3.0, "max_concurrent_bots": null}})
    );
    let text = table_text(&app).await;
    assert!(
        !text.contains(new_token),
        "the replacement's plaintext is in the audit log"
    );
    assert!(
        !text.contains(&new_token[12..]),
        "the replacement's secret is in the audit log"
    );
    assert_eq!(chain_ok(&app).await, 4);
    let by_action = entries(&app, "?action=key.rotate").await;
    assert_eq!(by_action.1, 1);
}

on_both_backends!(
    every_mutation_writes_one_entry_with_its_fields_and_no_secret,
    rotating_and_patching_a_key_write_their_entries,
    deleting_a_user_keeps_their_entries_and_no_route_deletes_any,
    the_listing_filters_and_pages_newest_first,
    bad_listing_parameters_are_422_with_a_detail,
);
