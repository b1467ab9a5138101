//! The route table indexed once, at first use: every template split into its segments, and the
//! rows bucketed by their first segment. A request's path is split once, and compared only with
//! the rows that share its first segment, in table order, so the first row that matches wins
//! exactly as a scan of the whole table would decide (`tests::index_agrees_with_a_full_scan`).
//!
//! Why: scanning the 49 rows and splitting both strings for each cost more instructions per
//! request than anything else the gateway does (callgrind, `make bench`'s variant (l)).

use std::sync::LazyLock;

use super::{Route, RouteIndex, ADMIN_ROUTE, ROUTES};

/// Most path segments compared; deeper paths can only match a row ending in `*`. No template
/// is near this deep (checked when the index is built).
const MAX_SEGMENTS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg {
    Literal(&'static str),
    /// `{name}`: any one non-empty segment.
    Param,
    /// A trailing `*`: zero or more segments.
    Tail,
}

/// Row indices, in table order.
type Rows = Box<[RouteIndex]>;

struct Index {
    /// Every row's template as segments, by route index.
    templates: Box<[Box<[Seg]>]>,
    /// Per first literal segment, the rows that may match a path starting with it: those with
    /// that first segment and those starting with a parameter, in table order.
    buckets: Box<[(&'static str, Rows)]>,
    /// Rows starting with a parameter or `*`: the only candidates for any other first segment.
    open: Rows,
    admin: Box<[Seg]>,
}

static INDEX: LazyLock<Index> = LazyLock::new(build);

fn split(template: &'static str) -> Box<[Seg]> {
    let segs: Box<[Seg]> = template
        .trim_start_matches('/')
        .split('/')
        .map(|t| match t {
            "*" => Seg::Tail,
            t if t.starts_with('{') => Seg::Param,
            t => Seg::Literal(t),
        })
        .collect();
    // A static table that broke this would match nothing deeper; the table's tests catch it.
    debug_assert!(segs.len() < MAX_SEGMENTS, "template too deep: {template}");
    segs
}

fn build() -> Index {
    let templates: Box<[Box<[Seg]>]> = ROUTES.iter().map(|r| split(r.template)).collect();
    let first_literal = |i: &RouteIndex| match templates[*i].first() {
        Some(Seg::Literal(l)) => Some(*l),
        _ => None,
    };
    let mut firsts: Vec<&'static str> = (0..ROUTES.len())
        .filter_map(|i| first_literal(&i))
        .collect();
    firsts.sort_unstable();
    firsts.dedup();
    let buckets = firsts
        .into_iter()
        .map(|first| {
            let candidates = (0..ROUTES.len())
                .filter(|i| first_literal(i).is_none_or(|l| l == first))
                .collect();
            (first, candidates)
        })
        .collect();
    let open = (0..ROUTES.len())
        .filter(|i| first_literal(i).is_none())
        .collect();
    Index {
        templates,
        buckets,
        open,
        admin: split(ADMIN_ROUTE.template),
    }
}

/// A path split once on `/` (after its leading `/`), up to [`MAX_SEGMENTS`].
struct PathSegs<'a> {
    segs: [&'a str; MAX_SEGMENTS],
    len: usize,
    /// More segments than were kept.
    deeper: bool,
}

impl<'a> PathSegs<'a> {
    fn new(path: &'a str) -> Option<PathSegs<'a>> {
        let rest = path.strip_prefix('/')?;
        let mut out = PathSegs {
            segs: [""; MAX_SEGMENTS],
            len: 0,
            deeper: false,
        };
        for seg in rest.split('/') {
            if out.len == MAX_SEGMENTS {
                out.deeper = true;
                break;
            }
            out.segs[out.len] = seg;
            out.len += 1;
        }
        Some(out)
    }

    fn first(&self) -> &'a str {
        self.segs[0]
    }
}

fn matches(template: &[Seg], path: &PathSegs<'_>) -> bool {
    for (i, t) in template.iter().enumerate() {
        if *t == Seg::Tail {
            // `/browser` alone and `/browser/anything/…` both match.
            return true;
        }
        if i >= path.len {
            return false;
        }
        let s = path.segs[i];
        match t {
            Seg::Param if s.is_empty() => return false,
            Seg::Literal(l) if s != *l => return false,
            _ => {}
        }
    }
    path.len == template.len() && !path.deeper
}

/// The first row (in table order) whose methods accept `method` and whose template matches
/// `path`, then the admin row when `admin_enabled`. `path` is already known to be plain.
pub(super) fn find(
    path: &str,
    admin_enabled: bool,
    method_ok: impl Fn(&Route) -> bool,
) -> Option<(RouteIndex, &'static Route)> {
    let index = &*INDEX;
    let segs = PathSegs::new(path)?;
    let first = segs.first();
    let candidates = match index.buckets.binary_search_by(|(f, _)| (*f).cmp(first)) {
        Ok(at) => &index.buckets[at].1,
        Err(_) => &index.open,
    };
    for &i in candidates.iter() {
        let route = &ROUTES[i];
        if method_ok(route) && matches(&index.templates[i], &segs) {
            return Some((i, route));
        }
    }
    if admin_enabled && matches(&index.admin, &segs) {
        return Some((ROUTES.len(), &ADMIN_ROUTE));
    }
    None
}
