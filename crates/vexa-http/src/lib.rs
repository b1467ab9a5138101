//! The HTTP edge shared by the services behind and beside the gateway.
//!
//! - [`headers`] — the header names the gateway and the services agree on, defined once;
//! - [`request_id`] — the one rule for accepting a client's `X-Request-Id`, and minting one;
//! - [`rejection`] — [`EdgeRejection`], what the edge refuses, always as `{"detail": …}`;
//! - [`body`] — the body limit (the same `MAX_BODY_BYTES` the gateway enforces), the JSON body
//!   extractors, and draining a refused request's body so keep-alive survives;
//! - [`params`] — path and query extractors whose rejections are `{"detail": …}` too;
//! - [`openapi`] — what both services' API references share: the `{"detail": …}` schema, the
//!   two paths, and the `/docs` page (Swagger UI embedded in the binary).
//!
//! Nothing here knows a route or a domain rule: services map their own errors to HTTP; this
//! crate only makes sure that what axum would refuse in plain text is refused in the contract's
//! shape instead.

pub mod body;
pub mod headers;
pub mod openapi;
pub mod params;
pub mod rejection;
pub mod request_id;

pub use body::{
    answer_after_body, with_body_limit, BodyLimit, JsonBody, OptionalJsonBody,
    DEFAULT_MAX_BODY_BYTES,
};
pub use params::{DetailPath, DetailQuery};
pub use rejection::EdgeRejection;
