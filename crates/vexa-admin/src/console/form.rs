//! The console's request inputs: a urlencoded form read as ordered pairs (a checkbox group
//! repeats its name), the query of a page, and an id in the path. Each refuses in the
//! console's own terms.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use vexa_http::{DetailPath, DetailQuery, EdgeRejection};

use super::error::ConsoleError;

/// Largest console form read: the forms are a few short fields.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A form's fields, in order.
#[derive(Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(bytes: &[u8]) -> Result<Fields, ConsoleError> {
        serde_urlencoded::from_bytes(bytes)
            .map(Fields)
            .map_err(|_| ConsoleError::BadForm)
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ConsoleError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| ConsoleError::FormTooLarge)?;
        Fields::parse(&bytes)
    }
}

/// A page's query parameters.
pub struct PageQuery(pub Fields);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let DetailQuery(pairs) =
            DetailQuery::<Vec<(String, String)>>::from_request_parts(parts, &())
                .await
                .map_err(|_| EdgeRejection::invalid("Query string could not be parsed"))?;
        Ok(PageQuery(Fields(pairs)))
    }
}

/// The numeric id in a page's path; anything else is a page that does not exist.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ConsoleError> {
        let DetailPath(raw) = DetailPath::<String>::from_request_parts(parts, &())
            .await
            .map_err(|_| ConsoleError::NotFound)?;
        raw.parse().map(Id).map_err(|_| ConsoleError::NotFound)
    }
}

/// An optional whole number typed into a form; `Err` carries the words to show next to it.
pub fn whole_number(field: &str, raw: &str) -> Result<Option<i64>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| format!("{field} must be a whole number"))
}
