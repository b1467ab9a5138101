//! A flood of garbage keys from one address: an edge ban for it, another client unaffected,
//! and not one store lookup for a malformed key (counted).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use vexa_core::Scope;
use vexa_gateway::limit::{EdgeConfig, TrustedProxies};

use super::raw_http::{h, raw, request};
use crate::support::{config, key, start, Backend, EchoUpstream, TestStore};

#[tokio::test]
async fn garbage_key_flood_bans_the_ip_while_another_client_is_served_and_the_store_is_never_asked()
{
    let store = TestStore::new(Backend::Sqlite).await;
    let echo = EchoUpstream::start().await;
    let mut cfg = config(&echo.url);
    cfg.edge = EdgeConfig {
        enabled: true,
        requests_per_minute: 60,
        auto_ban_threshold: 5,
        auto_ban_duration: Duration::from_secs(3600),
        ..EdgeConfig::default()
    };
    // The test's connections come through a "proxy" on loopback that names the client.
    cfg.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("cidr");
    let gw = start(cfg, store.clone()).await;
    let good = key(&store, &[Scope::Bot, Scope::Tx]).await;
    let attacker = "203.0.113.66";
    let bystander = "198.51.100.7";

    let garbage = |i: usize| -> Vec<u8> {
        match i % 5 {
            0 => format!("vxa_bot_{:036}", i).into_bytes(),
            1 => format!("garbage-{i}").into_bytes(),
            2 => vec![0xff, 0x80, (i % 200) as u8 + 0x20],
            3 => format!("vxa_tx_{}", "A".repeat(i % 50)).into_bytes(),
            _ => format!("vxa_browser_{:>36}", i)
                .replace(' ', "z")
                .into_bytes(),
        }
    };
    let (mut unauthorized, mut limited, mut last_retry_after) = (0, 0, 0u64);
    let flood = 400;
    let flood_started = Instant::now();
    for i in 0..flood {
        let r = raw(
            gw.addr,
            &request(
                "GET",
                b"/meetings",
                &[
                    h("x-forwarded-for", attacker),
                    (b"x-api-key".to_vec(), garbage(i)),
                ],
                b"",
            ),
        )
        .await
        .expect("answer");
        match r.status {
            401 => unauthorized += 1,
            429 => {
                limited += 1;
                assert_eq!(r.json()["detail"], "Too many requests");
                last_retry_after = r
                    .header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .expect("Retry-After");
            }
            s => panic!("flood request {i}: {s}"),
        }
        // Meanwhile another client is served normally.
        if i % 50 == 0 {
            let r = raw(
                gw.addr,
                &request(
                    "GET",
                    b"/meetings",
                    &[h("x-forwarded-for", bystander), h("x-api-key", &good)],
                    b"",
                ),
            )
            .await
            .expect("answer");
            assert_eq!(r.status, 200, "bystander at flood request {i}");
        }
    }
    // The minute's budget at once, plus what refills (one a second) while the flood runs; the
    // ban then stops even that.
    let budget = 61 + flood_started.elapsed().as_secs() as usize;
    assert!(
        unauthorized <= budget,
        "{unauthorized} garbage keys got past the edge budget of {budget}"
    );
    assert!(
        limited >= flood - budget,
        "only {limited} of {flood} refused at the edge"
    );
    assert!(
        last_retry_after > 600,
        "banned, not merely limited: Retry-After {last_retry_after}"
    );
    // The attacker is banned even with a valid key now; the bystander is not.
    let r = raw(
        gw.addr,
        &request(
            "GET",
            b"/meetings",
            &[h("x-forwarded-for", attacker), h("x-api-key", &good)],
            b"",
        ),
    )
    .await
    .expect("answer");
    assert_eq!(r.status, 429);
    // Only the bystander's key was ever resolved (once; then cached): malformed keys never
    // reached the store.
    assert_eq!(store.resolves.load(Ordering::SeqCst), 1);
    eprintln!(
        "flood: {flood} garbage requests, {unauthorized} × 401, {limited} × 429, 0 store lookups"
    );
    gw.shutdown().await;
}
