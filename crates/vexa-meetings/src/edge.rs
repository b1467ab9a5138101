//! The meetings service's side of the shared HTTP edge (`vexa-http`): the JSON body extractors
//! (read under the one body limit, parsed in the original's words; [`Valid`] also checks the
//! body into a domain value), `X-Request-Id` on every response, and the `{"detail": …}`
//! fallbacks for unknown routes and methods.

use axum::extract::{FromRequest, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use vexa_http::headers::X_REQUEST_ID;
use vexa_http::{answer_after_body, EdgeRejection};

use crate::error::MeetingsError;
use crate::wire::{parse_object, FromWire};

/// A request body of `T`'s shape: at most the service's `MAX_BODY_BYTES` (413
/// `{"detail":"Request body too large"}` past it, declared or streamed), empty = `{}`,
/// otherwise a JSON object.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonObject<T> {
    type Rejection = MeetingsError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, MeetingsError> {
        let bytes = vexa_http::body::read_body(req).await?;
        Ok(JsonObject(parse_object(&bytes)?))
    }
}

/// A request body checked into the validated value `T` (422 on the first broken rule).
#[derive(Debug)]
pub struct Valid<T>(pub T);

impl<T: FromWire, S: Send + Sync> FromRequest<S> for Valid<T> {
    type Rejection = MeetingsError;

    async fn from_request(req: Request, state: &S) -> Result<Self, MeetingsError> {
        let JsonObject(wire) = JsonObject::<T::Wire>::from_request(req, state).await?;
        Ok(Valid(T::from_wire(wire)?))
    }
}

/// Keeps the gateway's `X-Request-Id` (or mints one) and echoes it on the response, whatever
/// answered: a handler, a refusal or a fallback.
pub async fn echo_request_id(req: Request, next: Next) -> Response {
    let id = vexa_http::request_id::accept_or_mint(req.headers());
    let span = tracing::debug_span!(
        "meetings_request",
        request_id = id.to_str().unwrap_or_default()
    );
    let mut response = next.run(req).instrument(span).await;
    response.headers_mut().insert(X_REQUEST_ID, id);
    response
}

/// No route has this path: `404 {"detail":"Not Found"}`.
pub async fn not_found(req: Request) -> Response {
    let refusal = MeetingsError::Edge(EdgeRejection::NotFound);
    answer_after_body(req, refusal.into_response()).await
}

/// The path exists, not for this method: `405 {"detail":"Method Not Allowed"}`.
pub async fn method_not_allowed(req: Request) -> Response {
    let refusal = MeetingsError::Edge(EdgeRejection::MethodNotAllowed);
    answer_after_body(req, refusal.into_response()).await
}
