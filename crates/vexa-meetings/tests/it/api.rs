//! The public API's rules over a real socket, on both backends: trust, validation, the 409 and
//! 429 rules under concurrency, isolation between users, plans, metadata, deletion, webhooks.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vexa_core::webhook::WebhookUpdate;
use vexa_core::{Email, IdentityStore, NewUser, Timestamp, UserPatch};
use vexa_store::identity::SqlIdentityStore;
use vexa_testkit::{on_both_backends, Backend, TestDb, INTERNAL_SECRET};

use crate::support::*;

#[tokio::test]
async fn a_direct_call_without_the_internal_secret_is_401() {
    let app = spawn_app(TestDb::sqlite().await, Some(mock_bot())).await;
    for (secret, want) in [
        (None, 401),
        (Some("wrong"), 401),
        (Some(INTERNAL_SECRET), 200),
    ] {
        let mut r = app
            .client
            .get(format!("{}/meetings", app.base))
            .header("x-user-id", "1");
        if let Some(s) = secret {
            r = r.header("x-internal-secret", s);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), want);
        if want == 401 {
            assert_eq!(
                resp.json::<Value>().await.unwrap(),
                json!({"detail": "Unauthorized"})
            );
        }
    }
    let resp = app
        .client
        .get(format!("{}/meetings", app.base))
        .header("x-internal-secret", INTERNAL_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "identity is required too");
    let resp = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn without_bot_command_post_bots_is_503_and_says_how_to_configure_one() {
    let app = spawn_app(TestDb::sqlite().await, None).await;
    let (code, body) = app.post_bot(1, happy("x-room")).await.parts();
    assert_eq!(code, 503);
    assert!(
        body["detail"].as_str().unwrap().contains("BOT_COMMAND"),
        "{body}"
    );
    let (_, list) = app.call(Method::GET, "/meetings", 1, None).await.parts();
    assert_eq!(list, json!({"meetings": []}), "nothing recorded");
}

#[tokio::test]
async fn bad_bot_requests_are_422_with_a_detail_and_never_500() {
    let app = spawn_app(TestDb::sqlite().await, Some(mock_bot())).await;
    for body in [
        json!({}),
        json!({"platform": "skype", "native_meeting_id": "x"}),
        json!({"platform": "google_meet", "native_meeting_id": "a b"}),
        json!({"platform": "zoom", "native_meeting_id": "123"}),
        json!({"platform": "google_meet", "native_meeting_id": "x", "meeting_url": "https://127.0.0.1/x"}),
        json!({"platform": 5}),
        json!({"platform": "google_meet", "native_meeting_id": "x", "transcribe_enabled": "maybe"}),
        json!([1, 2]),
    ] {
        let (code, resp) = app.post_bot(1, body.clone()).await.parts();
        assert_eq!(code, 422, "{body} -> {resp}");
        assert!(resp["detail"].is_string());
    }
    let resp = app
        .req(Method::POST, "/bots", 1)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
}

async fn ten_parallel_bot_requests_with_limit_two_create_exactly_two(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = Arc::new(spawn_app(db, Some(mock_bot())).await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let resp = app
                .req(Method::POST, "/bots", 5)
                .header("x-user-limits", "2")
                .json(&happy(&format!("cap-{i}")))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (code, body) = t.await.unwrap();
        match code {
            201 => created += 1,
            429 => assert_eq!(
                body,
                json!({"detail": "User has reached the maximum concurrent bot limit (2)."})
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 2);
    for i in 0..10 {
        app.call(
            Method::DELETE,
            &format!("/bots/google_meet/cap-{i}"),
            5,
            None,
        )
        .await;
    }
    app.wait_no_bots(10).await;
}

async fn parallel_requests_for_one_meeting_create_one_bot_and_the_rest_get_409(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = Arc::new(spawn_app(db, Some(mock_bot())).await);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.post_bot(1, happy("same-room")).await.parts()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        if code == 409 {
            assert_eq!(
                body["detail"],
                "An active meeting already exists for google_meet/same-room"
            );
        }
        codes.push(code);
    }
    codes.sort_unstable();
    assert_eq!(codes, vec![201, 409, 409, 409, 409, 409]);
    app.call(Method::DELETE, "/bots/google_meet/same-room", 1, None)
        .await;
    app.wait_no_bots(10).await;
}

async fn another_users_identity_sees_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (_, m) = app.post_bot(1, happy("private-room")).await.parts();
    let id = m["id"].as_i64().unwrap();
    for (method, path) in [
        (Method::GET, format!("/meetings/{id}")),
        (Method::GET, format!("/transcripts/by-id/{id}")),
        (
            Method::GET,
            "/transcripts/google_meet/private-room".to_owned(),
        ),
        (Method::DELETE, "/bots/google_meet/private-room".to_owned()),
        (Method::DELETE, format!("/meetings/{id}")),
        (
            Method::PATCH,
            "/meetings/google_meet/private-room".to_owned(),
        ),
    ] {
        let (code, body) = app
            .call(
                method.clone(),
                &path,
                2,
                Some(json!({"data": {"name": "x"}})),
            )
            .await
            .parts();
        assert_eq!(code, 404, "{method} {path}: {body}");
    }
    let (_, list) = app.call(Method::GET, "/meetings", 2, None).await.parts();
    assert_eq!(list, json!({"meetings": []}));
    let (_, status) = app.call(Method::GET, "/bots/status", 2, None).await.parts();
    assert_eq!(status["count"], 0);
    app.call(Method::DELETE, "/bots/google_meet/private-room", 1, None)
        .await;
    app.wait_no_bots(10).await;
}

async fn planned_meetings_are_created_patched_claimed_and_deleted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (code, plan) = app
            .call(Method::POST, "/meetings", 1, Some(json!({"title": "Weekly", "meeting_url": "https://meet.google.com/plan-room", "scheduled_at": "2030-01-01T10:00:00Z"})))
            .await
.parts();
    assert_eq!(code, 201, "{plan}");
    assert_eq!(
        (plan["status"].as_str(), plan["platform"].as_str()),
        (Some("scheduled"), Some("google_meet"))
    );
    let id = plan["id"].as_i64().unwrap();
    let (code, _) = app
        .call(
            Method::POST,
            "/meetings",
            1,
            Some(json!({"meeting_url": "https://meet.google.com/plan-room"})),
        )
        .await
        .parts();
    assert_eq!(code, 409);
    let (code, p) = app
        .call(
            Method::PATCH,
            &format!("/meetings/{id}"),
            1,
            Some(json!({"scheduled_at": null})),
        )
        .await
        .parts();
    assert_eq!((code, p["status"].as_str()), (200, Some("idle")));
    let (code, p) = app
            .call(Method::PATCH, "/meetings/google_meet/plan-room", 1, Some(json!({"data": {"name": "Sync", "participants": ["A", "B"], "languages": ["en"], "notes": "n"}})))
            .await
.parts();
    assert_eq!(code, 200, "{p}");
    assert_eq!(p["data"]["name"], "Sync");
    assert_eq!(p["data"]["title"], "Weekly");
    let (code, _) = app
        .call(
            Method::PATCH,
            "/meetings/google_meet/plan-room",
            1,
            Some(json!({"data": {"bogus": 1}})),
        )
        .await
        .parts();
    assert_eq!(code, 422);
    let (code, _) = app
        .call(
            Method::PATCH,
            &format!("/meetings/{id}"),
            1,
            Some(json!({})),
        )
        .await
        .parts();
    assert_eq!(code, 422);
    let (code, d) = app
        .call(Method::DELETE, "/meetings/google_meet/plan-room", 1, None)
        .await
        .parts();
    assert_eq!((code, d["status"].as_str()), (200, Some("deleted")));
    let (code, _) = app
        .call(Method::GET, &format!("/meetings/{id}"), 1, None)
        .await
        .parts();
    assert_eq!(code, 404);

    // A bot request for a planned meeting claims the plan in place.
    let (_, plan) = app
        .call(
            Method::POST,
            "/meetings",
            1,
            Some(json!({"title": "Claim me", "meeting_url": "https://meet.google.com/claim-room"})),
        )
        .await
        .parts();
    let (code, bot) = app.post_bot(1, happy("claim-room")).await.parts();
    assert_eq!(code, 201, "{bot}");
    assert_eq!(bot["id"], plan["id"]);
    assert_eq!(bot["data"]["title"], "Claim me");
    app.call(Method::DELETE, "/bots/google_meet/claim-room", 1, None)
        .await;
    app.wait_no_bots(10).await;
}

async fn metadata_merges_in_any_status_and_finished_transcripts_can_be_erased(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    let (_, m) = app.post_bot(1, happy("meta-room")).await.parts();
    let id = m["id"].as_i64().unwrap();
    app.wait_status(1, id, "active", 10).await;
    let (code, p) = app
        .call(
            Method::PATCH,
            "/meetings/google_meet/meta-room",
            1,
            Some(json!({"data": {"name": "Live"}})),
        )
        .await
        .parts();
    assert_eq!((code, p["data"]["name"].as_str()), (200, Some("Live")));
    let (code, _) = app
        .call(
            Method::PATCH,
            &format!("/meetings/{id}"),
            1,
            Some(json!({"title": "x"})),
        )
        .await
        .parts();
    assert_eq!(code, 409, "plan fields are for planned meetings only");
    let (code, _) = app
        .call(Method::DELETE, &format!("/meetings/{id}"), 1, None)
        .await
        .parts();
    assert_eq!(code, 409, "no erasure while the bot runs");
    app.call(Method::DELETE, "/bots/google_meet/meta-room", 1, None)
        .await;
    app.wait_status(1, id, "completed", 10).await;
    let (code, p) = app
        .call(
            Method::PATCH,
            "/meetings/google_meet/meta-room",
            1,
            Some(json!({"data": {"notes": "after"}})),
        )
        .await
        .parts();
    assert_eq!(
        (
            code,
            p["data"]["notes"].as_str(),
            p["data"]["name"].as_str()
        ),
        (200, Some("after"), Some("Live"))
    );
    let (code, list) = app.call(Method::GET, "/meetings", 1, None).await.parts();
    assert_eq!(code, 200);
    assert!(list["meetings"][0]["data"].is_object());
    let resp = app
        .req(Method::DELETE, &format!("/meetings/{id}"), 1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (code, _) = app
        .call(Method::GET, "/transcripts/google_meet/meta-room", 1, None)
        .await
        .parts();
    assert_eq!(code, 404);
    app.wait_no_bots(5).await;
}

/// A tiny HTTP receiver: answers 500 to the first request, 200 after; records every request.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn receiver() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head, body) = loop {
                let k = s.read(&mut chunk).await.unwrap_or(0);
                if k == 0 {
                    break (String::new(), Vec::new());
                }
                buf.extend_from_slice(&chunk[..k]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while buf.len() < i + 4 + len {
                        let k = s.read(&mut chunk).await.unwrap_or(0);
                        if k == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..k]);
                    }
                    break (head, buf[i + 4..].to_vec());
                }
            };
            n += 1;
            let status = if n == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            log.lock().unwrap().push((head, body));
            let _ = s
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
    });
    (url, seen)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
}

/// The user's webhook as the admin API's `PUT /user/webhook` stores it: in the user's `data`.
async fn user_with_webhook(db: &TestDb, url: &str) -> i64 {
    let ids = SqlIdentityStore::new(db.db.clone());
    let new = NewUser {
        email: Email::parse("hooks@acme.example").unwrap(),
        name: None,
        image_url: None,
        max_concurrent_bots: 3,
    };
    let (user, _) = ids.create_or_find_user(&new, Timestamp(1)).await.unwrap();
    let body = json!({"webhook_url": url, "webhook_secret": "whsec_test_secret",
                      "webhook_events": {"meeting.completed": true, "bot.failed": true}});
    let patch = UserPatch {
        data: Some(WebhookUpdate::parse(&body).unwrap().data_patch()),
        ..UserPatch::default()
    };
    ids.update_user(user.id, &patch).await.unwrap().unwrap();
    user.id.0
}

async fn webhooks_are_signed_retried_and_read_from_the_users_data(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (url, seen) = receiver().await;
    let user = user_with_webhook(&db, &url).await;
    let app = spawn_app(db, Some(mock_bot())).await;
    // The meetings service no longer serves the settings: the admin API does.
    let (code, _) = app
        .call(Method::GET, "/user/webhook", user, None)
        .await
        .parts();
    assert_eq!(code, 404);

    let (_, m) = app
        .post_bot(user, scenario("hook-room", "reject"))
        .await
        .parts();
    // The meeting records the webhook as set when the bot was requested; never the secret.
    assert_eq!(m["data"]["webhook_url"], url.as_str(), "{m}");
    assert_eq!(m["data"]["webhook_events"]["bot.failed"], true, "{m}");
    assert!(!m.to_string().contains("whsec_test_secret"), "{m}");
    let id = m["id"].as_i64().unwrap();
    app.wait_status(user, id, "failed", 10).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (head, body) = loop {
        let got = seen.lock().unwrap().clone();
        if got.len() >= 2 {
            break got[1].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "webhook not retried: {} requests",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ts: i64 = header(&head, "x-webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let sig = header(&head, "x-webhook-signature").unwrap();
    assert_eq!(
        sig,
        vexa_meetings::webhook::sign("whsec_test_secret", ts, &body)
    );
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(envelope["event_type"], "bot.failed");
    assert_eq!(envelope["data"]["meeting"]["id"], id);
    assert!(envelope["event_id"].as_str().unwrap().starts_with("evt_"));
    assert!(!String::from_utf8_lossy(&body).contains("whsec_test_secret"));
    assert!(
        envelope["data"]["meeting"]["data"]
            .get("webhook_url")
            .is_none(),
        "the event's meeting is cleaned of the webhook settings: {envelope}"
    );
    let first = seen.lock().unwrap()[0].1.clone();
    assert_eq!(first, body, "a retry resends the same envelope");
    app.wait_no_bots(5).await;
}

#[tokio::test]
async fn the_bot_protocol_refuses_missing_and_forged_tokens() {
    let app = spawn_app(TestDb::sqlite().await, Some(mock_bot())).await;
    for auth in [
        None,
        Some("Bearer v1.1.99999999999999.00"),
        Some("Bearer garbage"),
    ] {
        let mut r = app
            .client
            .post(format!("{}/internal/bot/lifecycle", app.base))
            .json(&json!({"status": "active"}));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        assert_eq!(r.send().await.unwrap().status().as_u16(), 401);
    }
}

#[tokio::test]
async fn meetings_left_live_by_a_dead_server_are_closed_at_startup() {
    use vexa_core::meeting::{MeetingStatus, MeetingStore, NewMeeting, Platform};
    let db = TestDb::sqlite().await;
    let store = vexa_store::meetings::SqlMeetingStore::new(db.db.clone());
    let new = NewMeeting {
        user_id: vexa_core::UserId(1),
        platform: Platform::GoogleMeet,
        native_meeting_id: Some("ghost-room".into()),
        status: MeetingStatus::Requested,
        data: serde_json::Map::new(),
    };
    let m = store
        .create_bot_meeting(
            &new,
            &vexa_core::meeting::BotCaps::default(),
            vexa_core::Timestamp(1),
        )
        .await
        .unwrap();
    let app = spawn_app(db, None).await;
    let got = app.meeting(1, m.id.0).await;
    assert_eq!(
        (got["status"].as_str(), got["failure_stage"].as_str()),
        (Some("failed"), Some("requested")),
        "{got}"
    );
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    ten_parallel_bot_requests_with_limit_two_create_exactly_two,
    parallel_requests_for_one_meeting_create_one_bot_and_the_rest_get_409,
    another_users_identity_sees_nothing,
    metadata_merges_in_any_status_and_finished_transcripts_can_be_erased,
    webhooks_are_signed_retried_and_read_from_the_users_data,
);

on_both_backends!(planned_meetings_are_created_patched_claimed_and_deleted,);
