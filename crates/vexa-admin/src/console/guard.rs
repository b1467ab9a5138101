//! The console's gate: who is signed in, and which mutations are let through.
//!
//! Every POST must come from a page of this console: its `Origin` must name the host it was sent
//! to (a form on another port of the same machine is same-*site* for the browser, so
//! `SameSite=Strict` alone would not stop it), and, once signed in, it must carry the session's
//! synchronizer token in its `csrf` field. A GET of a page without a session is sent to the
//! sign-in page. Refusals are `{"detail": …}` like every other 4xx of the admin API.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ConsoleError;
use super::session::{Session, SESSION_TTL_SECS};
use super::ConsoleState;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "vexa_console";

use super::form::{Fields, MAX_FORM_BYTES};

/// For pages anyone may see (sign-in, assets): POSTs must still be same-origin.
pub async fn same_origin_posts(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && !is_same_origin(req.headers()) {
        return ConsoleError::CrossSite.into_response();
    }
    next.run(req).await
}

/// For every other page: a live session, and for a POST, same origin and the session's CSRF
/// token. The session is handed to the handler as a request extension.
pub async fn require_session(
    State(state): State<ConsoleState>,
    req: Request,
    next: Next,
) -> Response {
    let is_post = req.method() == Method::POST;
    if is_post && !is_same_origin(req.headers()) {
        return ConsoleError::CrossSite.into_response();
    }
    let now = state.clock.now();
    let session = session_id(req.headers()).and_then(|id| state.sessions.find(id, now));
    let Some(session) = session else {
        return if is_post {
            ConsoleError::NotSignedIn.into_response()
        } else {
            see_other("/console/login")
        };
    };
    let req = if is_post {
        match check_csrf(req, &session).await {
            Ok(req) => req,
            Err(e) => return e.into_response(),
        }
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// Reads the (small) form body, checks its `csrf` field, and puts the body back for the handler.
async fn check_csrf(req: Request, session: &Session) -> Result<Request, ConsoleError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ConsoleError::FormTooLarge)?;
    let fields = Fields::parse(&bytes).map_err(|_| ConsoleError::BadCsrf)?;
    if !session.csrf_matches(fields.get("csrf")) {
        return Err(ConsoleError::BadCsrf);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// True when `Origin` is present and names the `Host` the request was sent to.
pub fn is_same_origin(headers: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (header_str(headers, ORIGIN), header_str(headers, HOST))
    else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// The session id from the `Cookie` header, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v)
}

/// True when the request was addressed to a loopback host: only there may the cookie travel
/// over plain HTTP. Anywhere else it is `Secure`, so the console needs HTTPS in front of it.
fn is_loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = header_str(headers, HOST) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `Set-Cookie` that starts the session `id`.
pub fn start_cookie(headers: &HeaderMap, id: &str) -> HeaderValue {
    cookie(headers, id, SESSION_TTL_SECS)
}

/// `Set-Cookie` that ends the session in the browser.
pub fn clear_cookie(headers: &HeaderMap) -> HeaderValue {
    cookie(headers, "", 0)
}

fn cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = if is_loopback_host(headers) {
        ""
    } else {
        "; Secure"
    };
    let text = format!(
        "{COOKIE_NAME}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    // The value is hex and the rest is fixed ASCII, so this cannot fail; an empty cookie is the
    // harmless fallback.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `303 See Other` to `to`, optionally setting a cookie.
pub fn see_other(to: &str) -> Response {
    see_other_with(to, None)
}

pub fn see_other_with(to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    if let Some(c) = cookie {
        res.headers_mut().insert(SET_COOKIE, c);
    }
    res
}

fn header_str(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("ascii"));
        }
        h
    }

    #[test]
    fn origin_must_be_present_and_name_the_host() {
        let host = ("host", "127.0.0.1:18057");
        assert!(is_same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:18057")
        ])));
        assert!(is_same_origin(&headers(&[
            host,
            ("origin", "https://127.0.0.1:18057")
        ])));
        assert!(!is_same_origin(&headers(&[host])));
        assert!(!is_same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!is_same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:9999")
        ])));
        assert!(!is_same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!is_same_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:18057"
        )])));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; vexa_console=abc; b=2")]);
        assert_eq!(session_id(&h), Some("abc"));
        assert_eq!(session_id(&headers(&[("cookie", "vexa_consolex=1")])), None);
    }

    #[test]
    fn the_cookie_is_secure_off_loopback_only() {
        for host in ["127.0.0.1:18057", "localhost:1", "[::1]:18057", "127.0.0.1"] {
            let c = start_cookie(&headers(&[("host", host)]), "id");
            let c = c.to_str().expect("ascii");
            assert!(!c.contains("Secure"), "{host}: {c}");
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                "{c}"
            );
        }
        for host in ["admin.acme.com", "10.0.0.5:18057", "[2001:db8::1]:443"] {
            let c = start_cookie(&headers(&[("host", host)]), "id");
            assert!(c.to_str().expect("ascii").ends_with("; Secure"), "{host}");
        }
        assert!(start_cookie(&HeaderMap::new(), "id")
            .to_str()
            .expect("ascii")
            .ends_with("; Secure"));
    }
}
