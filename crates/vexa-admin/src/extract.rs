//! The admin API's own path and query extractors: ids, the email of a lookup, paging and the
//! mint options, the audit listing's filters and who a mutation comes from, each refused with the admin API's own `detail` wording (`user_id must be an
//! integer`, …). They read through `vexa_http`'s extractors and refuse with its
//! [`EdgeRejection`], like the JSON bodies, so nothing before a handler answers in plain text.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use vexa_core::audit::{AuditFilter, AuditPage};
use vexa_core::usage::UsageWindow;
use vexa_core::{AuditAction, AuditActor, AuditContext, KeyId, Timestamp, UserId};
use vexa_http::headers::X_REQUEST_ID;
use vexa_http::{DetailPath, DetailQuery, EdgeRejection};

use crate::mint::MintQuery;
use crate::service::{DEFAULT_PAGE, MAX_PAGE};

/// Reads the single path parameter as an `i64` id.
async fn id_param(parts: &mut Parts, what: &str) -> Result<i64, EdgeRejection> {
    let must_be_integer = || EdgeRejection::invalid(format!("{what} must be an integer"));
    let DetailPath(raw) = DetailPath::<String>::from_request_parts(parts, &())
        .await
        .map_err(|_| must_be_integer())?;
    raw.parse::<i64>().map_err(|_| must_be_integer())
}

/// `{user_id}` in the path.
pub struct UserIdParam(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserIdParam {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let id = id_param(parts, "user_id").await?;
        Ok(UserIdParam(UserId(id)))
    }
}

/// `{token_id}` in the path.
pub struct KeyIdParam(pub KeyId);

impl<S: Send + Sync> FromRequestParts<S> for KeyIdParam {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let id = id_param(parts, "token_id").await?;
        Ok(KeyIdParam(KeyId(id)))
    }
}

/// `{email}` in the path, percent-decoded.
pub struct EmailParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for EmailParam {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let DetailPath(raw) = DetailPath::<String>::from_request_parts(parts, &())
            .await
            .map_err(|_| EdgeRejection::invalid("value is not a valid email address"))?;
        Ok(EmailParam(raw))
    }
}

/// The decoded query pairs, in order.
async fn query_pairs(parts: &mut Parts) -> Result<Vec<(String, String)>, EdgeRejection> {
    DetailQuery::<Vec<(String, String)>>::from_request_parts(parts, &())
        .await
        .map(|DetailQuery(pairs)| pairs)
        .map_err(|_| EdgeRejection::invalid("Query string could not be parsed"))
}

/// `skip` and `limit` of the user list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub skip: i64,
    pub limit: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let mut paging = Paging {
            skip: 0,
            limit: DEFAULT_PAGE,
        };
        for (k, v) in query_pairs(parts).await? {
            match k.as_str() {
                "skip" => paging.skip = parse_bounded("skip", &v, i64::MAX)?,
                "limit" => paging.limit = parse_bounded("limit", &v, MAX_PAGE)?,
                _ => {}
            }
        }
        Ok(paging)
    }
}

/// `?include_revoked=` of the key list (default false).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyListQuery {
    pub include_revoked: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for KeyListQuery {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let mut q = KeyListQuery::default();
        for (k, v) in query_pairs(parts).await? {
            if k == "include_revoked" {
                q.include_revoked = match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(EdgeRejection::invalid(
                            "include_revoked must be true or false",
                        ))
                    }
                };
            }
        }
        Ok(q)
    }
}

/// `?hours=` of the usage route (default 24, 1..=720).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageQuery(pub UsageWindow);

impl<S: Send + Sync> FromRequestParts<S> for UsageQuery {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let mut window = UsageWindow::default();
        for (k, v) in query_pairs(parts).await? {
            if k == "hours" {
                window = UsageWindow::parse(&v).map_err(|e| EdgeRejection::invalid(e.detail))?;
            }
        }
        Ok(UsageQuery(window))
    }
}

fn parse_bounded(field: &str, raw: &str, max: i64) -> Result<i64, EdgeRejection> {
    let rule = || EdgeRejection::invalid(format!("{field} must be an integer between 0 and {max}"));
    let n: i64 = raw.trim().parse().map_err(|_| rule())?;
    if !(0..=max).contains(&n) {
        return Err(rule());
    }
    Ok(n)
}

/// `?grace_seconds=` of a rotation, still as text (the JSON body's value wins over it).
pub struct GraceQuery(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for GraceQuery {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let pairs = query_pairs(parts).await?;
        let grace = pairs
            .into_iter()
            .rev()
            .find(|(k, _)| k == "grace_seconds")
            .map(|(_, v)| v);
        Ok(GraceQuery(grace))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MintQuery {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        query_pairs(parts).await.map(MintQuery::from_pairs)
    }
}

/// Who a mutation comes from, as the audit log records it: the request id `observe` settled on
/// and the peer's IP (present when the server was started with connect info, as `serve` does).
fn audit_context(parts: &Parts, actor: AuditActor) -> AuditContext {
    let request_id = parts
        .headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let client_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    AuditContext {
        actor,
        request_id,
        client_addr,
    }
}

/// The audit context of an `/admin/*` or `/user/*` request.
pub struct AdminAudit(pub AuditContext);

impl<S: Send + Sync> FromRequestParts<S> for AdminAudit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(AdminAudit(audit_context(parts, AuditActor::AdminApi)))
    }
}

/// The audit context of a console action.
pub struct ConsoleAudit(pub AuditContext);

impl<S: Send + Sync> FromRequestParts<S> for ConsoleAudit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ConsoleAudit(audit_context(parts, AuditActor::Console)))
    }
}

/// Largest and default page of `GET /admin/audit`.
pub const MAX_AUDIT_PAGE: i64 = 500;
pub const DEFAULT_AUDIT_PAGE: i64 = 50;

/// The filters and page of `GET /admin/audit`. Times are epoch milliseconds or RFC 3339;
/// unknown parameters are ignored, as the other admin routes do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub filter: AuditFilter,
    pub page: AuditPage,
}

impl<S: Send + Sync> FromRequestParts<S> for AuditQuery {
    type Rejection = EdgeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, EdgeRejection> {
        let mut q = AuditQuery::default();
        for (k, v) in query_pairs(parts).await? {
            q.apply(&k, &v)?;
        }
        Ok(q)
    }
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            filter: AuditFilter::default(),
            page: AuditPage {
                before_seq: None,
                limit: DEFAULT_AUDIT_PAGE,
            },
        }
    }
}

impl AuditQuery {
    /// Reads one query parameter into the filter or page. The console reads its filter form
    /// through this too, so both show the same wording for the same mistake.
    pub fn apply(&mut self, k: &str, v: &str) -> Result<(), EdgeRejection> {
        match k {
            "user_id" => self.filter.user_id = Some(UserId(parse_bounded(k, v, i64::MAX)?)),
            "key_id" => self.filter.key_id = Some(KeyId(parse_bounded(k, v, i64::MAX)?)),
            "action" => self.filter.action = Some(parse_action(v)?),
            "since" => self.filter.since = Some(parse_time(k, v)?),
            "until" => self.filter.until = Some(parse_time(k, v)?),
            "before_seq" => self.page.before_seq = Some(parse_bounded(k, v, i64::MAX)?),
            "limit" => self.page.limit = parse_bounded(k, v, MAX_AUDIT_PAGE)?,
            _ => {}
        }
        Ok(())
    }
}

fn parse_action(raw: &str) -> Result<AuditAction, EdgeRejection> {
    raw.trim().parse().map_err(|()| {
        let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        EdgeRejection::invalid(format!("action must be one of: {}", names.join(", ")))
    })
}

fn parse_time(field: &str, raw: &str) -> Result<Timestamp, EdgeRejection> {
    let raw = raw.trim();
    raw.parse::<i64>()
        .ok()
        .map(Timestamp)
        .or_else(|| Timestamp::parse_rfc3339(raw))
        .ok_or_else(|| {
            EdgeRejection::invalid(format!(
                "{field} must be epoch milliseconds or an RFC 3339 time"
            ))
        })
}
