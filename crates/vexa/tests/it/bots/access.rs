//! Scopes (403) and revocation (401) are enforced before anything is spawned.

use reqwest::Method;
use serde_json::json;
use vexa_testkit::stack::bot_logs;
use vexa_testkit::{on_both_backends, Backend, Stack};

use super::MEET;
use crate::support::VEXA;

/// A `tx`-only key may read but not send bots (403, saying which scope it lacks: CONTRACT §8);
/// a revoked key is refused (401) at once.
/// Neither starts a process or records a meeting.
async fn scope_and_revocation(backend: Backend) {
    let mut s = Stack::start(VEXA, backend).await;
    let (user, _, reader) = s.key("scopes@acme.example", "tx").await;
    let (code, body) = s.post_bot(&reader, MEET, "happy").await.parts();
    assert_eq!(
        (code, body),
        (
            403,
            json!({"detail": "Token scope not authorized", "required": ["bot"], "granted": ["tx"]})
        )
    );
    let (code, body) = s
        .call(Method::GET, "/bots/status", &reader, None)
        .await
        .parts();
    assert_eq!(
        (code, body),
        (
            403,
            json!({"detail": "Token scope not authorized", "required": ["bot"], "granted": ["tx"]})
        )
    );
    let (code, list) = s
        .call(Method::GET, "/meetings", &reader, None)
        .await
        .parts();
    assert_eq!((code, list), (200, json!({"meetings": []})));

    let (_, key_id, bot_key) = s.key("scopes@acme.example", "bot").await;
    let (code, _) = s
        .call(Method::GET, "/bots/status", &bot_key, None)
        .await
        .parts();
    assert_eq!(
        code, 200,
        "the key works (and is cached) before the revocation"
    );
    let (code, _) = s
        .admin(Method::DELETE, &format!("/admin/tokens/{key_id}"), None)
        .await
        .parts();
    assert_eq!(code, 204);
    let (code, body) = s.post_bot(&bot_key, MEET, "happy").await.parts();
    assert_eq!((code, body), (401, json!({"detail": "Invalid API key"})));
    let (code, body) = s
        .call(Method::GET, "/bots/status", &bot_key, None)
        .await
        .parts();
    assert_eq!((code, body), (401, json!({"detail": "Invalid API key"})));
    let port = s.env.port("API_GATEWAY_HOST_PORT");
    let refused =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?api_key={bot_key}"))
            .await;
    assert!(refused.is_err(), "a revoked key opened a WebSocket");
    let (code, body) = s
        .call(
            Method::POST,
            "/bots",
            "",
            Some(json!({"platform": "google_meet", "native_meeting_id": MEET})),
        )
        .await
        .parts();
    assert_eq!((code, body), (401, json!({"detail": "Missing API key"})));
    // The bot protocol is not part of the public API: the gateway does not route it.
    for path in ["/internal/bot/lifecycle", "/internal/bot/segments"] {
        let (code, body) = s
            .call(
                Method::POST,
                path,
                &reader,
                Some(json!({"status": "active"})),
            )
            .await
            .parts();
        assert_eq!(
            (code, body),
            (404, json!({"detail": "Not Found"})),
            "{path}"
        );
    }

    let (code, list) = s
        .call(Method::GET, "/meetings", &reader, None)
        .await
        .parts();
    assert_eq!(
        (code, list),
        (200, json!({"meetings": []})),
        "user {user}: nothing recorded"
    );
    assert!(s.bot_pids().is_empty(), "no bot was started");
    assert!(!s.env.data_dir.join("bots").exists() || bot_logs(&s.env).is_empty());
    s.shutdown().await;
}

on_both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    scope_and_revocation,
);
