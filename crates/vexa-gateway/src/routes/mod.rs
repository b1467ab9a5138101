//! The route table, as data: every route the gateway serves, who may call it, which domain
//! serves it and at which upstream path ([`table`] holds the rows). Anything not listed is a 404
//! before any key is looked at (deny by default). This module also owns the path work a row
//! implies: matching, the upstream path (rewrites, the calendar id re-encoding).

mod index;
mod table;

use http::Method;
use vexa_core::Scope;

pub use table::{ADMIN_ROUTE, ROUTES};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed (`/health`, `/metrics`, `/openapi.json`, `/docs`).
    Public,
    /// No key checked here: the upstream checks its own credentials (`/admin/*` proxy).
    Passthrough,
    /// Any valid key.
    AnyKey,
    /// A valid key holding at least one of these scopes.
    Scopes(&'static [Scope]),
}

/// A service behind the gateway, each with its own base URL (`MEETINGS_API_URL`,
/// `ADMIN_API_URL`, `AGENT_API_URL`, `MCP_URL`, `BROWSER_API_URL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Meetings,
    /// The identity service: the original's admin-api, which serves the `/user/*` settings.
    Admin,
    Agent,
    Mcp,
    Browser,
}

impl Domain {
    /// Whether this domain authenticates the caller by the key itself, so the key is forwarded
    /// (`x-api-key`): the original identity service (`/user/*` by `X-API-Key`) and the MCP
    /// service (it calls the gateway back with the caller's key). Every other domain trusts the
    /// injected identity and never sees the key.
    pub const fn receives_key(self) -> bool {
        matches!(self, Domain::Admin | Domain::Mcp)
    }

    pub const fn env_var(self) -> &'static str {
        match self {
            Domain::Meetings => "MEETINGS_API_URL",
            Domain::Admin => "ADMIN_API_URL",
            Domain::Agent => "AGENT_API_URL",
            Domain::Mcp => "MCP_URL",
            Domain::Browser => "BROWSER_API_URL",
        }
    }
}

/// What serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Health,
    Metrics,
    /// `/openapi.json`: the document generated from this table (see `crate::openapi`).
    OpenApi,
    /// `/docs` and its assets: the page embedded in the binary (`vexa_http::openapi`).
    Docs,
    AuthMe,
    WebSocket,
    /// Forwarded to a domain.
    Forward(Domain),
    /// `/admin/*`, forwarded untouched to the admin API.
    Passthrough,
}

/// How the response body travels. Every leg streams (nothing is buffered); the legs differ in
/// what the gateway adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// A request and its response, both streamed.
    Plain,
    /// Server-sent events: `Cache-Control: no-cache` and `X-Accel-Buffering: no` are added so no
    /// proxy in front of the gateway buffers them either.
    Sse,
    /// The MCP GET relay: a long-lived stream; `mcp-session-id` / `mcp-protocol-version` pass.
    Relay,
}

/// What our own services make of a row (`MEETINGS_API_KIND=ours`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ours {
    /// Implemented by our service on the row's domain.
    Same,
    /// Not implemented by our services: 404 without forwarding.
    Missing,
    /// Implemented by our service on another domain.
    At(Domain),
}

/// Which methods a row accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    One(&'static str),
    Set(&'static [&'static str]),
    Any,
}

impl Methods {
    /// The methods of the row, for tests and docs (`Any` → the common five).
    pub fn list(self) -> Vec<&'static str> {
        match self {
            Methods::One(m) => vec![m],
            Methods::Set(ms) => ms.to_vec(),
            Methods::Any => vec!["GET", "POST", "PUT", "PATCH", "DELETE"],
        }
    }
}

/// One row of the table. `template` segments: literal, `{name}` (one segment) or a trailing `*`
/// (zero or more segments). `upstream`, when set, is the path the domain serves it at, in the
/// same syntax (the names and `*` of `template` are substituted).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub methods: Methods,
    pub template: &'static str,
    pub access: Access,
    pub target: Target,
    pub upstream: Option<&'static str>,
    pub leg: Leg,
    pub ours: Ours,
}

impl Route {
    /// The domain a forwarded row goes to, given what serves the meetings domain; `None` for
    /// local rows, and for rows our own services do not implement when `ours` is set.
    pub fn domain(&self, ours: bool) -> Option<Domain> {
        let Target::Forward(d) = self.target else {
            return None;
        };
        match (ours, self.ours) {
            (false, _) | (true, Ours::Same) => Some(d),
            (true, Ours::Missing) => None,
            (true, Ours::At(other)) => Some(other),
        }
    }

    /// False when a segment the original types as an integer (`{id}`, `{recording_id}`,
    /// `{media_file_id}`: FastAPI `int` path parameters) is not a decimal integer.
    pub fn integer_ids_ok(&self, path: &str) -> bool {
        const INT_PARAMS: [&str; 3] = ["{id}", "{recording_id}", "{media_file_id}"];
        let segs = path.trim_start_matches('/').split('/');
        self.template
            .trim_start_matches('/')
            .split('/')
            .zip(segs)
            .filter(|(t, _)| INT_PARAMS.contains(t))
            .all(|(_, s)| {
                let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            })
    }

    /// The path to send upstream for `path` (which matched this row), without the query. `None`
    /// when it is `path` itself (no allocation).
    pub fn upstream_path(&self, path: &str) -> Option<String> {
        let calendar = self.template.contains("{calendar_id}");
        if self.upstream.is_none() && !calendar {
            return None;
        }
        Some(rewrite(
            self.template,
            self.upstream.unwrap_or(self.template),
            path,
        ))
    }
}

/// Index of a matched row: `ROUTES.len()` stands for [`ADMIN_ROUTE`].
pub type RouteIndex = usize;

/// Finds the row serving `method path`, if any: the first row in table order (through
/// [`index`]), then the admin row. Allocation-free.
pub fn find(
    method: &Method,
    path: &str,
    admin_enabled: bool,
) -> Option<(RouteIndex, &'static Route)> {
    if !plain_path(path) {
        return None;
    }
    index::find(path, admin_enabled, |route| {
        method_ok(route.methods, method)
    })
}

/// True for `/user/calendars/{calendar_id}[/sync]` whose id decodes to a control character:
/// such a path matches no row (see `plain_path`), but the original answers it 400
/// `invalid path parameter` rather than 404.
pub fn is_bad_calendar_id(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/user/calendars/") else {
        return false;
    };
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !(tail.is_empty() || tail == "sync") {
        return false;
    }
    let b = id.as_bytes();
    let hex = |j: usize| b.get(j).and_then(|h| char::from(*h).to_digit(16));
    (0..b.len()).any(|i| {
        let c = match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => ((hi << 4) | lo) as u8,
            (c, _, _) => c,
        };
        c < 0x20 || c == 0x7f
    })
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
        Methods::Set(names) => names.iter().any(|n| method.as_str() == *n),
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

/// The match rule on whole strings, kept as the oracle the index is tested against.
#[cfg(test)]
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

/// Builds the upstream path: `{name}` segments of `to` take the segment `path` has where
/// `from` has `{name}`, `*` takes the tail. `{calendar_id}` is re-encoded as the original does
/// (its percent-decoding, then every byte but the unreserved ones percent-encoded), so an id
/// reaches the identity service spelled one way only.
fn rewrite(from: &str, to: &str, path: &str) -> String {
    let mut params: Vec<(&str, &str)> = Vec::new();
    let mut tail = "";
    let mut rest = path.strip_prefix('/').unwrap_or(path);
    for t in from.trim_start_matches('/').split('/') {
        if t == "*" {
            tail = rest;
            break;
        }
        let (seg, after) = rest.split_once('/').unwrap_or((rest, ""));
        if t.starts_with('{') {
            params.push((t, seg));
        }
        rest = after;
    }
    let mut out = String::with_capacity(path.len() + 8);
    for t in to.trim_start_matches('/').split('/') {
        if t == "*" {
            if !tail.is_empty() {
                out.push('/');
                out.push_str(tail);
            }
            continue;
        }
        out.push('/');
        match params.iter().find(|(name, _)| *name == t) {
            Some((name, seg)) if *name == "{calendar_id}" => out.push_str(&reencode(seg)),
            Some((_, seg)) => out.push_str(seg),
            None => out.push_str(t),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `quote(unquote(seg), safe="")`: percent-decoded, then all but `A-Za-z0-9-._~` encoded.
fn reencode(seg: &str) -> String {
    let b = seg.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|h| char::from(*h).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                decoded.push(((hi << 4) | lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                decoded.push(c);
                i += 1;
            }
        }
    }
    let mut out = String::with_capacity(decoded.len() * 3);
    for c in decoded {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table scanned in order, with the string rule: what [`find`] must agree with.
    fn scan(method: &Method, path: &str, admin: bool) -> Option<RouteIndex> {
        if !plain_path(path) {
            return None;
        }
        ROUTES
            .iter()
            .position(|r| method_ok(r.methods, method) && path_matches(r.template, path))
            .or_else(|| (admin && path_matches(ADMIN_ROUTE.template, path)).then_some(ROUTES.len()))
    }

    #[test]
    fn index_agrees_with_a_full_scan() {
        // Every template with its parameters filled in, cut short, made longer, emptied, and
        // with its first segment changed; under every method, with and without the admin row.
        let mut paths: Vec<String> = vec![
            String::new(),
            "/".into(),
            "//".into(),
            "/browser".into(),
            "/browser/".into(),
            format!("/browser{}", "/x".repeat(40)),
            format!("/meetings{}", "/1".repeat(40)),
            "/admin".into(),
            "/admin/users/1".into(),
            "/nope/x".into(),
        ];
        for r in ROUTES.iter().chain([&ADMIN_ROUTE]) {
            for fill in ["7", "", "x y", "by-id", "status"] {
                let full: String = r
                    .template
                    .split('/')
                    .map(|t| match t {
                        "*" => "tail/more".to_string(),
                        t if t.starts_with('{') => fill.to_string(),
                        t => t.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                paths.push(format!("{full}/"));
                paths.push(format!("{full}/extra"));
                paths.push(
                    full.rsplit_once('/')
                        .map_or(String::new(), |(a, _)| a.to_string()),
                );
                paths.push(full.replacen('/', "/z", 1));
                paths.push(full);
            }
        }
        let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
        let mut matched = 0;
        for path in &paths {
            for m in methods {
                let method = Method::from_bytes(m.as_bytes()).expect("method");
                for admin in [false, true] {
                    let got = find(&method, path, admin).map(|(i, _)| i);
                    assert_eq!(
                        got,
                        scan(&method, path, admin),
                        "{m} {path:?} admin={admin}"
                    );
                    matched += usize::from(got.is_some());
                }
            }
        }
        // The corpus does reach the rows (not only misses).
        assert!(matched > ROUTES.len() * 4, "only {matched} matches");
    }

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

    #[test]
    fn rewrites_follow_the_original() {
        let cases = [
            (
                "POST",
                "/transcripts/zoom/123/share",
                "/meetings/zoom/123/share",
            ),
            ("GET", "/user/webhook/deliveries", "/webhooks/deliveries"),
            ("GET", "/agent/sessions/9/x", "/api/sessions/9/x"),
            ("POST", "/agent/chat", "/api/chat"),
            (
                "GET",
                "/recordings/4/media/5/download",
                "/recordings/4/media/5/raw",
            ),
            ("PATCH", "/user/calendars/a%20b", "/user/calendars/a%20b"),
            (
                "PATCH",
                "/user/calendars/a@b:c",
                "/user/calendars/a%40b%3Ac",
            ),
            (
                "GET",
                "/user/calendars/x%7Ey/sync",
                "/user/calendars/x~y/sync",
            ),
        ];
        for (m, public, upstream) in cases {
            let m = Method::from_bytes(m.as_bytes()).expect("method");
            let (_, row) = find(&m, public, false).expect(public);
            assert_eq!(
                row.upstream_path(public).as_deref(),
                Some(upstream),
                "{public}"
            );
        }
        let (_, row) = find(&Method::GET, "/bots/status", false).expect("row");
        assert_eq!(row.upstream_path("/bots/status"), None);
        let (_, row) = find(&Method::GET, "/mcp", false).expect("row");
        assert_eq!(row.upstream_path("/mcp"), None);
    }

    #[test]
    fn every_forwarded_row_names_a_domain_and_rows_are_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                let shared = a
                    .methods
                    .list()
                    .into_iter()
                    .any(|m| b.methods.list().contains(&m));
                assert!(
                    !(shared && a.template == b.template),
                    "{} twice",
                    a.template
                );
            }
            if let Target::Forward(_) = a.target {
                assert!(
                    matches!(a.access, Access::Scopes(_)),
                    "{} is scoped",
                    a.template
                );
            }
        }
    }

    #[test]
    fn control_characters_in_a_calendar_id_are_recognised() {
        assert!(is_bad_calendar_id("/user/calendars/a%01b"));
        assert!(is_bad_calendar_id("/user/calendars/a%7f/sync"));
        assert!(!is_bad_calendar_id("/user/calendars/a%20b"));
        assert!(!is_bad_calendar_id("/user/calendars/a%01/other"));
        assert!(!is_bad_calendar_id("/meetings/a%01"));
    }

    #[test]
    fn integer_ids_are_recognised() {
        let (_, row) = find(&Method::GET, "/recordings/12/media/x/raw", false).expect("row");
        assert!(!row.integer_ids_ok("/recordings/12/media/x/raw"));
        assert!(row.integer_ids_ok("/recordings/12/media/-3/raw"));
        let (_, row) = find(&Method::GET, "/meetings/abc", false).expect("row");
        assert!(!row.integer_ids_ok("/meetings/abc"));
        let (_, row) = find(&Method::GET, "/bots/status", false).expect("row");
        assert!(row.integer_ids_ok("/bots/status"));
    }

    #[test]
    fn ours_rows_fall_back_or_vanish() {
        let (_, row) = find(&Method::PUT, "/user/webhook", false).expect("row");
        assert_eq!(row.domain(false), Some(Domain::Admin));
        assert_eq!(row.domain(true), Some(Domain::Admin));
        let (_, row) = find(&Method::GET, "/recordings", false).expect("row");
        assert_eq!(row.domain(false), Some(Domain::Meetings));
        assert_eq!(row.domain(true), None);
        let (_, row) = find(&Method::GET, "/mcp/x", false).expect("row");
        assert_eq!(row.domain(true), Some(Domain::Mcp));
    }
}
