//! The admin API's OpenAPI 3.1 document: [`ApiDoc`] collects every handler's
//! `#[utoipa::path]` and, through them, the wire types' derived schemas. What is common to a
//! whole tier is added here by rule rather than repeated on each handler: its security scheme
//! (`/admin/*` → `X-Admin-API-Key`, `/user/*` → `X-API-Key`, `/internal/*` →
//! `X-Internal-Secret`) and the refusals of its gate, whose `detail` strings are the
//! [`AdminError`] messages themselves.
//!
//! To document a new route: put `#[utoipa::path(<method>, path = "<full path>", …)]` on its
//! handler and add the handler to `paths(…)` below.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, OpenApi as Document, PathItem};
use utoipa::{Modify, OpenApi};
use vexa_http::openapi::detail_response;

use crate::error::AdminError;

/// The document, generated from the annotated handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vexa admin API",
        description = "Users and API keys (CONTRACT §3). Every `/admin/*` route needs \
            `X-Admin-API-Key`; `/user/*` takes a user's `X-API-Key`; `/internal/*` the \
            gateway's `X-Internal-Secret`. Every 4xx is `{\"detail\": …}`."
    ),
    paths(
        crate::routes::create_user,
        crate::routes::list_users,
        crate::routes::get_user,
        crate::routes::get_user_by_email,
        crate::routes::patch_user,
        crate::routes::delete_user,
        crate::routes::mint_key,
        crate::routes::list_keys,
        crate::routes::revoke_key,
        crate::routes::patch_key,
        crate::routes::rotate_key,
        crate::routes::key_usage,
        crate::routes::list_audit,
        crate::routes::list_replicas,
        crate::routes::put_webhook,
        crate::routes::get_webhook,
        crate::internal::validate_token,
        crate::routes::health,
        crate::routes::render_metrics,
        crate::routes::openapi_json,
        crate::routes::docs_page,
        crate::routes::docs_asset,
    ),
    components(schemas(vexa_http::openapi::Detail)),
    modifiers(&TierRules),
    tags(
        (name = "users", description = "Users (`X-Admin-API-Key`)"),
        (name = "keys", description = "API keys (`X-Admin-API-Key`)"),
        (name = "audit", description = "The audit log (`X-Admin-API-Key`)"),
        (name = "replicas", description = "The gateway fleet from the replica registry (`X-Admin-API-Key`)"),
        (name = "user settings", description = "A user's own settings, by their key (`X-API-Key`)"),
        (name = "internal", description = "The original identity service's oracle (`X-Internal-Secret`)"),
        (name = "service", description = "Health, metrics and this reference; no credential"),
    )
)]
pub struct ApiDoc;

/// The document as served, serialized once.
pub fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        // Serializing utoipa's own types cannot fail (string keys, no non-finite floats).
        ApiDoc::openapi().to_pretty_json().unwrap_or_default()
    });
    &JSON
}

/// A tier of routes: the path prefix, the credential header, and what its gate answers.
struct Tier {
    prefix: &'static str,
    scheme: &'static str,
    header: &'static str,
    about: &'static str,
    refusals: fn() -> Vec<AdminError>,
}

const TIERS: [Tier; 3] = [
    Tier {
        prefix: "/admin/",
        scheme: "admin_token",
        header: "X-Admin-API-Key",
        about: "`ADMIN_TOKEN`, compared in constant time",
        refusals: || vec![AdminError::Forbidden],
    },
    Tier {
        prefix: "/user/",
        scheme: "api_key",
        header: "X-API-Key",
        about: "A user's API key holding `bot` or `tx`",
        refusals: || {
            vec![
                AdminError::MissingApiKey,
                AdminError::InvalidApiKey,
                AdminError::ScopeNotAuthorized,
            ]
        },
    },
    Tier {
        prefix: "/internal/",
        scheme: "internal_secret",
        header: "X-Internal-Secret",
        about: "`INTERNAL_API_SECRET`, the secret the gateway sends",
        refusals: || {
            vec![
                AdminError::InvalidInternalSecret,
                AdminError::InternalSecretNotConfigured,
            ]
        },
    },
];

/// Adds each tier's security scheme, and to each of its operations the requirement and the
/// gate's refusals (plus the store's 503, which every tier can answer).
struct TierRules;

impl Modify for TierRules {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Components::new);
        for tier in &TIERS {
            let key = ApiKeyValue::with_description(tier.header, tier.about);
            components
                .add_security_scheme(tier.scheme, SecurityScheme::ApiKey(ApiKey::Header(key)));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let Some(tier) = TIERS.iter().find(|t| path.starts_with(t.prefix)) else {
                continue;
            };
            let mut refusals = (tier.refusals)();
            refusals.push(AdminError::StoreUnavailable(String::new()));
            for op in operations(item) {
                op.security = Some(vec![SecurityRequirement::new(
                    tier.scheme,
                    Vec::<String>::new(),
                )]);
                for (status, details) in by_status(&refusals) {
                    let response = op.responses.responses.entry(status.clone());
                    response.or_insert_with(|| {
                        detail_response(&details.join(" · "), details.iter().map(String::as_str))
                            .into()
                    });
                }
            }
        }
    }
}

/// The refusals grouped by status code, each status with its `detail` strings.
fn by_status(errors: &[AdminError]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in errors {
        out.entry(e.status().as_u16().to_string())
            .or_default()
            .push(e.to_string());
    }
    out
}

/// Every operation of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}
