//! `vexa provision-token`: find-or-create a user and mint a key through the running admin API.
//! On stdout only the key (or, with `--banner`, the URLs and the key); failures are one line on
//! stderr with a non-zero exit.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::config::Settings;

#[derive(clap::Args)]
pub struct ProvisionArgs {
    /// Email of the user the key belongs to (created if missing).
    #[arg(long, default_value = "self-host@vexa.local")]
    email: String,
    /// Comma-separated scopes.
    #[arg(long, default_value = "bot,tx")]
    scopes: String,
    /// Name recorded with the key.
    #[arg(long)]
    name: Option<String>,
    /// Print the gateway URL, the admin URL and the key as `make all` shows them.
    #[arg(long)]
    banner: bool,
}

#[derive(Deserialize)]
struct UserView {
    id: i64,
}

#[derive(Deserialize)]
struct MintView {
    token: String,
}

pub async fn run(settings: &Settings, args: ProvisionArgs) -> anyhow::Result<()> {
    let admin = settings.listen.admin_url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let token = settings.admin.token.expose();
    let create = client
        .post(format!("{admin}/admin/users"))
        .header("X-Admin-API-Key", token)
        .json(&serde_json::json!({ "email": args.email }))
        .send()
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the admin API at {admin} is not reachable; is the stack up? (run `make all`)"
            )
        })?;
    let user: UserView = parse(create, "creating the user").await?;
    let mut url = format!(
        "{admin}/admin/users/{}/tokens?scopes={}",
        user.id, args.scopes
    );
    if let Some(name) = &args.name {
        url.push_str("&name=");
        url.push_str(name);
    }
    let mint = client
        .post(url)
        .header("X-Admin-API-Key", token)
        .send()
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the admin API at {admin} is not reachable; is the stack up? (run `make all`)"
            )
        })?;
    let key: MintView = parse(mint, "minting the key").await?;
    if args.banner {
        println!();
        println!("  vexa is up.");
        println!("  Gateway URL   : {}", settings.listen.gateway_url());
        println!("  Admin API URL : {admin}");
        println!("  API key : {}", key.token);
        println!();
        println!(
            "  Try: curl -H \"X-API-Key: {}\" {}/auth/me",
            key.token,
            settings.listen.gateway_url()
        );
    } else {
        println!("{}", key.token);
    }
    Ok(())
}

async fn parse<T: for<'de> Deserialize<'de>>(
    resp: reqwest::Response,
    what: &str,
) -> anyhow::Result<T> {
    let status = resp.status();
    if status == reqwest::StatusCode::FORBIDDEN {
        bail!("the admin API rejected the admin token (check ADMIN_TOKEN)");
    }
    if !status.is_success() {
        let detail = resp
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("detail").map(ToString::to_string))
            .unwrap_or_default();
        bail!("{what} failed: HTTP {status} {detail}");
    }
    resp.json::<T>()
        .await
        .with_context(|| format!("{what}: unexpected response"))
}
