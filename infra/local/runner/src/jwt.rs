//! The HttpApi JWT authorizer, emulated. API Gateway checks a route's bearer token against the
//! authorizer's issuer (its signing keys) and audience before the function is invoked; locally the
//! runner is its own issuer: at start it makes an ES256 key pair and an issuer URL of the local stack,
//! and it signs a token for local callers ([`LocalIssuer::token`], written into stack.json). The
//! audiences and the routes that need a token come from template.yaml ([`JwtAuthorizer`]).
//!
//! ES256 rather than RS256 (the algorithm AWS's JWKS issuers use): aws-lc-rs, already in the
//! build through rustls, generates an EC key in PKCS#8 in a few microseconds, which is what jsonwebtoken
//! signs with; the checks that matter for the app (signature, issuer, audience, expiry) are the same.

use anyhow::{Result, anyhow};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The JWT authorizer of a route, as the template configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    /// The authorizer's name in the template (`AcpJwt`).
    pub name: String,
    /// Accepted `aud` values (`JwtConfiguration.audience`).
    pub audiences: Vec<String>,
}

/// The claims of a token (what API Gateway checks, plus `sub` and `iat` for the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expiry (Unix seconds).
    pub exp: u64,
}

/// Why a request is refused (API Gateway answers every one of them with 401 `Unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The token is malformed, badly signed, expired, or for another issuer or audience.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The local stack's token issuer: its key pair and issuer URL.
pub struct LocalIssuer {
    issuer: String,
    key_id: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuer")
            .field("issuer", &self.issuer)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The issuer URL of the local stack whose HTTP API is at `http_base_url`.
pub fn issuer_url(http_base_url: &str) -> String {
    format!("{http_base_url}/local-issuer")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl LocalIssuer {
    /// A new issuer named `issuer` with a fresh P-256 key pair.
    pub fn generate(issuer: &str) -> Result<Self> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| anyhow!("generating the local issuer's key"))?;
        let pkcs8 = pair
            .to_pkcs8v1()
            .map_err(|_| anyhow!("exporting the local issuer's key"))?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(LocalIssuer {
            issuer: issuer.to_string(),
            key_id: format!("local-{}", now()),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            decoding: DecodingKey::from_ec_der(&public),
        })
    }

    /// The issuer URL (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `claims` as they are (tests make expired or foreign tokens with it).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// A token of this issuer for `audience`, valid for `lifetime` from now.
    pub fn token(&self, audience: &str, lifetime: Duration) -> Result<String> {
        let iat = now();
        self.sign(&Claims {
            iss: self.issuer.clone(),
            aud: audience.to_string(),
            sub: "local-stack".into(),
            iat,
            exp: iat + lifetime.as_secs(),
        })
    }

    /// Checks an `Authorization` header value (`Bearer <jwt>`; API Gateway also takes the bare token)
    /// for `authorizer`: signature, issuer, one of its audiences, expiry. Returns the claims.
    pub fn check(&self, authorization: Option<&str>, authorizer: &JwtAuthorizer) -> Result<Claims, Refusal> {
        let value = authorization
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(Refusal::Missing)?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value,
        };
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&authorizer.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| Refusal::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorizer() -> JwtAuthorizer {
        JwtAuthorizer {
            name: "AcpJwt".into(),
            audiences: vec!["aop-app".into()],
        }
    }

    #[test]
    fn its_own_token_passes_with_or_without_the_bearer_scheme() {
        let issuer = LocalIssuer::generate("http://127.0.0.1:1/local-issuer").unwrap();
        let token = issuer.token("aop-app", Duration::from_secs(60)).unwrap();
        let claims = issuer.check(Some(&format!("Bearer {token}")), &authorizer()).unwrap();
        assert_eq!(claims.iss, "http://127.0.0.1:1/local-issuer");
        assert_eq!(claims.aud, "aop-app");
        assert_eq!(claims.exp - claims.iat, 60);
        assert!(issuer.check(Some(&format!("bearer {token}")), &authorizer()).is_ok());
        assert!(issuer.check(Some(&token), &authorizer()).is_ok());
    }

    #[test]
    fn refuses_missing_foreign_expired_and_garbled_tokens() {
        let issuer = LocalIssuer::generate("http://local/issuer").unwrap();
        let check = |value: Option<&str>| issuer.check(value, &authorizer());
        assert_eq!(check(None), Err(Refusal::Missing));
        assert_eq!(check(Some("  ")), Err(Refusal::Missing));
        assert!(matches!(check(Some("Bearer not.a.jwt")), Err(Refusal::Invalid(_))));

        let other_key = LocalIssuer::generate("http://local/issuer").unwrap();
        let forged = other_key.token("aop-app", Duration::from_secs(60)).unwrap();
        assert!(matches!(check(Some(&forged)), Err(Refusal::Invalid(_))), "another key");

        let wrong_audience = issuer.token("someone-else", Duration::from_secs(60)).unwrap();
        assert!(matches!(check(Some(&wrong_audience)), Err(Refusal::Invalid(_))));

        let base = Claims {
            iss: "http://local/issuer".into(),
            aud: "aop-app".into(),
            sub: "s".into(),
            iat: now() - 7200,
            exp: now() - 3600,
        };
        let expired = issuer.sign(&base).unwrap();
        assert!(matches!(check(Some(&expired)), Err(Refusal::Invalid(_))), "expired");
        let other_issuer = issuer
            .sign(&Claims {
                iss: "https://elsewhere/".into(),
                exp: now() + 60,
                ..base.clone()
            })
            .unwrap();
        assert!(matches!(check(Some(&other_issuer)), Err(Refusal::Invalid(_))), "issuer");
        let fine = issuer
            .sign(&Claims {
                exp: now() + 60,
                ..base
            })
            .unwrap();
        assert!(check(Some(&fine)).is_ok());
    }
}
