//! What the admin API's and the gateway's API references share: the `{"detail": …}` error
//! schema, where the document and the page live, and the `/docs` page itself.
//!
//! The page is Swagger UI from the `utoipa-swagger-ui` crate's vendored archive (its `vendored`
//! feature: the archive comes from the cargo registry, nothing is downloaded at build time),
//! embedded in the binary and served from under [`DOCS_PATH`]. Nothing on it is loaded from
//! another host, so it works offline; it reads the document from [`OPENAPI_PATH`] on the same
//! origin. Framework-free (bytes and a content type), so the hyper gateway and the axum admin API
//! serve the same files.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use utoipa::ToSchema;

/// Where each service serves its OpenAPI 3.1 document.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where each service serves its API reference page; its assets live under `/docs/`.
pub const DOCS_PATH: &str = "/docs";

/// Every 4xx (and the 5xx the services answer themselves): `{"detail": "…"}`. Some carry more
/// fields (the gateway's scope 403 adds `required` and `granted`).
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(example = json!({"detail": "Invalid API key"}))]
pub struct Detail {
    pub detail: String,
}

/// A `{"detail": …}` response described by its exact `detail` strings, one example each (the
/// strings come from the service's error type, so the document says what the service says).
pub fn detail_response<'a>(
    description: &str,
    details: impl IntoIterator<Item = &'a str>,
) -> utoipa::openapi::Response {
    use utoipa::openapi::example::ExampleBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let examples = details.into_iter().map(|detail| {
        let example = ExampleBuilder::new()
            .summary(detail)
            .value(Some(serde_json::json!({ "detail": detail })))
            .build();
        (detail.to_owned(), example)
    });
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Detail")))
        .examples_from_iter(examples)
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
}

/// One file of the docs page.
#[derive(Debug)]
pub struct DocsFile {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: String,
}

/// Swagger UI's settings: read [`OPENAPI_PATH`], and no validator badge (Swagger UI's default
/// sends the document to an online validator, which is a request to another host).
static CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        utoipa_swagger_ui::Config::new([OPENAPI_PATH])
            .validator_url("none")
            .try_it_out_enabled(true),
    )
});

/// The docs page's file at request path `path` (`/docs`, `/docs/` and `/docs/index.html` are the
/// page; `/docs/<file>` its assets); `None` for anything else.
pub fn docs_file(path: &str) -> Option<DocsFile> {
    let tail = path.strip_prefix(DOCS_PATH)?;
    let file = match tail {
        "" | "/" => "index.html",
        _ => tail.strip_prefix('/')?,
    };
    let found = utoipa_swagger_ui::serve(file, CONFIG.clone()).ok()??;
    if file != "index.html" {
        return Some(DocsFile {
            bytes: found.bytes,
            content_type: found.content_type,
        });
    }
    // The page refers to its assets relatively (`./swagger-ui.css`, `index.css`); a `<base>`
    // makes them resolve under `/docs/` whether the page was asked for as `/docs` or `/docs/`.
    let html = String::from_utf8_lossy(&found.bytes).replacen(
        "<head>",
        "<head>\n    <base href=\"/docs/\">",
        1,
    );
    Some(DocsFile {
        bytes: Cow::Owned(html.into_bytes()),
        content_type: "text/html; charset=utf-8".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_embedded() {
        for path in ["/docs", "/docs/", "/docs/index.html"] {
            let page = docs_file(path).expect("the page");
            assert_eq!(page.content_type, "text/html; charset=utf-8");
            let html = String::from_utf8_lossy(&page.bytes);
            assert!(html.contains("<base href=\"/docs/\">"), "{html}");
        }
        for asset in [
            "/docs/swagger-ui.css",
            "/docs/index.css",
            "/docs/swagger-ui-bundle.js",
            "/docs/swagger-ui-standalone-preset.js",
            "/docs/favicon-32x32.png",
        ] {
            assert!(
                docs_file(asset).is_some_and(|f| !f.bytes.is_empty()),
                "{asset}"
            );
        }
        let init = docs_file("/docs/swagger-initializer.js").expect("initializer");
        let init = String::from_utf8_lossy(&init.bytes);
        assert!(init.contains("\"/openapi.json\""), "{init}");
        assert!(!init.contains("petstore"), "{init}");
    }

    #[test]
    fn other_paths_are_not_docs() {
        for path in [
            "/doc",
            "/docsx",
            "/docs/nope.js",
            "/openapi.json",
            "/docs/../etc",
        ] {
            assert!(docs_file(path).is_none(), "{path}");
        }
    }
}
