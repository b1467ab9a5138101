//! A mint that answered 201 survives `kill -9` of the server the next instant, on both backends.

mod common;

use common::{auth_me_status, database_url, mint, start_up, StackEnv};

async fn mint_survives_kill_9(backend: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let env = StackEnv::new(dir.path(), &database_url(backend, dir.path()).await);
    let mut up = start_up(&env).await;
    let (_, _, key) = mint(&env, "durable@acme.com", "bot,tx").await;
    up.child.kill().expect("SIGKILL");
    let _ = up.child.wait();
    drop(up);

    let _again = start_up(&env).await;
    assert_eq!(
        auth_me_status(&env.gateway(), &key).await,
        200,
        "{backend}: minted key lost"
    );
}

#[tokio::test]
async fn a_minted_key_survives_kill_9_on_sqlite() {
    mint_survives_kill_9("sqlite").await;
}

#[tokio::test]
async fn a_minted_key_survives_kill_9_on_postgres() {
    mint_survives_kill_9("postgres").await;
}
