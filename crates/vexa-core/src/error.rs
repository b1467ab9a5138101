//! Errors of the domain and of the storage ports.

/// Input that breaks a domain rule. `detail` is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ValidationError {
    pub field: &'static str,
    pub detail: String,
}

impl ValidationError {
    pub fn new(field: &'static str, detail: impl Into<String>) -> Self {
        ValidationError {
            field,
            detail: detail.into(),
        }
    }
}

/// Why a storage call failed. Never carries secrets; the message is for logs only.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or the connection broke (retryable; 503 at the edge).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A referenced row does not exist (e.g. minting for a deleted user).
    #[error("not found")]
    NotFound,
    /// A uniqueness or state rule was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else the database reported.
    #[error("store error: {0}")]
    Other(String),
}
