//! A mint that answered 201 survives `kill -9` of the server the next instant, on both backends.

use vexa_testkit::stack::{auth_me_status, database_url, mint, start_up, StackEnv};
use vexa_testkit::{on_both_backends, Backend};

use crate::support::VEXA;

async fn a_minted_key_survives_kill_9(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let env = StackEnv::new(VEXA, dir.path(), &database_url(backend, dir.path()).await);
    let mut up = start_up(&env).await;
    let (_, _, key) = mint(&env, "durable@acme.com", "bot,tx").await;
    up.child.kill().expect("SIGKILL");
    let _ = up.child.wait();
    drop(up);

    let _again = start_up(&env).await;
    assert_eq!(
        auth_me_status(&env.gateway(), &key).await,
        200,
        "{backend:?}: minted key lost"
    );
}

on_both_backends!(a_minted_key_survives_kill_9);
