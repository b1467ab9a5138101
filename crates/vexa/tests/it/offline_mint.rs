//! `vexa token mint` (the offline CLI, straight on the database) and `POST
//! /admin/users/{id}/tokens` (the admin API) go through the same minting rules: the CLI refuses
//! exactly what the API refuses, with the same message, and accepts what it accepts.
//!
//! Both run as the real binary on one SQLite file: `vexa admin-api` serves the API, and each
//! `vexa token …` command opens the same database.

use std::process::Output;
use std::time::Duration;

use vexa_testkit::stack::{mint, wait_ok, StackEnv, UpProcess};
use vexa_testkit::ADMIN_TOKEN;

use crate::support::VEXA;
use serde_json::{json, Value};

/// 100 years, the longest lifetime a key may be minted with.
const MAX_EXPIRES_IN_SECS: i64 = 100 * 365 * 24 * 3600;

struct Both {
    env: StackEnv,
    _api: UpProcess,
    user_id: i64,
    _dir: tempfile::TempDir,
}

const API_USER: &str = "api@acme.com";

async fn both() -> Both {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let env = StackEnv::new(VEXA, dir.path(), &url);
    let api = UpProcess {
        child: env.spawn("admin-api", "admin"),
    };
    wait_ok(&format!("{}/health", env.admin()), Duration::from_secs(30)).await;
    let (user_id, _, _) = mint(&env, API_USER, "bot").await;
    Both {
        user_id,
        env,
        _api: api,
        _dir: dir,
    }
}

impl Both {
    /// The API's answer to a mint with this JSON body: status and `detail` (or the key's JSON).
    async fn api_mint(&self, body: Value) -> (u16, Value) {
        self.api_mint_with("", Some(body)).await
    }

    /// The API's answer to a mint with this query string (`?…` or empty) and optional body.
    async fn api_mint_with(&self, query: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!(
                "{}/admin/users/{}/tokens{query}",
                self.env.admin(),
                self.user_id
            ))
            .header("X-Admin-API-Key", ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("mint");
        let status = res.status().as_u16();
        (status, res.json().await.expect("mint json"))
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.env.run(args)
    }

    /// `vexa token mint --email <email> <args>`.
    fn cli_mint(&self, email: &str, args: &[&str]) -> Output {
        let mut all = vec!["token", "mint", "--email", email];
        all.extend_from_slice(args);
        self.cli(&all)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_cli_refuses_what_the_api_refuses_with_the_same_message() {
    let both = both().await;
    let too_long = "n".repeat(256);
    let over_cap = (MAX_EXPIRES_IN_SECS + 1).to_string();
    // (CLI flags, the same request as an API body)
    let cases: Vec<(Vec<&str>, Value)> = vec![
        (
            vec!["--expires-in", &over_cap],
            json!({"expires_in": MAX_EXPIRES_IN_SECS + 1}),
        ),
        (vec!["--expires-in", "0"], json!({"expires_in": 0})),
        (vec!["--expires-in", "-5"], json!({"expires_in": -5})),
        (vec!["--name", &too_long], json!({"name": too_long})),
        (
            vec!["--scopes", "bot,foo"],
            json!({"scopes": ["bot", "foo"]}),
        ),
        (vec!["--scopes", " , "], json!({"scopes": [" ", ""]})),
        (vec!["--scopes", ","], json!({"scopes": []})),
    ];
    for (i, (flags, body)) in cases.iter().enumerate() {
        let (status, answer) = both.api_mint(body.clone()).await;
        assert_eq!(status, 422, "API accepted {body}: {answer}");
        let detail = answer["detail"].as_str().expect("detail").to_owned();

        let email = format!("cli-{i}@acme.com");
        let out = both.cli_mint(&email, flags);
        assert!(!out.status.success(), "CLI accepted {flags:?}");
        assert!(
            stderr(&out).contains(&detail),
            "CLI {flags:?} said {:?}; the API said {detail:?}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "no key is printed for {flags:?}");
        // A refused mint creates nothing, not even the user.
        let list = both.cli(&["token", "list", "--email", &email]);
        assert!(
            stderr(&list).contains("User not found"),
            "{}",
            stderr(&list)
        );
    }
}

#[tokio::test]
async fn a_non_integer_lifetime_is_refused_by_both_in_the_same_words() {
    let both = both().await;
    let (status, answer) = both.api_mint_with("?expires_in=abc", None).await;
    assert_eq!(status, 422);
    let detail = answer["detail"].as_str().expect("detail");
    assert_eq!(
        detail,
        "expires_in must be a positive integer number of seconds"
    );
    let out = both.cli_mint("cli-abc@acme.com", &["--expires-in", "abc"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(detail), "{}", stderr(&out));
}

#[tokio::test]
async fn the_cli_accepts_what_the_api_accepts_and_stores_the_same_key() {
    let both = both().await;
    let name = "n".repeat(255);
    let (status, api_key) = both
        .api_mint(json!({
            "scopes": ["tx", " bot", "tx"],
            "name": name,
            "expires_in": MAX_EXPIRES_IN_SECS,
        }))
        .await;
    assert_eq!(status, 201, "{api_key}");

    let cap = MAX_EXPIRES_IN_SECS.to_string();
    let email = "cli-ok@acme.com";
    let out = both.cli_mint(
        email,
        &[
            "--scopes",
            "tx, bot,tx",
            "--name",
            &name,
            "--expires-in",
            &cap,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let key = String::from_utf8(out.stdout).expect("utf8");
    let key = key.trim();
    assert!(key.starts_with("vxa_tx_"), "{key}");
    assert!(api_key["token"]
        .as_str()
        .expect("token")
        .starts_with("vxa_tx_"));

    let list = both.cli(&["token", "list", "--email", email]);
    assert!(list.status.success(), "{}", stderr(&list));
    let keys: Value = serde_json::from_slice(&list.stdout).expect("list json");
    let cli_key = &keys[0];
    assert_eq!(cli_key["scopes"], json!(["tx", "bot"]));
    assert_eq!(cli_key["scopes"], api_key["scopes"]);
    assert_eq!(cli_key["name"], api_key["name"]);
    assert_eq!(cli_key["prefix"], key[..12]);
    assert!(cli_key["expires_at"].is_string(), "{cli_key}");

    // An empty name counts as none on both sides; the default scope is `bot` on both sides.
    let (status, api_plain) = both.api_mint(json!({"name": ""})).await;
    assert_eq!(status, 201);
    let out = both.cli_mint("cli-plain@acme.com", &["--name", ""]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list = both.cli(&["token", "list", "--email", "cli-plain@acme.com"]);
    let keys: Value = serde_json::from_slice(&list.stdout).expect("list json");
    assert_eq!(keys[0]["name"], api_plain["name"]);
    assert_eq!(keys[0]["scopes"], api_plain["scopes"]);
    assert_eq!(keys[0]["scopes"], json!(["bot"]));
}
