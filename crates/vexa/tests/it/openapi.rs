//! The API reference of the real binary: `vexa up` serves `/openapi.json` (a valid OpenAPI 3.1
//! document) and `/docs` (a page that loads nothing from another host) on the gateway and on
//! the admin API, without a key or the admin token.

use vexa_testkit::openapi::{assert_valid_openapi_31, external_references};
use vexa_testkit::stack::{database_url, start_up, StackEnv};
use vexa_testkit::{on_both_backends, Backend};

use crate::support::VEXA;

async fn both_services_serve_their_reference_openly(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let env = StackEnv::new(VEXA, dir.path(), &database_url(backend, dir.path()).await);
    let _up = start_up(&env).await;
    let http = reqwest::Client::new();
    for (base, title) in [
        (env.gateway(), "Vexa gateway"),
        (env.admin(), "Vexa admin API"),
    ] {
        let res = http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .expect("openapi.json");
        assert_eq!(res.status(), 200, "{base}");
        assert_eq!(res.headers()["content-type"], "application/json", "{base}");
        let doc: serde_json::Value = res.json().await.expect("json");
        assert_eq!(doc["info"]["title"], title);
        assert_valid_openapi_31(&doc);

        let res = http.get(format!("{base}/docs")).send().await.expect("docs");
        assert_eq!(res.status(), 200, "{base}");
        assert_eq!(
            res.headers()["content-type"],
            "text/html; charset=utf-8",
            "{base}"
        );
        let html = res.text().await.expect("html");
        assert!(html.contains("swagger-ui-bundle.js"), "{html}");
        assert_eq!(external_references(&html), Vec::<String>::new(), "{base}");
        let res = http
            .get(format!("{base}/docs/swagger-ui-bundle.js"))
            .send()
            .await
            .expect("bundle");
        assert_eq!(res.status(), 200, "{base}");
    }
}

on_both_backends!(both_services_serve_their_reference_openly);
