//! The router and its handlers. Public routes sit behind [`require_gateway`] (the gateway's
//! secret and injected identity), the bot protocol under `/internal/bot/*` behind
//! [`require_bot_token`]; `/health` is open. Every handler only extracts (a body as a checked
//! domain value with [`Valid`] where no rule needs stored state first, else as sent with
//! [`JsonObject`]), calls one service function and renders its result as a view; every refusal
//! is `{"detail": …}`.
//!
//! Layers, outermost first: the body limit (`MAX_BODY_BYTES`, shared with the gateway), the
//! request id (kept or minted, echoed on every response), then the route's own guard.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{middleware, Json, Router};
use vexa_http::{DetailPath, DetailQuery};

use crate::bot_callbacks::{self, require_bot_token, BotMeeting, BotReport};
use crate::bots::reconfigure::Reconfiguration;
use crate::bots::BotOrder;
use crate::caller::{require_gateway, Caller};
use crate::edge::{self, JsonObject, Valid};
use crate::error::Result;
use crate::meetings::delete::Deleted;
use crate::meetings::{self, MeetingRef};
use crate::state::AppState;
use crate::wire::bot_callbacks::{LifecycleReceipt, SegmentBatch, SegmentsReceipt};
use crate::wire::bots::{ReconfigureReceipt, StopReceipt};
use crate::wire::meetings::{
    BotList, DeleteReceipt, ListQuery, MeetingList, MeetingPatch, MeetingView, PlanRequest,
    RunningBots,
};
use crate::wire::transcripts::{TranscriptQuery, TranscriptView};
use crate::wire::HealthView;
use crate::{bots, ws};

/// `/{platform}/{native}` path parameters.
type MeetingKey = DetailPath<(String, String)>;

pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.cfg.max_body_bytes;
    let public = Router::new()
        .route("/bots", post(post_bot).get(list_bots))
        .route("/bots/status", get(bots_status))
        .route("/bots/{platform}/{native}", delete(delete_bot))
        .route("/bots/{platform}/{native}/config", put(put_bot_config))
        .route("/meetings", get(list_meetings).post(post_meeting))
        .route(
            "/meetings/{id}",
            get(get_meeting).patch(patch_meeting).delete(delete_meeting),
        )
        .route(
            "/meetings/{platform}/{native}",
            patch(patch_meeting_by_key).delete(delete_meeting_by_key),
        )
        .route("/transcripts/by-id/{id}", get(transcript_by_id))
        .route("/transcripts/{platform}/{native}", get(transcript_by_key))
        .route("/ws", get(ws::upgrade))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_gateway,
        ));
    let bot_protocol = Router::new()
        .route("/internal/bot/lifecycle", post(post_lifecycle))
        .route("/internal/bot/segments", post(post_segments))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_bot_token,
        ));
    let app = Router::new()
        .route("/health", get(|| async { Json(HealthView::OK) }))
        .merge(public)
        .merge(bot_protocol)
        .fallback(edge::not_found)
        .method_not_allowed_fallback(edge::method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(edge::echo_request_id));
    vexa_http::with_body_limit(app, max_body_bytes)
}

async fn post_bot(
    State(state): State<AppState>,
    caller: Caller,
    Valid(order): Valid<BotOrder>,
) -> Result<Response> {
    let (meeting, sessions) = bots::request_bot(&state, &caller, order).await?;
    let view = MeetingView::with_sessions(&meeting, sessions);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn list_bots(
    State(state): State<AppState>,
    caller: Caller,
    DetailQuery(query): DetailQuery<ListQuery>,
) -> Result<Json<BotList>> {
    let (rows, has_more) = meetings::list::list_bots(&state, &caller, &query).await?;
    let meetings = rows.iter().map(MeetingView::row).collect();
    Ok(Json(BotList { meetings, has_more }))
}

async fn bots_status(
    State(state): State<AppState>,
    caller: Caller,
    DetailQuery(query): DetailQuery<ListQuery>,
) -> Result<Json<RunningBots>> {
    let rows = meetings::list::running(&state, &caller, &query).await?;
    Ok(Json(RunningBots::new(
        rows.iter().map(MeetingView::row).collect(),
    )))
}

async fn delete_bot(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath((platform, native)): MeetingKey,
) -> Result<Json<StopReceipt>> {
    let (meeting, cancelled_plan) =
        bots::stop::stop_bot(&state, &caller, &platform, &native).await?;
    Ok(Json(StopReceipt::new(&meeting, cancelled_plan)))
}

async fn put_bot_config(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath((platform, native)): MeetingKey,
    Valid(change): Valid<Reconfiguration>,
) -> Result<Response> {
    bots::reconfigure::reconfigure(&state, &caller, &platform, &native, change).await?;
    Ok((StatusCode::ACCEPTED, Json(ReconfigureReceipt::SENT)).into_response())
}

async fn list_meetings(
    State(state): State<AppState>,
    caller: Caller,
    DetailQuery(query): DetailQuery<ListQuery>,
) -> Result<Json<MeetingList>> {
    let rows = meetings::list::list(&state, &caller, &query).await?;
    let meetings = rows.iter().map(MeetingView::row).collect();
    Ok(Json(MeetingList { meetings }))
}

async fn post_meeting(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(req): JsonObject<PlanRequest>,
) -> Result<Response> {
    let meeting = meetings::plan::create(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(MeetingView::new(&meeting))).into_response())
}

async fn get_meeting(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath(id): DetailPath<String>,
) -> Result<Json<MeetingView>> {
    let (meeting, sessions) = meetings::get(&state, &caller, &id).await?;
    Ok(Json(MeetingView::with_sessions(&meeting, sessions)))
}

async fn patch_meeting(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath(id): DetailPath<String>,
    JsonObject(req): JsonObject<MeetingPatch>,
) -> Result<Json<MeetingView>> {
    let meeting = meetings::plan::patch(&state, &caller, &MeetingRef::Id(id), req).await?;
    Ok(Json(MeetingView::new(&meeting)))
}

async fn delete_meeting(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath(id): DetailPath<String>,
) -> Result<StatusCode> {
    meetings::delete::delete(&state, &caller, &MeetingRef::Id(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn patch_meeting_by_key(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath(key): MeetingKey,
    JsonObject(req): JsonObject<MeetingPatch>,
) -> Result<Json<MeetingView>> {
    let meeting = meetings::plan::patch(&state, &caller, &MeetingRef::key(key), req).await?;
    Ok(Json(MeetingView::new(&meeting)))
}

async fn delete_meeting_by_key(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath(key): MeetingKey,
) -> Result<Json<DeleteReceipt>> {
    let (meeting, deleted) =
        meetings::delete::delete(&state, &caller, &MeetingRef::key(key)).await?;
    Ok(Json(DeleteReceipt::new(
        &meeting,
        deleted == Deleted::Artifacts,
    )))
}

async fn transcript_by_id(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath(id): DetailPath<String>,
) -> Result<Json<TranscriptView>> {
    let (meeting, segments) = meetings::transcript::by_id(&state, &caller, &id).await?;
    Ok(Json(TranscriptView::new(&meeting, &segments)))
}

async fn transcript_by_key(
    State(state): State<AppState>,
    caller: Caller,
    DetailPath((platform, native)): MeetingKey,
    DetailQuery(query): DetailQuery<TranscriptQuery>,
) -> Result<Json<TranscriptView>> {
    let (meeting, segments) =
        meetings::transcript::by_key(&state, &caller, &platform, &native, query).await?;
    Ok(Json(TranscriptView::new(&meeting, &segments)))
}

async fn post_lifecycle(
    State(state): State<AppState>,
    BotMeeting(meeting): BotMeeting,
    Valid(report): Valid<BotReport>,
) -> Result<Json<LifecycleReceipt>> {
    let (meeting, changed) = bot_callbacks::report_lifecycle(&state, &meeting, report).await?;
    Ok(Json(LifecycleReceipt::new(&meeting, changed)))
}

async fn post_segments(
    State(state): State<AppState>,
    BotMeeting(meeting): BotMeeting,
    JsonObject(batch): JsonObject<SegmentBatch>,
) -> Result<Json<SegmentsReceipt>> {
    let count = bot_callbacks::ingest_segments(&state, &meeting, batch).await?;
    Ok(Json(SegmentsReceipt::new(count)))
}
