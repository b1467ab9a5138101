//! The routes: thin handlers (extract → one service call → view) and the router that wires
//! them with the admin gate, the observability layer, contract-shaped fallbacks and the body
//! limit shared with the gateway (`MAX_BODY_BYTES`).

use std::sync::Arc;

use axum::extract::{Extension, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{middleware, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use vexa_core::Principal;
use vexa_http::{answer_after_body, with_body_limit, EdgeRejection, JsonBody, OptionalJsonBody};

use crate::auth::{require_admin, require_user_key};
use crate::error::AdminError;
use crate::extract::{
    AdminAudit, AuditQuery, EmailParam, GraceQuery, KeyIdParam, KeyListQuery, Paging, UsageQuery,
    UserIdParam,
};
use crate::mint::MintQuery;
use crate::observe::observe;
use crate::service::AdminService;
use crate::wire::{
    CreateUserRequest, MintRequest, PatchKeyRequest, PatchUserRequest, RotateRequest, WebhookView,
};
use crate::AdminState;

#[derive(Clone)]
struct App {
    service: Arc<AdminService>,
    metrics: PrometheusHandle,
}

type Result<T> = std::result::Result<T, AdminError>;

const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// Builds the admin API router.
pub fn router(state: AdminState) -> Router {
    let service = Arc::new(
        AdminService::new(state.store.clone(), state.clock.clone(), state.on_change)
            .with_key_events(state.key_events),
    );
    let validator = Arc::new(crate::validate::Validator::new(
        state.store.clone() as Arc<dyn vexa_core::IdentityStore>,
        state.clock.clone(),
        state.internal.last_used.clone(),
    ));
    let internal = crate::internal::router(state.internal, validator);
    let console = crate::console::router(service.clone(), state.admin_token.clone(), state.clock);
    let app = App {
        service,
        metrics: state.metrics,
    };
    let admin = Router::new()
        .route("/users", post(create_user).get(list_users))
        .route("/users/email/{email}", get(get_user_by_email))
        .route(
            "/users/{user_id}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route("/users/{user_id}/tokens", post(mint_key).get(list_keys))
        .route("/tokens/{token_id}", delete(revoke_key).patch(patch_key))
        .route("/tokens/{token_id}/usage", get(key_usage))
        .route("/tokens/{token_id}/rotate", post(rotate_key))
        .route("/audit", get(list_audit))
        .route("/replicas", get(list_replicas))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.admin_token,
            require_admin,
        ));
    // The user tier (`X-API-Key`), as the original identity service serves it.
    let user = Router::new()
        .route("/user/webhook", put(put_webhook).get(get_webhook))
        .route_layer(middleware::from_fn_with_state(
            app.service.clone(),
            require_user_key,
        ));
    let service = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .nest("/admin", admin)
        .merge(user)
        .nest("/internal", internal)
        .nest_service("/console", console)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        .layer(middleware::from_fn(observe));
    // Outermost, so the admin gate and the fallbacks drain refused bodies under the same limit.
    with_body_limit(service, state.max_body_bytes)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "service": "admin-api" }))
}

async fn render_metrics(State(app): State<App>) -> Response {
    let ctype = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(CONTENT_TYPE, ctype)], app.metrics.render()).into_response()
}

async fn not_found(req: Request) -> Response {
    answer_after_body(req, EdgeRejection::NotFound.into_response()).await
}

async fn method_not_allowed(req: Request) -> Response {
    answer_after_body(req, EdgeRejection::MethodNotAllowed.into_response()).await
}

/// `GET /admin/replicas`: the gateway fleet from the replica registry, for scripts.
async fn list_replicas(State(app): State<App>) -> Result<Response> {
    Ok(Json(app.service.fleet().await?).into_response())
}

async fn create_user(
    State(app): State<App>,
    AdminAudit(who): AdminAudit,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> Result<Response> {
    let (user, created) = app.service.create_user(req, &who).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(user)).into_response())
}

async fn list_users(State(app): State<App>, page: Paging) -> Result<Response> {
    let (users, total) = app.service.list_users(page.skip, page.limit).await?;
    Ok(([(TOTAL_COUNT, HeaderValue::from(total))], Json(users)).into_response())
}

async fn get_user(State(app): State<App>, UserIdParam(id): UserIdParam) -> Result<Response> {
    Ok(Json(app.service.user(id).await?).into_response())
}

async fn get_user_by_email(
    State(app): State<App>,
    EmailParam(email): EmailParam,
) -> Result<Response> {
    Ok(Json(app.service.user_by_email(&email).await?).into_response())
}

async fn patch_user(
    State(app): State<App>,
    UserIdParam(id): UserIdParam,
    AdminAudit(who): AdminAudit,
    JsonBody(req): JsonBody<PatchUserRequest>,
) -> Result<Response> {
    Ok(Json(app.service.patch_user(id, req, &who).await?).into_response())
}

async fn delete_user(
    State(app): State<App>,
    UserIdParam(id): UserIdParam,
    AdminAudit(who): AdminAudit,
) -> Result<StatusCode> {
    app.service.delete_user(id, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mint_key(
    State(app): State<App>,
    UserIdParam(id): UserIdParam,
    query: MintQuery,
    AdminAudit(who): AdminAudit,
    OptionalJsonBody(body): OptionalJsonBody<MintRequest>,
) -> Result<Response> {
    let minted = app.service.mint_key(id, body, query, &who).await?;
    Ok((StatusCode::CREATED, Json(minted)).into_response())
}

async fn list_keys(
    State(app): State<App>,
    UserIdParam(id): UserIdParam,
    query: KeyListQuery,
) -> Result<Response> {
    let keys = app
        .service
        .list_key_views(id, query.include_revoked)
        .await?;
    Ok(Json(keys).into_response())
}

async fn key_usage(
    State(app): State<App>,
    KeyIdParam(id): KeyIdParam,
    UsageQuery(window): UsageQuery,
) -> Result<Response> {
    Ok(Json(app.service.key_usage(id, window).await?).into_response())
}

async fn revoke_key(
    State(app): State<App>,
    KeyIdParam(id): KeyIdParam,
    AdminAudit(who): AdminAudit,
) -> Result<StatusCode> {
    app.service.revoke_key(id, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn patch_key(
    State(app): State<App>,
    KeyIdParam(id): KeyIdParam,
    AdminAudit(who): AdminAudit,
    JsonBody(req): JsonBody<PatchKeyRequest>,
) -> Result<Response> {
    Ok(Json(app.service.patch_key(id, req, &who).await?).into_response())
}

async fn rotate_key(
    State(app): State<App>,
    KeyIdParam(id): KeyIdParam,
    GraceQuery(grace): GraceQuery,
    AdminAudit(who): AdminAudit,
    OptionalJsonBody(body): OptionalJsonBody<RotateRequest>,
) -> Result<Response> {
    let rotated = app.service.rotate_key(id, body, grace, &who).await?;
    Ok((StatusCode::CREATED, Json(rotated)).into_response())
}

async fn list_audit(State(app): State<App>, q: AuditQuery) -> Result<Response> {
    let (entries, total) = app.service.audit(&q.filter, q.page).await?;
    Ok(([(TOTAL_COUNT, HeaderValue::from(total))], Json(entries)).into_response())
}

async fn put_webhook(
    State(app): State<App>,
    Extension(caller): Extension<Principal>,
    AdminAudit(who): AdminAudit,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response> {
    Ok(Json(app.service.set_webhook(caller.user_id, &body, &who).await?).into_response())
}

async fn get_webhook(
    State(app): State<App>,
    Extension(caller): Extension<Principal>,
) -> Result<Json<WebhookView>> {
    Ok(Json(app.service.webhook(caller.user_id).await?))
}
