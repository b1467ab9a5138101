//! The meetings store on both backends: the one-live-bot and concurrency-cap rules hold under
//! concurrent requests, statuses change by compare-and-set, segments upsert by id.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use vexa_core::meeting::{
    CreateBotError, DataPatch, MeetingFilter, MeetingStatus, MeetingStore, NewMeeting, Platform,
    Segment, StatusUpdate, Webhook,
};
use vexa_core::{Timestamp, UserId};
use vexa_store::meetings::SqlMeetingStore;
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
            s.create_bot_meeting(&bot(7, &format!("m-{i}")), Some(2), Timestamp(i))
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

async fn only_one_live_bot_per_meeting_even_under_concurrency(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = Arc::new(SqlMeetingStore::new(t.db.clone()));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.create_bot_meeting(&bot(1, "same"), None, Timestamp(i))
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
        .create_bot_meeting(&bot(1, "k"), Some(1), Timestamp(1))
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
        .create_bot_meeting(&bot(1, "k"), Some(1), Timestamp(6))
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
        .create_bot_meeting(&bot(1, "p"), None, Timestamp(2))
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
        .create_bot_meeting(&bot(1, "s"), None, Timestamp(1))
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

async fn webhook_targets_round_trip(backend: Backend) {
    let t = TestDb::new(backend).await;
    let store = SqlMeetingStore::new(t.db.clone());
    assert_eq!(store.webhook(UserId(3)).await.expect("read"), None);
    let hook = Webhook {
        url: "https://x.example/h".into(),
        secret: Some("s3cret".into()),
        events: None,
    };
    store
        .set_webhook(UserId(3), &hook, Timestamp(1))
        .await
        .expect("write");
    assert_eq!(store.webhook(UserId(3)).await.expect("read"), Some(hook));
}

on_both_backends!(
    ten_concurrent_bot_requests_with_cap_two_create_exactly_two,
    only_one_live_bot_per_meeting_even_under_concurrency,
    a_terminal_meeting_frees_the_key_and_the_cap,
    a_planned_meeting_is_claimed_in_place_by_a_bot_request,
    segments_upsert_by_id_and_confirmed_text_is_not_replaced_by_a_draft,
    webhook_targets_round_trip,
);
