//! The meetings store on both backends: the one-live-bot and concurrency-cap rules hold under
//! concurrent requests, statuses change by compare-and-set, segments upsert by id.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use vexa_core::meeting::{
    BotCaps, CreateBotError, DataPatch, MeetingFilter, MeetingStatus, MeetingStore, NewMeeting,
    Platform, Segment, StatusUpdate, Webhook,
};
use vexa_core::{Email, IdentityStore, KeyId, NewUser, Timestamp, UserId, UserPatch};
use vexa_store::identity::SqlIdentityStore;
use vexa_store::meetings::SqlMeetingStore;
use vexa_store::{ConnectOptions, Db};
use vexa_testkit::{on_both_backends, Backend, TestDb};

fn bot(user: i64, native: &str) -> NewMeeting {
    NewMeeting {
        user_id: UserId(user),
        platform: Platform::GoogleMeet,
        native_meeting_id: Some(native.to_owned()),
        status: MeetingStatus::Requested,
        data: Map::new(),
    }
}

fn seg(id: &str, text: &str, completed: bool) -> Segment {
    Segment {
        segment_id: id.into(),
        session_uid: None,
        speaker: Some("Alice".into()),
        text: text.into(),
        start: 1.0,
        end: 2.0,
        language: Some("en".into()),
        completed,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    }
}

async fn ten_concurrent_bot_requests_with_cap_two_create_exactly_two(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = Arc::new(SqlMeetingStore::new(t.db.clone()));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create_bot_meeting(
                &bot(7, &format!("m-{i}")),
                &BotCaps::user(Some(2)),
                Timestamp(i),
            )
            .await
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => ok += 1,
            Err(CreateBotError::LimitReached(2)) => limited += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((ok, limited), (2, 8), "{}", t.url);
}

/// A key's cap counts only the bots started with that key, under the user's lock: ten
/// concurrent requests with a key capped at one start exactly one, while the user's other key
/// still starts bots up to the user's cap.
async fn a_keys_cap_counts_its_own_bots_inside_the_users_cap(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = Arc::new(SqlMeetingStore::new(t.db.clone()));
    let capped = BotCaps {
        user: Some(3),
        key_id: Some(KeyId(41)),
        key: Some(1),
    };
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create_bot_meeting(&bot(7, &format!("k-{i}")), &capped, Timestamp(i))
                .await
        }));
    }
    let mut outcomes = (0, 0);
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => outcomes.0 += 1,
            Err(CreateBotError::LimitReached(1)) => outcomes.1 += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(outcomes, (1, 9), "{}", t.url);
    let other = BotCaps {
        key_id: Some(KeyId(42)),
        key: None,
        ..capped
    };
    for native in ["o-1", "o-2"] {
        assert!(store
            .create_bot_meeting(&bot(7, native), &other, Timestamp(20))
            .await
            .is_ok());
    }
    assert!(matches!(
        store
            .create_bot_meeting(&bot(7, "o-3"), &other, Timestamp(21))
            .await,
        Err(CreateBotError::LimitReached(3))
    ));
    // A cap of 0 on a key refuses its first bot; another user's key 41 counts separately.
    let zero = BotCaps {
        user: None,
        key_id: Some(KeyId(43)),
        key: Some(0),
    };
    assert!(matches!(
        store
            .create_bot_meeting(&bot(8, "z"), &zero, Timestamp(22))
            .await,
        Err(CreateBotError::LimitReached(0))
    ));
    assert!(store
        .create_bot_meeting(&bot(9, "z"), &capped, Timestamp(23))
        .await
        .is_ok());
}

async fn only_one_live_bot_per_meeting_even_under_concurrency(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = Arc::new(SqlMeetingStore::new(t.db.clone()));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create_bot_meeting(&bot(1, "same"), &BotCaps::default(), Timestamp(i))
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(_) => ok += 1,
            Err(CreateBotError::AlreadyActive) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1, "{}", t.url);
}

async fn a_terminal_meeting_frees_the_key_and_the_cap(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlMeetingStore::new(t.db.clone());
    let m = store
        .create_bot_meeting(&bot(1, "k"), &BotCaps::user(Some(1)), Timestamp(1))
        .await
        .expect("create");
    let upd = |from, to| StatusUpdate {
        from,
        to,
        completion_reason: None,
        failure_stage: None,
        data: DataPatch::new(),
        now: Timestamp(5),
    };
    assert!(store
        .update_status(m.id, &upd(MeetingStatus::Active, MeetingStatus::Failed))
        .await
        .expect("cas")
        .is_none());
    let done = store
        .update_status(m.id, &upd(MeetingStatus::Requested, MeetingStatus::Failed))
        .await
        .expect("cas");
    assert_eq!(
        done.map(|m| (m.status, m.end_time)),
        Some((MeetingStatus::Failed, Some(Timestamp(5))))
    );
    assert!(store
        .create_bot_meeting(&bot(1, "k"), &BotCaps::user(Some(1)), Timestamp(6))
        .await
        .is_ok());
    let latest = store
        .latest_for_key(UserId(1), Platform::GoogleMeet, "k")
        .await
        .expect("latest");
    assert_eq!(latest.map(|m| m.status), Some(MeetingStatus::Requested));
}

async fn a_planned_meeting_is_claimed_in_place_by_a_bot_request(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlMeetingStore::new(t.db.clone());
    let mut plan = bot(1, "p");
    plan.status = MeetingStatus::Idle;
    plan.data = json!({"title": "Weekly"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let planned = store
        .create_planned(&plan, Timestamp(1))
        .await
        .expect("plan");
    let claimed = store
        .create_bot_meeting(&bot(1, "p"), &BotCaps::default(), Timestamp(2))
        .await
        .expect("claim");
    assert_eq!(claimed.id, planned.id);
    assert_eq!(claimed.status, MeetingStatus::Requested);
    assert_eq!(claimed.data.get("title"), Some(&Value::from("Weekly")));
    let list = store
        .list(
            UserId(1),
            &MeetingFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
}

async fn segments_upsert_by_id_and_confirmed_text_is_not_replaced_by_a_draft(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlMeetingStore::new(t.db.clone());
    let m = store
        .create_bot_meeting(&bot(1, "s"), &BotCaps::default(), Timestamp(1))
        .await
        .expect("create");
    store
        .upsert_segments(m.id, &[seg("a", "hel", false)])
        .await
        .expect("draft");
    store
        .upsert_segments(m.id, &[seg("a", "hello", true)])
        .await
        .expect("confirm");
    store
        .upsert_segments(m.id, &[seg("a", "stale draft", false)])
        .await
        .expect("late draft");
    let got = store.segments(m.id).await.expect("read");
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].text.as_str(), got[0].completed), ("hello", true));
}

fn user(email: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).expect("valid email"),
        name: None,
        image_url: None,
        max_concurrent_bots: 3,
    }
}

/// The target is read from the user's `data`, where the admin API writes it.
async fn the_webhook_target_is_read_from_the_users_data(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlMeetingStore::new(t.db.clone());
    let ids = SqlIdentityStore::new(t.db.clone());
    let (u, _) = ids
        .create_or_find_user(&user("hook@acme.example"), Timestamp(1))
        .await
        .expect("user");
    assert_eq!(store.webhook(u.id).await.expect("read"), None);
    assert_eq!(store.webhook(UserId(999)).await.expect("read"), None);
    let data =
        json!({"webhook_url": "https://x.example/h", "webhook_secret": "s3cret", "plan": "pro"});
    ids.update_user(
        u.id,
        &UserPatch {
            data: data.as_object().cloned(),
            ..UserPatch::default()
        },
    )
    .await
    .expect("write")
    .expect("exists");
    let hook = Webhook {
        url: "https://x.example/h".into(),
        secret: Some("s3cret".into()),
        events: None,
    };
    assert_eq!(store.webhook(u.id).await.expect("read"), Some(hook));
}

/// Migration 4 on a database that has a `user_webhooks` row (the schema before it): the row's
/// target lands in the user's `data`, the user's other keys survive, the table is gone.
async fn migration_4_moves_webhook_rows_into_the_users_data(backend: Backend) {
    let t = TestDb::new(backend).await;
    let ids = SqlIdentityStore::new(t.db.clone());
    let mut made = Vec::new();
    for email in ["a@acme.example", "b@acme.example", "c@acme.example"] {
        let (u, _) = ids
            .create_or_find_user(&user(email), Timestamp(1))
            .await
            .expect("user");
        made.push(u.id);
    }
    let keep = json!({"subscription_tier": "pro"});
    ids.update_user(
        made[0],
        &UserPatch {
            data: keep.as_object().cloned(),
            ..UserPatch::default()
        },
    )
    .await
    .expect("write");
    // Back to the schema before migration 4 (0002's table, verbatim), with rows in it.
    let before = [
        "CREATE TABLE user_webhooks (user_id BIGINT PRIMARY KEY, url TEXT NOT NULL, secret TEXT, \
         events TEXT, updated_at BIGINT NOT NULL)",
        "DELETE FROM vexa_migrations WHERE version = 4",
    ];
    let rows = [
        (
            made[0].0,
            "https://a.example/h",
            Some("whsec_a"),
            Some(r#"{"bot.failed":true}"#),
        ),
        (made[1].0, "https://b.example/h", Some(""), None),
        (424_242, "https://gone.example/h", None, None),
    ];
    for sql in before {
        exec(&t.db, sql).await;
    }
    for (id, url, secret, events) in rows {
        let sql = "INSERT INTO user_webhooks (user_id, url, secret, events, updated_at) VALUES ($1, $2, $3, $4, 1)";
        match &t.db {
            Db::Sqlite(p) => sqlx::query(sql)
                .bind(id)
                .bind(url)
                .bind(secret)
                .bind(events)
                .execute(p)
                .await
                .map(|_| ()),
            Db::Postgres(p) => sqlx::query(sql)
                .bind(id)
                .bind(url)
                .bind(secret)
                .bind(events)
                .execute(p)
                .await
                .map(|_| ()),
        }
        .expect("insert a pre-migration row");
    }
    t.db.close().await;

    let db = Db::connect(&t.url, &ConnectOptions::default())
        .await
        .expect("migrates");
    let ids = SqlIdentityStore::new(db.clone());
    let store = SqlMeetingStore::new(db.clone());
    let a = ids.user(made[0]).await.expect("read").expect("a");
    assert_eq!(
        Value::Object(a.data),
        json!({"subscription_tier": "pro", "webhook_url": "https://a.example/h", "webhook_secret": "whsec_a", "webhook_events": {"bot.failed": true}})
    );
    let b = ids.user(made[1]).await.expect("read").expect("b");
    assert_eq!(
        Value::Object(b.data),
        json!({"webhook_url": "https://b.example/h"})
    );
    let c = ids.user(made[2]).await.expect("read").expect("c");
    assert_eq!(Value::Object(c.data), json!({}));
    let hook = store
        .webhook(made[0])
        .await
        .expect("read")
        .expect("a's target");
    assert_eq!(hook.secret.as_deref(), Some("whsec_a"));
    assert!(hook.wants("bot.failed"));
    let gone = match &db {
        Db::Sqlite(p) => sqlx::query("SELECT 1 FROM user_webhooks")
            .execute(p)
            .await
            .is_err(),
        Db::Postgres(p) => sqlx::query("SELECT 1 FROM user_webhooks")
            .execute(p)
            .await
            .is_err(),
    };
    assert!(gone, "user_webhooks is dropped");
}

async fn exec(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

on_both_backends!(
    ten_concurrent_bot_requests_with_cap_two_create_exactly_two,
    a_keys_cap_counts_its_own_bots_inside_the_users_cap,
    only_one_live_bot_per_meeting_even_under_concurrency,
    a_terminal_meeting_frees_the_key_and_the_cap,
    a_planned_meeting_is_claimed_in_place_by_a_bot_request,
    segments_upsert_by_id_and_confirmed_text_is_not_replaced_by_a_draft,
    the_webhook_target_is_read_from_the_users_data,
    migration_4_moves_webhook_rows_into_the_users_data,
);
