//! A local stand-in of Spryker's ACP event platform, for the local stack and the tests: the OAuth2
//! token endpoint, the HTTP message channel exactly as Spryker's `HttpChannelSenderClient` and
//! `HttpChannelReceiverClient` speak it, the `http` sender's endpoint (`HttpSenderClient`, `X-`
//! headers, routed by transfer name), the delivery of `payment-commands` to an SQS queue as Symfony's
//! Amazon SQS transport writes them (the `http-sqs` wiring), and control routes for the tests
//! (scripted faults, the stored messages, request counts).
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use acp_platform::{Platform, PlatformConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = PlatformConfig::new("client-id", "client-secret", vec!["app-stripe".to_string()]);
//! let platform = Platform::start(config, listener)?;
//! println!("token at {}, channels under {}", platform.token_url(), platform.url());
//! # Ok(())
//! # }
//! ```

mod auth;
mod channels;
mod faults;
mod headers;
mod requests;
mod server;
mod sqs_delivery;
mod state;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The audience a token request must name (the one the app's client asks for).
pub use shared::acp::channel::TOKEN_AUDIENCE;

/// How the platform is set up.
#[derive(Clone)]
pub struct PlatformConfig {
    /// The OAuth2 client allowed to get tokens.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
    /// Consumers with these ids are apps: they see the messages of every tenant. Any other consumer id
    /// is a tenant identifier and sees only that tenant's messages.
    pub app_identifiers: Vec<String>,
    /// How long a message handed to a consumer and not acknowledged stays hidden from that consumer.
    pub visibility_timeout: Duration,
    /// How long a token is valid (its `expires_in`).
    pub token_lifetime: Duration,
}

impl PlatformConfig {
    /// The client `client_id`/`client_secret` and the apps `app_identifiers`, with a visibility timeout
    /// of 30 s and tokens valid for an hour.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>, app_identifiers: Vec<String>) -> Self {
        PlatformConfig {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            app_identifiers,
            visibility_timeout: Duration::from_secs(30),
            token_lifetime: Duration::from_secs(3600),
        }
    }
}

impl fmt::Debug for PlatformConfig {
    // By hand, so the secret never lands in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("app_identifiers", &self.app_identifiers)
            .field("visibility_timeout", &self.visibility_timeout)
            .field("token_lifetime", &self.token_lifetime)
            .finish()
    }
}

/// A running platform. Cheap to clone: the clones share one state.
#[derive(Clone)]
pub struct Platform {
    shared: Arc<server::Shared>,
    url: String,
}

impl Platform {
    /// Serves on the listener in a spawned tokio task; returns at once. The platform serves until the
    /// runtime shuts down. Fails when the listener has no local address or no tokio runtime is running.
    pub fn start(config: PlatformConfig, listener: tokio::net::TcpListener) -> std::io::Result<Platform> {
        let address = listener.local_addr()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let shared = Arc::new(server::Shared::new(config));
        runtime.spawn(server::serve(shared.clone(), listener));
        Ok(Platform {
            shared,
            url: base_url(address),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (channels are `{url}/{channel}`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The OAuth2 token endpoint, `{url}/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.url)
    }

    /// The `http` sender's endpoint, `{url}/http-endpoint`.
    pub fn http_endpoint_url(&self) -> String {
        format!("{}/http-endpoint", self.url)
    }

    /// From now on every message published on `payment-commands` (by any tenant) is also sent to the
    /// SQS queue `queue_url`; those published before are sent now. Returns when they were sent (or, on
    /// failure, logged and kept for the next publish).
    pub async fn deliver_commands_to(&self, sqs: aws_sdk_sqs::Client, queue_url: String) {
        self.shared
            .delivery
            .set_target(sqs, queue_url, &self.shared.store)
            .await;
    }
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `http://ADDRESS`, with the loopback address for a listener bound to every interface.
fn base_url(address: SocketAddr) -> String {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

/// Locks `mutex`; a panic elsewhere while it was held leaves the state usable, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            base_url("127.0.0.1:8080".parse().expect("address")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(base_url("0.0.0.0:81".parse().expect("address")), "http://127.0.0.1:81");
        assert_eq!(base_url("[::]:82".parse().expect("address")), "http://[::1]:82");
    }

    #[test]
    fn config_defaults_and_debug_hides_the_secret() {
        let config = PlatformConfig::new("id", "s3cret", vec!["app".into()]);
        assert_eq!(config.visibility_timeout, Duration::from_secs(30));
        assert_eq!(config.token_lifetime, Duration::from_secs(3600));
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
