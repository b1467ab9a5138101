//! [`Routes`]: an axum router that remembers the path of every route it was given, so the
//! routes the admin API serves can be listed from the router itself — the one list the
//! OpenAPI test compares the document with (a route added without a `#[utoipa::path]`
//! annotation fails it). Owns no handler and no rule.

use axum::routing::MethodRouter;
use axum::Router;

/// A router being built under `prefix` (where the caller nests it), and the full paths of its
/// routes in the order they were added.
pub(crate) struct Routes<S> {
    prefix: &'static str,
    router: Router<S>,
    paths: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// An empty router whose routes will be served under `prefix` (`""` at the root).
    pub(crate) fn under(prefix: &'static str) -> Routes<S> {
        Routes {
            prefix,
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// [`Router::route`], noting the path.
    pub(crate) fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Routes<S> {
        self.paths.push(format!("{}{path}", self.prefix));
        self.router = self.router.route(path, method_router);
        self
    }

    /// The router, and the full path of every route in it.
    pub(crate) fn finish(self) -> (Router<S>, Vec<String>) {
        (self.router, self.paths)
    }
}
