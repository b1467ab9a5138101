//! The gateway's OpenAPI 3.1 document, generated from the route table at startup: one
//! operation per (row, method) this gateway serves as configured, each with the scopes it
//! requires (in its description and in `x-vexa-scope`), the `X-API-Key` scheme, and the
//! refusals the pipeline can answer it with — their `detail` strings taken from [`Rejection`]
//! itself. The forwarded routes' bodies belong to the services behind, so they are described
//! as JSON objects; the gateway's own answers (`/health`, `/auth/me`, …) are described exactly.

use serde_json::{json, Value};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder,
    Required, ResponseBuilder, ResponsesBuilder,
};
use utoipa::PartialSchema;

use vexa_http::openapi::{detail_response, Detail};

use crate::error::{Rejection, ScopeDenial};
use crate::limit::Decision;
use crate::routes::{Access, Domain, Route, Target, ADMIN_ROUTE, ROUTES};

/// The security scheme of every keyed operation.
const API_KEY: &str = "api_key";

/// The document for the rows `served` keeps (`/admin/*` included when it keeps it).
pub fn document(served: impl Fn(&Route) -> bool) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in ROUTES.iter().chain([&ADMIN_ROUTE]) {
        if !served(route) {
            continue;
        }
        let path = spec_path(route.template);
        for method in route.methods.list() {
            let Some(http_method) = http_method(method) else {
                continue;
            };
            paths = paths.path(&path, PathItem::new(http_method, operation(route, method)));
        }
    }
    let key = ApiKeyValue::with_description(
        "X-API-Key",
        "A key minted by the admin API (`vxa_<scope>_…`). `/ws` also takes `?api_key=`; \
         `/mcp/*` also `Authorization: Bearer`.",
    );
    let components = ComponentsBuilder::new()
        .schema("Detail", Detail::schema())
        .security_scheme(API_KEY, SecurityScheme::ApiKey(ApiKey::Header(key)))
        .build();
    let tags = [
        "gateway",
        "bots",
        "meetings",
        "user settings",
        "agent",
        "mcp",
        "browser",
        "admin",
    ]
    .map(|t| TagBuilder::new().name(t).build());
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Vexa gateway")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The public API (CONTRACT §4). Each route is forwarded to the service that \
                     owns it once the key holds one of the route's scopes (`x-vexa-scope`); \
                     the gateway answers refusals itself, always `{\"detail\": …}`.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .tags(Some(tags))
        .build()
}

/// [`document`] as served, serialized.
pub fn document_json(served: impl Fn(&Route) -> bool) -> String {
    // Serializing utoipa's own types cannot fail (string keys, no non-finite floats).
    document(served).to_pretty_json().unwrap_or_default()
}

/// The OpenAPI path of a row: `*` (any depth, none included) becomes a `{path}` parameter.
pub fn spec_path(template: &str) -> String {
    match template.strip_suffix("/*") {
        Some(head) => format!("{head}/{{path}}"),
        None => template.to_owned(),
    }
}

fn http_method(method: &str) -> Option<HttpMethod> {
    Some(match method {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "OPTIONS" => HttpMethod::Options,
        "HEAD" => HttpMethod::Head,
        _ => return None,
    })
}

/// What the caller needs, as the document says it: `x-vexa-scope` and a sentence.
fn scope_of(access: Access) -> (Value, String) {
    match access {
        Access::Public => (json!("none"), "No key.".to_owned()),
        Access::Passthrough => (
            json!("admin"),
            "Forwarded untouched to the admin API, which checks `X-Admin-API-Key` itself.".into(),
        ),
        Access::AnyKey => (json!("any"), "Any valid key.".to_owned()),
        Access::Scopes(scopes) => {
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let said = names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ");
            (json!(names), format!("Requires scope {said}."))
        }
    }
}

fn tag_of(route: &Route) -> &'static str {
    match route.target {
        Target::Forward(Domain::Meetings) if route.template.starts_with("/bots") => "bots",
        Target::Forward(Domain::Meetings) => "meetings",
        Target::Forward(Domain::Admin) => "user settings",
        Target::Forward(Domain::Agent) => "agent",
        Target::Forward(Domain::Mcp) => "mcp",
        Target::Forward(Domain::Browser) => "browser",
        Target::Passthrough => "admin",
        Target::Health
        | Target::Metrics
        | Target::OpenApi
        | Target::Docs
        | Target::AuthMe
        | Target::WebSocket => "gateway",
    }
}

fn operation(route: &Route, method: &str) -> utoipa::openapi::path::Operation {
    let (scope, said) = scope_of(route.access);
    let mut description = said;
    if route.template.ends_with("/*") {
        description.push_str(" `{path}` is the rest of the path, any depth (none included).");
    }
    if let Some(to) = route.upstream {
        description.push_str(&format!(" Served upstream at `{to}`."));
    }
    let mut op = OperationBuilder::new()
        .summary(Some(format!("{method} {}", route.template)))
        .description(Some(description))
        .tag(tag_of(route))
        .extensions(Some(
            ExtensionsBuilder::new().add("x-vexa-scope", scope).build(),
        ))
        .responses(responses(route));
    for name in params(route.template) {
        let integer = ["id", "recording_id", "media_file_id"].contains(&name.as_str());
        let schema =
            ObjectBuilder::new().schema_type(if integer { Type::Integer } else { Type::String });
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema)),
        );
    }
    if matches!(route.access, Access::AnyKey | Access::Scopes(_)) {
        op = op.security(SecurityRequirement::new(API_KEY, Vec::<String>::new()));
    }
    if matches!(route.target, Target::Forward(_) | Target::Passthrough)
        && matches!(method, "POST" | "PUT" | "PATCH")
    {
        let body = ContentBuilder::new().schema(Some(any_object())).build();
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .description(Some("The owning service's request body, streamed through"))
                .content("application/json", body)
                .build(),
        ));
    }
    op.build()
}

/// The `{name}` parameters of a template, and `path` for a trailing `*`.
fn params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|seg| match seg {
            "*" => Some("path".to_owned()),
            s if s.starts_with('{') => Some(s.trim_matches(['{', '}']).to_owned()),
            _ => None,
        })
        .collect()
}

fn any_object() -> utoipa::openapi::schema::Schema {
    ObjectBuilder::new().schema_type(Type::Object).into()
}

fn json_success(description: &str, example: Option<Value>) -> utoipa::openapi::Response {
    let content = ContentBuilder::new()
        .schema(Some(any_object()))
        .example(example)
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
}

fn text_success(description: &str, content_type: &str) -> utoipa::openapi::Response {
    let schema = ObjectBuilder::new().schema_type(Type::String);
    ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

/// The answer when all goes well, then every refusal the pipeline can give this row.
fn responses(route: &Route) -> utoipa::openapi::Responses {
    let mut out = ResponsesBuilder::new();
    out = match route.target {
        Target::Health => out.response(
            "200",
            json_success("Up", Some(json!({"status": "ok", "service": "gateway"}))),
        ),
        Target::Metrics => out.response("200", text_success("Prometheus text", "text/plain")),
        Target::OpenApi => out.response("200", json_success("This document (OpenAPI 3.1)", None)),
        Target::Docs => out
            .response(
                "200",
                text_success("The reference page or one of its assets", "text/html"),
            )
            .response(
                "404",
                detail_response("No such asset", [Rejection::NotFound.detail().as_str()]),
            ),
        Target::AuthMe => out.response(
            "200",
            json_success(
                "Who the key belongs to",
                Some(
                    json!({"user_id": 1, "email": "jane@acme.com", "scopes": ["bot"],
                    "max_concurrent_bots": 3, "key_id": 7, "expires_at": null}),
                ),
            ),
        ),
        Target::WebSocket => out.response(
            "101",
            ResponseBuilder::new()
                .description("Switched to WebSocket: subscribe, unsubscribe, ping; live frames")
                .build(),
        ),
        Target::Forward(_) | Target::Passthrough => out.response(
            "200",
            json_success(
                "The owning service's answer: status, headers and body unchanged",
                None,
            ),
        ),
    };
    if route.access == Access::Public {
        return out.build();
    }
    let refusal = |r: Rejection| r.detail();
    let rate = Decision {
        allowed: false,
        limit: 0,
        remaining: 0,
        reset_secs: 1,
        retry_after_secs: 1,
        reports_budget: false,
    };
    let mut unavailable = vec![];
    if matches!(route.access, Access::AnyKey | Access::Scopes(_)) {
        let unauthorized = [
            refusal(Rejection::MissingKey),
            refusal(Rejection::InvalidKey),
        ];
        out = out.response(
            "401",
            detail_response(
                &unauthorized.join(" · "),
                unauthorized.iter().map(String::as_str),
            ),
        );
        unavailable.push(refusal(Rejection::AuthUnavailable));
    }
    if let Access::Scopes(scopes) = route.access {
        let denial = ScopeDenial::new(scopes, &vexa_core::ScopeSet::new());
        let forbidden = refusal(Rejection::Forbidden(denial));
        let said = format!("{forbidden} (the body also lists `required` and `granted` scopes)");
        out = out.response("403", detail_response(&said, [forbidden.as_str()]));
    }
    let mut limited = vec![refusal(Rejection::EdgeRateLimited {
        retry_after_secs: 1,
    })];
    if matches!(route.access, Access::AnyKey | Access::Scopes(_)) {
        limited.insert(0, refusal(Rejection::UserRateLimited(rate)));
    }
    let mut too_many = detail_response(
        &format!(
            "{} (with `Retry-After`, whole seconds)",
            limited.join(" · ")
        ),
        limited.iter().map(String::as_str),
    );
    too_many.headers.insert(
        "Retry-After".to_owned(),
        utoipa::openapi::HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .build(),
    );
    out = out.response("429", too_many);
    if route.target == Target::Forward(Domain::Browser) {
        unavailable.push(refusal(Rejection::BrowserNotConfigured));
    }
    if !unavailable.is_empty() {
        out = out.response(
            "503",
            detail_response(
                &format!("{} (with `Retry-After`)", unavailable.join(" · ")),
                unavailable.iter().map(String::as_str),
            ),
        );
    }
    if matches!(route.target, Target::Forward(_) | Target::Passthrough) {
        for (status, r) in [
            ("413", Rejection::BodyTooLarge),
            ("502", Rejection::UpstreamUnreachable),
            ("504", Rejection::UpstreamTimeout),
        ] {
            let d = refusal(r);
            out = out.response(status, detail_response(&d, [d.as_str()]));
        }
    }
    out.build()
}

/// The scopes `x-vexa-scope` names for a row (tests compare the document with the table).
pub fn scope_extension(access: Access) -> Value {
    scope_of(access).0
}
