//! `.env.example` and the code cannot drift: every `ENV_*` constant of every section is
//! documented there, everything documented there is a variable the code reads, and the values
//! it shows are the defaults.

use std::collections::BTreeSet;

use vexa_core::env::Env;

use super::Settings;

const ENV_EXAMPLE: &str = include_str!("../../../../.env.example");

/// Every file that declares `ENV_*` constants. A section added elsewhere must be listed here;
/// `every_section_file_is_listed` catches a file that stops declaring any.
const SECTION_SOURCES: &[(&str, &str)] = &[
    (
        "vexa-core env",
        include_str!("../../../vexa-core/src/env.rs"),
    ),
    (
        "gateway",
        include_str!("../../../vexa-gateway/src/config.rs"),
    ),
    (
        "gateway identity",
        include_str!("../../../vexa-gateway/src/identity/config.rs"),
    ),
    (
        "gateway edge",
        include_str!("../../../vexa-gateway/src/limit/edge.rs"),
    ),
    (
        "gateway user",
        include_str!("../../../vexa-gateway/src/limit/user.rs"),
    ),
    (
        "meetings",
        include_str!("../../../vexa-meetings/src/config.rs"),
    ),
    ("listen", include_str!("listen.rs")),
    ("admin", include_str!("admin.rs")),
    ("store", include_str!("store.rs")),
    ("stack", include_str!("stack.rs")),
    ("log", include_str!("log.rs")),
];

/// The variable names of `pub const ENV_…: &str = "NAME";` lines.
fn declared_in(source: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const ENV_"))
        .filter_map(|rest| rest.split('"').nth(1))
        .map(str::to_owned)
        .collect()
}

fn declared() -> BTreeSet<String> {
    SECTION_SOURCES
        .iter()
        .flat_map(|(_, source)| declared_in(source))
        .collect()
}

/// `NAME=value` lines of `.env.example`, with `# NAME=value` ones marked as commented out.
fn documented() -> Vec<(String, String, bool)> {
    ENV_EXAMPLE
        .lines()
        .filter_map(|line| {
            let (commented, rest) = match line.strip_prefix('#') {
                Some(rest) => (true, rest.trim_start()),
                None => (false, line),
            };
            let (name, value) = rest.split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| (name.to_owned(), value.to_owned(), commented))
        })
        .collect()
}

#[test]
fn every_section_file_is_listed() {
    for (section, source) in SECTION_SOURCES {
        assert!(
            !declared_in(source).is_empty(),
            "{section} declares no ENV_* constant"
        );
    }
}

#[test]
fn every_variable_is_documented_and_every_documented_one_is_read() {
    let declared = declared();
    let documented: BTreeSet<String> = documented().into_iter().map(|(n, _, _)| n).collect();
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&declared).collect();
    assert!(
        undocumented.is_empty(),
        "not in .env.example: {undocumented:?}"
    );
    assert!(unknown.is_empty(), "no ENV_* constant for: {unknown:?}");
}

#[test]
fn the_values_shown_are_the_defaults() {
    // ADMIN_TOKEN is the one deliberate exception: the example ships a development token, the
    // code's default is none at all.
    let shown: Env = documented()
        .into_iter()
        .filter(|(name, _, commented)| !commented && name != "ADMIN_TOKEN")
        .map(|(name, value, _)| (name, value.trim_matches('"').to_owned()))
        .collect();
    let from_example = Settings::from_env(&shown).expect("the example parses");
    let defaults = Settings::from_env(&Env::default()).expect("the defaults parse");
    assert_eq!(format!("{from_example:?}"), format!("{defaults:?}"));
}
