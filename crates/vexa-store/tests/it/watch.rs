//! The event follower sees changes made through another connection pool (another process's
//! view of the same database) promptly, on both backends.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vexa_core::{
    Email, IdentityChange, IdentityListener, IdentityStore, NewUser, Scope, Timestamp,
};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::{ConnectOptions, Db};
use vexa_testkit::keys::NewKeyBuilder;
use vexa_testkit::{on_both_backends, Backend, TestDb};

const NOW: Timestamp = Timestamp(1_700_000_000_000);

async fn wait_for(seen: &Mutex<Vec<IdentityChange>>, n: usize, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if seen.lock().expect("lock").len() >= n {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "only {:?} events after {within:?}",
            seen.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn user(store: &SqlIdentityStore, email: &str) -> vexa_core::User {
    let new = NewUser {
        email: Email::parse(email).expect("email"),
        name: None,
        image_url: None,
        max_concurrent_bots: 1,
    };
    store.create_or_find_user(&new, NOW).await.expect("user").0
}

type Seen = Arc<Mutex<Vec<IdentityChange>>>;

/// The follower's listener in these tests: records what it is told.
struct Recorder(Seen);

impl IdentityListener for Recorder {
    fn on_change(&self, change: &IdentityChange) {
        self.0.lock().expect("lock").push(change.clone());
    }
}

/// A follower on its own pool (another process's view of the database) that collects events.
async fn follow(
    url: &str,
    poll: Duration,
    cancel: &CancellationToken,
) -> (Seen, tokio::task::JoinHandle<()>) {
    let reader_db = Db::connect(url, &ConnectOptions::default())
        .await
        .expect("second pool");
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let follower = vexa_store::watch::spawn_event_follower(
        reader_db,
        Arc::new(Recorder(seen.clone())),
        poll,
        cancel.clone(),
    );
    // Let it take its starting position and LISTEN.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (seen, follower)
}

async fn follower_sees_other_writers_changes_in_order(backend: Backend) {
    let t = TestDb::new(backend).await;
    let writer = SqlIdentityStore::new(t.db.clone());
    let u = user(&writer, "w@acme.com").await;
    let (minted, new_key) = NewKeyBuilder::new(u.id, &[Scope::Bot])
        .created_at(NOW)
        .build();
    let rec = writer.insert_key(&new_key).await.expect("key");
    // An event from before the follower started is not replayed.
    writer
        .update_user(
            u.id,
            &vexa_core::UserPatch {
                max_concurrent_bots: Some(2),
                ..Default::default()
            },
        )
        .await
        .expect("patch");

    let cancel = CancellationToken::new();
    // A slow poll on PostgreSQL proves the notification path; SQLite relies on the poll.
    let poll = if t.db.backend() == vexa_store::Backend::Postgres {
        Duration::from_secs(30)
    } else {
        Duration::from_millis(50)
    };
    let (seen, follower) = follow(&t.url, poll, &cancel).await;

    writer
        .revoke_key(rec.id, NOW)
        .await
        .expect("revoke")
        .expect("live");
    let took = wait_for(&seen, 1, Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_secs(1),
        "{backend:?}: revocation seen after {took:?}"
    );
    writer.delete_user(u.id, NOW).await.expect("delete");
    wait_for(&seen, 2, Duration::from_secs(2)).await;

    let changes: Vec<IdentityChange> = seen.lock().expect("lock").clone();
    assert_eq!(
        changes,
        [
            IdentityChange::KeyRevoked(minted.digest),
            IdentityChange::UserChanged(u.id)
        ],
        "{backend:?}"
    );
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("follower stops")
        .expect("join");
}

#[tokio::test]
async fn postgres_follower_survives_a_dropped_listen_connection() {
    let t = TestDb::postgres().await;
    let writer = SqlIdentityStore::new(t.db.clone());
    let u = user(&writer, "x@acme.com").await;
    let cancel = CancellationToken::new();
    let (seen, _follower) = follow(&t.url, Duration::from_millis(200), &cancel).await;
    // Kill every LISTEN backend of this database: the follower must still see the next change.
    let db_name = t.url.rsplit('/').next().expect("db name").to_owned();
    let vexa_store::Db::Postgres(pool) = &t.db else {
        panic!("postgres test database")
    };
    {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'")
            .bind(&db_name)
            .execute(pool)
            .await
            .expect("terminate");
    }
    writer
        .update_user(
            u.id,
            &vexa_core::UserPatch {
                max_concurrent_bots: Some(4),
                ..Default::default()
            },
        )
        .await
        .expect("patch");
    let took = wait_for(&seen, 1, Duration::from_secs(3)).await;
    assert!(took < Duration::from_secs(1), "seen after {took:?}");
    cancel.cancel();
}

/// The follower publishes the low-water mark it reached (what a gateway's heartbeat reports),
/// and the registry dates the oldest event a replica has not applied from the event log.
async fn follower_progress_and_the_registry_agree_on_lag(backend: Backend) {
    use vexa_core::replica::ReplicaBeat;
    use vexa_store::watch::{spawn_event_follower_with_progress, FollowerProgress};

    let t = TestDb::new(backend).await;
    let writer = SqlIdentityStore::new(t.db.clone());
    let u = user(&writer, "lag@acme.com").await;
    let (_, new_key) = NewKeyBuilder::new(u.id, &[Scope::Bot])
        .created_at(NOW)
        .build();
    let rec = writer.insert_key(&new_key).await.expect("key");
    let start = writer.latest_event_seq().await.expect("seq");

    let reader_db = Db::connect(&t.url, &ConnectOptions::default())
        .await
        .expect("second pool");
    let cancel = CancellationToken::new();
    let progress = Arc::new(FollowerProgress::default());
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let follower = spawn_event_follower_with_progress(
        reader_db,
        Arc::new(Recorder(seen.clone())),
        Duration::from_millis(50),
        cancel.clone(),
        progress.clone(),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while progress.get().is_none() {
        assert!(
            Instant::now() < deadline,
            "the follower never took its position"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(progress.get().map(|(seq, _)| seq), Some(start));

    let beat = |applied_seq: i64| ReplicaBeat {
        id: "r1".into(),
        host: "h".into(),
        pid: 1,
        addr: "127.0.0.1:1".into(),
        started_at: NOW,
        last_seen: NOW,
        heartbeat_ms: 1000,
        cache_entries: 3,
        applied_seq,
        applied_at: Some(NOW),
    };
    let revoked_at = Timestamp(NOW.0 + 5_000);
    writer
        .revoke_key(rec.id, revoked_at)
        .await
        .expect("revoke")
        .expect("live");
    writer
        .record_replica(&beat(start), Timestamp(0))
        .await
        .expect("beat");
    let rows = writer.replicas().await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].beat, beat(start));
    assert_eq!(rows[0].oldest_unapplied_at, Some(revoked_at));

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match progress.get() {
            Some((seq, at)) if seq == start + 1 => {
                assert!(at > 0, "applied at a wall-clock time");
                break;
            }
            other => assert!(Instant::now() < deadline, "progress stuck at {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer
        .record_replica(&beat(start + 1), Timestamp(0))
        .await
        .expect("beat");
    let rows = writer.replicas().await.expect("list");
    assert_eq!(rows.len(), 1, "one row per replica id");
    assert_eq!(rows[0].oldest_unapplied_at, None, "up to date");
    assert_eq!(rows[0].beat.applied_seq, start + 1);

    cancel.cancel();
    follower.await.expect("follower");
}

on_both_backends!(
    follower_sees_other_writers_changes_in_order,
    follower_progress_and_the_registry_agree_on_lag,
);
