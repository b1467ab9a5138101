//! The console's handlers: read the form or query, call the admin service (the same functions
//! the JSON API calls, so each rule has one owner), render a page or redirect. Mutations answer
//! `303 See Other` to the page that shows their result, so a reload never repeats them; the
//! mint answers the key's page directly, because the key must never travel in a URL.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use vexa_core::usage::UsageWindow;
use vexa_core::{KeyId, UserId};

use super::error::ConsoleError;
use super::form::{whole_number, Fields, Id, PageQuery};
use super::guard::{clear_cookie, see_other, see_other_with, session_id, start_cookie};
use super::presenter::{form_error, notice, Badge, SPARK_HOURS, WINDOWS};
use super::session::Session;
use super::view::{self, FormError, KeyRow, UserPage, UsersPage};
use super::ConsoleState;
use crate::error::AdminError;
use crate::extract::ConsoleAudit;
use crate::mint::MintQuery;
use crate::wire::{CreateUserRequest, MintRequest, PatchUserRequest, RotateRequest};

type Result<T> = std::result::Result<T, ConsoleError>;

/// Users per page of the users screen.
const PAGE: i64 = 20;
const USER_FIELDS: &[&str] = &["email", "name", "max_concurrent_bots"];
const MINT_FIELDS: &[&str] = &["scopes", "name", "expires_in"];
const ROTATE_FIELDS: &[&str] = &["grace_seconds"];

pub async fn home() -> Response {
    see_other("/console/users")
}

pub async fn show_login(State(st): State<ConsoleState>, headers: HeaderMap) -> Response {
    let signed_in = session_id(&headers).and_then(|id| st.sessions.find(id, st.clock.now()));
    if signed_in.is_some() {
        return see_other("/console/users");
    }
    Html(view::login(None)).into_response()
}

/// Signs in with the admin token. A wrong one is refused like a wrong `X-Admin-API-Key`:
/// 403, counted by the same counter.
pub async fn sign_in(State(st): State<ConsoleState>, headers: HeaderMap, form: Fields) -> Response {
    if !st.admin_token.verify(form.get("token").as_bytes()) {
        crate::auth::count_refused("console");
        let page = view::login(Some(
            "That is not the admin token. Check ADMIN_TOKEN and try again.",
        ));
        return (axum::http::StatusCode::FORBIDDEN, Html(page)).into_response();
    }
    if let Some(old) = session_id(&headers) {
        st.sessions.end(old);
    }
    let issued = st.sessions.start(st.clock.now());
    see_other_with("/console/users", Some(start_cookie(&headers, &issued.id)))
}

pub async fn sign_out(State(st): State<ConsoleState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        st.sessions.end(id);
    }
    see_other_with("/console/login", Some(clear_cookie(&headers)))
}

pub async fn list_users(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    PageQuery(q): PageQuery,
) -> Result<Response> {
    let search = q.get("email");
    if !search.is_empty() {
        return search_user(&st, &session, search).await;
    }
    let skip = whole_number("skip", q.get("skip"))
        .ok()
        .flatten()
        .unwrap_or(0)
        .max(0);
    let (users, total) = st.service.list_users(skip, PAGE).await?;
    let users: Vec<_> = users.iter().map(|u| u.as_user()).collect();
    let page = UsersPage {
        csrf: session.csrf(),
        users: &users,
        total,
        skip,
        limit: PAGE,
        search: None,
        search_error: None,
        notice: notice(Some(q.get("notice"))),
        create_values: ["", "", ""],
        create_error: None,
    };
    Ok(Html(view::users(&page)).into_response())
}

/// The users screen narrowed to the one user with this email (matched as the store matches
/// emails: case-insensitively).
async fn search_user(st: &ConsoleState, session: &Session, email: &str) -> Result<Response> {
    let (found, error) = match st.service.user_by_email(email).await {
        Ok(u) => (Some(u), None),
        Err(AdminError::UserNotFound) => (None, Some("No user has this email.".to_owned())),
        Err(AdminError::Invalid(detail)) => (None, Some(detail)),
        Err(e) => return Err(e.into()),
    };
    let users: Vec<_> = found.iter().map(|u| u.as_user()).collect();
    let page = UsersPage {
        csrf: session.csrf(),
        users: &users,
        total: i64::try_from(users.len()).unwrap_or(0),
        skip: 0,
        limit: PAGE,
        search: Some(email),
        search_error: error.as_deref(),
        notice: None,
        create_values: ["", "", ""],
        create_error: None,
    };
    Ok(Html(view::users(&page)).into_response())
}

pub async fn create_user(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    ConsoleAudit(who): ConsoleAudit,
    form: Fields,
) -> Result<Response> {
    let (email, name, bots) = (
        form.get("email"),
        form.get("name"),
        form.get("max_concurrent_bots"),
    );
    let outcome = match whole_number("max_concurrent_bots", bots) {
        Err(words) => Err(form_error(words, USER_FIELDS)),
        Ok(max_concurrent_bots) => {
            let req = CreateUserRequest {
                email: email.to_owned(),
                name: (!name.is_empty()).then(|| name.to_owned()),
                image_url: None,
                max_concurrent_bots,
            };
            match st.service.create_user(req, &who).await {
                Ok((user, _created)) => Ok(user.as_user().id),
                Err(AdminError::Invalid(detail)) => Err(form_error(detail, USER_FIELDS)),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match outcome {
        Ok(id) => Ok(see_other(&format!(
            "/console/users/{}?notice=created",
            id.0
        ))),
        Err(error) => {
            let (users, total) = st.service.list_users(0, PAGE).await?;
            let users: Vec<_> = users.iter().map(|u| u.as_user()).collect();
            let page = UsersPage {
                csrf: session.csrf(),
                users: &users,
                total,
                skip: 0,
                limit: PAGE,
                search: None,
                search_error: None,
                notice: None,
                create_values: [email, name, bots],
                create_error: Some(&error),
            };
            Ok(unprocessable(view::users(&page)))
        }
    }
}

/// Which of the user page's forms failed, and how.
enum Failed {
    None,
    Edit([String; 2], FormError),
    Mint(FormError),
}

async fn user_page(
    st: &ConsoleState,
    session: &Session,
    id: UserId,
    notice_code: Option<&str>,
    failed: Failed,
) -> Result<String> {
    let user = st.service.user(id).await?;
    let user = user.as_user();
    // The status comes from the service's one rule (one usage query for the whole user); the
    // sparklines cost one usage query per key, acceptable while users hold a handful of keys.
    let views = st.service.list_key_views(id, false).await?;
    let spark = window(SPARK_HOURS);
    let mut keys = Vec::with_capacity(views.len());
    for v in views {
        let usage = st.service.key_usage(v.key.id, spark).await?.buckets;
        keys.push(KeyRow {
            badge: Badge::of(&v.key, v.status),
            key: v.key,
            usage,
        });
    }
    let bots = user.max_concurrent_bots.to_string();
    let (edit_values, edit_error, mint_error) = match &failed {
        Failed::None => (
            [user.name.as_deref().unwrap_or(""), bots.as_str()],
            None,
            None,
        ),
        Failed::Edit(values, e) => ([values[0].as_str(), values[1].as_str()], Some(e), None),
        Failed::Mint(e) => (
            [user.name.as_deref().unwrap_or(""), bots.as_str()],
            None,
            Some(e),
        ),
    };
    Ok(view::user(&UserPage {
        csrf: session.csrf(),
        user,
        keys: &keys,
        notice: notice(notice_code),
        edit_values,
        edit_error,
        mint_error,
    }))
}

pub async fn show_user(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(id): Id,
    PageQuery(q): PageQuery,
) -> Result<Response> {
    let page = user_page(
        &st,
        &session,
        UserId(id),
        Some(q.get("notice")),
        Failed::None,
    )
    .await?;
    Ok(Html(page).into_response())
}

pub async fn edit_user(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(id): Id,
    ConsoleAudit(who): ConsoleAudit,
    form: Fields,
) -> Result<Response> {
    let (name, bots) = (form.get("name"), form.get("max_concurrent_bots"));
    let refused = match whole_number("max_concurrent_bots", bots) {
        Err(words) => form_error(words, USER_FIELDS),
        Ok(max_concurrent_bots) => {
            let req = PatchUserRequest {
                name: Some((!name.is_empty()).then(|| name.to_owned())),
                image_url: None,
                max_concurrent_bots,
                data: None,
            };
            match st.service.patch_user(UserId(id), req, &who).await {
                Ok(_) => return Ok(see_other(&format!("/console/users/{id}?notice=saved"))),
                Err(AdminError::Invalid(detail)) => form_error(detail, USER_FIELDS),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let failed = Failed::Edit([name.to_owned(), bots.to_owned()], refused);
    let page = user_page(&st, &session, UserId(id), None, failed).await?;
    Ok(unprocessable(page))
}

pub async fn confirm_delete_user(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(id): Id,
) -> Result<Response> {
    let user = st.service.user(UserId(id)).await?;
    let keys = st.service.list_keys(UserId(id)).await?;
    let page = view::confirm_delete(session.csrf(), user.as_user(), keys.len());
    Ok(Html(page).into_response())
}

pub async fn delete_user(
    State(st): State<ConsoleState>,
    Id(id): Id,
    ConsoleAudit(who): ConsoleAudit,
) -> Result<Response> {
    st.service.delete_user(UserId(id), &who).await?;
    Ok(see_other("/console/users?notice=deleted"))
}

pub async fn mint_key(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(id): Id,
    ConsoleAudit(who): ConsoleAudit,
    form: Fields,
) -> Result<Response> {
    let name = form.get("name");
    let refused = match whole_number("expires_in", form.get("expires_in")) {
        Err(words) => form_error(words, MINT_FIELDS),
        Ok(expires_in) => {
            let req = MintRequest {
                scopes: Some(form.all("scopes")),
                name: (!name.is_empty()).then(|| name.to_owned()),
                expires_in,
                // The console's form has no limit fields yet: set them by PATCH.
                ..MintRequest::default()
            };
            match st
                .service
                .mint_key(UserId(id), Some(req), MintQuery::default(), &who)
                .await
            {
                Ok(minted) => {
                    let user = st.service.user(UserId(id)).await?;
                    let page = view::minted(session.csrf(), user.as_user(), &minted);
                    return Ok(Html(page).into_response());
                }
                Err(AdminError::Invalid(detail)) => form_error(detail, MINT_FIELDS),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let page = user_page(&st, &session, UserId(id), None, Failed::Mint(refused)).await?;
    Ok(unprocessable(page))
}

pub async fn confirm_revoke(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(key_id): Id,
    PageQuery(q): PageQuery,
) -> Result<Response> {
    let user_id = whole_number("user", q.get("user"))
        .ok()
        .flatten()
        .ok_or(ConsoleError::NotFound)?;
    let user = st.service.user(UserId(user_id)).await?;
    let keys = st.service.list_keys(UserId(user_id)).await?;
    let key = keys
        .iter()
        .find(|k| k.id == KeyId(key_id))
        .ok_or(ConsoleError::Admin(AdminError::TokenNotFound))?;
    let page = view::confirm_revoke(session.csrf(), user.as_user(), key);
    Ok(Html(page).into_response())
}

pub async fn revoke_key(
    State(st): State<ConsoleState>,
    Id(key_id): Id,
    ConsoleAudit(who): ConsoleAudit,
    form: Fields,
) -> Result<Response> {
    st.service.revoke_key(KeyId(key_id), &who).await?;
    match whole_number("user", form.get("user")) {
        Ok(Some(uid)) => Ok(see_other(&format!("/console/users/{uid}?notice=revoked"))),
        _ => Ok(see_other("/console/users")),
    }
}

pub async fn replicas(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
) -> Response {
    let status = st.service.store_status().await;
    // A registry that cannot be read is shown on the page (its public message only), next to
    // the store line that usually explains it.
    let fleet = st.service.fleet().await.map_err(|e| e.to_string());
    let shown = fleet.as_ref().map_err(String::as_str);
    Html(view::replicas(session.csrf(), &status, shown)).into_response()
}

/// A window of `hours` (one of [`WINDOWS`] or [`SPARK_HOURS`], all within the service's range).
fn window(hours: u32) -> UsageWindow {
    UsageWindow::parse(&hours.to_string()).unwrap_or_default()
}

pub async fn confirm_rotate(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(key_id): Id,
) -> Result<Response> {
    let key = st.service.key(KeyId(key_id)).await?;
    let user = st.service.user(key.user_id).await?;
    let page = view::confirm_rotate(session.csrf(), user.as_user(), &key, "0", None);
    Ok(Html(page).into_response())
}

/// Rotates a key and shows the replacement once, like a mint (never in a URL, so no redirect).
/// A refusal is shown on the form: a bad grace next to its field (422), an already rotated key
/// on the form as a whole (409); a key that is gone is the 404 page.
pub async fn rotate_key(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(key_id): Id,
    ConsoleAudit(who): ConsoleAudit,
    form: Fields,
) -> Result<Response> {
    let id = KeyId(key_id);
    let raw = form.get("grace_seconds");
    let (status, refused) = match whole_number("grace_seconds", raw) {
        Err(words) => (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            form_error(words, ROTATE_FIELDS),
        ),
        Ok(grace_seconds) => {
            let body = RotateRequest { grace_seconds };
            match st.service.rotate_key(id, Some(body), None, &who).await {
                Ok(minted) => {
                    let user = st.service.user(minted.user_id).await?;
                    let old = st.service.key(id).await?;
                    let page = view::rotated(session.csrf(), user.as_user(), &minted, &old);
                    return Ok(Html(page).into_response());
                }
                Err(AdminError::Invalid(detail)) => (
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    form_error(detail, ROTATE_FIELDS),
                ),
                Err(e @ AdminError::TokenAlreadyRotated) => (
                    e.status(),
                    FormError {
                        field: None,
                        message: e.to_string(),
                    },
                ),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let key = st.service.key(id).await?;
    let user = st.service.user(key.user_id).await?;
    let page = view::confirm_rotate(session.csrf(), user.as_user(), &key, raw, Some(&refused));
    Ok((status, Html(page)).into_response())
}

/// A key's usage chart over one of [`WINDOWS`] (`?hours=`; anything else shows the sparkline's
/// window).
pub async fn key_usage(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Id(key_id): Id,
    PageQuery(q): PageQuery,
) -> Result<Response> {
    let hours = q
        .get("hours")
        .parse()
        .ok()
        .filter(|h| WINDOWS.contains(h))
        .unwrap_or(SPARK_HOURS);
    let key = st.service.key(KeyId(key_id)).await?;
    let user = st.service.user(key.user_id).await?;
    let usage = st.service.key_usage(key.id, window(hours)).await?;
    let page = view::usage(session.csrf(), user.as_user(), &key, hours, &usage.buckets);
    Ok(Html(page).into_response())
}

fn unprocessable(page: String) -> Response {
    (axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response()
}
