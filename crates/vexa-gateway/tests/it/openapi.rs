//! The gateway's OpenAPI document against its route table, and `/openapi.json` and `/docs` as a
//! running gateway answers them: without a key, before the edge guard, never forwarded.

use http::Method;
use serde_json::{json, Value};
use vexa_gateway::limit::EdgeConfig;
use vexa_gateway::openapi::{document_json, scope_extension, spec_path};
use vexa_gateway::routes::{Access, Ours, Target, ADMIN_ROUTE, ROUTES};
use vexa_testkit::openapi::{assert_valid_openapi_31, external_references};

use crate::support::*;

/// The document as a gateway that serves every row would publish it.
fn full_document() -> Value {
    serde_json::from_str(&document_json(|_| true)).expect("json")
}

/// The `detail` examples of one response of one operation.
fn details(op: &Value, status: &str) -> Vec<String> {
    op["responses"][status]["content"]["application/json"]["examples"]
        .as_object()
        .map(|ex| {
            ex.values()
                .map(|e| e["value"]["detail"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_row_of_the_table_is_in_the_document_with_its_methods_scope_and_refusals() {
    let doc = full_document();
    for route in ROUTES.iter().chain([&ADMIN_ROUTE]) {
        let path = spec_path(route.template);
        for method in route.methods.list() {
            let op = &doc["paths"][&path][method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} is documented");
            assert_eq!(
                op["x-vexa-scope"],
                scope_extension(route.access),
                "{method} {path}"
            );
            let keyed = matches!(route.access, Access::AnyKey | Access::Scopes(_));
            if keyed {
                assert_eq!(op["security"], json!([{"api_key": []}]), "{method} {path}");
                let mut unauthorized = details(op, "401");
                unauthorized.sort();
                assert_eq!(unauthorized, ["Invalid API key", "Missing API key"]);
                assert_eq!(
                    details(op, "503")[0],
                    "Authentication temporarily unavailable, retry"
                );
                assert!(details(op, "429").contains(&"Rate limit exceeded".to_owned()));
            }
            if let Access::Scopes(scopes) = route.access {
                assert_eq!(details(op, "403"), ["Token scope not authorized"]);
                let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                assert_eq!(op["x-vexa-scope"], json!(names));
                let said = op["description"].as_str().unwrap_or_default();
                assert!(
                    names.iter().all(|n| said.contains(&format!("`{n}`"))),
                    "{said}"
                );
            }
            if route.access == Access::Public {
                assert!(op.get("security").is_none(), "{method} {path}");
                assert!(
                    op["responses"].get("429").is_none(),
                    "{path}: before the edge guard"
                );
            } else {
                assert!(details(op, "429").contains(&"Too many requests".to_owned()));
                assert!(op["responses"]["429"]["headers"]
                    .get("Retry-After")
                    .is_some());
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"],
        json!({"type": "apiKey", "in": "header", "name": "X-API-Key",
            "description": doc["components"]["securitySchemes"]["api_key"]["description"]})
    );
    assert_eq!(
        doc["components"]["schemas"]["Detail"]["properties"]["detail"]["type"],
        "string"
    );
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    assert_valid_openapi_31(&full_document());
}

async fn a_running_gateway_serves_its_reference_without_a_key(backend: Backend) {
    let echo = EchoUpstream::start().await;
    // A budget of 2 requests a minute: the reference pages must not spend it.
    let mut cfg = config(&echo.url);
    cfg.edge = EdgeConfig {
        enabled: true,
        requests_per_minute: 2,
        auto_ban_threshold: 0,
        ..EdgeConfig::default()
    };
    let gw = start(cfg, TestStore::new(backend).await).await;

    for _ in 0..5 {
        let res = get(&gw.base, "/openapi.json", None).await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.header("content-type"), Some("application/json"));
        let doc = res.json();
        assert_eq!(doc["info"]["title"], "Vexa gateway");
        assert_valid_openapi_31(&doc);
        // What this gateway serves as configured (our own services): rows they do not
        // implement are absent, and `/admin/*` is off.
        assert!(doc["paths"]["/bots"]["post"].is_object());
        for route in ROUTES.iter().filter(|r| r.ours == Ours::Missing) {
            assert!(
                doc["paths"].get(spec_path(route.template)).is_none(),
                "{}",
                route.template
            );
        }
        assert!(doc["paths"].get("/admin/{path}").is_none());

        let res = get(&gw.base, "/docs", None).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(external_references(&res.text()), Vec::<String>::new());
    }
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let res = get(&gw.base, &format!("/docs/{asset}"), None).await;
        assert_eq!(res.status, 200, "{asset}");
    }
    let init = get(&gw.base, "/docs/swagger-initializer.js", None)
        .await
        .text();
    assert_eq!(external_references(&init), Vec::<String>::new());
    assert_eq!(get(&gw.base, "/docs/nope.js", None).await.status, 404);
    assert_eq!(
        send(&gw.base, Method::POST, "/openapi.json", &[], "")
            .await
            .status,
        404,
        "GET only"
    );
    // Eleven requests for the reference, and the budget of two is still whole.
    assert_ne!(get(&gw.base, "/bots", None).await.status, 429);
    gw.shutdown().await;
}

#[test]
fn the_reference_rows_are_answered_by_the_gateway_itself() {
    for template in ["/openapi.json", "/docs", "/docs/{file}"] {
        let route = ROUTES
            .iter()
            .find(|r| r.template == template)
            .expect("a row");
        assert_eq!(route.access, Access::Public);
        assert!(matches!(route.target, Target::OpenApi | Target::Docs));
    }
}

on_both_backends!(a_running_gateway_serves_its_reference_without_a_key);
