//! Key events on the user's webhook (both backends), received by a real HTTP server on port 0:
//! `key.rotated` and `key.revoked` arrive signed like meeting webhooks, with the key's metadata
//! and never its secret; a receiver answering 500 gets the event again; an event switched off
//! in `webhook_events` is not sent; the expiry sweep claims each key once; deleting a user
//! announces the revocation of each of their keys.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use vexa_admin::key_events::KeyEvents;
use vexa_core::{Clock, Timestamp};
use vexa_testkit::{on_both_backends, Backend, TestDb};

use crate::support::{app_on, TestApp};

const SECRET: &str = "whsec_key_events_test";

/// Each request's headers and body, in arrival order.
type Requests = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// What the receiver got, in order.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Requests,
    /// Answers for the first requests (then 200).
    answers: Arc<Mutex<Vec<StatusCode>>>,
    pub url: String,
}

impl Receiver {
    pub async fn start(fail_first: &[StatusCode]) -> Receiver {
        let mut r = Receiver {
            answers: Arc::new(Mutex::new(fail_first.iter().rev().copied().collect())),
            ..Receiver::default()
        };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    state.lock_got().push((headers, body.to_vec()));
                    state
                        .answers
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop()
                        .unwrap_or(StatusCode::OK)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        r.url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    fn lock_got(&self) -> std::sync::MutexGuard<'_, Vec<(HeaderMap, Vec<u8>)>> {
        self.got.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `n` requests arrived (or 5 s pass) and returns their JSON bodies.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let t0 = Instant::now();
        while self.lock_got().len() < n && t0.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.bodies()
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.lock_got()
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }

    /// Checks request `i`'s signature against its own timestamp header and body.
    pub fn assert_signed(&self, i: usize) {
        let got = self.lock_got();
        let (headers, body) = &got[i];
        let ts: i64 = headers["x-webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            headers["x-webhook-signature"].to_str().unwrap(),
            vexa_webhook::sign(SECRET, ts, body)
        );
        assert_eq!(
            headers["authorization"].to_str().unwrap(),
            format!("Bearer {SECRET}")
        );
    }
}

/// A user with a key and the webhook at `url`; returns (user id, key JSON).
async fn user_with_webhook(app: &TestApp, url: &str, events: Option<Value>) -> (i64, Value) {
    let user = app.user("hooked@acme.com").await;
    let key = app
        .mint(user, "?scopes=bot,tx&name=ci&expires_in=604800")
        .await;
    let mut body = json!({"webhook_url": url, "webhook_secret": SECRET});
    if let Some(e) = events {
        body["webhook_events"] = e;
    }
    let r = app
        .anon(Method::PUT, "/user/webhook")
        .header("x-api-key", key["token"].as_str().unwrap())
        .json(&body)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    (user, key)
}

async fn rotation_and_revocation_are_posted_signed_with_metadata_and_never_the_key(
    backend: Backend,
) {
    let hook = Receiver::start(&[]).await;
    let app = app_on(TestDb::new(backend).await);
    let (user, key) = user_with_webhook(&app, &hook.url, None).await;
    let r = app
        .admin(Method::POST, &format!("/admin/tokens/{}/rotate", key["id"]))
        .json(&json!({"grace_seconds": 60}))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let new = r.json();
    let got = hook.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let ev = &got[0];
    assert_eq!(ev["event"], "key.rotated");
    assert_eq!(ev["user_id"], user);
    assert_eq!(
        ev["key"],
        json!({"id": key["id"], "prefix": &key["token"].as_str().unwrap()[..12], "name": "ci",
               "scopes": ["bot", "tx"], "expires_at": key["expires_at"]})
    );
    assert_eq!(ev["replacement"]["id"], new["id"]);
    assert_eq!(
        ev["retires_at"],
        json!(app.clock.now().plus_secs(60).to_rfc3339())
    );
    assert_eq!(ev["at"], json!(app.clock.now().to_rfc3339()));
    hook.assert_signed(0);

    let del = app
        .admin(Method::DELETE, &format!("/admin/tokens/{}", new["id"]))
        .send()
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let got = hook.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["event"], "key.revoked");
    assert_eq!(got[1]["key"]["id"], new["id"]);
    hook.assert_signed(1);
    let raw: Vec<String> = hook
        .lock_got()
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    for body in raw {
        for secret in [
            key["token"].as_str().unwrap(),
            new["token"].as_str().unwrap(),
            SECRET,
        ] {
            assert!(!body.contains(secret), "a secret in the body: {body}");
        }
    }
}

async fn a_receiver_answering_500_gets_the_event_again(backend: Backend) {
    let hook = Receiver::start(&[
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ])
    .await;
    let app = app_on(TestDb::new(backend).await);
    let (_, key) = user_with_webhook(&app, &hook.url, None).await;
    let del = app
        .admin(Method::DELETE, &format!("/admin/tokens/{}", key["id"]))
        .send()
        .await;
    assert_eq!(
        del.status,
        StatusCode::NO_CONTENT,
        "never held up by delivery"
    );
    let got = hook.wait_for(3).await;
    assert_eq!(got.len(), 3, "two failures, then delivered: {got:?}");
    assert!(got.iter().all(|b| *b == got[0]), "the same event each time");
    assert_eq!(got[0]["event"], "key.revoked");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hook.bodies().len(), 3, "nothing after the delivery");
    hook.assert_signed(2);
}

async fn an_event_switched_off_is_not_sent(backend: Backend) {
    let hook = Receiver::start(&[]).await;
    let app = app_on(TestDb::new(backend).await);
    let (_, key) = user_with_webhook(&app, &hook.url, Some(json!({"key.rotated": false}))).await;
    let r = app
        .admin(Method::POST, &format!("/admin/tokens/{}/rotate", key["id"]))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let del = app
        .admin(Method::DELETE, &format!("/admin/tokens/{}", r.json()["id"]))
        .send()
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let got = hook.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        hook.bodies()
            .iter()
            .map(|b| b["event"].clone())
            .collect::<Vec<_>>(),
        [json!("key.revoked")],
        "{got:?}"
    );
}

async fn the_expiry_sweep_claims_each_key_once_within_a_day_of_its_expiry(backend: Backend) {
    let hook = Receiver::start(&[]).await;
    let app = app_on(TestDb::new(backend).await);
    let (user, week) = user_with_webhook(&app, &hook.url, None).await;
    let day = app.mint(user, "?expires_in=86400").await;
    let _forever = app.mint(user, "").await;
    let clock: Arc<dyn Clock> = Arc::new(app.clock.clone());
    // Two sweepers on one store: as two admin API replicas would be.
    let a = KeyEvents::start(
        app.store.clone(),
        clock.clone(),
        Duration::from_secs(5),
        Duration::from_millis(10),
    );
    let b = KeyEvents::start(
        app.store.clone(),
        clock,
        Duration::from_secs(5),
        Duration::from_millis(10),
    );
    let now = app.clock.now();
    let (na, nb) = tokio::join!(
        a.sweep_expiring(app.store.as_ref(), now),
        b.sweep_expiring(app.store.as_ref(), now)
    );
    assert_eq!(
        na.unwrap() + nb.unwrap(),
        1,
        "only the key expiring within a day"
    );
    let got = hook.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["event"], "key.expiring");
    assert_eq!(got[0]["key"]["id"], day["id"]);
    assert_eq!(
        a.sweep_expiring(app.store.as_ref(), now).await.unwrap(),
        0,
        "claimed once"
    );

    // Six days on, the week-long key is within a day of its end.
    let later = Timestamp(now.0 + 6 * 86_400_000 + 1);
    assert_eq!(
        b.sweep_expiring(app.store.as_ref(), later).await.unwrap(),
        1
    );
    let got = hook.wait_for(2).await;
    assert_eq!(got[1]["key"]["id"], week["id"]);
    assert_eq!(
        a.sweep_expiring(app.store.as_ref(), later).await.unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hook.bodies().len(), 2);
}

async fn deleting_the_user_posts_key_revoked_for_each_live_key(backend: Backend) {
    let hook = Receiver::start(&[]).await;
    let app = app_on(TestDb::new(backend).await);
    let (user, first) = user_with_webhook(&app, &hook.url, None).await;
    let second = app.mint(user, "?scopes=tx").await;
    let del = app
        .admin(Method::DELETE, &format!("/admin/users/{user}"))
        .send()
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let got = hook.wait_for(2).await;
    let mut ids: Vec<Value> = got.iter().map(|b| b["key"]["id"].clone()).collect();
    ids.sort_by_key(|v| v.as_i64());
    assert_eq!(ids, [first["id"].clone(), second["id"].clone()]);
    assert!(got
        .iter()
        .all(|b| b["event"] == "key.revoked" && b["user_id"] == user));
    hook.assert_signed(0);
    hook.assert_signed(1);
}

on_both_backends!(
    rotation_and_revocation_are_posted_signed_with_metadata_and_never_the_key,
    a_receiver_answering_500_gets_the_event_again,
    an_event_switched_off_is_not_sent,
    the_expiry_sweep_claims_each_key_once_within_a_day_of_its_expiry,
    deleting_the_user_posts_key_revoked_for_each_live_key,
);
