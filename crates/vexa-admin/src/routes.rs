//! The routes: thin handlers (extract → one service call → view) and the router that wires
//! them with the admin gate, the observability layer, contract-shaped fallbacks and the body
//! limit shared with the gateway (`MAX_BODY_BYTES`).
//!
//! Every handler carries its `#[utoipa::path]` and is listed in [`crate::openapi::ApiDoc`]; every
//! route goes through [`Routes`], whose path list the OpenAPI test compares with the document.

use std::sync::Arc;

use axum::extract::{Extension, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{middleware, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use vexa_core::Principal;
use vexa_http::openapi::{Detail, DOCS_PATH, OPENAPI_PATH};
use vexa_http::{answer_after_body, with_body_limit, EdgeRejection, JsonBody, OptionalJsonBody};

use crate::auth::{require_admin, require_user_key};
use crate::error::AdminError;
use crate::extract::{
    AdminAudit, AuditQuery, EmailParam, GraceQuery, KeyIdParam, KeyListQuery, Paging, UsageQuery,
    UserIdParam,
};
use crate::fleet::Fleet;
use crate::mint::MintQuery;
use crate::observe::observe;
use crate::route_list::Routes;
use crate::service::AdminService;
use crate::wire::{
    AuditEntryView, CreateUserRequest, KeyView, MintRequest, MintedKeyView, PatchKeyRequest,
    PatchUserRequest, RotateRequest, UsageView, UserView, WebhookView,
};
use crate::AdminState;
use vexa_core::KeyRecord;

#[derive(Clone)]
struct App {
    service: Arc<AdminService>,
    metrics: PrometheusHandle,
}

type Result<T> = std::result::Result<T, AdminError>;

const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// Builds the admin API router.
pub fn router(state: AdminState) -> Router {
    router_and_paths(state).0
}

/// The admin API router, and the path of every route it serves except the console's (an HTML
/// UI, not part of the API): the list the OpenAPI document must cover.
pub fn router_and_paths(state: AdminState) -> (Router, Vec<String>) {
    let service = Arc::new(
        AdminService::new(state.store.clone(), state.clock.clone(), state.on_change)
            .with_key_events(state.key_events),
    );
    let validator = Arc::new(crate::validate::Validator::new(
        state.store.clone() as Arc<dyn vexa_core::IdentityStore>,
        state.clock.clone(),
        state.internal.last_used.clone(),
    ));
    let (internal, internal_paths) = crate::internal::router(state.internal, validator);
    let console = crate::console::router(service.clone(), state.admin_token.clone(), state.clock);
    let app = App {
        service,
        metrics: state.metrics,
    };
    let (admin, mut paths) = Routes::under("/admin")
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
        .finish();
    let admin = admin
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.admin_token,
            require_admin,
        ));
    // The user tier (`X-API-Key`), as the original identity service serves it.
    let (user, user_paths) = Routes::under("")
        .route("/user/webhook", put(put_webhook).get(get_webhook))
        .finish();
    let user = user.route_layer(middleware::from_fn_with_state(
        app.service.clone(),
        require_user_key,
    ));
    // Open, as the original's FastAPI serves its `/docs` and `/openapi.json`.
    let (root, root_paths) = Routes::under("")
        .route("/health", get(health))
        .route("/metrics", get(render_metrics))
        .route(OPENAPI_PATH, get(openapi_json))
        .route(DOCS_PATH, get(docs_page))
        .route("/docs/{file}", get(docs_asset))
        .finish();
    paths.extend(user_paths);
    paths.extend(internal_paths);
    paths.extend(root_paths);
    let service = root
        .nest("/admin", admin)
        .merge(user)
        .nest("/internal", internal)
        .nest_service("/console", console)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        .layer(middleware::from_fn(observe));
    // Outermost, so the admin gate and the fallbacks drain refused bodies under the same limit.
    (with_body_limit(service, state.max_body_bytes), paths)
}

#[utoipa::path(get, path = "/health", tag = "service",
    responses((status = 200, description = "Always `{\"status\":\"ok\",\"service\":\"admin-api\"}`",
        body = Object, example = json!({"status": "ok", "service": "admin-api"}))))]
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "service": "admin-api" }))
}

#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text exposition", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")))]
async fn render_metrics(State(app): State<App>) -> Response {
    let ctype = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(CONTENT_TYPE, ctype)], app.metrics.render()).into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
async fn openapi_json() -> Response {
    let ctype = HeaderValue::from_static("application/json");
    ([(CONTENT_TYPE, ctype)], crate::openapi::document_json()).into_response()
}

#[utoipa::path(get, path = "/docs", tag = "service",
    responses((status = 200, description = "The API reference page (Swagger UI, served by this binary)",
        body = String, content_type = "text/html")))]
async fn docs_page(uri: Uri) -> Response {
    docs_file(uri)
}

#[utoipa::path(get, path = "/docs/{file}", tag = "service",
    params(("file" = String, Path, description = "An asset of the page")),
    responses(
        (status = 200, description = "The asset", body = String),
        (status = 404, description = "Not Found", body = Detail)))]
async fn docs_asset(uri: Uri) -> Response {
    docs_file(uri)
}

/// The page or one of its assets, embedded in the binary.
fn docs_file(uri: Uri) -> Response {
    match vexa_http::openapi::docs_file(uri.path()) {
        Some(file) => match HeaderValue::from_str(&file.content_type) {
            Ok(ctype) => ([(CONTENT_TYPE, ctype)], file.bytes.into_owned()).into_response(),
            Err(_) => EdgeRejection::NotFound.into_response(),
        },
        None => EdgeRejection::NotFound.into_response(),
    }
}

async fn not_found(req: Request) -> Response {
    answer_after_body(req, EdgeRejection::NotFound.into_response()).await
}

async fn method_not_allowed(req: Request) -> Response {
    answer_after_body(req, EdgeRejection::MethodNotAllowed.into_response()).await
}

/// `GET /admin/replicas`: the gateway fleet from the replica registry, for scripts.
#[utoipa::path(get, path = "/admin/replicas", tag = "replicas",
    responses((status = 200, description = "Every gateway replica from the registry: health, cache size, the last identity event it applied and its lag", body = Fleet)))]
async fn list_replicas(State(app): State<App>) -> Result<Response> {
    Ok(Json(app.service.fleet().await?).into_response())
}

#[utoipa::path(post, path = "/admin/users", tag = "users", request_body = CreateUserRequest,
    responses(
        (status = 201, description = "The new user", body = UserView),
        (status = 200, description = "A user with this email (matched case-insensitively) exists: returned unchanged", body = UserView),
        (status = 422, description = "Bad email or field", body = Detail)))]
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

#[utoipa::path(get, path = "/admin/users", tag = "users",
    params(
        ("skip" = Option<i64>, Query, description = "Users to skip (default 0)", minimum = 0),
        ("limit" = Option<i64>, Query, description = "Page size (default 100)", minimum = 0, maximum = 1000)),
    responses(
        (status = 200, description = "Users, oldest first", body = Vec<UserView>,
            headers(("X-Total-Count" = i64, description = "All users, across pages"))),
        (status = 422, description = "Bad paging", body = Detail)))]
async fn list_users(State(app): State<App>, page: Paging) -> Result<Response> {
    let (users, total) = app.service.list_users(page.skip, page.limit).await?;
    Ok(([(TOTAL_COUNT, HeaderValue::from(total))], Json(users)).into_response())
}

#[utoipa::path(get, path = "/admin/users/{user_id}", tag = "users",
    params(("user_id" = i64, Path)),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "User not found", body = Detail),
        (status = 422, description = "user_id must be an integer", body = Detail)))]
async fn get_user(State(app): State<App>, UserIdParam(id): UserIdParam) -> Result<Response> {
    Ok(Json(app.service.user(id).await?).into_response())
}

#[utoipa::path(get, path = "/admin/users/email/{email}", tag = "users",
    params(("email" = String, Path, description = "Matched case-insensitively")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "User not found", body = Detail)))]
async fn get_user_by_email(
    State(app): State<App>,
    EmailParam(email): EmailParam,
) -> Result<Response> {
    Ok(Json(app.service.user_by_email(&email).await?).into_response())
}

#[utoipa::path(patch, path = "/admin/users/{user_id}", tag = "users",
    params(("user_id" = i64, Path)), request_body = PatchUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 404, description = "User not found", body = Detail),
        (status = 422, description = "Empty patch, unknown or bad field", body = Detail)))]
async fn patch_user(
    State(app): State<App>,
    UserIdParam(id): UserIdParam,
    AdminAudit(who): AdminAudit,
    JsonBody(req): JsonBody<PatchUserRequest>,
) -> Result<Response> {
    Ok(Json(app.service.patch_user(id, req, &who).await?).into_response())
}

#[utoipa::path(delete, path = "/admin/users/{user_id}", tag = "users",
    params(("user_id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted; every key of the user stops working at once"),
        (status = 404, description = "User not found", body = Detail)))]
async fn delete_user(
    State(app): State<App>,
    UserIdParam(id): UserIdParam,
    AdminAudit(who): AdminAudit,
) -> Result<StatusCode> {
    app.service.delete_user(id, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/admin/users/{user_id}/tokens", tag = "keys",
    params(
        ("user_id" = i64, Path),
        ("scopes" = Option<String>, Query, description = "Comma list, e.g. `bot,tx` (the body wins)"),
        ("scope" = Option<String>, Query, description = "One scope (`scopes` wins)"),
        ("name" = Option<String>, Query),
        ("expires_in" = Option<i64>, Query, description = "Lifetime in seconds", minimum = 1)),
    request_body(content = Option<MintRequest>,
        description = "Optional; an empty body counts as none, whatever its Content-Type"),
    responses(
        (status = 201, description = "The new key, in full: the only time it is shown", body = MintedKeyView),
        (status = 404, description = "User not found", body = Detail),
        (status = 422, description = "Empty or unknown scopes, bad expires_in, unknown field", body = Detail)))]
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

#[utoipa::path(get, path = "/admin/users/{user_id}/tokens", tag = "keys",
    params(("user_id" = i64, Path),
        ("include_revoked" = Option<bool>, Query, description = "Also list revoked keys (and rotated keys past their grace end)")),
    responses(
        (status = 200, description = "The user's keys with their status, never their secrets", body = Vec<KeyView>),
        (status = 404, description = "User not found", body = Detail),
        (status = 422, description = "Bad include_revoked", body = Detail)))]
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

#[utoipa::path(get, path = "/admin/tokens/{token_id}/usage", tag = "keys",
    params(("token_id" = i64, Path),
        ("hours" = Option<u32>, Query, description = "Window in hours, 1–720 (default 24)")),
    responses(
        (status = 200, description = "Requests per hour by outcome, every hour of the window present, summed over gateway replicas", body = UsageView),
        (status = 404, description = "Token not found", body = Detail),
        (status = 422, description = "Bad hours", body = Detail)))]
async fn key_usage(
    State(app): State<App>,
    KeyIdParam(id): KeyIdParam,
    UsageQuery(window): UsageQuery,
) -> Result<Response> {
    Ok(Json(app.service.key_usage(id, window).await?).into_response())
}

#[utoipa::path(delete, path = "/admin/tokens/{token_id}", tag = "keys",
    params(("token_id" = i64, Path)),
    responses(
        (status = 204, description = "Revoked: refused at once here, within 1 s on every gateway replica"),
        (status = 404, description = "Token not found", body = Detail)))]
async fn revoke_key(
    State(app): State<App>,
    KeyIdParam(id): KeyIdParam,
    AdminAudit(who): AdminAudit,
) -> Result<StatusCode> {
    app.service.revoke_key(id, &who).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(patch, path = "/admin/tokens/{token_id}", tag = "keys",
    params(("token_id" = i64, Path)),
    request_body = PatchKeyRequest,
    responses(
        (status = 200, description = "The key with its new limits (every gateway replica applies them within 1 s)", body = KeyRecord),
        (status = 404, description = "Token not found", body = Detail),
        (status = 422, description = "Empty body, unknown field or bad value", body = Detail)))]
async fn patch_key(
    State(app): State<App>,
    KeyIdParam(id): KeyIdParam,
    AdminAudit(who): AdminAudit,
    JsonBody(req): JsonBody<PatchKeyRequest>,
) -> Result<Response> {
    Ok(Json(app.service.patch_key(id, req, &who).await?).into_response())
}

#[utoipa::path(post, path = "/admin/tokens/{token_id}/rotate", tag = "keys",
    params(("token_id" = i64, Path),
        ("grace_seconds" = Option<i64>, Query, description = "Grace period of the old key (the body's field wins)")),
    request_body(content = Option<RotateRequest>, description = "Optional `{\"grace_seconds\": n}`, default 0"),
    responses(
        (status = 201, description = "The replacement, shown once: same user, scopes, name, limits and expiry", body = MintedKeyView),
        (status = 404, description = "Token not found", body = Detail),
        (status = 409, description = "Token already rotated; rotate its replacement", body = Detail),
        (status = 422, description = "Bad grace_seconds", body = Detail)))]
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

#[utoipa::path(get, path = "/admin/audit", tag = "audit",
    params(("user_id" = Option<i64>, Query), ("key_id" = Option<i64>, Query),
        ("action" = Option<String>, Query, description = "One of the audit actions, e.g. key.mint"),
        ("since" = Option<String>, Query, description = "Inclusive; epoch ms or RFC 3339"),
        ("until" = Option<String>, Query, description = "Inclusive; epoch ms or RFC 3339"),
        ("limit" = Option<i64>, Query, description = "Default 50, at most 500"),
        ("before_seq" = Option<i64>, Query, description = "Cursor: entries older than this seq")),
    responses(
        (status = 200, description = "Entries newest first; X-Total-Count is the number matching", body = Vec<AuditEntryView>),
        (status = 422, description = "Bad filter", body = Detail)))]
async fn list_audit(State(app): State<App>, q: AuditQuery) -> Result<Response> {
    let (entries, total) = app.service.audit(&q.filter, q.page).await?;
    Ok(([(TOTAL_COUNT, HeaderValue::from(total))], Json(entries)).into_response())
}

#[utoipa::path(put, path = "/user/webhook", tag = "user settings",
    request_body(content = Object, description = "`webhook_url`, `webhook_secret`, `webhook_events`"),
    responses(
        (status = 200, description = "The webhook as stored, secret masked", body = WebhookView),
        (status = 422, description = "Bad webhook URL or field", body = Detail)))]
async fn put_webhook(
    State(app): State<App>,
    Extension(caller): Extension<Principal>,
    AdminAudit(who): AdminAudit,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response> {
    Ok(Json(app.service.set_webhook(caller.user_id, &body, &who).await?).into_response())
}

#[utoipa::path(get, path = "/user/webhook", tag = "user settings",
    responses((status = 200, description = "The caller's webhook, secret masked", body = WebhookView)))]
async fn get_webhook(
    State(app): State<App>,
    Extension(caller): Extension<Principal>,
) -> Result<Json<WebhookView>> {
    Ok(Json(app.service.webhook(caller.user_id).await?))
}
