//! The console's refusals and failures, mapped to responses in one place.
//!
//! The gate's refusals (cross-site, no session, wrong CSRF token, oversized form, unknown path)
//! are `{"detail": …}` like every other 4xx of the admin API: no page of ours caused them, so
//! there is nothing to show them next to. A failure of the admin service while serving a page
//! the operator navigated to (a user that is gone, a store outage) is a page in words with the
//! service's own status; form mistakes never get here, they are shown next to the field.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use vexa_http::rejection::detail_response;

use super::view;
use crate::error::AdminError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// A POST whose `Origin` is missing or names another origin.
    #[error("Cross-site request refused: the Origin header must name this console.")]
    CrossSite,
    /// A POST without a live session.
    #[error("Not signed in to the console.")]
    NotSignedIn,
    /// A POST whose `csrf` field is missing or not this session's.
    #[error("Missing or wrong CSRF token: reload the page and try again.")]
    BadCsrf,
    #[error("Request body too large")]
    FormTooLarge,
    /// A form body that is not `application/x-www-form-urlencoded`.
    #[error("Form could not be parsed")]
    BadForm,
    #[error("Not Found")]
    NotFound,
    /// The admin service refused or failed while rendering a page.
    #[error("{0}")]
    Admin(#[from] AdminError),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        match self {
            ConsoleError::CrossSite | ConsoleError::NotSignedIn | ConsoleError::BadCsrf => {
                detail_response(StatusCode::FORBIDDEN, &detail)
            }
            ConsoleError::FormTooLarge => detail_response(StatusCode::PAYLOAD_TOO_LARGE, &detail),
            ConsoleError::BadForm => detail_response(StatusCode::UNPROCESSABLE_ENTITY, &detail),
            ConsoleError::NotFound => detail_response(StatusCode::NOT_FOUND, &detail),
            ConsoleError::Admin(e) => {
                let status = e.status();
                // `AdminError` logs a 5xx's cause as it turns into a response; that response is
                // dropped for a page that shows only the wording.
                drop(e.into_response());
                (status, Html(view::failure(status, &detail))).into_response()
            }
        }
    }
}
