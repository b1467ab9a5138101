//! The admin console at `/console`: a server-rendered web page over the admin service, for the
//! people who run vexa and would rather not use curl.
//!
//! - [`session`]: sign-in sessions (in memory, bounded, by digest; a restart signs out);
//! - [`guard`]: who is signed in, the same-origin and CSRF checks on every POST, the cookie;
//! - [`form`]: forms, queries and path ids as the console reads them;
//! - [`pages`]: thin handlers over [`AdminService`] (no rule of their own);
//! - [`presenter`]: derived display values (status badges, notices, which field failed);
//! - [`view`], [`html`]: the pages as HTML, escaped;
//! - [`audit`]: the audit log screen (filter form, `before_seq` paging);
//! - [`chart`]: usage as inline SVG (a sparkline per key, stacked bars per outcome);
//! - [`error`]: the console's refusals and failures, mapped in one place.
//!
//! Assets (`console/console.css`, `console/console.js` in this crate) are compiled into the
//! binary: the console works offline and loads nothing from elsewhere (`Content-Security-Policy:
//! default-src 'self'`). The admin token is read only from the sign-in form's body; it never
//! appears in a URL, a page or a log line.

mod audit;
mod chart;
mod error;
mod form;
mod guard;
mod html;
mod pages;
mod presenter;
pub mod session;
mod view;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use vexa_core::{AdminToken, Clock};

use crate::service::AdminService;
use error::ConsoleError;
use session::Sessions;

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    service: Arc<AdminService>,
    admin_token: AdminToken,
    clock: Arc<dyn Clock>,
    sessions: Arc<Sessions>,
}

const CSS: &str = include_str!("../../console/console.css");
const JS: &str = include_str!("../../console/console.js");

/// The console's routes, relative to where it is mounted (`/console`).
pub fn router(
    service: Arc<AdminService>,
    admin_token: AdminToken,
    clock: Arc<dyn Clock>,
) -> Router {
    let state = ConsoleState {
        service,
        admin_token,
        clock,
        sessions: Arc::new(Sessions::default()),
    };
    let open = Router::new()
        .route("/login", get(pages::show_login).post(pages::sign_in))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .layer(middleware::from_fn(guard::same_origin_posts));
    let signed_in = Router::new()
        .route("/", get(pages::home))
        .route("/logout", post(pages::sign_out))
        .route("/users", get(pages::list_users).post(pages::create_user))
        .route("/users/{id}", get(pages::show_user).post(pages::edit_user))
        .route(
            "/users/{id}/delete",
            get(pages::confirm_delete_user).post(pages::delete_user),
        )
        .route("/users/{id}/keys", post(pages::mint_key))
        .route(
            "/keys/{id}/revoke",
            get(pages::confirm_revoke).post(pages::revoke_key),
        )
        .route(
            "/keys/{id}/rotate",
            get(pages::confirm_rotate).post(pages::rotate_key),
        )
        .route("/keys/{id}/usage", get(pages::key_usage))
        .route("/replicas", get(pages::replicas))
        .route("/audit", get(audit::audit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::require_session,
        ));
    open.merge(signed_in)
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn(security_headers))
}

async fn not_found() -> Response {
    ConsoleError::NotFound.into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// Pages are never cached (one shows a key) nor framed, and load nothing from elsewhere.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` on
    // every form POST, and the same-origin gate then refuses the console's own forms. Other
    // origins still get no referrer.
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}
