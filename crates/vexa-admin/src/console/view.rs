//! The console's pages as HTML strings: layout, forms, tables. Presentation only: every value
//! shown comes from the admin service, every text from the store goes through [`esc`].
//!
//! Usability rules kept here: every control has a `<label>`, errors sit next to the control
//! that caused them (`aria-describedby`, `aria-invalid`), everything works without the script
//! (which only adds the copy button's action), and the stylesheet loads before the body so
//! nothing moves once shown.

use std::fmt::Write;

use axum::http::StatusCode;
use vexa_core::replica::ReplicaHealth;
use vexa_core::usage::HourBucket;
use vexa_core::{KeyRecord, Timestamp, User};

use super::chart;
use super::html::esc;
use super::presenter::{Badge, SPARK_HOURS, WINDOWS};
use crate::fleet::{Fleet, ReplicaView};
use crate::service::StoreStatus;
use crate::wire::MintedKeyView;

/// Which main screen a page belongs to, for the navigation's `aria-current`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Users,
    Replicas,
    Audit,
    None,
}

/// A mistake in one form field (or in the form as a whole when `field` is `None`).
#[derive(Debug, Clone, Default)]
pub struct FormError {
    pub field: Option<&'static str>,
    pub message: String,
}

impl FormError {
    fn on(&self, field: &str) -> Option<&str> {
        (self.field == Some(field)).then_some(self.message.as_str())
    }
}

fn error_on<'a>(e: Option<&'a FormError>, field: &str) -> Option<&'a str> {
    e.and_then(|e| e.on(field))
}

fn form_level(e: Option<&FormError>) -> String {
    match e {
        Some(FormError {
            field: None,
            message,
        }) => {
            format!(r#"<p class="error" role="alert">{}</p>"#, esc(message))
        }
        _ => String::new(),
    }
}

/// The frame of every page.
pub fn layout(title: &str, csrf: Option<&str>, nav: Nav, body: &str) -> String {
    let mut header = String::new();
    if let Some(csrf) = csrf {
        let cur = |n: Nav| {
            if n == nav {
                r#" aria-current="page""#
            } else {
                ""
            }
        };
        let _ = write!(
            header,
            r#"<nav aria-label="Main"><a href="/console/users"{}>Users</a><a href="/console/replicas"{}>Replicas</a><a href="/console/audit"{}>Audit log</a></nav>
<form method="post" action="/console/logout" class="signout">{}<button type="submit">Sign out</button></form>"#,
            cur(Nav::Users),
            cur(Nav::Replicas),
            cur(Nav::Audit),
            csrf_field(csrf)
        );
    }
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · vexa console</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">vexa console</span>{header}</header>
<main id="main">
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"##,
        title = esc(title),
    )
}

fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// One labelled input with its hint and error.
pub(super) fn field(
    id: &str,
    label: &str,
    input: &str,
    hint: Option<&str>,
    error: Option<&str>,
) -> String {
    let mut described = Vec::new();
    let mut after = String::new();
    if let Some(h) = hint {
        described.push(format!("{id}-hint"));
        let _ = write!(after, r#"<p class="hint" id="{id}-hint">{}</p>"#, esc(h));
    }
    if let Some(e) = error {
        described.push(format!("{id}-error"));
        let _ = write!(
            after,
            r#"<p class="error" id="{id}-error" role="alert">{}</p>"#,
            esc(e)
        );
    }
    let aria = if described.is_empty() {
        String::new()
    } else {
        format!(r#" aria-describedby="{}""#, described.join(" "))
    };
    let invalid = if error.is_some() {
        r#" aria-invalid="true""#
    } else {
        ""
    };
    let input = input.replacen("<input", &format!("<input{aria}{invalid}"), 1);
    format!(r#"<div class="field"><label for="{id}">{label}</label>{input}{after}</div>"#)
}

pub fn login(error: Option<&str>) -> String {
    let input = r#"<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>"#;
    let body = format!(
        r#"<form method="post" action="/console/login" class="card narrow">
{}
<button type="submit">Sign in</button>
</form>
<p class="hint">Sessions live in this process's memory: a restart of the admin API signs everyone out.</p>"#,
        field(
            "token",
            "Admin token",
            input,
            Some("The ADMIN_TOKEN this admin API was started with."),
            error
        )
    );
    layout("Sign in", None, Nav::None, &body)
}

/// What the users screen shows.
pub struct UsersPage<'a> {
    pub csrf: &'a str,
    pub users: &'a [&'a User],
    pub total: i64,
    pub skip: i64,
    pub limit: i64,
    /// The email searched for, when the page is a search result.
    pub search: Option<&'a str>,
    pub search_error: Option<&'a str>,
    pub notice: Option<&'a str>,
    pub create_values: [&'a str; 3],
    pub create_error: Option<&'a FormError>,
}

pub fn users(p: &UsersPage<'_>) -> String {
    let mut body = notice(p.notice);
    let search_input = format!(
        r#"<input id="search-email" name="email" type="search" autocomplete="off" value="{}">"#,
        esc(p.search.unwrap_or_default())
    );
    let _ = write!(
        body,
        r#"<form method="get" action="/console/users" class="search" role="search">{}<button type="submit">Search</button></form>"#,
        field(
            "search-email",
            "Find a user by email",
            &search_input,
            None,
            p.search_error
        )
    );
    body.push_str(&users_table(p.users));
    body.push_str(&pager(p));
    body.push_str(&create_user_form(p));
    layout("Users", Some(p.csrf), Nav::Users, &body)
}

fn users_table(users: &[&User]) -> String {
    if users.is_empty() {
        return r#"<p class="empty">No users.</p>"#.to_owned();
    }
    let mut rows = String::new();
    for u in users {
        let _ = write!(
            rows,
            r#"<tr><td><a href="/console/users/{id}">{email}</a></td><td>{name}</td><td class="num">{bots}</td><td>{created}</td></tr>"#,
            id = u.id.0,
            email = esc(&u.email),
            name = esc(u.name.as_deref().unwrap_or("—")),
            bots = u.max_concurrent_bots,
            created = time(Some(u.created_at)),
        );
    }
    format!(
        r#"<div class="scroll"><table><caption class="sr">Users</caption><thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Max bots</th><th scope="col">Created</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

fn pager(p: &UsersPage<'_>) -> String {
    if p.search.is_some() {
        return r#"<p><a href="/console/users">Show all users</a></p>"#.to_owned();
    }
    let first = if p.total == 0 { 0 } else { p.skip + 1 };
    let last = (p.skip + p.limit).min(p.total);
    let mut out = format!(
        r#"<nav class="pager" aria-label="Pages"><span>{first}–{last} of {}</span>"#,
        p.total
    );
    if p.skip > 0 {
        let prev = (p.skip - p.limit).max(0);
        let _ = write!(
            out,
            r#"<a href="/console/users?skip={prev}">Previous page</a>"#
        );
    }
    if last < p.total {
        let _ = write!(out, r#"<a href="/console/users?skip={last}">Next page</a>"#);
    }
    out.push_str("</nav>");
    out
}

fn create_user_form(p: &UsersPage<'_>) -> String {
    let e = p.create_error;
    let [email, name, bots] = p.create_values;
    format!(
        r#"<section class="card" aria-labelledby="create-h"><h2 id="create-h">Create a user</h2>
<form method="post" action="/console/users">{csrf}{err}{email}{name}{bots}<button type="submit">Create user</button></form></section>"#,
        csrf = csrf_field(p.csrf),
        err = form_level(e),
        email = field(
            "new-email",
            "Email",
            &format!(
                r#"<input id="new-email" name="email" type="email" required value="{}">"#,
                esc(email)
            ),
            None,
            error_on(e, "email")
        ),
        name = field(
            "new-name",
            "Name (optional)",
            &format!(
                r#"<input id="new-name" name="name" type="text" value="{}">"#,
                esc(name)
            ),
            None,
            error_on(e, "name")
        ),
        bots = field(
            "new-bots",
            "Max concurrent bots",
            &format!(
                r#"<input id="new-bots" name="max_concurrent_bots" type="number" min="0" inputmode="numeric" value="{}">"#,
                esc(bots)
            ),
            Some("Blank for the default (3)."),
            error_on(e, "max_concurrent_bots")
        ),
    )
}

/// One row of a user's keys table: the key, its badge, its last [`SPARK_HOURS`] of usage.
pub struct KeyRow {
    pub key: KeyRecord,
    pub badge: Badge,
    pub usage: Vec<HourBucket>,
}

/// What one user's screen shows.
pub struct UserPage<'a> {
    pub csrf: &'a str,
    pub user: &'a User,
    pub keys: &'a [KeyRow],
    pub notice: Option<&'a str>,
    pub edit_values: [&'a str; 2],
    pub edit_error: Option<&'a FormError>,
    pub mint_error: Option<&'a FormError>,
}

pub fn user(p: &UserPage<'_>) -> String {
    let u = p.user;
    let mut body = notice(p.notice);
    let _ = write!(
        body,
        r#"<p class="meta">User {} · created {}</p>"#,
        u.id.0,
        time(Some(u.created_at))
    );
    body.push_str(&keys_table(u, p.keys));
    body.push_str(&mint_form(p));
    body.push_str(&edit_form(p));
    let _ = write!(
        body,
        r#"<section class="card danger" aria-labelledby="del-h"><h2 id="del-h">Delete this user</h2><p>Deleting a user stops every one of their keys at once.</p><a class="button danger" href="/console/users/{}/delete">Delete user…</a></section>"#,
        u.id.0
    );
    layout(&u.email, Some(p.csrf), Nav::Users, &body)
}

fn keys_table(u: &User, keys: &[KeyRow]) -> String {
    let head = r#"<section aria-labelledby="keys-h"><h2 id="keys-h">API keys</h2>"#;
    if keys.is_empty() {
        return format!(r#"{head}<p class="empty">No live keys.</p></section>"#);
    }
    let mut rows = String::new();
    for row in keys {
        let k = &row.key;
        let prefix = esc(&k.prefix);
        let usage_href = format!("/console/keys/{}/usage", k.id.0);
        let badge = match row.badge {
            Badge::Retiring(end) => format!(
                r#"<span class="badge retiring">retiring</span> <span class="hint">stops {}</span>"#,
                time(Some(end))
            ),
            b => format!(r#"<span class="badge {}">{}</span>"#, b.css(), b.label()),
        };
        let rotate = if row.badge.rotatable() {
            format!(
                r#"<a href="/console/keys/{id}/rotate" aria-label="Rotate key {prefix}">Rotate…</a> "#,
                id = k.id.0
            )
        } else {
            String::new()
        };
        let _ = write!(
            rows,
            r#"<tr><td><code>{prefix}…</code></td><td>{scopes}</td><td>{name}</td><td>{created}</td><td>{used}{client}</td><td>{expires}</td><td>{badge}</td><td>{spark}</td><td class="actions">{rotate}<a href="/console/keys/{id}/revoke?user={uid}" aria-label="Revoke key {prefix}">Revoke…</a> <a href="/console/audit?key_id={id}" aria-label="History of key {prefix}">History</a></td></tr>"#,
            scopes = esc(&k.scopes.to_csv()),
            name = esc(k.name.as_deref().unwrap_or("—")),
            created = time(Some(k.created_at)),
            used = time(k.last_used_at),
            client = k
                .last_client
                .as_deref()
                .map_or_else(String::new, |c| format!(
                    r#"<br><span class="hint">from <code>{}</code></span>"#,
                    esc(c)
                )),
            expires = time(k.expires_at),
            spark = chart::sparkline(&row.usage, SPARK_HOURS, &usage_href, &k.prefix),
            id = k.id.0,
            uid = u.id.0,
        );
    }
    format!(
        r#"{head}<div class="scroll"><table class="keys"><thead><tr><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Last used, client</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col">Last {SPARK_HOURS} h</th><th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody>{rows}</tbody></table></div>
<p class="hint">Revoked keys are not listed; a rotated key is listed until its grace ends. Select a key's chart for its usage by outcome.</p></section>"#
    )
}

/// The expiry choices of the mint form: (seconds, label); empty means never.
const EXPIRY_CHOICES: &[(&str, &str)] = &[
    ("", "Never"),
    ("3600", "In 1 hour"),
    ("86400", "In 1 day"),
    ("2592000", "In 30 days"),
    ("7776000", "In 90 days"),
    ("31536000", "In 1 year"),
];

fn mint_form(p: &UserPage<'_>) -> String {
    let e = p.mint_error;
    let mut boxes = String::new();
    for (scope, what) in [
        ("bot", "bots, meetings, transcripts"),
        ("tx", "transcripts and meeting records"),
        ("browser", "the browser service"),
    ] {
        let checked = if scope == "bot" { " checked" } else { "" };
        let _ = write!(
            boxes,
            r#"<div class="check"><input type="checkbox" id="scope-{scope}" name="scopes" value="{scope}"{checked}><label for="scope-{scope}"><code>{scope}</code> — {what}</label></div>"#
        );
    }
    let scope_error = error_on(e, "scopes").map_or_else(String::new, |m| {
        format!(
            r#"<p class="error" id="scopes-error" role="alert">{}</p>"#,
            esc(m)
        )
    });
    let mut options = String::new();
    for (v, label) in EXPIRY_CHOICES {
        let _ = write!(options, r#"<option value="{v}">{label}</option>"#);
    }
    format!(
        r#"<section class="card" aria-labelledby="mint-h"><h2 id="mint-h">Mint a key</h2>
<form method="post" action="/console/users/{uid}/keys">{csrf}{err}
<fieldset{invalid}><legend>Scopes</legend>{boxes}{scope_error}</fieldset>
{name}{expiry}<button type="submit">Mint key</button></form></section>"#,
        uid = p.user.id.0,
        csrf = csrf_field(p.csrf),
        err = form_level(e),
        invalid = if scope_error.is_empty() {
            ""
        } else {
            r#" aria-describedby="scopes-error""#
        },
        name = field(
            "key-name",
            "Key name (optional)",
            r#"<input id="key-name" name="name" type="text" autocomplete="off">"#,
            None,
            error_on(e, "name")
        ),
        expiry = field(
            "key-expiry",
            "Expires",
            &format!(r#"<select id="key-expiry" name="expires_in">{options}</select>"#),
            None,
            error_on(e, "expires_in")
        ),
    )
}

fn edit_form(p: &UserPage<'_>) -> String {
    let e = p.edit_error;
    let [name, bots] = p.edit_values;
    format!(
        r#"<section class="card" aria-labelledby="edit-h"><h2 id="edit-h">Edit user</h2>
<form method="post" action="/console/users/{uid}">{csrf}{err}{name}{bots}<button type="submit">Save changes</button></form></section>"#,
        uid = p.user.id.0,
        csrf = csrf_field(p.csrf),
        err = form_level(e),
        name = field(
            "edit-name",
            "Name",
            &format!(
                r#"<input id="edit-name" name="name" type="text" value="{}">"#,
                esc(name)
            ),
            Some("Blank clears the name."),
            error_on(e, "name")
        ),
        bots = field(
            "edit-bots",
            "Max concurrent bots",
            &format!(
                r#"<input id="edit-bots" name="max_concurrent_bots" type="number" min="0" inputmode="numeric" required value="{}">"#,
                esc(bots)
            ),
            None,
            error_on(e, "max_concurrent_bots")
        ),
    )
}

/// The one page that shows a key: right after minting it.
pub fn minted(csrf: &str, user: &User, key: &MintedKeyView) -> String {
    layout(
        "Key minted",
        Some(csrf),
        Nav::Users,
        &shown_once(user, key, "New API key", ""),
    )
}

/// The other page that shows a key: right after a rotation, with when the old one stops.
pub fn rotated(csrf: &str, user: &User, key: &MintedKeyView, old: &KeyRecord) -> String {
    let stops = match old.retires_at {
        Some(end) if old.revoked_at.is_none() => format!("stops working at {}", time(Some(end))),
        _ => "has stopped working".to_owned(),
    };
    let old_line = format!(
        r#"<p class="notice" role="status">The old key <code>{}…</code> {stops}.</p>"#,
        esc(&old.prefix)
    );
    layout(
        "Key rotated",
        Some(csrf),
        Nav::Users,
        &shown_once(user, key, "Replacement API key", &old_line),
    )
}

fn shown_once(user: &User, key: &MintedKeyView, what: &str, before: &str) -> String {
    format!(
        r#"<div class="card">{before}
<p class="warning" role="alert"><strong>Copy this key now.</strong> It will not be shown again: vexa stores only its digest.</p>
<div class="field"><label for="minted-key">{what} ({scopes}) for {email}</label>
<div class="copyrow"><input id="minted-key" type="text" readonly value="{token}" spellcheck="false" autocomplete="off"><button type="button" data-copy="minted-key">Copy key</button></div>
<p class="hint" id="copy-status" aria-live="polite"></p></div>
<p>Key id {id}{expires}.</p>
<p><a class="button" href="/console/users/{uid}">Done — back to {email}</a></p></div>"#,
        scopes = esc(&key.scopes.to_csv()),
        email = esc(&user.email),
        token = esc(&key.token),
        id = key.id.0,
        expires = key
            .expires_at
            .map_or_else(String::new, |t| format!(", expires {}", time(Some(t)))),
        uid = user.id.0,
    )
}

/// The rotation's confirmation: the grace period to give the old key.
pub fn confirm_rotate(
    csrf: &str,
    user: &User,
    key: &KeyRecord,
    grace: &str,
    error: Option<&FormError>,
) -> String {
    let input = format!(
        r#"<input id="grace" name="grace_seconds" type="number" min="0" step="1" inputmode="numeric" value="{}">"#,
        esc(grace)
    );
    let body = format!(
        r#"<form method="post" action="/console/keys/{kid}/rotate" class="card">{csrf}{err}
<p>Rotate key <code>{prefix}…</code> ({scopes}{name}) of <strong>{email}</strong>: a new key with the same scopes, expiry and limits replaces it. The new key is shown once, on the next page.</p>
{grace}
<button type="submit">Rotate key</button> <a href="/console/users/{uid}">Cancel</a></form>"#,
        kid = key.id.0,
        csrf = csrf_field(csrf),
        err = form_level(error),
        prefix = esc(&key.prefix),
        scopes = esc(&key.scopes.to_csv()),
        name = key
            .name
            .as_deref()
            .map_or_else(String::new, |n| format!(", “{}”", esc(n))),
        email = esc(&user.email),
        grace = field(
            "grace",
            "Grace period (seconds)",
            &input,
            Some("0 = the old key stops at once. Otherwise both keys work until the grace ends."),
            error_on(error, "grace_seconds"),
        ),
        uid = user.id.0,
    );
    layout("Rotate key", Some(csrf), Nav::Users, &body)
}

/// A key's usage page: the window's links and the chart.
pub fn usage(
    csrf: &str,
    user: &User,
    key: &KeyRecord,
    hours: u32,
    buckets: &[HourBucket],
) -> String {
    let mut windows = String::from(r#"<nav class="windows" aria-label="Time window">"#);
    for w in WINDOWS {
        let current = if w == hours {
            r#" aria-current="page""#
        } else {
            ""
        };
        let _ = write!(
            windows,
            r#"<a href="/console/keys/{id}/usage?hours={w}"{current}>Last {w} h</a>"#,
            id = key.id.0
        );
    }
    windows.push_str("</nav>");
    let body = format!(
        r#"<p class="meta">Key <code>{prefix}…</code> ({scopes}{name}) of <a href="/console/users/{uid}">{email}</a> · requests per hour and outcome, summed over every gateway</p>
{windows}{chart}"#,
        prefix = esc(&key.prefix),
        scopes = esc(&key.scopes.to_csv()),
        name = key
            .name
            .as_deref()
            .map_or_else(String::new, |n| format!(", “{}”", esc(n))),
        uid = user.id.0,
        email = esc(&user.email),
        chart = chart::usage_chart(buckets, hours),
    );
    layout(
        &format!("Usage of key {}…", key.prefix),
        Some(csrf),
        Nav::Users,
        &body,
    )
}

pub fn confirm_delete(csrf: &str, user: &User, live_keys: usize) -> String {
    let body = format!(
        r#"<form method="post" action="/console/users/{id}/delete" class="card danger">{csrf}
<p>Delete <strong>{email}</strong>? Their {live_keys} live key(s) stop working at once. This cannot be undone.</p>
<button type="submit" class="danger">Delete user</button> <a href="/console/users/{id}">Cancel</a></form>"#,
        id = user.id.0,
        csrf = csrf_field(csrf),
        email = esc(&user.email),
    );
    layout("Delete user", Some(csrf), Nav::Users, &body)
}

pub fn confirm_revoke(csrf: &str, user: &User, key: &KeyRecord) -> String {
    let body = format!(
        r#"<form method="post" action="/console/keys/{kid}/revoke" class="card danger">{csrf}<input type="hidden" name="user" value="{uid}">
<p>Revoke key <code>{prefix}…</code> ({scopes}{name}) of <strong>{email}</strong>? Every gateway refuses it within a second. This cannot be undone.</p>
<button type="submit" class="danger">Revoke key</button> <a href="/console/users/{uid}">Cancel</a></form>"#,
        kid = key.id.0,
        csrf = csrf_field(csrf),
        uid = user.id.0,
        prefix = esc(&key.prefix),
        scopes = esc(&key.scopes.to_csv()),
        name = key
            .name
            .as_deref()
            .map_or_else(String::new, |n| format!(", “{}”", esc(n))),
        email = esc(&user.email),
    );
    layout("Revoke key", Some(csrf), Nav::Users, &body)
}

/// The replicas screen: the store line, then every gateway replica from the registry (`fleet`
/// is `Err(detail)` when the registry could not be read; the store line still shows).
pub fn replicas(csrf: &str, status: &StoreStatus, fleet: Result<&Fleet, &str>) -> String {
    let store = if status.reachable {
        r#"<span class="badge active">reachable</span>"#
    } else {
        r#"<span class="badge expired">unreachable</span>"#
    };
    let seq = status
        .latest_event_seq
        .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
    let list = match fleet {
        Ok(f) => replicas_table(&f.replicas),
        Err(detail) => format!(
            r#"<p class="error" role="alert">The replica registry could not be read: {}</p>"#,
            esc(detail)
        ),
    };
    let body = format!(
        r#"<div class="card"><dl class="facts">
<dt>This admin API</dt><dd><span class="badge active">up</span> (it served this page)</dd>
<dt>Store</dt><dd>{store}</dd>
<dt>Newest identity event</dt><dd>#{seq} — the sequence number every gateway replica follows to drop revoked keys</dd>
</dl></div>
{list}
<p class="hint">Each gateway writes its row every few seconds (<code>REPLICA_HEARTBEAT_MS</code>) and removes it when it stops cleanly; one that missed three beats is stale. The same list as JSON: <code>GET /admin/replicas</code>.</p>"#
    );
    layout("Replicas", Some(csrf), Nav::Replicas, &body)
}

fn replicas_table(replicas: &[ReplicaView]) -> String {
    let head = r#"<section aria-labelledby="replicas-h"><h2 id="replicas-h">Gateway replicas</h2>"#;
    if replicas.is_empty() {
        return format!(
            r#"{head}<p class="empty">No gateway has registered: none is running against this store.</p></section>"#
        );
    }
    let mut rows = String::new();
    for r in replicas {
        let badge = match r.status {
            ReplicaHealth::Healthy => r#"<span class="badge active">healthy</span>"#.to_owned(),
            ReplicaHealth::Stale => format!(
                r#"<span class="badge expired">stale</span> <span class="hint">last seen {}</span>"#,
                time(Some(r.last_seen))
            ),
        };
        let lag_events = r
            .lag_events
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        let lag_time = r.lag_ms.map_or_else(
            || "up to date".to_owned(),
            |ms| format!("oldest unapplied event {} ago", span(ms)),
        );
        let _ = write!(
            rows,
            r#"<tr><td><code>{id}</code><br><span class="hint">{host}, pid {pid}</span></td><td><code>{addr}</code></td><td>{badge}</td><td>{uptime}</td><td>{entries}</td><td>#{seq}</td><td>{lag_events}</td><td>{lag_time}</td></tr>"#,
            id = esc(&r.id),
            host = esc(&r.host),
            pid = r.pid,
            addr = esc(&r.address),
            uptime = span(r.uptime_s.saturating_mul(1000)),
            entries = r.cache_entries,
            seq = r.last_event_seq,
        );
    }
    format!(
        r#"{head}<div class="scroll"><table class="replicas"><thead><tr><th scope="col">Replica</th><th scope="col">Address</th><th scope="col">Status</th><th scope="col">Uptime</th><th scope="col">Cached keys</th><th scope="col">Last event seen</th><th scope="col">Lag (events)</th><th scope="col">Lag (time)</th></tr></thead><tbody>{rows}</tbody></table></div></section>"#
    )
}

/// A duration as `42 s`, `5 min 3 s` or `2 h 10 min`.
fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// A page for a failure of the admin service (a user that is gone, a store outage).
pub fn failure(status: StatusCode, detail: &str) -> String {
    let body = format!(
        r#"<p class="error" role="alert">{}</p><p><a href="/console/users">Back to users</a></p>"#,
        esc(detail)
    );
    layout(
        status.canonical_reason().unwrap_or("Error"),
        None,
        Nav::None,
        &body,
    )
}

fn notice(n: Option<&str>) -> String {
    n.map_or_else(String::new, |n| {
        format!(r#"<p class="notice" role="status">{}</p>"#, esc(n))
    })
}

/// A time as `2026-11-28 18:00 UTC`, or a dash.
pub(super) fn time(t: Option<Timestamp>) -> String {
    let Some(t) = t else {
        return "—".to_owned();
    };
    let full = t.to_rfc3339();
    let short: String = full.chars().take(16).collect::<String>().replace('T', " ");
    format!(r#"<time datetime="{full}">{short} UTC</time>"#)
}
