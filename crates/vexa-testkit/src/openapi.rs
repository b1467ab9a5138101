//! What the admin API's and the gateway's OpenAPI tests share: a served document checked against
//! the official OpenAPI 3.1 JSON Schema (vendored at `tests/openapi/`, see its README), and the
//! check that a `/docs` page loads nothing from another host.

use serde_json::Value;

/// The OpenAPI Initiative's schema for 3.1 documents (`$id` `…/oas/3.1/schema/2022-10-07`).
const OAS_31_SCHEMA: &str = include_str!("../../../tests/openapi/oas-3.1-schema.json");

/// Panics, listing every violation with where it is, unless `doc` is a valid OpenAPI 3.1
/// document: `openapi` is `3.1.x` and the whole document validates against the official schema
/// (JSON Schema draft 2020-12, formats checked).
pub fn assert_valid_openapi_31(doc: &Value) {
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi is {version:?}");
    let schema: Value = serde_json::from_str(OAS_31_SCHEMA).expect("the vendored schema is JSON");
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the vendored schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} (at {})", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid OpenAPI 3.1 document:\n{}",
        errors.join("\n")
    );
}

/// Every reference in `text` (an HTML page, a script, a stylesheet) that would make a browser
/// reach another host: an absolute URL of any scheme (`://`) or a scheme-relative one (`"//…`,
/// `'//…`, `(//…`). Empty for a page that works offline.
pub fn external_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("://") {
        found.push(around(text, at));
    }
    for pattern in ["\"//", "'//", "(//"] {
        for (at, _) in text.match_indices(pattern) {
            found.push(around(text, at));
        }
    }
    found
}

/// A few characters either side of `at`, for a readable failure.
fn around(text: &str, at: usize) -> String {
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(30)
        .map_or(0, |(i, _)| i);
    let end = text[at..]
        .char_indices()
        .nth(40)
        .map_or(text.len(), |(i, _)| at + i);
    text[start..end].to_owned()
}
