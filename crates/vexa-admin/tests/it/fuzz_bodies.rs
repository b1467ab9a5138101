//! Property tests of the admin API's request bodies (and query strings) on every route that reads
//! one (`PUT /user/webhook` with the user's key included), over the real router and a real SQLite store: arbitrary JSON values of every type,
//! unknown fields, wrong types, huge and non-finite-looking numbers, deep nesting, broken and
//! non-UTF-8 bytes. The answer is always either a 2xx or a 4xx whose JSON body has a `detail`;
//! never a 5xx, never a panic.
//!
//! Case counts are small by default (`make test`); `scripts/fuzz.sh` raises them through
//! `PROPTEST_CASES`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use axum::http::Method;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Number, Value};

use crate::support::{app_on, TestApp};
use vexa_testkit::{proptest_runner, Reply, TestDb};

const FIELDS: &[&str] = &[
    "email",
    "name",
    "image_url",
    "max_concurrent_bots",
    "data",
    "scopes",
    "expires_in",
    "id",
    "token",
    "user_id",
    "webhook_url",
    "webhook_secret",
    "webhook_events",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-5i64..20).prop_map(Value::from),
        Just(Value::from(i64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(u64::MAX)),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        Just(Value::from(0.5)),
        Just(Value::from(-0.0)),
        Just(Value::from(1e300)),
    ]
}

fn string() -> impl Strategy<Value = Value> {
    prop_oneof![
        "\\PC{0,24}".prop_map(Value::String),
        prop::sample::select(vec![
            "bot",
            "tx",
            "browser",
            "bot,tx",
            "",
            " ",
            "jane@acme.com",
            "JANE@ACME.COM",
            "a@b",
            "@",
            "x@y.z",
            "https://x.example/a.png",
            "null",
            "1",
            "-1",
            "\u{0}",
            "😀@😀.😀",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        (1usize..5000).prop_map(|n| Value::String("a".repeat(n))),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string(),
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects built from the route's own fields (right and wrong types), sometimes with extras.
fn shaped(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let field_value = prop_oneof![
        3 => leaf(),
        1 => value(),
        1 => proptest::collection::vec(string(), 0..5).prop_map(Value::Array),
    ];
    (
        proptest::collection::btree_map(
            prop::sample::select(fields.to_vec()),
            field_value,
            0..fields.len() + 1,
        ),
        proptest::collection::btree_map("\\PC{0,10}", leaf(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(known, extra, with_extra)| {
            let mut m: Map<String, Value> =
                known.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if with_extra {
                m.extend(extra);
            }
            Value::Object(m)
        })
}

/// Bytes that are not (quite) JSON, or JSON at the edges of what parsers accept.
fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (1usize..100_000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
        (1usize..100_000).prop_map(|n| "{\"data\":".repeat(n).into_bytes()),
        (1usize..400)
            .prop_map(|n| format!("{{\"max_concurrent_bots\": 1{}}}", "0".repeat(n)).into_bytes()),
        Just(b"{\"max_concurrent_bots\": 1e999999}".to_vec()),
        Just(b"{\"expires_in\": 1e999999, \"scopes\": [\"bot\"]}".to_vec()),
        Just(b"{\"expires_in\": -9223372036854775809}".to_vec()),
        Just(b"{\"email\":\"a@b.co\",\"email\":\"c@d.co\"}".to_vec()),
        Just(b"\xef\xbb\xbf{\"email\":\"bom@acme.com\"}".to_vec()),
        Just(b"{\"email\":\"\xff\xfe@acme.com\"}".to_vec()),
        Just(b"{\"email\":\"\\ud800@acme.com\"}".to_vec()),
        Just(b"{\"scopes\":[\"bot\"]".to_vec()),
        Just(b"null".to_vec()),
        Just(b"NaN".to_vec()),
        Just(b"{\"max_concurrent_bots\": NaN}".to_vec()),
        Just(b" ".to_vec()),
        "\\PC{0,40}".prop_map(String::into_bytes),
    ]
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

fn body_for(fields: &'static [&'static str]) -> impl Strategy<Value = Body> {
    prop_oneof![
        3 => shaped(fields).prop_map(Body::Json),
        2 => value().prop_map(Body::Json),
        2 => raw_bytes().prop_map(Body::Raw),
    ]
}

/// Which route a case goes to: the ones that read a body first, then body-less ones given a body.
#[derive(Debug, Clone, Copy)]
enum Route {
    CreateUser,
    PatchUser,
    Mint,
    MintOnMissingUser,
    ListUsers,
    RevokeMissing,
    /// `PUT /user/webhook` with the user's own key.
    PutWebhook,
}

fn route() -> impl Strategy<Value = Route> {
    prop_oneof![
        3 => Just(Route::CreateUser),
        3 => Just(Route::PatchUser),
        3 => Just(Route::Mint),
        1 => Just(Route::MintOnMissingUser),
        1 => Just(Route::ListUsers),
        1 => Just(Route::RevokeMissing),
        3 => Just(Route::PutWebhook),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => (
            prop::sample::select(vec!["scopes", "scope", "name", "expires_in", "skip", "limit"]),
            prop_oneof![
                "[a-z,]{0,20}".boxed(),
                "-?[0-9]{0,25}".boxed(),
                "%[0-9A-F]{2}[a-z%0-9]{0,8}".boxed(),
                Just("1e999".to_owned()).boxed(),
            ],
        )
            .prop_map(|(k, v)| format!("?{k}={v}")),
    ]
}

fn check(res: &Reply, what: &str) -> Result<(), TestCaseError> {
    let status = res.status.as_u16();
    prop_assert!(status < 500, "{}: {} {}", what, status, res.text());
    if status >= 400 {
        let v: Value = serde_json::from_slice(&res.body).map_err(|e| {
            TestCaseError::fail(format!(
                "{what}: {status} body not JSON ({e}): {}",
                res.text()
            ))
        })?;
        prop_assert!(
            v.get("detail").is_some(),
            "{}: {} without detail: {}",
            what,
            status,
            v
        );
    } else {
        prop_assert!((200..300).contains(&status), "{}: {}", what, status);
    }
    Ok(())
}

#[test]
fn arbitrary_bodies_on_every_admin_route_never_500() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (app, user, key): (TestApp, i64, String) = rt.block_on(async {
        let app = app_on(TestDb::sqlite().await);
        let user = app.user("fuzz-owner@acme.com").await;
        let minted = app.mint(user, "?scopes=bot").await;
        let key = minted["token"].as_str().unwrap_or_default().to_owned();
        (app, user, key)
    });
    let statuses = RefCell::new(BTreeMap::<String, BTreeMap<u16, u32>>::new());
    let strategy = (
        route(),
        prop_oneof![
            body_for(&["email", "name", "image_url", "max_concurrent_bots"]),
            body_for(&["name", "image_url", "max_concurrent_bots", "data"]),
            body_for(&["scopes", "name", "expires_in"]),
            body_for(&["webhook_url", "webhook_secret", "webhook_events"]),
        ],
        query(),
    );
    proptest_runner(512)
        .run(&strategy, |(route, body, query)| {
            let (method, path) = match route {
                Route::CreateUser => (Method::POST, format!("/admin/users{query}")),
                Route::PatchUser => (Method::PATCH, format!("/admin/users/{user}{query}")),
                Route::Mint => (Method::POST, format!("/admin/users/{user}/tokens{query}")),
                Route::MintOnMissingUser => {
                    (Method::POST, format!("/admin/users/999999/tokens{query}"))
                }
                Route::ListUsers => (Method::GET, format!("/admin/users{query}")),
                Route::RevokeMissing => (Method::DELETE, "/admin/tokens/999999".to_owned()),
                Route::PutWebhook => (Method::PUT, "/user/webhook".to_owned()),
            };
            let bytes = match &body {
                Body::Json(v) => v.to_string().into_bytes(),
                Body::Raw(b) => b.clone(),
            };
            let call = match route {
                Route::PutWebhook => app.anon(method.clone(), &path).header("x-api-key", &key),
                _ => app.admin(method.clone(), &path),
            };
            let res = rt.block_on(call.raw_json(bytes).send());
            let what = format!("{method} {path}");
            check(&res, &what)?;
            if matches!(route, Route::Mint) && res.status.as_u16() == 201 {
                let v: Value = serde_json::from_slice(&res.body)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(
                    v["token"].as_str().is_some_and(|t| t.starts_with("vxa_")),
                    "{}",
                    v
                );
            }
            *statuses
                .borrow_mut()
                .entry(format!("{route:?}"))
                .or_default()
                .entry(res.status.as_u16())
                .or_default() += 1;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let statuses = statuses.into_inner();
    eprintln!("admin body fuzz: {statuses:?}");
    // The generators reach both outcomes on the body routes.
    for r in ["CreateUser", "PatchUser", "Mint", "PutWebhook"] {
        let s = statuses.get(r).cloned().unwrap_or_default();
        assert!(s.keys().any(|c| *c >= 400), "{r}: {s:?}");
    }
    // The store is still fine afterwards.
    rt.block_on(async {
        let res = app
            .admin(Method::GET, "/admin/users?limit=1000")
            .send()
            .await;
        assert_eq!(res.status.as_u16(), 200);
        let minted = app.mint(user, "?scopes=bot").await;
        assert!(minted["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("vxa_")));
    });
}

#[test]
fn deep_nesting_and_huge_bodies_are_refused_not_crashed() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let app = app_on(TestDb::sqlite().await);
        let user = app.user("deep@acme.com").await;
        let deep = |n: usize| format!("{{\"data\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        let cases: Vec<(Method, String, Vec<u8>)> = vec![
            (
                Method::PATCH,
                format!("/admin/users/{user}"),
                deep(100).into_bytes(),
            ),
            (
                Method::PATCH,
                format!("/admin/users/{user}"),
                deep(1_000).into_bytes(),
            ),
            (
                Method::PATCH,
                format!("/admin/users/{user}"),
                deep(200_000).into_bytes(),
            ),
            (
                Method::POST,
                "/admin/users".into(),
                deep(200_000).into_bytes(),
            ),
            (
                Method::POST,
                format!("/admin/users/{user}/tokens"),
                deep(200_000).into_bytes(),
            ),
            (
                Method::PATCH,
                format!("/admin/users/{user}"),
                format!("{{\"data\":{{\"blob\":\"{}\"}}}}", "x".repeat(200_000)).into_bytes(),
            ),
            (
                Method::POST,
                "/admin/users".into(),
                format!(
                    "{{\"email\":\"a@b.co\",\"name\":\"{}\"}}",
                    "n".repeat(5 << 20)
                )
                .into_bytes(),
            ),
        ];
        for (m, p, b) in cases {
            let len = b.len();
            let res = app.admin(m.clone(), &p).raw_json(b).send().await;
            let s = res.status.as_u16();
            assert!(
                (200..300).contains(&s) || (400..500).contains(&s),
                "{m} {p} ({len} bytes): {s}"
            );
            if s >= 400 {
                assert!(
                    res.json().get("detail").is_some(),
                    "{m} {p}: {}",
                    res.text()
                );
            }
        }
    });
}
