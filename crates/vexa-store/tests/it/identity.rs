//! The identity store's contract, run against both backends.

use std::sync::Arc;

use serde_json::json;
use vexa_core::{
    Email, IdentityChange, IdentityStore, KeyDigest, KeyId, MintedKey, NewKey, NewUser, Scope,
    StoreError, Timestamp, UserId, UserPatch,
};
use vexa_store::identity::SqlIdentityStore;
use vexa_testkit::keys::NewKeyBuilder;
use vexa_testkit::{on_both_backends, Backend, TestDb};

const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).expect("valid email"),
        name: Some("Jane".into()),
        image_url: None,
        max_concurrent_bots: 3,
    }
}

fn new_key(user: UserId, scopes: &[Scope], expires_at: Option<Timestamp>) -> (MintedKey, NewKey) {
    NewKeyBuilder::new(user, scopes)
        .name("ci")
        .created_at(NOW)
        .expires_at(expires_at)
        .build()
}

async fn users_are_found_or_created_case_insensitively(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    let (u, created) = store
        .create_or_find_user(&new_user("Jane@Acme.com"), NOW)
        .await
        .expect("create");
    assert!(created);
    assert_eq!(u.email, "Jane@Acme.com");
    assert_eq!(u.created_at, NOW);
    let (again, created) = store
        .create_or_find_user(&new_user("jane@acme.COM"), NOW)
        .await
        .expect("find");
    assert!(!created);
    assert_eq!(again, u);
    let by_email = store
        .user_by_email(&Email::parse("JANE@acme.com").expect("email"))
        .await
        .expect("get");
    assert_eq!(by_email.as_ref(), Some(&u));
    assert_eq!(store.user(u.id).await.expect("get"), Some(u.clone()));
    assert_eq!(store.user(UserId(999_999)).await.expect("get"), None);
}

async fn concurrent_creates_of_one_email_give_one_user(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = Arc::new(SqlIdentityStore::new(t.db.clone()));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = store.clone();
        let email = if i % 2 == 0 {
            "race@acme.com"
        } else {
            "RACE@acme.com"
        };
        tasks.push(tokio::spawn(async move {
            s.create_or_find_user(&new_user(email), NOW).await
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let (u, c) = task.await.expect("join").expect("create");
        ids.push(u.id);
        created += usize::from(c);
    }
    assert_eq!(created, 1, "exactly one create wins");
    assert!(ids.iter().all(|id| *id == ids[0]));
    let (_, total) = store.list_users(0, 100).await.expect("list");
    assert_eq!(total, 1);
}

async fn listing_pages_oldest_first_with_total(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    for i in 0..5 {
        store
            .create_or_find_user(&new_user(&format!("u{i}@acme.com")), NOW)
            .await
            .expect("create");
    }
    let (page, total) = store.list_users(1, 2).await.expect("list");
    assert_eq!(total, 5);
    let emails: Vec<_> = page.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["u1@acme.com", "u2@acme.com"]);
    let (past_end, _) = store.list_users(10, 2).await.expect("list");
    assert!(past_end.is_empty());
}

async fn patches_merge_data_and_record_an_event(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    let (u, _) = store
        .create_or_find_user(&new_user("p@acme.com"), NOW)
        .await
        .expect("create");
    let before = store.latest_event_seq().await.expect("seq");
    let mut patch = UserPatch {
        max_concurrent_bots: Some(7),
        data: json!({"a": 1}).as_object().cloned(),
        ..UserPatch::default()
    };
    store
        .update_user(u.id, &patch)
        .await
        .expect("update")
        .expect("exists");
    patch = UserPatch {
        name: Some(None),
        data: json!({"b": {"c": 2}}).as_object().cloned(),
        ..UserPatch::default()
    };
    let after = store
        .update_user(u.id, &patch)
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(after.max_concurrent_bots, 7);
    assert_eq!(after.name, None);
    assert_eq!(
        serde_json::Value::Object(after.data.clone()),
        json!({"a": 1, "b": {"c": 2}})
    );
    assert_eq!(store.user(u.id).await.expect("get"), Some(after));
    let events = store.events_since(before, 10).await.expect("events");
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.change == IdentityChange::UserChanged(u.id)));
    assert_eq!(
        store
            .update_user(UserId(424_242), &patch)
            .await
            .expect("update"),
        None
    );
}

async fn keys_resolve_by_digest_until_revoked(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    let (u, _) = store
        .create_or_find_user(&new_user("k@acme.com"), NOW)
        .await
        .expect("create");
    let exp = Timestamp(NOW.0 + 60_000);
    let (minted, key) = new_key(u.id, &[Scope::Bot, Scope::Tx], Some(exp));
    let rec = store.insert_key(&key).await.expect("insert");
    assert_eq!(rec.prefix, minted.display_prefix);
    assert_eq!(rec.last_used_at, None);

    let p = store
        .resolve_key(&minted.digest)
        .await
        .expect("resolve")
        .expect("live");
    assert_eq!(p.user_id, u.id);
    assert_eq!(&*p.email, "k@acme.com");
    assert_eq!(p.scopes.to_csv(), "bot,tx");
    assert_eq!(p.key_id, rec.id);
    assert_eq!(p.expires_at, Some(exp));
    assert_eq!(
        store
            .resolve_key(&KeyDigest::of("vxa_bot_unknown"))
            .await
            .expect("resolve"),
        None
    );

    store
        .record_key_use(&[
            (rec.id, Timestamp(NOW.0 + 5)),
            (rec.id, Timestamp(NOW.0 + 3)),
        ])
        .await
        .expect("use");
    let keys = store.list_keys(u.id).await.expect("list").expect("user");
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].last_used_at,
        Some(Timestamp(NOW.0 + 5)),
        "last use never moves backwards"
    );

    let before = store.latest_event_seq().await.expect("seq");
    assert_eq!(
        store.revoke_key(rec.id, NOW).await.expect("revoke"),
        Some(minted.digest)
    );
    assert_eq!(
        store.revoke_key(rec.id, NOW).await.expect("revoke"),
        None,
        "second revoke is a 404"
    );
    assert_eq!(
        store.resolve_key(&minted.digest).await.expect("resolve"),
        None
    );
    assert!(store
        .list_keys(u.id)
        .await
        .expect("list")
        .expect("user")
        .is_empty());
    let events = store.events_since(before, 10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].change, IdentityChange::KeyRevoked(minted.digest));
    assert_eq!(
        store.revoke_key(KeyId(987_654), NOW).await.expect("revoke"),
        None
    );
}

async fn a_key_for_a_missing_user_is_not_found_and_digests_are_unique(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    let (_, orphan) = new_key(UserId(31_337), &[Scope::Tx], None);
    assert!(matches!(
        store.insert_key(&orphan).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list_keys(UserId(31_337)).await.expect("list"), None);

    let (u, _) = store
        .create_or_find_user(&new_user("d@acme.com"), NOW)
        .await
        .expect("create");
    let (_, key) = new_key(u.id, &[Scope::Tx], None);
    store.insert_key(&key).await.expect("insert");
    assert!(matches!(
        store.insert_key(&key).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn deleting_a_user_kills_every_key_and_records_it(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    let (u, _) = store
        .create_or_find_user(&new_user("del@acme.com"), NOW)
        .await
        .expect("create");
    let (m1, k1) = new_key(u.id, &[Scope::Bot], None);
    let (m2, k2) = new_key(u.id, &[Scope::Browser], None);
    store.insert_key(&k1).await.expect("insert");
    store.insert_key(&k2).await.expect("insert");
    let before = store.latest_event_seq().await.expect("seq");
    assert!(store.delete_user(u.id, NOW).await.expect("delete"));
    assert!(!store.delete_user(u.id, NOW).await.expect("delete"));
    assert_eq!(store.resolve_key(&m1.digest).await.expect("resolve"), None);
    assert_eq!(store.resolve_key(&m2.digest).await.expect("resolve"), None);
    assert_eq!(store.user(u.id).await.expect("get"), None);
    let events = store.events_since(before, 10).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.change.clone()).collect::<Vec<_>>(),
        [IdentityChange::UserChanged(u.id)]
    );
    // The email is free again.
    let (again, created) = store
        .create_or_find_user(&new_user("del@acme.com"), NOW)
        .await
        .expect("create");
    assert!(created);
    assert_ne!(again.id, u.id);
}

async fn the_secret_never_reaches_the_database(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    let (u, _) = store
        .create_or_find_user(&new_user("s@acme.com"), NOW)
        .await
        .expect("create");
    let (minted, key) = new_key(u.id, &[Scope::Bot], None);
    store.insert_key(&key).await.expect("insert");
    let rows: Vec<(String, String)> = vexa_store::with_pool!(&t.db, p => {
        sqlx::query_as("SELECT digest, prefix FROM api_keys").fetch_all(p).await.expect("select")
    });
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, minted.digest.to_hex());
    assert!(minted.expose_secret().starts_with(&rows[0].1));
    assert!(
        rows[0].1.len() < minted.expose_secret().len() / 2,
        "only a short display prefix is kept"
    );
}

async fn ping_answers_and_a_closed_pool_is_unavailable(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    store.ping().await.expect("ping");
    t.db.close().await;
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
}

async fn old_identity_events_are_pruned_beyond_the_retention(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone()).with_event_retention(10);
    let (u, _) = store
        .create_or_find_user(&new_user("prune@acme.com"), NOW)
        .await
        .expect("create");
    let patch = UserPatch {
        max_concurrent_bots: Some(1),
        ..UserPatch::default()
    };
    // Pruning runs on every 256th event; go past it.
    for _ in 0..260 {
        store
            .update_user(u.id, &patch)
            .await
            .expect("update")
            .expect("exists");
    }
    let latest = store.latest_event_seq().await.expect("seq");
    assert_eq!(latest, 260);
    let kept = store.events_since(0, 1000).await.expect("events");
    assert_eq!(
        kept.first().map(|e| e.seq),
        Some(247),
        "events up to 256 - 10 are gone"
    );
    assert_eq!(kept.len(), 14);
}

async fn key_activity_adds_counts_and_notes_the_newest_use_in_one_batch(backend: Backend) {
    use vexa_core::usage::{KeyUse, Outcome, UsageCount};
    let t = TestDb::new(backend).await;
    let store = SqlIdentityStore::new(t.db.clone());
    let (u, _) = store
        .create_or_find_user(&new_user("usage@acme.com"), NOW)
        .await
        .expect("user");
    let (_, k) = new_key(u.id, &[Scope::Tx], None);
    let rec = store.insert_key(&k).await.expect("insert");
    let hour = Timestamp(NOW.0 - NOW.0.rem_euclid(3_600_000));
    let count = |outcome, count| UsageCount {
        key_id: rec.id,
        hour,
        outcome,
        count,
    };
    let client = "127.0.0.1".parse().ok();
    // Two flushes (two replicas, or one replica twice) add to the same rows.
    for at in [NOW.0 + 5, NOW.0 + 3] {
        store
            .record_key_activity(
                &[KeyUse {
                    key_id: rec.id,
                    at: Timestamp(at),
                    client,
                }],
                &[count(Outcome::Allowed, 4), count(Outcome::Scope, 1)],
            )
            .await
            .expect("flush");
    }
    // Counts of a key that is gone are dropped, not an error that would block every flush.
    let gone = UsageCount {
        key_id: KeyId(rec.id.0 + 1000),
        ..count(Outcome::Expired, 1)
    };
    store
        .record_key_activity(&[], &[gone])
        .await
        .expect("dropped");

    let mut rows = store
        .key_usage(rec.id, hour)
        .await
        .expect("usage")
        .expect("key exists");
    rows.sort_by_key(|r| r.outcome);
    assert_eq!(
        rows,
        vec![count(Outcome::Allowed, 8), count(Outcome::Scope, 2)]
    );
    assert_eq!(
        store
            .key_usage(rec.id, Timestamp(hour.0 + 1))
            .await
            .expect("usage"),
        Some(vec![]),
        "rows before `since` are left out"
    );
    assert_eq!(
        store.key_usage(gone.key_id, hour).await.expect("usage"),
        None
    );
    assert_eq!(
        store.user_key_usage(u.id, hour).await.expect("usage").len(),
        2
    );

    store.revoke_key(rec.id, NOW).await.expect("revoke");
    assert!(store
        .list_keys(u.id)
        .await
        .expect("list")
        .expect("user")
        .is_empty());
    let all = store
        .list_keys_with_revoked(u.id)
        .await
        .expect("list")
        .expect("user");
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].last_used_at,
        Some(Timestamp(NOW.0 + 5)),
        "newest use wins"
    );
    assert_eq!(all[0].last_client.as_deref(), Some("127.0.0.1"));
    assert_eq!(all[0].revoked_at, Some(NOW));
    assert_eq!(
        store
            .key_usage(rec.id, hour)
            .await
            .expect("usage")
            .map(|r| r.len()),
        Some(2),
        "a revoked key keeps its usage"
    );
}

on_both_backends!(
    key_activity_adds_counts_and_notes_the_newest_use_in_one_batch,
    users_are_found_or_created_case_insensitively,
    concurrent_creates_of_one_email_give_one_user,
    listing_pages_oldest_first_with_total,
    patches_merge_data_and_record_an_event,
    keys_resolve_by_digest_until_revoked,
    a_key_for_a_missing_user_is_not_found_and_digests_are_unique,
    deleting_a_user_kills_every_key_and_records_it,
    the_secret_never_reaches_the_database,
    ping_answers_and_a_closed_pool_is_unavailable,
    old_identity_events_are_pruned_beyond_the_retention,
);
