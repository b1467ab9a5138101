//! Two gateway replicas sharing PostgreSQL: a revocation served by the admin API stops the key on
//! both within one second.

use std::time::{Duration, Instant};

use vexa_testkit::stack::{auth_me_status, database_url, free_port, mint, wait_ok, StackEnv};
use vexa_testkit::{Backend, ADMIN_TOKEN};

use crate::support::VEXA;

#[tokio::test]
async fn revoked_key_is_rejected_on_every_gateway_within_one_second() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = database_url(Backend::Postgres, dir.path()).await;
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let mut replica = env.clone();
    replica.set("API_GATEWAY_HOST_PORT", &free_port().to_string());

    let mut admin = env.spawn("admin-api", "admin");
    let mut g1 = env.spawn("gateway", "gateway1");
    let mut g2 = replica.spawn("gateway", "gateway2");
    wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(30)).await;
    wait_ok(
        &format!("{}/health", env.gateway()),
        Duration::from_secs(30),
    )
    .await;
    wait_ok(
        &format!("{}/health", replica.gateway()),
        Duration::from_secs(30),
    )
    .await;

    let (_, key_id, key) = mint(&env, "replicas@acme.com", "bot").await;
    assert_eq!(auth_me_status(&env.gateway(), &key).await, 200);
    assert_eq!(auth_me_status(&replica.gateway(), &key).await, 200);

    let revoked = reqwest::Client::new()
        .delete(format!("{}/admin/tokens/{key_id}", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 204);
    let t0 = Instant::now();
    for gateway in [env.gateway(), replica.gateway()] {
        loop {
            if auth_me_status(&gateway, &key).await == 401 {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "{gateway} still accepts the key after {:?}",
                t0.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for child in [&mut admin, &mut g1, &mut g2] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
