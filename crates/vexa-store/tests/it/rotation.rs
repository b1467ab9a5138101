//! Rotation in the store (both backends): one transaction that claims the old key, stores the
//! replacement and records the event; of concurrent rotations of one key exactly one writes;
//! the events other processes follow say `KeyChanged` (grace) or `KeyRevoked` (none).

use std::sync::Arc;

use vexa_core::rotate::{rotate_key, Grace, RotateError};
use vexa_core::{
    Email, IdentityChange, IdentityStore, KeyDigest, KeyId, Lifetime, NewUser, Scope, Timestamp,
};
use vexa_store::identity::SqlIdentityStore;
use vexa_testkit::keys::NewKeyBuilder;
use vexa_testkit::{on_both_backends, Backend, TestDb};

const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn grace(secs: i64) -> Grace {
    Grace::parse(Some(Lifetime::Seconds(secs))).expect("grace")
}

/// A store with one user and one key; returns (store, key id, key digest).
async fn one_key(t: &TestDb) -> (Arc<SqlIdentityStore>, KeyId, KeyDigest) {
    let store = Arc::new(SqlIdentityStore::new(t.db.clone()));
    let (u, _) = store
        .create_or_find_user(
            &NewUser {
                email: Email::parse("rot@acme.com").expect("email"),
                name: None,
                image_url: None,
                max_concurrent_bots: 3,
            },
            NOW,
        )
        .await
        .expect("user");
    let (minted, new) = NewKeyBuilder::new(u.id, &[Scope::Bot])
        .created_at(NOW)
        .build();
    let rec = store.insert_key(&new).await.expect("insert");
    (store, rec.id, minted.digest)
}

async fn concurrent_rotations_of_one_key_write_exactly_one_replacement(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (store, id, _) = one_key(&t).await;
    let seq0 = store.latest_event_seq().await.expect("seq");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { rotate_key(store.as_ref(), id, grace(60), NOW, &admin()).await },
            )
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(RotateError::AlreadyRotated) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1, "one rotation wins, the others see it rotated");
    let user = store
        .key(id)
        .await
        .expect("read")
        .expect("row")
        .record
        .user_id;
    let keys = store.list_keys(user).await.expect("list").expect("user");
    assert_eq!(
        keys.len(),
        2,
        "the old key and one replacement, no orphan rows"
    );
    let events = store.events_since(seq0, 100).await.expect("events");
    assert_eq!(events.len(), 1, "one event for the one rotation");
}

async fn the_event_says_changed_with_grace_and_revoked_without(backend: Backend) {
    let t = TestDb::new(backend).await;
    let (store, id, digest) = one_key(&t).await;
    let seq0 = store.latest_event_seq().await.expect("seq");
    let with_grace = rotate_key(store.as_ref(), id, grace(60), NOW, &admin())
        .await
        .expect("rotate");
    assert_eq!(with_grace.change, IdentityChange::KeyChanged(digest));
    let p = store
        .resolve_key(&digest)
        .await
        .expect("resolve")
        .expect("still valid");
    assert_eq!(p.retires_at, Some(NOW.plus_secs(60)));
    let next = with_grace.record.id;
    let no_grace = rotate_key(store.as_ref(), next, Grace::NONE, NOW, &admin())
        .await
        .expect("rotate");
    assert_eq!(
        no_grace.change,
        IdentityChange::KeyRevoked(with_grace.key.digest)
    );
    assert_eq!(
        store
            .resolve_key(&with_grace.key.digest)
            .await
            .expect("resolve"),
        None
    );
    let changes: Vec<IdentityChange> = store
        .events_since(seq0, 100)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.change)
        .collect();
    assert_eq!(
        changes,
        [
            IdentityChange::KeyChanged(digest),
            IdentityChange::KeyRevoked(with_grace.key.digest)
        ],
        "what other processes' followers read"
    );
}

on_both_backends!(
    concurrent_rotations_of_one_key_write_exactly_one_replacement,
    the_event_says_changed_with_grace_and_revoked_without,
);

/// Rotations here are admin mutations, recorded as the admin API would record them.
fn admin() -> vexa_core::AuditContext {
    vexa_core::AuditContext::local(vexa_core::AuditActor::AdminApi)
}
