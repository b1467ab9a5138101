//! The stack's APIs as a client sees them: minting through the admin API, `/auth/me` through
//! the gateway.

use std::time::Duration;

use super::StackEnv;
use crate::ADMIN_TOKEN;

/// Creates (or finds) a user and mints a key with `scopes` (`"bot,tx"`) through the admin API:
/// `(user_id, key_id, key)`.
pub async fn mint(env: &StackEnv, email: &str, scopes: &str) -> (i64, i64, String) {
    let client = reqwest::Client::new();
    let user: serde_json::Value = client
        .post(format!("{}/admin/users", env.admin()))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .expect("create user")
        .json()
        .await
        .expect("user json");
    let user_id = user["id"].as_i64().expect("user id");
    let key: serde_json::Value = client
        .post(format!(
            "{}/admin/users/{user_id}/tokens?scopes={scopes}",
            env.admin()
        ))
        .header("X-Admin-API-Key", ADMIN_TOKEN)
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("mint json");
    (
        user_id,
        key["id"].as_i64().expect("key id"),
        key["token"].as_str().expect("token").to_owned(),
    )
}

/// GET `/auth/me` through the gateway: the status code, 0 when nothing answers.
pub async fn auth_me_status(gateway: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{gateway}/auth/me"))
        .header("X-API-Key", key)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}
