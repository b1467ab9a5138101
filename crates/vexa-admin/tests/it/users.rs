//! Users: find-or-create, lookup, paging, patch and delete, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

use axum::http::{Method, StatusCode};
use serde_json::json;
use vexa_core::store::IdentityChange;
use vexa_core::UserId;

use crate::support::app_on;
use vexa_testkit::{on_both_backends, Backend, TestDb};

async fn creating_a_user_returns_201_with_the_contract_shape_and_defaults(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let res = app
        .admin(Method::POST, "/admin/users")
        .json(&json!({"email": "jane@acme.com", "name": "Jane"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", app.backend);
    let u = res.json();
    assert!(u["id"].as_i64().unwrap() > 0);
    assert_eq!(u["email"], "jane@acme.com");
    assert_eq!(u["name"], "Jane");
    assert_eq!(u["image_url"], json!(null));
    assert_eq!(u["max_concurrent_bots"], 3);
    assert_eq!(u["data"], json!({}));
    assert_eq!(u["created_at"], "2026-11-28T18:00:00Z");
    let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
}

async fn an_existing_email_returns_200_and_the_row_unchanged_matching_case_insensitively(
    backend: Backend,
) {
    let app = app_on(TestDb::new(backend).await);
    let first = app
        .admin(Method::POST, "/admin/users")
        .json(&json!({"email": "Jane@Acme.com", "name": "Jane", "max_concurrent_bots": 2}))
        .send()
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app
            .admin(Method::POST, "/admin/users")
            .json(&json!({"email": "jane@ACME.com", "name": "Other", "max_concurrent_bots": 9, "image_url": "https://x.y/z.png"}))
            .send()
            .await;
    assert_eq!(again.status, StatusCode::OK, "{}", app.backend);
    assert_eq!(again.json(), first.json());
}

async fn create_accepts_image_url_as_the_python_client_sends_it(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let res = app
            .admin(Method::POST, "/admin/users")
            .json(&json!({"email": "img@acme.com", "name": null, "image_url": "https://cdn.acme.com/a.png", "max_concurrent_bots": 0}))
            .send()
            .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.json()["image_url"], "https://cdn.acme.com/a.png");
    assert_eq!(res.json()["max_concurrent_bots"], 0);
}

async fn create_rejects_bad_emails_bad_fields_and_bad_values_with_422(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let long_name = "n".repeat(256);
    let long_url = format!("https://x.y/{}", "u".repeat(2048));
    let long_email = format!("{}@acme.com", "a".repeat(250));
    let cases = [
        json!({"email": "not-an-email"}),
        json!({"email": ""}),
        json!({"email": long_email}),
        json!({"name": "no email"}),
        json!({"email": "a@acme.com", "admin": true}),
        json!({"email": 42}),
        json!({"email": "a@acme.com", "max_concurrent_bots": -1}),
        json!({"email": "a@acme.com", "max_concurrent_bots": 1e30}),
        json!({"email": "a@acme.com", "max_concurrent_bots": "3"}),
        json!({"email": "a@acme.com", "name": long_name}),
        json!({"email": "a@acme.com", "image_url": long_url}),
        json!(["a@acme.com"]),
        json!(null),
    ];
    for body in cases {
        let res = app
            .admin(Method::POST, "/admin/users")
            .json(&body)
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            res.text()
        );
        assert!(!res.detail().is_empty());
    }
    for raw in [
        "",
        "{",
        "{\"email\": \"a@acme.com\",}",
        "\u{0}",
        "nul",
        "{\"email\":\"a@acme.com\",\"max_concurrent_bots\":99999999999999999999999}",
        "{\"email\":\"a@acme.com\",\"max_concurrent_bots\":-9223372036854775809}",
    ] {
        let res = app
            .admin(Method::POST, "/admin/users")
            .raw_json(raw)
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{raw:?}: {}",
            res.text()
        );
        assert!(!res.detail().is_empty());
    }
    let res = app
        .admin(Method::POST, "/admin/users")
        .json(&json!({"email": "a@acme.com", "max_concurrent_bots": 99_999}))
        .send()
        .await;
    assert_eq!(
        res.detail(),
        "max_concurrent_bots must be between 0 and 10000"
    );
    let res = app
        .admin(Method::POST, "/admin/users")
        .json(&json!({"email": "nope"}))
        .send()
        .await;
    assert_eq!(res.detail(), "value is not a valid email address");
    let (users, total) = app.store.list_users(0, 10).await.unwrap();
    assert!(users.is_empty() && total == 0, "nothing was created");
}

async fn a_user_is_found_by_id_and_by_email_and_404_otherwise(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("Find.Me@acme.com").await;
    let res = app
        .admin(Method::GET, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["email"], "Find.Me@acme.com");
    let res = app
        .admin(Method::GET, "/admin/users/email/find.me@ACME.com")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", app.backend);
    assert_eq!(res.json()["id"], id);
    let res = app
        .admin(Method::GET, "/admin/users/email/find.me%40acme.com")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);

    for uri in [
        "/admin/users/999999",
        "/admin/users/0",
        "/admin/users/-1",
        "/admin/users/email/ghost@acme.com",
    ] {
        let res = app.admin(Method::GET, uri).send().await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(res.detail(), "User not found");
    }
}

async fn bad_path_ids_are_422_not_500(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    for uri in [
        "/admin/users/abc",
        "/admin/users/1.5",
        "/admin/users/99999999999999999999999",
        "/admin/users/%FF",
        "/admin/users/abc/tokens",
        "/admin/tokens/abc",
        "/admin/tokens/99999999999999999999999",
    ] {
        let method = if uri.starts_with("/admin/tokens") {
            Method::DELETE
        } else {
            Method::GET
        };
        let res = app.admin(method, uri).send().await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri}: {}",
            res.text()
        );
        assert!(
            res.detail().ends_with("must be an integer"),
            "{}",
            res.detail()
        );
    }
    let res = app
        .admin(Method::GET, "/admin/users/email/not-an-email")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_user_list_pages_oldest_first_with_x_total_count(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.user(&format!("u{i}@acme.com")).await);
        app.clock.advance_millis(1000);
    }
    let res = app.admin(Method::GET, "/admin/users").send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("x-total-count"), Some("5"));
    let got: Vec<i64> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids);

    let res = app
        .admin(Method::GET, "/admin/users?skip=1&limit=2")
        .send()
        .await;
    let got: Vec<i64> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[1..3].to_vec());
    assert_eq!(res.header("x-total-count"), Some("5"));

    let res = app
        .admin(Method::GET, "/admin/users?skip=10&limit=1000")
        .send()
        .await;
    assert_eq!(res.json(), json!([]));
    assert_eq!(res.header("x-total-count"), Some("5"));
    let res = app.admin(Method::GET, "/admin/users?limit=0").send().await;
    assert_eq!(res.json(), json!([]));

    for q in [
        "skip=-1",
        "limit=-1",
        "limit=1001",
        "skip=abc",
        "limit=",
        "limit=1.5",
        "skip=99999999999999999999",
    ] {
        let res = app
            .admin(Method::GET, &format!("/admin/users?{q}"))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert!(
            res.detail().contains("must be an integer between 0 and"),
            "{}",
            res.detail()
        );
    }
}

async fn patch_updates_given_fields_merges_data_and_notifies_the_hook(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("p@acme.com").await;
    let uri = format!("/admin/users/{id}");
    let res = app
        .admin(Method::PATCH, &uri)
        .json(&json!({"name": "Pat", "max_concurrent_bots": 7, "data": {"plan": "pro", "n": 1}}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let u = res.json();
    assert_eq!(
        (u["name"].clone(), u["max_concurrent_bots"].clone()),
        (json!("Pat"), json!(7))
    );
    assert_eq!(u["data"], json!({"plan": "pro", "n": 1}));

    let res = app
        .admin(Method::PATCH, &uri)
        .json(&json!({"data": {"n": 2, "extra": [1]}, "image_url": "https://i.example/x.png"}))
        .send()
        .await;
    let u = res.json();
    assert_eq!(
        u["data"],
        json!({"plan": "pro", "n": 2, "extra": [1]}),
        "shallow merge"
    );
    assert_eq!(u["name"], "Pat", "untouched fields stay");
    assert_eq!(u["image_url"], "https://i.example/x.png");

    let res = app
        .admin(Method::PATCH, &uri)
        .json(&json!({"name": null}))
        .send()
        .await;
    assert_eq!(res.json()["name"], json!(null), "null clears");
    let res = app.admin(Method::GET, &uri).send().await;
    assert_eq!(res.json()["name"], json!(null));
    assert_eq!(res.json()["max_concurrent_bots"], 7);

    let changed = app.changes();
    assert_eq!(changed.len(), 3);
    assert!(changed
        .iter()
        .all(|c| *c == IdentityChange::UserChanged(UserId(id))));
}

async fn patch_rejects_empty_unknown_and_invalid_input_with_422(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("q@acme.com").await;
    let uri = format!("/admin/users/{id}");
    let res = app.admin(Method::PATCH, &uri).json(&json!({})).send().await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.detail(), "at least one user field must be supplied");
    let res = app.admin(Method::PATCH, &uri).send().await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no body at all"
    );
    let res = app.admin(Method::PATCH, &uri).raw_json("").send().await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "empty body");

    let big = "x".repeat(64 * 1024);
    let cases = [
        json!({"email": "new@acme.com"}),
        json!({"name": "x", "webhook_url": "https://h"}),
        json!({"data": [1, 2]}),
        json!({"data": "text"}),
        json!({"data": {"blob": big}}),
        json!({"max_concurrent_bots": -3}),
        json!({"max_concurrent_bots": 10_001}),
        json!({"max_concurrent_bots": 1.5}),
        json!({"max_concurrent_bots": 1e300}),
        json!({"name": 5}),
        json!({"name": "n".repeat(256)}),
        json!({"image_url": "u".repeat(2049)}),
        json!([]),
    ];
    for body in cases {
        let res = app.admin(Method::PATCH, &uri).json(&body).send().await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            res.text()
        );
        assert!(!res.detail().is_empty());
    }
    assert!(app.changes().is_empty(), "no change was applied");
    let res = app
        .admin(Method::PATCH, "/admin/users/424242")
        .json(&json!({"name": "x"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.detail(), "User not found");
}

async fn deleting_a_user_returns_204_revokes_their_keys_and_notifies_the_hook(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let id = app.user("gone@acme.com").await;
    let minted = app.mint(id, "?scopes=bot,tx").await;
    let key = vexa_core::ApiKey::parse(minted["token"].as_str().unwrap()).unwrap();
    assert!(app.store.resolve_key(&key.digest).await.unwrap().is_some());

    let res = app
        .admin(Method::DELETE, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(res.body.is_empty());
    assert_eq!(app.changes(), vec![IdentityChange::UserChanged(UserId(id))]);
    assert!(
        app.store.resolve_key(&key.digest).await.unwrap().is_none(),
        "{}",
        app.backend
    );

    let res = app
        .admin(Method::GET, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .admin(Method::DELETE, &format!("/admin/users/{id}"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.detail(), "User not found");
    assert_eq!(app.changes().len(), 1);
}

on_both_backends!(
    creating_a_user_returns_201_with_the_contract_shape_and_defaults,
    an_existing_email_returns_200_and_the_row_unchanged_matching_case_insensitively,
    create_accepts_image_url_as_the_python_client_sends_it,
    create_rejects_bad_emails_bad_fields_and_bad_values_with_422,
    a_user_is_found_by_id_and_by_email_and_404_otherwise,
    bad_path_ids_are_422_not_500,
    the_user_list_pages_oldest_first_with_x_total_count,
    patch_updates_given_fields_merges_data_and_notifies_the_hook,
    patch_rejects_empty_unknown_and_invalid_input_with_422,
    deleting_a_user_returns_204_revokes_their_keys_and_notifies_the_hook,
);
