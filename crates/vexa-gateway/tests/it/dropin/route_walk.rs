//! Every row of the route table, every method it declares, against no key and every scope set,
//! in front of the original's services (`MEETINGS_API_KIND=vexa`) and in front of our own
//! (`ours`). Each request also carries a forged header of every authority family; where the row
//! is forwarded, the double of the row's domain must have received exactly that method at the
//! original's upstream path, with the gateway's identity (and only the gateway's), a verifiable
//! `X-Vexa-Identity`, and the key only if the domain authenticates by it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use http::Method;
use serde_json::Value;
use vexa_core::Scope;
use vexa_gateway::routes::{Access, Domain, Ours, Route, Target, ROUTES};
use vexa_gateway::MeetingsApiKind;
use vexa_testkit::original::{Received, RecordingDouble};
use vexa_testkit::{Reply, INTERNAL_SECRET};

use super::{dropin, signing_key_files, Originals};
use crate::support::{key, on_both_backends, send, Backend, TestStore};

/// Forged by the client on every request; none may reach a service as sent.
const FORGED: &[(&str, &str)] = &[
    ("x-user-id", "999999"),
    ("X-User-Email", "mallory@evil.example"),
    ("x-user-scopes", "bot,tx,browser"),
    ("X-USER-LIMITS", "1000"),
    ("x-user-webhook-url", "https://evil.example/hook"),
    ("x-key-id", "999999"),
    ("X-Internal-Secret", "forged-secret"),
    ("x-vexa-internal-actor", "root"),
    ("X-Vexa-Identity", "v1.e30.AAAA"),
    ("x-gateway-verified", "1"),
    ("x-admin-api-key", "forged-admin"),
];

/// A concrete public path for a template.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| match s {
            "{platform}" => "google_meet",
            "{native_meeting_id}" => "abc-defg-hij",
            "{calendar_id}" => "cal:1",
            "*" => "x/y",
            s if s.starts_with('{') => "7",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The path the original's service serves that row at (reference §3.4), written out here so the
/// test does not trust the table's own rewrite column.
fn expected_upstream(template: &str, public: &str) -> String {
    match template {
        "/transcripts/{platform}/{native_meeting_id}/share" => {
            "/meetings/google_meet/abc-defg-hij/share".into()
        }
        "/user/webhook/deliveries" => "/webhooks/deliveries".into(),
        "/agent/chat" => "/api/chat".into(),
        "/agent/meeting/stream" => "/api/meeting/stream".into(),
        "/agent/*" => "/api/x/y".into(),
        "/recordings/{recording_id}/media/{media_file_id}/download" => {
            "/recordings/7/media/7/raw".into()
        }
        "/user/calendars/{calendar_id}" => "/user/calendars/cal%3A1".into(),
        "/user/calendars/{calendar_id}/sync" => "/user/calendars/cal%3A1/sync".into(),
        _ => public.into(),
    }
}

const SCOPE_SETS: &[&[Scope]] = &[
    &[Scope::Bot],
    &[Scope::Tx],
    &[Scope::Browser],
    &[Scope::Bot, Scope::Tx],
    &[Scope::Bot, Scope::Tx, Scope::Browser],
];

struct Caller {
    key: String,
    scopes: &'static [Scope],
    user_id: i64,
}

fn double_for(o: &Originals, d: Domain) -> Option<&RecordingDouble> {
    match d {
        Domain::Meetings => Some(&o.meetings),
        Domain::Admin => Some(&o.admin),
        Domain::Agent => Some(&o.agent),
        Domain::Mcp => Some(&o.mcp),
        Domain::Browser => None,
    }
}

/// Where the row should land: `None` when it must not exist in this kind.
fn expected_domain(row: &Route, kind: MeetingsApiKind) -> Option<Domain> {
    let Target::Forward(d) = row.target else {
        return None;
    };
    match (kind, row.ours) {
        (MeetingsApiKind::Vexa, _) | (MeetingsApiKind::Ours, Ours::Same) => Some(d),
        (MeetingsApiKind::Ours, Ours::Missing) => None,
        (MeetingsApiKind::Ours, Ours::At(other)) => Some(other),
    }
}

fn header<'a>(r: &'a Received, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

fn verify_identity(token: &str, public: &VerifyingKey) -> Value {
    let rest = token.strip_prefix("v1.").expect("v1 prefix");
    let (claims, sig) = rest.split_once('.').expect("two parts");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("b64 signature");
    let sig = Signature::from_slice(&sig).expect("64 bytes");
    public
        .verify(format!("v1.{claims}").as_bytes(), &sig)
        .expect("X-Vexa-Identity verifies with the gateway's public key");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64 claims")).expect("json")
}

fn check_forwarded(got: &Received, row: &Route, d: Domain, who: &Caller, public: &VerifyingKey) {
    let what = format!("{} {} → {:?}", got.method, row.template, d);
    assert_eq!(
        header(got, "x-user-id"),
        Some(&*who.user_id.to_string()),
        "{what}"
    );
    let csv: Vec<&str> = who.scopes.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        header(got, "x-user-scopes"),
        Some(&*csv.join(",")),
        "{what}"
    );
    assert_eq!(header(got, "x-user-limits"), Some("3"), "{what}");
    assert!(
        header(got, "x-user-email").is_some_and(|e| e.ends_with("@acme.com")),
        "{what}"
    );
    assert_eq!(
        header(got, "x-internal-secret"),
        Some(INTERNAL_SECRET),
        "{what}"
    );
    assert_ne!(
        header(got, "x-key-id"),
        Some("999999"),
        "{what}: forged key id"
    );
    let trace = header(got, "x-trace-id").expect("x-trace-id");
    assert_eq!(Some(trace), header(got, "x-request-id"), "{what}");
    for gone in [
        "x-user-webhook-url",
        "x-vexa-internal-actor",
        "x-gateway-verified",
        "x-admin-api-key",
    ] {
        assert!(
            !got.headers.contains_key(gone),
            "{what}: {gone} got through"
        );
    }
    let key = header(got, "x-api-key");
    if d.receives_key() {
        assert_eq!(key, Some(&*who.key), "{what}: the key goes to {d:?}");
    } else {
        assert_eq!(key, None, "{what}: the key must not reach {d:?}");
    }
    let token = header(got, "x-vexa-identity").expect("x-vexa-identity");
    let claims = verify_identity(token, public);
    assert_eq!(claims["sub"], who.user_id.to_string(), "{what}");
    assert_eq!(claims["typ"], "vexa-identity");
}

async fn request(base: &str, method: &str, path: &str, key: Option<&str>) -> Reply {
    let mut headers: Vec<(&str, &str)> = FORGED.to_vec();
    if let Some(k) = key {
        headers.push(("x-api-key", k));
    }
    let m = Method::from_bytes(method.as_bytes()).expect("method");
    send(base, m, path, &headers, "").await
}

async fn walk(backend: Backend, kind: MeetingsApiKind) {
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let keys = signing_key_files();
    let public = keys.key.verifying_key();
    let gw = dropin(&o, kind, Some(&keys), store.clone()).await;
    let mut callers = Vec::new();
    for scopes in SCOPE_SETS {
        let k = key(&store, scopes).await;
        let me = request(&gw.base, "GET", "/auth/me", Some(&k)).await;
        assert_eq!(me.status, 200, "{}", me.text());
        let me = me.json();
        assert_eq!(me["max_concurrent"], 3, "the original's /auth/me field");
        let user_id = me["user_id"].as_i64().expect("user id");
        callers.push(Caller {
            key: k,
            scopes,
            user_id,
        });
    }
    let mut walked = 0;
    for row in ROUTES {
        if row.target == Target::WebSocket {
            continue; // `gateway_ws` and the WebSocket suites.
        }
        // The docs page's asset row answers only for an asset it has.
        let path = match row.target {
            Target::Docs if row.template.contains('{') => "/docs/swagger-ui.css".to_owned(),
            _ => concrete(row.template),
        };
        for method in row.methods.list() {
            let what = format!("{kind:?} {method} {path}");
            let landing = expected_domain(row, kind);
            let absent = matches!(row.target, Target::Forward(_)) && landing.is_none();
            // No key.
            let r = request(&gw.base, method, &path, None).await;
            match (row.access, absent) {
                (_, true) => assert_eq!(r.status, 404, "{what}: {}", r.text()),
                (Access::Public, _) => assert_eq!(r.status, 200, "{what}"),
                _ => {
                    assert_eq!(r.status, 401, "{what}");
                    assert_eq!(r.json()["detail"], "Missing API key");
                    assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
                }
            }
            for who in &callers {
                o.clear();
                let r = request(&gw.base, method, &path, Some(&who.key)).await;
                let what = format!("{what} as {:?}", who.scopes);
                walked += 1;
                if absent {
                    assert_eq!(r.status, 404, "{what}");
                    assert_eq!(r.json()["detail"], "Not Found");
                    assert!(o.all().iter().all(|d| d.received().is_empty()), "{what}");
                    continue;
                }
                let Access::Scopes(accepted) = row.access else {
                    assert_eq!(r.status, 200, "{what}");
                    continue;
                };
                if !accepted.iter().any(|s| who.scopes.contains(s)) {
                    assert_eq!(r.status, 403, "{what}");
                    let body = r.json();
                    assert_eq!(body["detail"], "Token scope not authorized");
                    let mut required: Vec<&str> = accepted.iter().map(|s| s.as_str()).collect();
                    required.sort_unstable();
                    assert_eq!(body["required"], serde_json::json!(required), "{what}");
                    let mut granted: Vec<&str> = who.scopes.iter().map(|s| s.as_str()).collect();
                    granted.sort_unstable();
                    assert_eq!(body["granted"], serde_json::json!(granted), "{what}");
                    assert!(o.all().iter().all(|d| d.received().is_empty()), "{what}");
                    continue;
                }
                let d = landing.expect("forwarded rows land somewhere");
                let Some(double) = double_for(&o, d) else {
                    // `/browser/*` without BROWSER_API_URL: the contract's 503.
                    assert_eq!(r.status, 503, "{what}");
                    continue;
                };
                assert_eq!(r.status, 200, "{what}: {}", r.text());
                let got = double.take();
                assert_eq!(got.len(), 1, "{what}: one request at {}", double.name);
                assert_eq!(got[0].method, method, "{what}");
                assert_eq!(
                    got[0].path,
                    expected_upstream(row.template, &path),
                    "{what}"
                );
                check_forwarded(&got[0], row, d, who, &public);
                assert!(
                    o.all()
                        .iter()
                        .filter(|x| x.name != double.name)
                        .all(|x| x.received().is_empty()),
                    "{what}: reached another service too"
                );
            }
        }
    }
    assert!(walked > 300, "walked {walked} (row, method, scope) cases");
    gw.shutdown().await;
}

async fn every_row_against_every_scope_in_front_of_the_original(backend: Backend) {
    walk(backend, MeetingsApiKind::Vexa).await;
}

async fn every_row_against_every_scope_in_front_of_our_own_services(backend: Backend) {
    walk(backend, MeetingsApiKind::Ours).await;
}

/// The `/mcp` key carriers: `Authorization: Bearer` and a raw `Authorization` work there (and
/// the key is handed to MCP as `x-api-key`), but nowhere else.
async fn mcp_accepts_the_key_in_authorization(backend: Backend) {
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let gw = dropin(&o, MeetingsApiKind::Vexa, None, store.clone()).await;
    let k = key(&store, &[Scope::Bot]).await;
    for auth in [format!("Bearer {k}"), format!("bearer {k}"), k.clone()] {
        let r = send(
            &gw.base,
            Method::POST,
            "/mcp",
            &[("authorization", auth.as_str()), ("mcp-session-id", "s1")],
            "{}",
        )
        .await;
        assert_eq!(r.status, 200, "{auth:.8}…: {}", r.text());
        let got = o.mcp.take();
        assert_eq!(got.len(), 1);
        assert_eq!(header(&got[0], "x-api-key"), Some(&*k));
        assert_eq!(header(&got[0], "mcp-session-id"), Some("s1"));
    }
    let bearer = format!("Bearer {k}");
    let r = send(
        &gw.base,
        Method::GET,
        "/bots/status",
        &[("authorization", bearer.as_str())],
        "",
    )
    .await;
    assert_eq!(r.status, 401, "Authorization carries a key only on /mcp");
    gw.shutdown().await;
}

/// As the original (FastAPI `int` path parameters): a non-integer id is a 422 before any key
/// is looked at, and nothing is forwarded.
async fn typed_ids_are_checked_before_the_key_in_front_of_the_original(backend: Backend) {
    let o = Originals::start().await;
    let store = TestStore::new(backend).await;
    let gw = dropin(&o, MeetingsApiKind::Vexa, None, store.clone()).await;
    let k = key(&store, &[Scope::Bot, Scope::Tx]).await;
    for path in [
        "/meetings/abc",
        "/transcripts/by-id/x1",
        "/recordings/x",
        "/recordings/1/media/z/download",
    ] {
        for key in [None, Some(k.as_str())] {
            let r = request(&gw.base, "GET", path, key).await;
            assert_eq!(r.status, 422, "{path}: {}", r.text());
        }
    }
    // And a calendar id with a control character is its 400.
    for path in ["/user/calendars/a%01b", "/user/calendars/a%0a/sync"] {
        let method = if path.ends_with("sync") {
            "POST"
        } else {
            "PATCH"
        };
        let r = request(&gw.base, method, path, Some(&k)).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.json()["detail"], "invalid path parameter");
    }
    let r = request(&gw.base, "GET", "/meetings/12", Some(&k)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        o.meetings.take().len(),
        1,
        "only the integer id was forwarded"
    );
    gw.shutdown().await;
}

on_both_backends!(
    typed_ids_are_checked_before_the_key_in_front_of_the_original,
    every_row_against_every_scope_in_front_of_the_original,
    every_row_against_every_scope_in_front_of_our_own_services,
    mcp_accepts_the_key_in_authorization,
);
