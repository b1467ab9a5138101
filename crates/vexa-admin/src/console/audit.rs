//! The audit log screen (`/console/audit`): the entries newest first, a filter form read by
//! GET, and the API's `before_seq` cursor for paging. The filter is read through
//! [`AuditQuery::apply`], the admin API's own reader, so a bad value is refused in the API's
//! words, shown next to the control that held it.

use std::fmt::Write;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde_json::Value;
use vexa_core::audit::BrokenLink;
use vexa_core::{AuditAction, Timestamp};

use super::error::ConsoleError;
use super::form::{Fields, PageQuery};
use super::html::esc;
use super::session::Session;
use super::view::{field, layout, time, Nav};
use super::ConsoleState;
use crate::extract::AuditQuery;
use crate::wire::AuditEntryView;

/// Entries per page of the audit screen.
const PAGE: i64 = 25;

/// The filter controls, in the form's order: (query name, label).
const FILTERS: [(&str, &str); 5] = [
    ("user_id", "User id"),
    ("key_id", "Key id"),
    ("action", "Action"),
    ("since", "Since (UTC)"),
    ("until", "Until (UTC)"),
];

/// What the filter form holds: the values as typed (shown back), and the mistakes per field.
struct Typed<'a> {
    values: Vec<(&'static str, &'a str)>,
    errors: Vec<(&'static str, String)>,
}

impl Typed<'_> {
    fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v)
    }

    fn error(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, e)| e.as_str())
    }

    /// The non-empty filter values as a query string (for the pager's links).
    fn query(&self, before_seq: Option<i64>) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .values
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        if let Some(seq) = before_seq {
            pairs.push(("before_seq", seq.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// A browser's `datetime-local` value (`2026-12-03T07:30`, seconds optional) or a bare date,
/// read as UTC and written as the RFC 3339 the API reads; anything else goes to the API's
/// reader as typed (epoch milliseconds, full RFC 3339, or a mistake it words).
fn as_api_time(raw: &str) -> String {
    let b = raw.as_bytes();
    let is_date = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    if is_date {
        return format!("{raw}T00:00:00Z");
    }
    if is_local_time(raw) {
        let secs = if b.len() == 16 { ":00" } else { "" };
        return format!("{raw}{secs}Z");
    }
    raw.to_owned()
}

/// Whether `raw` is in the shape a `datetime-local` control holds (`YYYY-MM-DDTHH:MM[:SS]`).
fn is_local_time(raw: &str) -> bool {
    let b = raw.as_bytes();
    (b.len() == 16 || b.len() == 19) && b.get(10) == Some(&b'T') && b[4] == b'-' && b[7] == b'-'
}

fn read_filter(q: &Fields) -> (AuditQuery, Typed<'_>, Option<String>) {
    let mut query = AuditQuery::default();
    query.page.limit = PAGE + 1;
    let mut typed = Typed {
        values: Vec::new(),
        errors: Vec::new(),
    };
    for (name, _) in FILTERS {
        let raw = q.get(name);
        typed.values.push((name, raw));
        if raw.is_empty() || (name == "action" && raw == "any") {
            continue;
        }
        let value = match name {
            "since" | "until" => as_api_time(raw),
            _ => raw.to_owned(),
        };
        if let Err(e) = query.apply(name, &value) {
            typed.errors.push((name, e.to_string()));
        }
    }
    // A bad cursor (a hand-edited link) is a page with its words, not a silent first page.
    let mut cursor_error = None;
    let cursor = q.get("before_seq");
    if !cursor.is_empty() {
        if let Err(e) = query.apply("before_seq", cursor) {
            cursor_error = Some(e.to_string());
        }
    }
    (query, typed, cursor_error)
}

pub async fn audit(
    State(st): State<ConsoleState>,
    Extension(session): Extension<Session>,
    PageQuery(q): PageQuery,
) -> Result<Response, ConsoleError> {
    let (query, typed, cursor_error) = read_filter(&q);
    if !typed.errors.is_empty() || cursor_error.is_some() {
        let page = render(session.csrf(), &typed, cursor_error.as_deref(), None);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response());
    }
    let (mut entries, total) = st.service.audit(&query.filter, query.page).await?;
    // One entry more than shown tells whether an older page exists.
    let older = usize::try_from(PAGE)
        .ok()
        .filter(|&n| entries.len() > n)
        .and_then(|n| {
            entries.truncate(n);
            entries.last().map(|e| e.seq)
        });
    let chain = st.service.verify_audit_chain().await?;
    let listing = Listing {
        chain,
        entries: &entries,
        total,
        older,
        paged: query.page.before_seq.is_some(),
    };
    Ok(Html(render(session.csrf(), &typed, None, Some(&listing))).into_response())
}

struct Listing<'a> {
    /// The whole chain's check: entries verified, or the first broken link.
    chain: Result<i64, BrokenLink>,
    entries: &'a [AuditEntryView],
    total: i64,
    /// The cursor of the next older page, when there is one.
    older: Option<i64>,
    /// Whether this is a page after the newest.
    paged: bool,
}

fn render(
    csrf: &str,
    typed: &Typed<'_>,
    cursor_error: Option<&str>,
    list: Option<&Listing<'_>>,
) -> String {
    let mut body = list.map_or_else(String::new, |l| chain_line(&l.chain));
    body.push_str(&filter_form(typed));
    if let Some(e) = cursor_error {
        let _ = write!(
            body,
            r#"<p class="error" role="alert">{}</p><p><a href="/console/audit">Newest entries</a></p>"#,
            esc(e)
        );
    }
    match list {
        None if cursor_error.is_none() => {
            body.push_str(r#"<p class="empty">Fix the filter above to see entries.</p>"#)
        }
        None => {}
        Some(l) => {
            body.push_str(&table(l.entries));
            body.push_str(&pager(typed, l));
        }
    }
    layout("Audit log", Some(csrf), Nav::Audit, &body)
}

/// The hash chain's state in one line, at the top (it covers the whole log, not the filter).
fn chain_line(chain: &Result<i64, BrokenLink>) -> String {
    match chain {
        Ok(n) => {
            format!(r#"<p class="meta chain" role="status">Hash chain verified: {n} entries.</p>"#)
        }
        Err(b) => format!(
            r#"<p class="error chain" role="alert">Hash chain not verified: {}.</p>"#,
            esc(&b.to_string())
        ),
    }
}

fn filter_form(t: &Typed<'_>) -> String {
    let mut options = String::from(r#"<option value="any">any</option>"#);
    for a in AuditAction::ALL {
        let name = a.as_str();
        let selected = if t.value("action") == name {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            options,
            r#"<option value="{name}"{selected}>{name}</option>"#
        );
    }
    let number = |name: &str, id: &str| {
        format!(
            r#"<input id="{id}" name="{name}" type="text" inputmode="numeric" autocomplete="off" value="{}">"#,
            esc(t.value(name))
        )
    };
    let when = |name: &str, id: &str| {
        // A `datetime-local` control shows nothing for a value not in its own shape (epoch
        // milliseconds, a mistake): such a value is shown in a text box, so the form keeps
        // what was sent and the error's words refer to something visible.
        let v = t.value(name);
        let kind = if v.is_empty() || (t.error(name).is_none() && is_local_time(v)) {
            "datetime-local"
        } else {
            "text"
        };
        format!(
            r#"<input id="{id}" name="{name}" type="{kind}" step="1" value="{}">"#,
            esc(v)
        )
    };
    let mut fields = String::new();
    for (name, label) in FILTERS {
        let id = format!("audit-{}", name.replace('_', "-"));
        let input = match name {
            "action" => format!(r#"<select id="{id}" name="action">{options}</select>"#),
            "since" | "until" => when(name, &id),
            _ => number(name, &id),
        };
        // `field` marks the first `<input`; a select gets the same marks here.
        let input = if name == "action" && t.error(name).is_some() {
            input.replacen(
                "<select",
                r#"<select aria-invalid="true" aria-describedby="audit-action-error""#,
                1,
            )
        } else {
            input
        };
        fields.push_str(&field(&id, label, &input, None, t.error(name)));
    }
    format!(
        r#"<form method="get" action="/console/audit" class="card filters" aria-label="Filter the audit log">{fields}<div class="filter-actions"><button type="submit">Filter</button> <a href="/console/audit">Clear</a></div></form>"#
    )
}

fn table(entries: &[AuditEntryView]) -> String {
    if entries.is_empty() {
        return r#"<p class="empty">No audit entries match.</p>"#.to_owned();
    }
    let mut rows = String::new();
    for e in entries {
        let user = e.user_id.map_or_else(
            || "—".to_owned(),
            |u| format!(r#"<a href="/console/users/{0}">user {0}</a>"#, u.0),
        );
        let key = e
            .key_id
            .map_or_else(|| "—".to_owned(), |k| format!("key {}", k.0));
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "—".to_owned(), |s| format!("<code>{}</code>", esc(s)))
        };
        let _ = write!(
            rows,
            r#"<tr><td class="num">{seq}</td><td>{time}</td><td>{actor}</td><td><code>{action}</code></td><td>{user}</td><td>{key}</td><td class="rid">{rid}</td><td>{addr}</td><td class="changes">{changes}</td></tr>"#,
            seq = e.seq,
            time = time(Some(e.time)),
            actor = esc(&e.actor),
            action = esc(&e.action),
            rid = opt(&e.request_id),
            addr = opt(&e.client_addr),
            changes = esc(&changes(&e.changes)),
        );
    }
    format!(
        r#"<div class="scroll"><table class="audit"><caption class="sr">Audit entries, newest first</caption><thead><tr><th scope="col">Seq</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">User</th><th scope="col">Key</th><th scope="col">Request id</th><th scope="col">Client</th><th scope="col">Changes</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

/// `changes` as `key: value` text, nesting in braces; the caller escapes it. A `…_at` field
/// holds epoch milliseconds (what the hash covers) and reads as its RFC 3339 time.
fn changes(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "—".to_owned(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v.as_i64() {
                Some(ms) if k.ends_with("_at") => format!("{k}: {}", Timestamp(ms).to_rfc3339()),
                _ => format!("{k}: {}", scalar(v)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => scalar(other),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_owned(),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}: {}", scalar(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(a) => format!("[{}]", a.iter().map(scalar).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn pager(t: &Typed<'_>, l: &Listing<'_>) -> String {
    let mut out = format!(
        r#"<nav class="pager" aria-label="Pages"><span>{} shown of {} matching</span>"#,
        l.entries.len(),
        l.total
    );
    if l.paged {
        let q = t.query(None);
        let sep = if q.is_empty() { "" } else { "?" };
        let _ = write!(
            out,
            r#"<a href="/console/audit{sep}{}">Newest</a>"#,
            esc(&q)
        );
    }
    if let Some(seq) = l.older {
        let _ = write!(
            out,
            r#"<a href="/console/audit?{}">Older</a>"#,
            esc(&t.query(Some(seq)))
        );
    }
    out.push_str("</nav>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_times_become_rfc3339_utc() {
        assert_eq!(as_api_time("2026-12-03"), "2026-12-03T00:00:00Z");
        assert_eq!(as_api_time("2026-12-03T07:30"), "2026-12-03T07:30:00Z");
        assert_eq!(as_api_time("2026-12-03T07:30:15"), "2026-12-03T07:30:15Z");
        assert_eq!(as_api_time("1700000000000"), "1700000000000");
        assert_eq!(as_api_time("soon"), "soon");
    }

    #[test]
    fn changes_read_as_key_value_text() {
        let v = serde_json::json!(
            {"email": "a@b.co", "scopes": ["bot", "tx"], "name": null, "n": 3, "expires_at": 0}
        );
        assert_eq!(
            changes(&v),
            "email: a@b.co, expires_at: 1970-01-01T00:00:00Z, n: 3, name: none, scopes: [bot, tx]"
        );
        assert_eq!(changes(&serde_json::json!({})), "—");
    }
}
