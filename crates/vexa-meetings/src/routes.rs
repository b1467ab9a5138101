//! The router: public routes (gateway only, `X-Internal-Secret` + identity headers), the bot
//! protocol under `/internal/bot/*` (bot token), and `/health`. Handlers are thin.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::caller::Caller;
use crate::error::Result;
use crate::meetings::{self as mt, Deleted};
use crate::state::AppState;
use crate::{bots, internal, ws};

type Q = Query<HashMap<String, String>>;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { Json(json!({"status": "ok", "service": "meetings"})) }),
        )
        .route("/bots", post(post_bot).get(list_bots))
        .route("/bots/status", get(bots_status))
        .route(
            "/bots/{platform}/{native}",
            axum::routing::delete(delete_bot),
        )
        .route("/bots/{platform}/{native}/config", put(put_config))
        .route("/meetings", get(list_meetings).post(post_meeting))
        .route(
            "/meetings/{id}",
            get(get_meeting).patch(patch_meeting).delete(delete_meeting),
        )
        .route(
            "/meetings/{platform}/{native}",
            axum::routing::patch(patch_by_key).delete(delete_by_key),
        )
        .route("/transcripts/by-id/{id}", get(transcript_by_id))
        .route("/transcripts/{platform}/{native}", get(transcript_by_key))
        .route("/user/webhook", get(get_webhook).put(put_webhook))
        .route("/ws", get(ws::upgrade))
        .route("/internal/bot/lifecycle", post(internal::lifecycle))
        .route("/internal/bot/segments", post(internal::segments))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))) })
        .with_state(state)
}

fn ok(v: Value) -> Response {
    Json(v).into_response()
}

async fn post_bot(State(st): State<AppState>, c: Caller, body: Bytes) -> Result<Response> {
    Ok((
        StatusCode::CREATED,
        Json(bots::request_bot(&st, &c, &body).await?),
    )
        .into_response())
}

async fn list_bots(State(st): State<AppState>, c: Caller, Query(q): Q) -> Result<Response> {
    Ok(ok(mt::list_bots(&st, &c, &q).await?))
}

async fn bots_status(State(st): State<AppState>, c: Caller, Query(q): Q) -> Result<Response> {
    Ok(ok(mt::running(&st, &c, &q).await?))
}

async fn delete_bot(
    State(st): State<AppState>,
    c: Caller,
    Path((p, n)): Path<(String, String)>,
) -> Result<Response> {
    Ok(ok(bots::stop_bot(&st, &c, &p, &n).await?))
}

async fn put_config(
    State(st): State<AppState>,
    c: Caller,
    Path((p, n)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    Ok((
        StatusCode::ACCEPTED,
        Json(bots::reconfigure(&st, &c, &p, &n, &body).await?),
    )
        .into_response())
}

async fn list_meetings(State(st): State<AppState>, c: Caller, Query(q): Q) -> Result<Response> {
    Ok(ok(json!({"meetings": mt::list(&st, &c, &q).await?})))
}

async fn post_meeting(State(st): State<AppState>, c: Caller, body: Bytes) -> Result<Response> {
    Ok((
        StatusCode::CREATED,
        Json(mt::create_planned(&st, &c, &body).await?),
    )
        .into_response())
}

async fn get_meeting(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    Ok(ok(mt::get(&st, &c, &id).await?))
}

async fn patch_meeting(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let m = mt::owned(&st, &c, &id).await?;
    Ok(ok(mt::patch(&st, m, &body).await?))
}

async fn delete_meeting(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let m = mt::owned(&st, &c, &id).await?;
    mt::delete(&st, &m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn patch_by_key(
    State(st): State<AppState>,
    c: Caller,
    Path((p, n)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let m = mt::owned_by_key(&st, &c, &p, &n).await?;
    Ok(ok(mt::patch(&st, m, &body).await?))
}

async fn delete_by_key(
    State(st): State<AppState>,
    c: Caller,
    Path((p, n)): Path<(String, String)>,
) -> Result<Response> {
    let m = mt::owned_by_key(&st, &c, &p, &n).await?;
    let d: Deleted = mt::delete(&st, &m).await?;
    Ok(ok(mt::delete_body(&m, &d)))
}

async fn transcript_by_id(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    Ok(ok(mt::transcript_by_id(&st, &c, &id).await?))
}

async fn transcript_by_key(
    State(st): State<AppState>,
    c: Caller,
    Path((p, n)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response> {
    Ok(ok(mt::transcript_by_key(&st, &c, &p, &n, &q).await?))
}

async fn get_webhook(State(st): State<AppState>, c: Caller) -> Result<Response> {
    Ok(ok(mt::get_webhook(&st, &c).await?))
}

async fn put_webhook(State(st): State<AppState>, c: Caller, body: Bytes) -> Result<Response> {
    Ok(ok(mt::put_webhook(&st, &c, &body).await?))
}
