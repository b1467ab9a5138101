//! The OpenAPI document against the router it describes. The routes come from the router
//! itself (`router_and_paths`, the list `Routes` keeps while the router is built) and their
//! methods from asking each path every method: whatever does not answer 405 is served. A route
//! added without a `#[utoipa::path]` annotation listed in `ApiDoc`, or an annotation whose path
//! or method the router does not serve, fails `the_document_describes_exactly_the_routes_served`.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use vexa_testkit::openapi::{assert_valid_openapi_31, external_references};
use vexa_testkit::{on_both_backends, Backend, TestDb, ADMIN_TOKEN, INTERNAL_SECRET};

use crate::support::{app_on, TestApp};

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// A concrete path for a route template (`{user_id}` → `1`, `{email}` → an address).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{email}" => "probe@acme.com",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every (path template, method) the router serves: each listed path asked each method with
/// every credential a tier could want; only a method the path does not serve is a 405.
async fn served(app: &TestApp, key: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for path in &app.paths {
        for method in METHODS {
            let res = app
                .admin(method.clone(), &concrete(path))
                .header("x-api-key", key)
                .header("x-internal-secret", INTERNAL_SECRET)
                .send()
                .await;
            if res.status != StatusCode::METHOD_NOT_ALLOWED {
                out.insert((path.clone(), method.as_str().to_owned()));
            }
        }
    }
    out
}

/// Every (path, method) the document has an operation for.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.as_str().to_lowercase()).is_some() {
                out.insert((path.clone(), method.as_str().to_owned()));
            }
        }
    }
    out
}

async fn the_document_describes_exactly_the_routes_served(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let user = app.user("probe@acme.com").await;
    let key = app.mint(user, "?scopes=bot").await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    for known in [
        "/admin/users",
        "/admin/tokens/{token_id}",
        "/user/webhook",
        "/internal/validate",
    ] {
        assert!(
            app.paths.iter().any(|p| p == known),
            "{known} in {:?}",
            app.paths
        );
    }
    let doc: Value = serde_json::from_str(vexa_admin::openapi::document_json()).expect("json");
    let served = served(&app, &key).await;
    let documented = documented(&doc);
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes without an OpenAPI operation (annotate the handler with #[utoipa::path] and \
         list it in vexa_admin::openapi::ApiDoc): {undocumented:?}"
    );
    assert!(
        not_served.is_empty(),
        "operations the router does not serve: {not_served:?}"
    );
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc: Value = serde_json::from_str(vexa_admin::openapi::document_json()).expect("json");
    assert_valid_openapi_31(&doc);
}

#[test]
fn every_tier_declares_its_credential_and_its_gate_refusals() {
    let doc: Value = serde_json::from_str(vexa_admin::openapi::document_json()).expect("json");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["admin_token"]["name"], "X-Admin-API-Key");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["internal_secret"]["name"], "X-Internal-Secret");
    let revoke = &doc["paths"]["/admin/tokens/{token_id}"]["delete"];
    assert_eq!(revoke["security"], serde_json::json!([{"admin_token": []}]));
    let forbidden = &revoke["responses"]["403"]["content"]["application/json"];
    assert_eq!(forbidden["schema"]["$ref"], "#/components/schemas/Detail");
    assert_eq!(
        forbidden["examples"]["Invalid or missing admin token."]["value"],
        serde_json::json!({"detail": "Invalid or missing admin token."})
    );
    let webhook = &doc["paths"]["/user/webhook"]["get"];
    assert_eq!(webhook["security"], serde_json::json!([{"api_key": []}]));
    assert!(
        webhook["responses"]["401"]["content"]["application/json"]["examples"]
            .get("Missing API Key")
            .is_some()
    );
    assert!(doc["paths"]["/health"]["get"].get("security").is_none());
    // The mint response is the wire type itself, its flattened limits included.
    let minted = schema_properties(&doc, "MintedKeyView");
    for field in [
        "id",
        "token",
        "user_id",
        "scopes",
        "name",
        "expires_at",
        "created_at",
        "rate_limit_rps",
        "rate_limit_burst",
        "max_concurrent_bots",
    ] {
        assert!(
            minted.contains(&field.to_owned()),
            "MintedKeyView.{field}: {minted:?}"
        );
    }
}

/// The property names of component schema `name`, through `allOf` and `$ref` (utoipa renders a
/// `#[serde(flatten)]` field as an `allOf` member).
fn schema_properties(doc: &serde_json::Value, name: &str) -> Vec<String> {
    let schema = &doc["components"]["schemas"][name];
    let mut names: Vec<String> = Vec::new();
    let mut collect = |s: &serde_json::Value| {
        if let Some(props) = s["properties"].as_object() {
            names.extend(props.keys().cloned());
        }
    };
    collect(schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        match part["$ref"].as_str() {
            Some(r) => {
                let target = r.trim_start_matches("#/components/schemas/");
                collect(&doc["components"]["schemas"][target]);
            }
            None => collect(part),
        }
    }
    names
}

async fn openapi_json_and_docs_answer_over_a_socket_without_a_credential(backend: Backend) {
    let app = app_on(TestDb::new(backend).await);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vexa_admin::serve(
        listener,
        app.router.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();

    let res = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.expect("json");
    assert_eq!(doc["info"]["title"], "Vexa admin API");

    for page in ["/docs", "/docs/index.html"] {
        let res = http.get(format!("{base}{page}")).send().await.expect("get");
        assert_eq!(res.status(), 200, "{page}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        let html = res.text().await.expect("text");
        assert!(html.contains("swagger-ui"), "{html}");
        assert_eq!(external_references(&html), Vec::<String>::new(), "{page}");
    }
    // What the page loads, from this server, and nothing that reaches elsewhere.
    for (asset, ctype) in [
        ("swagger-ui.css", "text/css"),
        ("index.css", "text/css"),
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui-standalone-preset.js", "text/javascript"),
        ("swagger-initializer.js", "text/javascript"),
    ] {
        let res = http
            .get(format!("{base}/docs/{asset}"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 200, "{asset}");
        assert_eq!(res.headers()["content-type"], ctype, "{asset}");
    }
    let init = http
        .get(format!("{base}/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(init.contains("\"/openapi.json\""), "{init}");
    assert_eq!(external_references(&init), Vec::<String>::new());
    let missing = http
        .get(format!("{base}/docs/nope.js"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    // The admin token is never needed, nor refused.
    let res = http
        .get(format!("{base}/openapi.json"))
        .header("x-admin-api-key", ADMIN_TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200);

    let _ = stop.send(());
    let _ = server.await;
}

on_both_backends!(
    the_document_describes_exactly_the_routes_served,
    openapi_json_and_docs_answer_over_a_socket_without_a_credential,
);
