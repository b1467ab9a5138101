//! Header fuzzing with raw bytes (random, non-UTF-8, oversized values) on every route: never a
//! crash or a 5xx; a malformed key is invalid and never looked up.

use std::sync::atomic::Ordering;

use proptest::prelude::*;
use vexa_testkit::proptest_runner;

use super::raw_http::{h, raw, request};
use super::{concrete_routes, field_value, gateway, gateway_on_runtime};
use crate::support::{get, Backend, TestStore};

fn header_name() -> impl Strategy<Value = Vec<u8>> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,24}".prop_map(String::into_bytes)
}

#[test]
fn random_header_bytes_never_crash_the_gateway_or_get_a_5xx() {
    let (rt, gw, _echo, k) = gateway_on_runtime();
    let routes = concrete_routes();
    let invalid_byte = prop::sample::select(vec![0u8, 1, 0x0b, 0x7f, b'\r', b'\n', 0x1b]);
    let strategy = (
        0..routes.len(),
        proptest::collection::vec((header_name(), field_value(300)), 0..20),
        any::<bool>(),
        proptest::option::weighted(0.3, (any::<prop::sample::Index>(), invalid_byte)),
        // Sometimes a value far past what a header should be.
        proptest::option::weighted(0.1, 1_000usize..120_000),
    );
    let answered = std::cell::Cell::new(0u32);
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    proptest_runner(64)
        .run(&strategy, |(i, mut extra, with_key, poison, huge)| {
            let (method, path, _) = &routes[i];
            let valid = poison.is_none();
            if let Some((at, byte)) = poison {
                if extra.is_empty() {
                    extra.push((b"x-poison".to_vec(), b"a".to_vec()));
                }
                let slot = at.index(extra.len());
                extra[slot].1.push(byte);
                extra[slot].1.push(b'z');
            }
            if let Some(n) = huge {
                extra.push((b"x-huge".to_vec(), vec![b'a'; n]));
            }
            if with_key {
                extra.push(h("x-api-key", &k));
            }
            let reply = rt.block_on(raw(gw.addr, &request(method, path.as_bytes(), &extra, b"")));
            match reply {
                Some(r) => {
                    answered.set(answered.get() + 1);
                    *statuses.borrow_mut().entry(r.status).or_default() += 1;
                    prop_assert!(r.status < 500, "{} {}: {}", method, path, r.status);
                    if !r.is_from_upstream()
                        && r.status >= 400
                        && r.status != 431
                        && r.status != 400
                    {
                        // The gateway's own refusals are JSON with a detail.
                        prop_assert!(r.json()["detail"].is_string(), "{:?}", r);
                    }
                }
                // Malformed requests may be dropped; well-formed ones of normal size never.
                None => prop_assert!(!valid || huge.is_some(), "{} {}: no answer", method, path),
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "header fuzz: {} answered, statuses {:?}",
        answered.get(),
        statuses.borrow()
    );
    rt.block_on(async {
        assert_eq!(get(&gw.base, "/health", None).await.status, 200);
        gw.shutdown().await;
    });
}

#[tokio::test]
async fn non_utf8_and_garbage_api_keys_are_invalid_and_never_looked_up() {
    let store = TestStore::new(Backend::Sqlite).await;
    let (gw, _echo) = gateway(store.clone()).await;
    let garbage: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0xfd],
        b"vxa_bot_\xc3\x28AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec(),
        "vxa_bot_éééééééééééééééééé".as_bytes().to_vec(),
        b"vxa_bot_".to_vec(),
        b"vxa_root_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec(),
        vec![b'v'; 8000],
        b"Bearer vxa_bot_x".to_vec(),
        b"\"vxa_bot_x\"".to_vec(),
    ];
    for g in &garbage {
        let r = raw(
            gw.addr,
            &request(
                "GET",
                b"/meetings",
                &[(b"x-api-key".to_vec(), g.clone())],
                b"",
            ),
        )
        .await
        .expect("answer");
        assert_eq!(r.status, 401, "{:?}", String::from_utf8_lossy(g));
        assert_eq!(
            r.json()["detail"],
            "Invalid API key",
            "a present but malformed key is invalid, not missing: {:?}",
            String::from_utf8_lossy(g)
        );
    }
    assert_eq!(store.resolves.load(Ordering::SeqCst), 0);
    gw.shutdown().await;
}
