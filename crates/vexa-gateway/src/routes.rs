//! The scope table, as data: every route the gateway serves, who may call it and where it goes.
//! Anything not listed here is a 404 before any key is looked at (deny by default).

use http::Method;
use vexa_core::Scope;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed (`/health`, `/metrics`).
    Public,
    /// No key checked here: the upstream checks its own credentials (`/admin/*` proxy).
    Passthrough,
    /// Any valid key.
    AnyKey,
    /// A valid key holding at least one of these scopes.
    Scopes(&'static [Scope]),
}

/// What serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Health,
    Metrics,
    AuthMe,
    Meetings,
    Browser,
    Admin,
    WebSocket,
}

/// Which methods a row accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    One(&'static str),
    Any,
}

/// One row of the table. `template` segments: literal, `{name}` (one segment) or a trailing `*`
/// (zero or more segments).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub methods: Methods,
    pub template: &'static str,
    pub access: Access,
    pub target: Target,
}

const BOT: &[Scope] = &[Scope::Bot];
const TX: &[Scope] = &[Scope::Tx];
const BOT_OR_TX: &[Scope] = &[Scope::Bot, Scope::Tx];
const BROWSER: &[Scope] = &[Scope::Browser];

const fn r(method: &'static str, template: &'static str, access: Access, target: Target) -> Route {
    Route {
        methods: Methods::One(method),
        template,
        access,
        target,
    }
}

/// The table, first match wins (literal rows come before parameter rows they overlap).
pub const ROUTES: &[Route] = &[
    r("GET", "/health", Access::Public, Target::Health),
    r("GET", "/metrics", Access::Public, Target::Metrics),
    r("GET", "/auth/me", Access::AnyKey, Target::AuthMe),
    r("GET", "/ws", Access::AnyKey, Target::WebSocket),
    r("POST", "/bots", Access::Scopes(BOT), Target::Meetings),
    r("GET", "/bots", Access::Scopes(BOT), Target::Meetings),
    r("GET", "/bots/status", Access::Scopes(BOT), Target::Meetings),
    r(
        "DELETE",
        "/bots/{platform}/{native_meeting_id}",
        Access::Scopes(BOT),
        Target::Meetings,
    ),
    r(
        "PUT",
        "/bots/{platform}/{native_meeting_id}/config",
        Access::Scopes(BOT),
        Target::Meetings,
    ),
    r(
        "GET",
        "/meetings",
        Access::Scopes(BOT_OR_TX),
        Target::Meetings,
    ),
    r("POST", "/meetings", Access::Scopes(TX), Target::Meetings),
    r(
        "GET",
        "/meetings/{id}",
        Access::Scopes(BOT_OR_TX),
        Target::Meetings,
    ),
    r(
        "PATCH",
        "/meetings/{id}",
        Access::Scopes(TX),
        Target::Meetings,
    ),
    r(
        "DELETE",
        "/meetings/{id}",
        Access::Scopes(TX),
        Target::Meetings,
    ),
    r(
        "PATCH",
        "/meetings/{platform}/{native_meeting_id}",
        Access::Scopes(TX),
        Target::Meetings,
    ),
    r(
        "DELETE",
        "/meetings/{platform}/{native_meeting_id}",
        Access::Scopes(TX),
        Target::Meetings,
    ),
    r(
        "GET",
        "/transcripts/by-id/{id}",
        Access::Scopes(BOT_OR_TX),
        Target::Meetings,
    ),
    r(
        "GET",
        "/transcripts/{platform}/{native_meeting_id}",
        Access::Scopes(BOT_OR_TX),
        Target::Meetings,
    ),
    r(
        "GET",
        "/user/webhook",
        Access::Scopes(BOT_OR_TX),
        Target::Meetings,
    ),
    r(
        "PUT",
        "/user/webhook",
        Access::Scopes(BOT_OR_TX),
        Target::Meetings,
    ),
    Route {
        methods: Methods::Any,
        template: "/browser/*",
        access: Access::Scopes(BROWSER),
        target: Target::Browser,
    },
];

/// Only present when the gateway proxies the admin API (`GATEWAY_ADMIN_PROXY=true`).
pub const ADMIN_ROUTE: Route = Route {
    methods: Methods::Any,
    template: "/admin/*",
    access: Access::Passthrough,
    target: Target::Admin,
};

/// Index of a matched row: `ROUTES.len()` stands for [`ADMIN_ROUTE`].
pub type RouteIndex = usize;

/// Finds the row serving `method path`, if any. Allocation-free.
pub fn find(
    method: &Method,
    path: &str,
    admin_enabled: bool,
) -> Option<(RouteIndex, &'static Route)> {
    if !plain_path(path) {
        return None;
    }
    if let Some(hit) = ROUTES
        .iter()
        .enumerate()
        .find(|(_, route)| method_ok(route.methods, method) && path_matches(route.template, path))
    {
        return Some(hit);
    }
    if admin_enabled && path_matches(ADMIN_ROUTE.template, path) {
        return Some((ROUTES.len(), &ADMIN_ROUTE));
    }
    None
}

/// The route template of an index (metrics label).
pub fn template(index: RouteIndex) -> &'static str {
    ROUTES
        .get(index)
        .map_or(ADMIN_ROUTE.template, |r| r.template)
}

/// Number of distinct indices [`find`] can return.
pub const INDEX_COUNT: usize = ROUTES.len() + 1;

fn method_ok(methods: Methods, method: &Method) -> bool {
    match methods {
        Methods::Any => true,
        Methods::One(name) => method.as_str() == name,
    }
}

/// False for a path that could mean something other than its segments to an upstream that
/// normalizes or decodes it: dot segments (`.`, `..`, also percent-encoded), encoded `/` or `\\`,
/// raw backslashes, raw or encoded control characters. Such paths match no route (404), so a
/// scope granted for one route can never be walked over to another.
fn plain_path(path: &str) -> bool {
    let b = path.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let decoded = if c == b'%' {
            match (
                b.get(i + 1).and_then(|h| char::from(*h).to_digit(16)),
                b.get(i + 2).and_then(|h| char::from(*h).to_digit(16)),
            ) {
                (Some(hi), Some(lo)) => ((hi << 4) | lo) as u8,
                _ => continue,
            }
        } else {
            c
        };
        if (decoded == b'/' && c == b'%') || decoded == b'\\' || decoded < 0x20 || decoded == 0x7f {
            return false;
        }
    }
    !path.split('/').any(is_dot_segment)
}

/// `.`, `..` (or more dots), any of them written as `%2e`.
fn is_dot_segment(seg: &str) -> bool {
    let mut rest = seg.as_bytes();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', e, tail @ ..] if e.eq_ignore_ascii_case(&b'e') => tail,
            _ => return false,
        };
    }
    true
}

fn path_matches(template: &str, path: &str) -> bool {
    let Some(path) = path.strip_prefix('/') else {
        return false;
    };
    let template = template.strip_prefix('/').unwrap_or(template);
    let mut segs = path.split('/');
    for t in template.split('/') {
        if t == "*" {
            // `/browser` alone and `/browser/anything/…` both match.
            return true;
        }
        let Some(s) = segs.next() else {
            return false;
        };
        let is_param = t.starts_with('{');
        if is_param {
            if s.is_empty() {
                return false;
            }
        } else if s != t {
            return false;
        }
    }
    segs.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_rows_win_over_parameter_rows() {
        let (_, r) = find(&Method::GET, "/transcripts/by-id/7", false).expect("declared");
        assert_eq!(r.template, "/transcripts/by-id/{id}");
        let (_, r) = find(&Method::GET, "/bots/status", false).expect("declared");
        assert_eq!(r.template, "/bots/status");
    }

    #[test]
    fn undeclared_paths_and_methods_do_not_match() {
        assert!(find(&Method::GET, "/nope", false).is_none());
        assert!(find(&Method::POST, "/bots/status", false).is_none());
        assert!(find(&Method::GET, "/bots/", false).is_none());
        assert!(find(&Method::GET, "/meetings//", false).is_none());
        assert!(find(&Method::GET, "/admin/users", false).is_none());
        assert!(find(&Method::GET, "/admin/users", true).is_some());
        assert!(find(&Method::GET, "", false).is_none());
    }

    #[test]
    fn dot_segments_encoded_slashes_and_control_characters_match_nothing() {
        for p in [
            "/browser/../admin/users",
            "/browser/./x",
            "/browser/%2e%2e/admin",
            "/browser/.%2E/admin",
            "/browser/...",
            "/browser/a%2fb",
            "/browser/a%2Fb",
            "/browser/a%5cb",
            "/browser/a\\b",
            "/browser/a%00b",
            "/browser/a%0d%0ab",
            "/browser/a%7f",
            "/meetings/..",
            "/transcripts/x/..",
        ] {
            assert!(find(&Method::GET, p, true).is_none(), "{p}");
        }
        for p in [
            "/browser/a.b",
            "/browser/..a",
            "/browser/a%2e",
            "/browser/%41",
            "/browser/50%",
        ] {
            assert!(find(&Method::GET, p, false).is_some(), "{p}");
        }
    }

    #[test]
    fn browser_tail_matches_any_depth() {
        assert!(find(&Method::POST, "/browser/a/b/c", false).is_some());
        assert!(find(&Method::GET, "/browser", false).is_some());
        assert!(find(&Method::GET, "/browserx", false).is_none());
    }
}
