//! Spoofed authority headers — every family of CONTRACT §8: `X-User-*`, `X-Key-*`,
//! `X-Internal-*`, `X-Vexa-Internal-*`, `X-Vexa-Identity`, `X-Gateway-Verified`,
//! `X-Admin-Api-Key` (kept only on the `/admin/*` passthrough), any case, any suffix, repeated —
//! on every route never reach the upstream; the true identity is injected instead.

use std::time::Duration;

use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use vexa_core::Scope;
use vexa_gateway::routes::{Domain, Target};
use vexa_testkit::{proptest_runner, INTERNAL_SECRET};

use super::raw_http::{h, raw, request};
use super::{concrete_routes, field_value, gateway, gateway_on_runtime, ALL};
use crate::support::{get, key, Backend, Running, TestStore};

const IDENTITY_PREFIXES: [&str; 4] = ["x-user-", "x-key-", "x-internal-", "x-vexa-internal-"];
/// The single-name authority headers.
const AUTHORITY_NAMES: [&str; 3] = ["x-vexa-identity", "x-gateway-verified", "x-admin-api-key"];

/// The identity headers the echo received, by name.
fn identity_headers(echoed: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = echoed["headers"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(n, _)| {
                    n.as_str() == "x-api-key"
                        || AUTHORITY_NAMES.contains(&n.as_str())
                        || IDENTITY_PREFIXES.iter().any(|p| n.starts_with(p))
                })
                .map(|(n, v)| (n.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn expected_identity(user_id: i64, key_id: i64, email: &str) -> Vec<(String, String)> {
    expected_identity_scoped(user_id, key_id, email, "bot,tx,browser")
}

fn expected_identity_scoped(
    user_id: i64,
    key_id: i64,
    email: &str,
    scopes: &str,
) -> Vec<(String, String)> {
    let mut v = vec![
        ("x-internal-secret".to_owned(), INTERNAL_SECRET.to_owned()),
        ("x-key-id".to_owned(), key_id.to_string()),
        ("x-user-email".to_owned(), email.to_owned()),
        ("x-user-id".to_owned(), user_id.to_string()),
        ("x-user-limits".to_owned(), "3".to_owned()),
        ("x-user-scopes".to_owned(), scopes.to_owned()),
    ];
    v.sort();
    v
}

/// Who a key really is, from `/auth/me`.
async fn whoami(gw: &Running, key: &str) -> (i64, i64, String) {
    let me = get(&gw.base, "/auth/me", Some(key)).await;
    assert_eq!(me.status, 200);
    let j = me.json();
    (
        j["user_id"].as_i64().expect("user_id"),
        j["key_id"].as_i64().expect("key_id"),
        j["email"].as_str().expect("email").to_owned(),
    )
}

fn spoof_set() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        ("X-User-Id", "999999"),
        ("x-user-id", "0"),
        ("X-USER-EMAIL", "root@evil.example"),
        ("x-user-scopes", "bot,tx,browser,admin"),
        ("x-user-limits", "100000"),
        ("X-Key-Id", "1"),
        ("x-key-digest", "00"),
        ("x-internal-secret", "forged"),
        ("X-Internal-Secret", "forged-again"),
        ("x-internal-anything", "1"),
        ("x-user-admin", "true"),
        ("x-user-", "empty-suffix"),
        ("x-vexa-internal-actor", "root"),
        ("X-Vexa-Internal-Token", "forged"),
        ("X-VEXA-IDENTITY", "v1.e30.AAAA"),
        ("x-vexa-identity", "v1.forged.again"),
        ("X-Gateway-Verified", "1"),
        ("x-gateway-verified", "true"),
        ("X-Admin-Api-Key", "forged-admin"),
    ]
    .iter()
    .map(|(n, v)| h(n, v))
    .collect()
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream_on_any_route() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let k = key(&store, ALL).await;
    let bot_only = key(&store, &[Scope::Bot]).await;
    let (uid, kid, email) = whoami(&gw, &k).await;
    let expected = expected_identity(uid, kid, &email);
    let (b_uid, b_kid, b_email) = whoami(&gw, &bot_only).await;
    let expected_bot = expected_identity_scoped(b_uid, b_kid, &b_email, "bot");
    let mut forwarded = 0;
    let mut routes = concrete_routes();
    routes.push(("GET", "/admin/users".into(), Target::Passthrough));
    routes.push(("POST", "/admin/users/1/tokens".into(), Target::Passthrough));
    for (method, path, target) in &routes {
        for credential in [
            None,
            Some("garbage"),
            Some(bot_only.as_str()),
            Some(k.as_str()),
        ] {
            let mut headers = spoof_set();
            if let Some(c) = credential {
                headers.push(h("x-api-key", c));
            }
            let r = raw(gw.addr, &request(method, path.as_bytes(), &headers, b"{}"))
                .await
                .unwrap_or_else(|| panic!("{method} {path}: no answer"));
            assert!(r.status < 500, "{method} {path}: {}", r.status);
            assert!(r.header("x-request-id").is_some(), "{method} {path}");
            if !r.is_from_upstream() {
                continue;
            }
            forwarded += 1;
            let mut got = identity_headers(&r.json());
            // The admin domain authenticates `/user/*` by the key itself: it alone receives it.
            if matches!(target, Target::Forward(Domain::Admin)) {
                let carried = got.iter().position(|(n, _)| n == "x-api-key");
                let carried = carried.map(|i| got.remove(i).1);
                assert_eq!(
                    carried.as_deref(),
                    credential,
                    "{method} {path}: the key to the admin domain"
                );
            }
            match target {
                // The admin API checks its own token: nothing identity-like is forwarded, only
                // the admin token the client sent (the one header kept on this route).
                Target::Passthrough => assert_eq!(
                    got,
                    vec![("x-admin-api-key".to_owned(), "forged-admin".to_owned())],
                    "{method} {path}"
                ),
                _ if credential == Some(k.as_str()) => {
                    assert_eq!(got, expected, "{method} {path}")
                }
                _ if credential == Some(bot_only.as_str()) => {
                    assert_eq!(got, expected_bot, "{method} {path}")
                }
                _ => panic!("{method} {path} got through with {credential:?}"),
            }
        }
        // `/auth/me` answers with the true identity whatever the request claims.
        if *target == Target::AuthMe {
            let mut headers = spoof_set();
            headers.push(h("x-api-key", &k));
            let r = raw(gw.addr, &request("GET", b"/auth/me", &headers, b""))
                .await
                .expect("answer");
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["user_id"], uid);
            assert_eq!(r.json()["email"], email.as_str());
        }
    }
    // Every proxied row with the full key, plus the admin rows with every credential.
    assert!(
        forwarded >= 20,
        "only {forwarded} requests reached the echo"
    );

    // The WebSocket relay: the upstream's first frame reports the headers it received.
    let mut req = format!("ws://{}/ws", gw.addr)
        .into_client_request()
        .expect("request");
    for (n, v) in spoof_set() {
        req.headers_mut().append(
            http::HeaderName::from_bytes(&n).expect("name"),
            http::HeaderValue::from_bytes(&v).expect("value"),
        );
    }
    req.headers_mut()
        .insert("x-api-key", k.parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let first = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .expect("first frame in time");
    let Some(Ok(Message::Text(t))) = first else {
        panic!("expected the echo's hello, got {first:?}");
    };
    let hello: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
    let mut got = identity_headers(&hello);
    // The WebSocket relay carries the same identity; limits and scopes as for HTTP.
    got.retain(|(n, _)| n != "x-api-key");
    assert_eq!(got, expected, "ws upstream headers");
    assert!(hello["headers"].get("x-api-key").is_none());
    drop(ws);
    gw.shutdown().await;
}

fn spoof_name() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "x-user-",
            "X-User-",
            "X-USER-",
            "x-key-",
            "X-KEY-",
            "x-internal-",
            "X-Internal-",
            "x-vexa-internal-",
            "X-Vexa-Internal-",
            "X-VEXA-INTERNAL-",
            "x-vexa-identity",
            "X-Vexa-Identity",
            "x-gateway-verified",
            "X-GATEWAY-VERIFIED",
            "x-admin-api-key",
            "X-Admin-API-Key",
            "x-api-key",
            "X-Api-Key",
        ]),
        "[a-zA-Z0-9_-]{0,12}",
    )
        .prop_map(|(p, s)| {
            let exact = [
                "x-api-key",
                "x-vexa-identity",
                "x-gateway-verified",
                "x-admin-api-key",
            ];
            if exact.iter().any(|e| p.eq_ignore_ascii_case(e)) {
                p.as_bytes().to_vec()
            } else {
                format!("{p}{s}").into_bytes()
            }
        })
}

#[test]
fn fuzzed_identity_headers_never_reach_the_upstream() {
    let (rt, gw, _echo, k) = gateway_on_runtime();
    let expected = rt.block_on(async {
        let (uid, kid, email) = whoami(&gw, &k).await;
        expected_identity(uid, kid, &email)
    });
    let routes = concrete_routes();
    let strategy = (
        0..routes.len(),
        proptest::collection::vec((spoof_name(), field_value(40)), 1..12),
        any::<bool>(),
    );
    let forwarded = std::cell::Cell::new(0u32);
    let tried = std::cell::Cell::new(0u32);
    proptest_runner(48)
        .run(&strategy, |(i, spoofs, key_first)| {
            let (method, path, target) = &routes[i];
            let mut headers = Vec::new();
            if key_first {
                headers.push(h("x-api-key", &k));
            }
            // Spoofed `X-API-Key` values must not override the real key: it is sent first, so a
            // second value would be a different request; keep the real one the only key.
            headers.extend(
                spoofs
                    .into_iter()
                    .filter(|(n, _)| !n.eq_ignore_ascii_case(b"x-api-key") || !key_first),
            );
            let r = rt
                .block_on(raw(
                    gw.addr,
                    &request(method, path.as_bytes(), &headers, b""),
                ))
                .ok_or_else(|| TestCaseError::fail(format!("{method} {path}: no answer")))?;
            tried.set(tried.get() + 1);
            prop_assert!(r.status < 500, "{} {}: {}", method, path, r.status);
            if r.is_from_upstream() {
                forwarded.set(forwarded.get() + 1);
                prop_assert!(
                    key_first,
                    "{} {} forwarded without the real key",
                    method,
                    path
                );
                let mut got = identity_headers(&r.json());
                // The admin domain alone receives the key (it authenticates `/user/*` by it).
                if matches!(target, Target::Forward(Domain::Admin)) {
                    let carried = got.iter().position(|(n, _)| n == "x-api-key");
                    let carried = carried.map(|i| got.remove(i).1);
                    prop_assert_eq!(carried.as_deref(), Some(k.as_str()));
                }
                prop_assert_eq!(got, expected.clone());
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(tried.get() > 0);
    eprintln!(
        "identity fuzz: {} requests, {} forwarded",
        tried.get(),
        forwarded.get()
    );
    rt.block_on(gw.shutdown());
}
