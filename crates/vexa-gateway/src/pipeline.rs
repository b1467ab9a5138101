//! The request pipeline: fixed phases over one request, in the contract's order —
//! route match (404) → edge guard → authenticate → authorize (scope) → per-user limiter →
//! strip + inject identity → forward. Each phase either passes or yields a [`Rejection`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HOST};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use vexa_core::usage::Outcome;
use vexa_core::{Clock, Timestamp};

use crate::access_log::{self, AccessLogSink};
use crate::body::GwBody;
use crate::cache::{KeyCache, Lookup, ResolvedIdentity};
use crate::error::{Rejection, ScopeDenial, JSON};
use crate::headers::{self, X_API_KEY, X_REQUEST_ID, X_TRACE_ID, X_VEXA_IDENTITY};
use crate::last_used::LastUsed;
use crate::limit::{client_ip_from_headers, Decision, EdgeGuard, TrustedProxies, UserLimiter};
use crate::observe::{AuthOutcome, Metrics};
use crate::proxy::{self, PinnedConns, Upstream, UpstreamConns};
use crate::routes::{self, Access, Domain, Leg, Route, Target};
use crate::signing::IdentitySigner;
use crate::ws::original::Terminator;
use crate::ws::relay::{self, WsContext};
use crate::ws::{self, Registry};

const HEALTH_BODY: &[u8] = br#"{"status":"ok","service":"gateway"}"#;
const PROMETHEUS: HeaderValue = HeaderValue::from_static("text/plain; version=0.0.4");
const CLOSE: HeaderValue = HeaderValue::from_static("close");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
const NO: HeaderValue = HeaderValue::from_static("no");
/// How long the unread body of a refused request may take to arrive before the connection is
/// closed instead.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything a request needs, shared by all connections.
pub struct State {
    pub cache: KeyCache,
    /// With our own store: whether it holds imported keys (refreshed by `server::serve`).
    pub imported: Option<Arc<crate::identity::ImportedKeys>>,
    pub last_used: LastUsed,
    pub clock: Arc<dyn Clock>,
    pub edge: EdgeGuard,
    pub user_limit: UserLimiter,
    pub trusted: TrustedProxies,
    pub meetings: Upstream,
    pub browser: Option<Upstream>,
    /// The admin domain (`ADMIN_API_URL`): `/user/*` settings, and `/admin/*` when `admin_proxy`.
    pub admin: Option<Upstream>,
    pub admin_proxy: bool,
    pub agent: Option<Upstream>,
    pub mcp: Option<Upstream>,
    /// `MEETINGS_API_KIND=ours`: rows our own services do not implement answer 404.
    pub ours: bool,
    /// Signs `X-Vexa-Identity` when `VEXA_GATEWAY_IDENTITY_SIGNING_KEY_FILE` is set.
    pub signer: Option<IdentitySigner>,
    pub secret: HeaderValue,
    pub upstream_timeout: std::time::Duration,
    pub max_body_bytes: u64,
    pub metrics: Metrics,
    pub access_log: AccessLogSink,
    pub prometheus: PrometheusHandle,
    /// `/openapi.json`, generated from the route table once at startup (`crate::openapi`).
    pub openapi: Bytes,
    pub sockets: Arc<Registry>,
    /// `/ws` terminated as the original gateway does (`MEETINGS_API_KIND=vexa` only).
    pub terminator: Option<Terminator>,
}

/// What one client connection carries from one of its requests to the next.
pub struct ClientConn {
    pub peer: SocketAddr,
    /// The peer as an `X-Forwarded-For` entry, formatted once per connection, not per request.
    pub peer_entry: HeaderValue,
    /// The upstream connections this client connection holds.
    pub upstream: PinnedConns,
}

impl ClientConn {
    pub fn new(peer: SocketAddr, shared: Arc<UpstreamConns>) -> ClientConn {
        ClientConn {
            peer,
            peer_entry: headers::peer_entry(peer.ip()),
            upstream: PinnedConns::new(shared),
        }
    }
}

/// What the access log and metrics learn about one request.
struct Trace {
    route: Option<routes::RouteIndex>,
    user_id: Option<i64>,
}

impl State {
    /// Serves one request; never fails (every failure is a response).
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: &ClientConn,
    ) -> Response<GwBody> {
        let started = Instant::now();
        let request_id = vexa_http::request_id::accept_or_mint(req.headers());
        let mut trace = Trace {
            route: None,
            user_id: None,
        };
        let (parts, body) = req.into_parts();
        // A client waiting for `100 Continue` has not sent its body: reading it would invite it.
        let awaits_continue = parts.headers.contains_key(http::header::EXPECT);
        let mut body = Some(body);
        let mut resp = match self
            .run(parts, &mut body, conn, &request_id, &mut trace)
            .await
        {
            Ok(resp) => resp,
            Err(rejection) => {
                let mut resp = rejection.into_response();
                if let Some(body) = body.take() {
                    if !self.drain(body, awaits_continue, rejection).await {
                        resp.headers_mut().insert(CONNECTION, CLOSE);
                    }
                }
                resp
            }
        };
        resp.headers_mut().insert(X_REQUEST_ID, request_id.clone());
        resp.headers_mut().insert(X_TRACE_ID, request_id.clone());
        let latency = started.elapsed();
        let route = trace.route.map_or("unmatched", routes::template);
        if let Some(index) = trace.route {
            self.metrics.observe(index, latency.as_secs_f64());
        }
        self.access_log.record(&access_log::Line {
            request_id: request_id.to_str().unwrap_or(""),
            user_id: trace.user_id,
            route,
            status: resp.status().as_u16(),
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        });
        resp
    }

    /// Reads and discards the unread body of a refused request, so that a keep-alive client can
    /// reuse the connection: hyper closes a connection whose request body was left unread, and
    /// the client only learns it when its next request fails. Bounded by `max_body_bytes` and
    /// [`DRAIN_TIMEOUT`]; false (answer with `Connection: close`) when the body is too big, too
    /// slow or broken, and for clients refused at the edge (not worth any reading).
    async fn drain(&self, mut body: Incoming, awaits_continue: bool, why: Rejection) -> bool {
        if body.is_end_stream() {
            return true;
        }
        // hyper knows the declared length (Content-Length) as the body's exact size hint.
        if matches!(why, Rejection::EdgeRateLimited { .. })
            || awaits_continue
            || body
                .size_hint()
                .exact()
                .is_some_and(|n| n > self.max_body_bytes)
        {
            return false;
        }
        let max = self.max_body_bytes;
        let read_all = async move {
            let mut seen = 0u64;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return false };
                if let Some(data) = frame.data_ref() {
                    seen = seen.saturating_add(data.len() as u64);
                    if seen > max {
                        return false;
                    }
                }
            }
            true
        };
        tokio::time::timeout(DRAIN_TIMEOUT, read_all)
            .await
            .unwrap_or(false)
    }

    /// The request again, for the WebSocket upgrade (which consumes it).
    fn reassemble(
        parts: Parts,
        body: &mut Option<Incoming>,
    ) -> Result<Request<Incoming>, Rejection> {
        body.take()
            .map(|b| Request::from_parts(parts, b))
            .ok_or(Rejection::NotFound)
    }

    /// The phases, in the contract's order; each `?` is a refusal that ends the request.
    async fn run(
        self: &Arc<Self>,
        parts: Parts,
        body: &mut Option<Incoming>,
        conn: &ClientConn,
        request_id: &HeaderValue,
        trace: &mut Trace,
    ) -> Result<Response<GwBody>, Rejection> {
        // Phase 1: route match, before anything else.
        let admin_proxy = self.admin_proxy && self.admin.is_some();
        let Some((index, route)) = routes::find(&parts.method, parts.uri.path(), admin_proxy)
        else {
            if !self.ours && routes::is_bad_calendar_id(parts.uri.path()) {
                return Err(Rejection::InvalidPathParameter);
            }
            return Err(Rejection::NotFound);
        };
        trace.route = Some(index);
        // The original checks typed ids before any key (FastAPI); our own services decide alone.
        if !self.ours && !route.integer_ids_ok(parts.uri.path()) {
            return Err(Rejection::NotAnInteger);
        }
        if let Some(resp) = self.answer_locally(route.target, parts.uri.path()) {
            return Ok(resp);
        }

        // Phase 2: edge guard, per client IP.
        let now = self.clock.now();
        let client = client_ip_from_headers(conn.peer, &parts.headers, &self.trusted);
        self.guard_edge(client, index, now)?;
        if route.access == Access::Passthrough {
            let upstream = self.admin.as_ref().ok_or(Rejection::NotFound)?;
            return self
                .forward(parts, body, upstream, route, None, request_id, conn)
                .await;
        }
        // A row with no service to go to is not there at all (before any key check).
        let upstream = self.upstream_of(route)?;
        // In front of the original meeting-api, `/ws` is accepted first and authenticated on
        // the socket, as the original gateway does.
        if route.target == Target::WebSocket && !self.ours {
            let req = Self::reassemble(parts, body)?;
            return ws::original::accept(self.clone(), req, route, index, request_id.clone());
        }

        // Phase 3: authenticate.
        let who = self.authenticate(&parts, route, index).await?;
        trace.user_id = Some(who.principal.user_id.0);

        // Phase 4: authorize.
        self.authorize(&who, route.access, index, now)?;

        // Phase 5: per-user limiter.
        let decision = self.limit_user(&who, index, now, client).await?;

        // Phase 6 + 7: identity and forward.
        let mut resp = match route.target {
            Target::AuthMe => auth_me(&who),
            Target::WebSocket => {
                self.relay_websocket(parts, body, who, request_id, now)
                    .await?
            }
            Target::Forward(domain) => {
                let missing = match domain {
                    Domain::Browser => Rejection::BrowserNotConfigured,
                    _ => Rejection::NotFound,
                };
                let upstream = upstream.ok_or(missing)?;
                self.forward(parts, body, upstream, route, Some(&who), request_id, conn)
                    .await?
            }
            Target::Passthrough
            | Target::Health
            | Target::Metrics
            | Target::OpenApi
            | Target::Docs => return Err(Rejection::NotFound),
        };
        decision.apply(resp.headers_mut());
        Ok(resp)
    }

    /// Where a forwarded row goes: its domain (or, with our own services, where they serve it),
    /// `None` for local rows. A domain without a URL, or a row our services do not implement,
    /// is a 404 — except `/browser/*`, whose 503 the contract names (§4).
    fn upstream_of(&self, route: &Route) -> Result<Option<&Upstream>, Rejection> {
        let Target::Forward(declared) = route.target else {
            return Ok(None);
        };
        let domain = route.domain(self.ours).ok_or(Rejection::NotFound)?;
        let upstream = match domain {
            Domain::Meetings => Some(&self.meetings),
            Domain::Admin => self.admin.as_ref(),
            Domain::Agent => self.agent.as_ref(),
            Domain::Mcp => self.mcp.as_ref(),
            Domain::Browser => self.browser.as_ref(),
        };
        match (upstream, declared) {
            (Some(u), _) => Ok(Some(u)),
            (None, Domain::Browser) => Ok(None),
            (None, _) => Err(Rejection::NotFound),
        }
    }

    /// `/health`, `/metrics`, `/openapi.json` and `/docs` are answered by the gateway itself,
    /// before any check (the edge guard included: reading the reference spends no budget).
    fn answer_locally(&self, target: Target, path: &str) -> Option<Response<GwBody>> {
        match target {
            Target::Health => Some(local(Bytes::from_static(HEALTH_BODY), JSON)),
            Target::Metrics => Some(local(Bytes::from(self.prometheus.render()), PROMETHEUS)),
            Target::OpenApi => Some(local(self.openapi.clone(), JSON)),
            Target::Docs => Some(match vexa_http::openapi::docs_file(path) {
                Some(file) => match HeaderValue::from_str(&file.content_type) {
                    Ok(ctype) => local(Bytes::from(file.bytes.into_owned()), ctype),
                    Err(_) => Rejection::NotFound.into_response(),
                },
                None => Rejection::NotFound.into_response(),
            }),
            _ => None,
        }
    }

    /// Whether this gateway serves `route` as configured: local rows always; a forwarded row
    /// when its domain has a URL and (with our own services) is implemented (`/browser/*`
    /// always: it answers 503 without `BROWSER_API_URL`); `/admin/*` with the admin proxy on.
    pub(crate) fn serves(&self, route: &Route) -> bool {
        match route.target {
            Target::Passthrough => self.admin_proxy && self.admin.is_some(),
            _ => self.upstream_of(route).is_ok(),
        }
    }

    /// Phase 2: the per-IP budget, keyed on the client address (see [`client_ip_from_headers`]).
    fn guard_edge(
        &self,
        client: IpAddr,
        index: routes::RouteIndex,
        now: Timestamp,
    ) -> Result<(), Rejection> {
        let decision = self.edge.check(client, now.0);
        if !decision.allowed {
            self.metrics.count(index, AuthOutcome::RateLimited);
            return Err(Rejection::EdgeRateLimited {
                retry_after_secs: decision.retry_after_secs,
            });
        }
        Ok(())
    }

    /// Phase 4: the key must hold one of the scopes the route accepts.
    fn authorize(
        &self,
        who: &ResolvedIdentity,
        access: Access,
        index: routes::RouteIndex,
        now: Timestamp,
    ) -> Result<(), Rejection> {
        if let Access::Scopes(accepted) = access {
            if !who.principal.scopes.intersects(accepted) {
                self.metrics.count(index, AuthOutcome::Forbidden);
                self.count_refusal(who.principal.key_id, now, Outcome::Scope);
                return Err(Rejection::Forbidden(ScopeDenial::new(
                    accepted,
                    &who.principal.scopes,
                )));
            }
        }
        Ok(())
    }

    /// Phase 5: the user's budget, and the key's inside it when the key has a rate limit of its
    /// own (the stricter refuses, with the same 429). An admitted request counts as `valid` and
    /// notes its key's use (and `client`); the decision's `RateLimit-*` headers go on the
    /// eventual response.
    async fn limit_user(
        &self,
        who: &ResolvedIdentity,
        index: routes::RouteIndex,
        now: Timestamp,
        client: IpAddr,
    ) -> Result<Decision, Rejection> {
        let (user_id, limits) = (who.principal.user_id.0, &who.principal.limits);
        // A key without a rate limit of its own costs exactly the user bucket, nothing more.
        let decision = if limits.has_rate_limit() {
            let key_id = who.principal.key_id.0;
            self.user_limit
                .check_key(user_id, key_id, limits, now.0)
                .await
        } else {
            self.user_limit.check(user_id, now.0).await
        };
        if !decision.allowed {
            self.metrics.count(index, AuthOutcome::RateLimited);
            self.count_refusal(who.principal.key_id, now, Outcome::RateLimited);
            return Err(Rejection::UserRateLimited(decision));
        }
        self.metrics.count(index, AuthOutcome::Valid);
        // Keys of the original's identity service are not rows of our store (it records their
        // use itself, on every validate).
        if self.cache.is_own_store() {
            self.last_used.admitted(who, now, client);
        }
        Ok(decision)
    }

    /// Counts a refused request of a known key of our own store in its usage.
    fn count_refusal(&self, key: vexa_core::KeyId, now: Timestamp, outcome: Outcome) {
        if self.cache.is_own_store() {
            self.last_used.refused(key, now, outcome);
        }
    }

    /// Phases 6 + 7 for `/ws`: the upgrade, then a relay with the identity injected upstream.
    async fn relay_websocket(
        &self,
        parts: Parts,
        body: &mut Option<Incoming>,
        who: Arc<ResolvedIdentity>,
        request_id: &HeaderValue,
        now: Timestamp,
    ) -> Result<Response<GwBody>, Rejection> {
        let ctx = WsContext {
            registry: self.sockets.clone(),
            upstream_authority: self.meetings.authority.clone(),
            secret: self.secret.clone(),
            timeout: self.upstream_timeout,
            now,
        };
        relay::upgrade(ctx, Self::reassemble(parts, body)?, who, request_id.clone()).await
    }

    /// Phase 3: the key (`X-API-Key`; on MCP rows also `Authorization`; on `/ws` also
    /// `?api_key=`) through the cache and the identity source.
    pub(crate) async fn authenticate(
        &self,
        parts: &Parts,
        route: &Route,
        index: routes::RouteIndex,
    ) -> Result<Arc<ResolvedIdentity>, Rejection> {
        let target = route.target;
        let mcp = target == Target::Forward(Domain::Mcp);
        let from_header = match headers::key_carrier(&parts.headers, mcp) {
            Ok(k) => k,
            // Present but not visible ASCII: malformed, not missing.
            Err(()) => {
                self.metrics.count(index, AuthOutcome::Invalid);
                return Err(Rejection::InvalidKey);
            }
        };
        let raw = match (from_header, target) {
            (Some(k), _) => Some(k),
            (None, Target::WebSocket) => ws::query_key(parts.uri.query()),
            (None, _) => None,
        };
        let Some(raw) = raw else {
            self.metrics.count(index, AuthOutcome::Missing);
            return Err(Rejection::MissingKey);
        };
        // A key the source's format check refuses never reaches the cache or the source.
        let Some(key) = self.cache.admit(raw) else {
            self.metrics.count(index, AuthOutcome::Invalid);
            return Err(Rejection::InvalidKey);
        };
        let now = self.clock.now();
        let (outcome, result) = match self.cache.resolve(key, now).await {
            Lookup::Valid(who) => return Ok(who),
            Lookup::Unknown => (AuthOutcome::Invalid, Rejection::InvalidKey),
            Lookup::Revoked => (AuthOutcome::Revoked, Rejection::InvalidKey),
            Lookup::Expired(id) => {
                self.count_refusal(id, now, Outcome::Expired);
                (AuthOutcome::Expired, Rejection::InvalidKey)
            }
            Lookup::Unavailable => (AuthOutcome::Unavailable, Rejection::AuthUnavailable),
        };
        self.metrics.count(index, outcome);
        Err(result)
    }

    /// Phase 6 + 7 for HTTP: the request, its path rewritten as the row says, its headers
    /// rewritten (hop-by-hop and client authority headers stripped, `who`'s identity injected,
    /// the key only to a domain that authenticates by it), sent to `upstream` with both bodies
    /// streamed.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        mut parts: Parts,
        body: &mut Option<Incoming>,
        upstream: &Upstream,
        route: &Route,
        who: Option<&ResolvedIdentity>,
        request_id: &HeaderValue,
        conn: &ClientConn,
    ) -> Result<Response<GwBody>, Rejection> {
        let body = body.take().ok_or(Rejection::NotFound)?;
        let body = proxy::limited_body(body, self.max_body_bytes)?;
        // Origin form: the upstream connection is already the upstream's.
        parts.uri = http::Uri::from(upstream_pq(&parts.uri, route)?);
        // Where the row really goes (with our own services, maybe not its declared domain).
        let forwarded_key = match route.domain(self.ours) {
            Some(d) if d.receives_key() && who.is_some() => {
                headers::key_carrier(&parts.headers, d == Domain::Mcp)
                    .ok()
                    .flatten()
                    .and_then(|k| HeaderValue::from_str(k).ok())
            }
            _ => None,
        };
        let h = &mut parts.headers;
        headers::strip_for_upstream(h, route.target == Target::Passthrough);
        // Room for what goes on below, so the map grows (and rehashes) once, not several times.
        h.reserve(16);
        if let Some(who) = who {
            headers::inject_identity(h, who, &self.secret);
            if self.ours {
                headers::inject_key_limits(h, who);
            }
            if let Some(signer) = &self.signer {
                if let Some(token) = signer.header(&who.principal, self.clock.now().as_secs()) {
                    h.insert(X_VEXA_IDENTITY, token);
                }
            }
        }
        if let Some(key) = forwarded_key {
            h.insert(X_API_KEY, key);
        }
        h.insert(X_REQUEST_ID, request_id.clone());
        h.insert(X_TRACE_ID, request_id.clone());
        h.insert(HOST, upstream.host.clone());
        headers::add_forwarded(h, &conn.peer_entry);
        parts.version = http::Version::HTTP_11;
        let mut resp = proxy::forward(
            &conn.upstream,
            upstream,
            Request::from_parts(parts, body),
            self.upstream_timeout,
        )
        .await?;
        // Room for the request id pair and the `RateLimit-*` headers that go on next.
        resp.headers_mut().reserve(6);
        if route.leg == Leg::Sse {
            // Nothing between the gateway and the client may hold events back.
            let h = resp.headers_mut();
            h.insert(CACHE_CONTROL, NO_CACHE);
            h.insert(X_ACCEL_BUFFERING, NO);
        }
        Ok(resp)
    }
}

/// The upstream path and query for a request that matched `route`: the client's own unless the
/// row rewrites it (the query is kept either way).
fn upstream_pq(uri: &http::Uri, route: &Route) -> Result<PathAndQuery, Rejection> {
    let Some(path) = route.upstream_path(uri.path()) else {
        return Ok(uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")));
    };
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    PathAndQuery::try_from(pq).map_err(|_| Rejection::NotFound)
}

fn local(body: Bytes, content_type: HeaderValue) -> Response<GwBody> {
    let mut resp = Response::new(GwBody::full(body));
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}

fn auth_me(who: &ResolvedIdentity) -> Response<GwBody> {
    let p = &who.principal;
    let body = serde_json::json!({
        "user_id": p.user_id,
        "email": &*p.email,
        "scopes": p.scopes,
        "max_concurrent_bots": p.max_concurrent_bots,
        // The original's name for the same limit (its `/auth/me`).
        "max_concurrent": p.max_concurrent_bots,
        "key_id": p.key_id,
        "expires_at": p.expires_at,
    });
    local(Bytes::from(body.to_string()), JSON)
}
