//! The OAuth2 client-credentials endpoint and the bearer tokens it issues. Pure logic: time is a
//! parameter.
//!
//! The platform binds a token to no identity: the configured client may act for any tenant or app.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The OAuth2 error of a refused token request: the HTTP status and the `error` code of RFC 6749 §5.2
/// (plus `invalid_audience`, Auth0's way of refusing an unknown API).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct TokenRefusal {
    /// 400 or 401.
    pub status: u16,
    /// `invalid_request`, `unsupported_grant_type`, `invalid_client` or `invalid_audience`.
    pub code: &'static str,
    /// What was wrong, for the `error_description` (never quotes a secret).
    pub description: String,
}

impl TokenRefusal {
    fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        TokenRefusal {
            status: 400,
            code,
            description: description.into(),
        }
    }
}

/// A token request's parameters (`grant_type`, `client_id`, `client_secret`, `audience`).
pub type TokenRequest = HashMap<String, String>;

/// Issued tokens and the one client allowed to ask for them.
#[derive(Debug)]
pub struct Tokens {
    client_id: String,
    client_secret: String,
    audience: &'static str,
    lifetime: Duration,
    /// token -> expiry.
    issued: HashMap<String, Instant>,
}

impl Tokens {
    /// Tokens for the client `client_id`/`client_secret` and `audience`, each valid for `lifetime`.
    pub fn new(client_id: String, client_secret: String, audience: &'static str, lifetime: Duration) -> Self {
        Tokens {
            client_id,
            client_secret,
            audience,
            lifetime,
            issued: HashMap::new(),
        }
    }

    /// How long a token lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Issues a new token for a valid client-credentials request at `now`, or says why not. Checked in
    /// order: grant type, client credentials, audience.
    pub fn issue(&mut self, request: &TokenRequest, now: Instant) -> Result<String, TokenRefusal> {
        let param = |name: &str| request.get(name).map(String::as_str).filter(|v| !v.is_empty());
        match param("grant_type") {
            None => return Err(TokenRefusal::bad_request("invalid_request", "grant_type is missing")),
            Some("client_credentials") => {}
            Some(other) => {
                return Err(TokenRefusal::bad_request(
                    "unsupported_grant_type",
                    format!("grant_type {other} is not supported"),
                ));
            }
        }
        let (Some(client_id), Some(client_secret)) = (param("client_id"), param("client_secret")) else {
            return Err(TokenRefusal::bad_request(
                "invalid_request",
                "client_id and client_secret are required",
            ));
        };
        if client_id != self.client_id || client_secret != self.client_secret {
            return Err(TokenRefusal {
                status: 401,
                code: "invalid_client",
                description: "unknown client or wrong secret".to_string(),
            });
        }
        match param("audience") {
            None => return Err(TokenRefusal::bad_request("invalid_request", "audience is missing")),
            Some(audience) if audience != self.audience => {
                return Err(TokenRefusal::bad_request(
                    "invalid_audience",
                    format!("audience {audience} is not {}", self.audience),
                ));
            }
            Some(_) => {}
        }
        // Forget the expired ones so the map does not grow for ever.
        self.issued.retain(|_, expiry| *expiry > now);
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        self.issued.insert(token.clone(), now + self.lifetime);
        Ok(token)
    }

    /// Whether `token` was issued here and has not expired at `now`.
    pub fn is_valid(&self, token: &str, now: Instant) -> bool {
        self.issued.get(token).is_some_and(|expiry| *expiry > now)
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme in any case).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFETIME: Duration = Duration::from_secs(3600);

    fn tokens() -> Tokens {
        Tokens::new("client".into(), "secret".into(), "aop-event-platform", LIFETIME)
    }

    fn request(pairs: &[(&str, &str)]) -> TokenRequest {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn valid() -> TokenRequest {
        request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "client"),
            ("client_secret", "secret"),
            ("audience", "aop-event-platform"),
        ])
    }

    #[test]
    fn issues_tokens_that_expire() {
        let mut tokens = tokens();
        let now = Instant::now();
        let token = tokens.issue(&valid(), now).expect("issued");
        assert!(tokens.is_valid(&token, now));
        assert!(tokens.is_valid(&token, now + LIFETIME - Duration::from_millis(1)));
        assert!(!tokens.is_valid(&token, now + LIFETIME));
        assert!(!tokens.is_valid("other", now));
        let second = tokens.issue(&valid(), now).expect("issued");
        assert_ne!(token, second);
    }

    #[test]
    fn refusals() {
        let mut tokens = tokens();
        let now = Instant::now();
        let refused = |tokens: &mut Tokens, name: &str, value: Option<&str>| {
            let mut request = valid();
            match value {
                Some(value) => request.insert(name.to_string(), value.to_string()),
                None => request.remove(name),
            };
            let refusal = tokens.issue(&request, now).expect_err("refused");
            (refusal.status, refusal.code)
        };
        assert_eq!(
            refused(&mut tokens, "client_secret", Some("wrong")),
            (401, "invalid_client")
        );
        assert_eq!(
            refused(&mut tokens, "client_id", Some("wrong")),
            (401, "invalid_client")
        );
        assert_eq!(refused(&mut tokens, "client_secret", None), (400, "invalid_request"));
        assert_eq!(
            refused(&mut tokens, "grant_type", Some("password")),
            (400, "unsupported_grant_type")
        );
        assert_eq!(refused(&mut tokens, "grant_type", None), (400, "invalid_request"));
        assert_eq!(
            refused(&mut tokens, "audience", Some("other")),
            (400, "invalid_audience")
        );
        assert_eq!(refused(&mut tokens, "audience", None), (400, "invalid_request"));
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
