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
    fn browser_tail_matches_any_depth() {
        assert!(find(&Method::POST, "/browser/a/b/c", false).is_some());
        assert!(find(&Method::GET, "/browser", false).is_some());
        assert!(find(&Method::GET, "/browserx", false).is_none());
    }
}
