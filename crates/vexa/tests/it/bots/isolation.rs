//! Another user's key sees nothing (404, empty lists, no frames), and spoofed identity headers
//! are replaced by the gateway.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use vexa_testkit::{on_both_backends, Backend, Stack, INTERNAL_SECRET};

use super::{collect_frames, frame_where, status_frame, subscribe_msg, ws_request, MEET};
use crate::support::VEXA;

/// Another user's key: 404 on the first user's meeting by key and by id, nothing in its lists,
/// no frames on its WebSocket, and its stop attempt changes nothing.
async fn another_user_sees_nothing(backend: Backend) {
    let mut s = Stack::start(VEXA, backend).await;
    let (alice_id, _, alice) = s.key("alice@acme.example", "bot,tx").await;
    let (_, _, mallory) = s.key("mallory@evil.example", "bot,tx").await;

    let (code, m) = s.post_bot(&alice, MEET, "happy").await.parts();
    assert_eq!(code, 201, "{m}");
    let id = m["id"].as_i64().expect("id");

    // Mallory watches from the start, key in the query string.
    let mut ws = s.ws(&mallory, true).await;
    let ack = ws_request(&mut ws, subscribe_msg(MEET), "subscribed").await;
    assert_eq!(
        ack["meetings"],
        json!([]),
        "someone else's meeting is not subscribable: {ack}"
    );
    let mut mallory_frames = collect_frames(ws);

    // Alice's own socket sees her meeting's frames, so the stream is live meanwhile.
    let mut alice_ws = s.ws(&alice, true).await;
    ws_request(&mut alice_ws, subscribe_msg(MEET), "subscribed").await;
    let mut alice_frames = collect_frames(alice_ws);
    s.wait_status(&alice, id, "active").await;
    frame_where(&mut alice_frames, &mut Vec::new(), "transcript", |v| {
        v["type"] == "transcript"
    })
    .await;

    let p = format!("google_meet/{MEET}");
    for (method, path, body) in [
        (Method::GET, format!("/transcripts/{p}"), None),
        (
            Method::GET,
            format!("/transcripts/{p}?meeting_id={id}"),
            None,
        ),
        (Method::GET, format!("/transcripts/by-id/{id}"), None),
        (Method::GET, format!("/meetings/{id}"), None),
        (Method::DELETE, format!("/bots/{p}"), None),
        (
            Method::PUT,
            format!("/bots/{p}/config"),
            Some(json!({"language": "de"})),
        ),
        (
            Method::PATCH,
            format!("/meetings/{p}"),
            Some(json!({"data": {"name": "mine now"}})),
        ),
        (
            Method::PATCH,
            format!("/meetings/{id}"),
            Some(json!({"data": {"name": "mine now"}})),
        ),
        (Method::DELETE, format!("/meetings/{p}"), None),
        (Method::DELETE, format!("/meetings/{id}"), None),
    ] {
        let (code, body) = s.call(method.clone(), &path, &mallory, body).await.parts();
        assert_eq!(code, 404, "{method} {path} with another user's key: {body}");
        assert!(!body.to_string().contains("Alice"), "{body}");
    }
    for path in ["/meetings", "/bots"] {
        let (code, list) = s.call(Method::GET, path, &mallory, None).await.parts();
        assert_eq!(
            (code, &list["meetings"]),
            (200, &json!([])),
            "{path}: {list}"
        );
    }
    // Identity headers sent by the client are not trusted: the gateway replaces them.
    let spoofed = s
        .http
        .get(format!("{}/meetings", s.env.gateway()))
        .header("X-API-Key", &mallory)
        .header("X-User-Id", alice_id.to_string())
        .header("X-Internal-Secret", INTERNAL_SECRET)
        .send()
        .await
        .expect("spoofed request");
    assert_eq!(spoofed.status().as_u16(), 200);
    let list: Value = spoofed.json().await.expect("json");
    assert_eq!(
        list,
        json!({"meetings": []}),
        "spoofed X-User-Id was trusted"
    );
    let (code, st) = s
        .call(Method::GET, "/bots/status", &mallory, None)
        .await
        .parts();
    assert_eq!((code, st["count"].as_i64()), (200, Some(0)), "{st}");

    // Nothing Mallory did touched Alice's bot.
    let m = s.wait_status(&alice, id, "active").await;
    assert!(m["data"]["name"].is_null(), "{m}");
    assert!(m["data"]["stop_requested"].is_null(), "{m}");
    let (code, tr) = s
        .call(Method::GET, &format!("/transcripts/{p}"), &alice, None)
        .await
        .parts();
    assert!(
        code == 200 && tr["segments"].as_array().is_some_and(|a| !a.is_empty()),
        "{tr}"
    );
    let (code, _) = s
        .call(Method::DELETE, &format!("/bots/{p}"), &alice, None)
        .await
        .parts();
    assert_eq!(code, 200);
    s.wait_status(&alice, id, "completed").await;
    frame_where(
        &mut alice_frames,
        &mut Vec::new(),
        "meeting.status completed",
        |v| status_frame(v, id, "completed"),
    )
    .await;

    // Alice's whole meeting played out; Mallory's socket got none of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut leaked = Vec::new();
    while let Ok(v) = mallory_frames.try_recv() {
        leaked.push(v);
    }
    assert!(
        leaked.is_empty(),
        "frames of another user's meeting: {leaked:#?}"
    );
    s.wait_bot_count(0).await;
    s.shutdown().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    another_user_sees_nothing,
);
