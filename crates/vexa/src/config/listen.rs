//! The `listen` section: the address every role binds and each role's port, and the URLs this
//! machine uses to reach its own roles.

use std::net::{IpAddr, SocketAddr};

use vexa_core::env::{Env, EnvError};
use vexa_gateway::LocalUpstreams;

/// `BIND_HOST`: fills [`Listen::bind_host`].
pub const ENV_BIND_HOST: &str = "BIND_HOST";
/// `API_GATEWAY_HOST_PORT`: fills [`Listen::gateway_port`].
pub const ENV_API_GATEWAY_HOST_PORT: &str = "API_GATEWAY_HOST_PORT";
/// `ADMIN_API_PORT`: fills [`Listen::admin_port`].
pub const ENV_ADMIN_API_PORT: &str = "ADMIN_API_PORT";
/// `MEETINGS_API_PORT`: fills [`Listen::meetings_port`].
pub const ENV_MEETINGS_API_PORT: &str = "MEETINGS_API_PORT";

/// Where the roles listen (CONTRACT §1 names the ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// Address all three roles bind to.
    pub bind_host: IpAddr,
    /// The public gateway's port.
    pub gateway_port: u16,
    /// The admin API's port.
    pub admin_port: u16,
    /// The meetings service's port.
    pub meetings_port: u16,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            bind_host: IpAddr::from([127, 0, 0, 1]),
            gateway_port: 18056,
            admin_port: 18057,
            meetings_port: 18058,
        }
    }
}

impl Listen {
    /// The defaults, overridden by whichever of `BIND_HOST` and the ports `env` sets.
    pub fn from_env(env: &Env) -> Result<Listen, EnvError> {
        let d = Listen::default();
        Ok(Listen {
            bind_host: env.parse(ENV_BIND_HOST, d.bind_host)?,
            gateway_port: env.parse(ENV_API_GATEWAY_HOST_PORT, d.gateway_port)?,
            admin_port: env.parse(ENV_ADMIN_API_PORT, d.admin_port)?,
            meetings_port: env.parse(ENV_MEETINGS_API_PORT, d.meetings_port)?,
        })
    }

    /// The socket a role binds on `port`.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.bind_host, port)
    }

    /// The gateway, as this machine reaches it.
    pub fn gateway_url(&self) -> String {
        self.local_url(self.gateway_port)
    }

    /// The admin API, as this machine reaches it.
    pub fn admin_url(&self) -> String {
        self.local_url(self.admin_port)
    }

    /// The meetings service, as this machine (and the bots it starts) reach it.
    pub fn meetings_url(&self) -> String {
        self.local_url(self.meetings_port)
    }

    /// The gateway's upstreams when `MEETINGS_API_URL` / `ADMIN_API_URL` are unset: this stack.
    pub fn local_upstreams(&self) -> Result<LocalUpstreams, EnvError> {
        let uri = |url: String| {
            url.parse::<http::Uri>()
                .map_err(|e| EnvError::new(ENV_BIND_HOST, format!("gives no usable URL: {e}")))
        };
        Ok(LocalUpstreams {
            meetings: uri(self.meetings_url())?,
            admin: uri(self.admin_url())?,
        })
    }

    fn local_url(&self, port: u16) -> String {
        format!("http://{}:{port}", local_host(self.bind_host))
    }
}

/// Host to use when this machine calls its own roles: a wildcard bind is reached on loopback.
fn local_host(bind: IpAddr) -> String {
    match bind {
        IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".into(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_stack_is_what_the_gateway_assumes() {
        let listen = Listen::default();
        assert_eq!(
            listen.local_upstreams().expect("urls"),
            LocalUpstreams::default()
        );
    }

    #[test]
    fn wildcard_binds_are_reached_on_loopback() {
        let env = Env::from_pairs(&[("BIND_HOST", "::"), ("MEETINGS_API_PORT", "9")]);
        let listen = Listen::from_env(&env).expect("valid");
        assert_eq!(listen.meetings_url(), "http://[::1]:9");
        let env = Env::from_pairs(&[("BIND_HOST", "0.0.0.0")]);
        let listen = Listen::from_env(&env).expect("valid");
        assert_eq!(listen.gateway_url(), "http://127.0.0.1:18056");
    }
}
