//! The HttpApi JWT authorizer, emulated. API Gateway checks a route's bearer token against the
//! authorizer's issuer (its signing keys) and audience before the function is invoked; locally the
//! runner is its own issuer: at start it makes an RSA key pair (2048 bit) and an issuer URL of the local
//! stack, and it signs a token for local callers ([`LocalIssuer::token`], written into stack.json). The
//! audiences and the routes that need a token come from template.yaml ([`JwtAuthorizer`]).
//!
//! RS256 because API Gateway's HTTP API JWT authorizer accepts RSA-signed tokens only: a token that
//! passes locally has the shape a deployment accepts, and one with another algorithm (ES256, HS256,
//! `none`) is refused here as there. Like a real OIDC issuer, the local one publishes its discovery
//! document and its public key (JWKS) under the issuer URL ([`LocalIssuer::well_known`]), and the check
//! verifies with that published key.

use anyhow::{Context, Result, anyhow};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The one algorithm the authorizer accepts (API Gateway: "only RSA-based algorithms are supported").
const ALGORITHM: Algorithm = Algorithm::RS256;

/// The JWT authorizer of a route, as the template configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    /// The authorizer's name in the template (`AcpJwt`).
    pub name: String,
    /// Accepted `aud` values (`JwtConfiguration.audience`).
    pub audiences: Vec<String>,
}

/// The claims of a token (what API Gateway checks, plus `sub` and `iat` for the record, and what an
/// OAuth client-credentials token of Auth0, ACP's issuer, carries besides: `azp`, `gty`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The OAuth client the token was issued to (authorized party).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// The grant type (`client-credentials`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gty: Option<String>,
    /// The tenant the token was requested for (the `tenant_identifier` of Spryker's token request), as
    /// a claim of that name: the local stack's `TenantClaim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_identifier: Option<String>,
}

/// How long a tenant's token from the token endpoint is valid (Auth0's default for API tokens).
pub const TENANT_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// Why a request is refused (API Gateway answers every one of them with 401 `Unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The token is malformed, signed with another algorithm or key, expired, or for another issuer
    /// or audience.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The local stack's token issuer: its key pair and issuer URL.
pub struct LocalIssuer {
    issuer: String,
    /// The path of the issuer URL, under which the well-known documents are served.
    issuer_path: String,
    encoding: EncodingKey,
    /// The public key as the JWKS publishes it (`kid` is its RFC 7638 thumbprint).
    jwk: Jwk,
    decoding: DecodingKey,
    /// The audience of the tokens the token endpoint issues (the template's JWT authorizer's).
    audience: Option<String>,
}

impl std::fmt::Debug for LocalIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIssuer")
            .field("issuer", &self.issuer)
            .field("key_id", &self.jwk.common.key_id)
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
    /// A new issuer at the URL `issuer` with a fresh RSA key pair (2048 bit).
    pub fn generate(issuer: &str) -> Result<Self> {
        let issuer_path = reqwest::Url::parse(issuer)
            .with_context(|| format!("the issuer {issuer} is not a URL"))?
            .path()
            .trim_end_matches('/')
            .to_string();
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow!("generating the local issuer's key"))?;
        let pkcs8: Pkcs8V1Der = pair.as_der().map_err(|_| anyhow!("exporting the local issuer's key"))?;
        // jsonwebtoken signs with the PKCS#1 `RSAPrivateKey`, which the PKCS#8 `PrivateKeyInfo` wraps.
        let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8.as_ref())
            .map_err(|e| anyhow!("reading the local issuer's PKCS#8 key: {e}"))?;
        let encoding = EncodingKey::from_rsa_der(info.private_key.as_bytes());
        let mut jwk = Jwk::from_encoding_key(&encoding, ALGORITHM)?;
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256)?);
        let decoding = DecodingKey::from_jwk(&jwk)?;
        Ok(LocalIssuer {
            issuer: issuer.to_string(),
            issuer_path,
            encoding,
            jwk,
            decoding,
            audience: None,
        })
    }

    /// This issuer, its token endpoint issuing tokens for `audience` (none: it issues none).
    pub fn for_audience(self, audience: Option<&str>) -> Self {
        LocalIssuer {
            audience: audience.map(str::to_string),
            ..self
        }
    }

    /// The issuer URL (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs `claims` as they are (tests make expired or foreign tokens with it).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(ALGORITHM);
        header.kid = self.jwk.common.key_id.clone();
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
            ..Claims::default()
        })
    }

    /// The OAuth client of `tenant`'s shop at this issuer: ACP registers one client per shop environment,
    /// and its tokens name the client, not the tenant. Stable for the issuer, distinct per tenant.
    pub fn client_of(&self, tenant: &str) -> String {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{}\n{tenant}", self.issuer).as_bytes(),
        );
        URL_SAFE_NO_PAD.encode(&digest.as_ref()[..24])
    }

    /// A token for `tenant`'s shop, for `audience`, as ACP's OAuth server issues one to the shop's client
    /// (client credentials): `sub` `{client}@clients`, `azp` the client, `gty` `client-credentials`, and
    /// the tenant it was requested for (`tenant_identifier`).
    pub fn tenant_token(&self, audience: &str, tenant: &str, lifetime: Duration) -> Result<String> {
        let client = self.client_of(tenant);
        let iat = now();
        self.sign(&Claims {
            iss: self.issuer.clone(),
            aud: audience.to_string(),
            sub: format!("{client}@clients"),
            iat,
            exp: iat + lifetime.as_secs(),
            azp: Some(client),
            gty: Some("client-credentials".into()),
            tenant_identifier: Some(tenant.to_string()),
        })
    }

    /// The URL of the token endpoint: `GET {token_url}?tenant=T` answers `{"access_token": ...}`, a
    /// token of T's shop ([`LocalIssuer::tenant_token`]).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// The answer of the token endpoint to a request for `path`?`query`, if `path` is the endpoint: a
    /// token for the `tenant` named in the query (for the issuer's audience), or why there is none.
    pub fn token_answer(&self, path: &str, query: &str) -> Option<Result<Json, String>> {
        if path != format!("{}/token", self.issuer_path) {
            return None;
        }
        let tenant = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "tenant")
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty());
        Some(match (tenant, self.audience.as_deref()) {
            (None, _) => Err("the query names no tenant (?tenant=...)".into()),
            (Some(_), None) => Err("no route of the template has a JWT authorizer".into()),
            (Some(tenant), Some(audience)) => self
                .tenant_token(audience, &tenant, TENANT_TOKEN_LIFETIME)
                .map(|token| {
                    json!({"access_token": token, "token_type": "Bearer",
                           "expires_in": TENANT_TOKEN_LIFETIME.as_secs()})
                })
                .map_err(|e| e.to_string()),
        })
    }

    /// The issuer's public document at the request path `path`, if it is one: the OpenID discovery
    /// document (`{issuer}/.well-known/openid-configuration`, whose `jwks_uri` API Gateway reads) or
    /// the key set it points to (`{issuer}/.well-known/jwks.json`).
    pub fn well_known(&self, path: &str) -> Option<Json> {
        let name = path.strip_prefix(&self.issuer_path)?.strip_prefix("/.well-known/")?;
        match name {
            "openid-configuration" => Some(json!({
                "issuer": self.issuer,
                "jwks_uri": format!("{}/.well-known/jwks.json", self.issuer),
                "id_token_signing_alg_values_supported": [ALGORITHM],
            })),
            "jwks.json" => serde_json::to_value(JwkSet {
                keys: vec![self.jwk.clone()],
            })
            .ok(),
            _ => None,
        }
    }

    /// Checks an `Authorization` header value (`Bearer <jwt>`; API Gateway also takes the bare token)
    /// for `authorizer`: algorithm RS256 and its signature by the issuer's key, issuer, one of its
    /// audiences, expiry. Returns the claims.
    pub fn check(&self, authorization: Option<&str>, authorizer: &JwtAuthorizer) -> Result<Claims, Refusal> {
        let value = authorization
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(Refusal::Missing)?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value,
        };
        // `alg: none` is no algorithm jsonwebtoken knows: reading the header refuses it.
        let header = jsonwebtoken::decode_header(token).map_err(|e| Refusal::Invalid(e.to_string()))?;
        if header.alg != ALGORITHM {
            return Err(Refusal::Invalid(format!(
                "algorithm {:?}, only {ALGORITHM:?} is accepted",
                header.alg
            )));
        }
        // Validation::new allows exactly the one algorithm, so the check holds without the one above.
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&authorizer.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| Refusal::Invalid(e.to_string()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn authorizer() -> JwtAuthorizer {
        JwtAuthorizer {
            name: "AcpJwt".into(),
            audiences: vec!["aop-app".into()],
        }
    }

    /// `token` with its header replaced by `{"alg":"none"}` and its signature dropped (an unsecured JWT
    /// with the same claims).
    pub(crate) fn with_alg_none(token: &str) -> String {
        let claims = token.split('.').nth(1).expect("a JWT has a payload");
        format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#))
    }

    #[test]
    fn its_own_token_is_rs256_and_passes_with_or_without_the_bearer_scheme() {
        let issuer = LocalIssuer::generate("http://127.0.0.1:1/local-issuer").unwrap();
        let token = issuer.token("aop-app", Duration::from_secs(60)).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid, issuer.jwk.common.key_id);
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
            ..Claims::default()
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

    /// The token endpoint issues each tenant's shop a token of its own client, as Auth0 does for ACP's
    /// client-credentials clients: the authorizer accepts it, and its subject tells the tenants apart.
    #[test]
    fn each_tenant_gets_a_token_of_its_own_client() {
        let issuer = LocalIssuer::generate("http://127.0.0.1:1/local-issuer")
            .unwrap()
            .for_audience(Some("aop-app"));
        assert_eq!(issuer.token_url(), "http://127.0.0.1:1/local-issuer/token");
        let token_of = |tenant: &str| {
            let answer = issuer.token_answer("/local-issuer/token", &format!("tenant={tenant}"));
            let answer = answer.expect("the token endpoint").expect("a token");
            assert_eq!(answer["token_type"], "Bearer");
            assert_eq!(answer["expires_in"], 86_400);
            let token = answer["access_token"].as_str().unwrap().to_string();
            issuer
                .check(Some(&token), &authorizer())
                .expect("accepted by the authorizer")
        };
        let (a, b) = (token_of("shop-a"), token_of("shop-b"));
        let client = issuer.client_of("shop-a");
        assert_eq!(a.sub, format!("{client}@clients"));
        assert_eq!(a.azp.as_deref(), Some(client.as_str()));
        assert_eq!(a.gty.as_deref(), Some("client-credentials"));
        assert_eq!(a.tenant_identifier.as_deref(), Some("shop-a"));
        assert_ne!(a.sub, b.sub, "another tenant, another client");
        assert_eq!(token_of("shop-a").sub, a.sub, "the same client each time");

        assert!(
            issuer.token_answer("/local-issuer/token", "").unwrap().is_err(),
            "no tenant"
        );
        assert!(issuer.token_answer("/elsewhere/token", "tenant=a").is_none());
        let without_audience = LocalIssuer::generate("http://127.0.0.1:1/local-issuer").unwrap();
        assert!(
            without_audience
                .token_answer("/local-issuer/token", "tenant=a")
                .unwrap()
                .is_err()
        );
    }

    /// Claims the authorizer would accept, under another algorithm: refused, as API Gateway refuses
    /// anything but RSA. RS384 with the issuer's own key is refused too: the check is exactly RS256.
    #[test]
    fn refuses_every_algorithm_but_rs256() {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

        let issuer = LocalIssuer::generate("http://local/issuer").unwrap();
        let claims = Claims {
            iss: "http://local/issuer".into(),
            aud: "aop-app".into(),
            sub: "s".into(),
            iat: now(),
            exp: now() + 600,
            ..Claims::default()
        };
        let rs256 = issuer.sign(&claims).unwrap();
        assert_eq!(issuer.check(Some(&rs256), &authorizer()), Ok(claims.clone()));

        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let es256 = jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_ec_der(ec.to_pkcs8v1().unwrap().as_ref()),
        )
        .unwrap();
        // The classic confusion: an HMAC keyed with the issuer's public key.
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(public) = &issuer.jwk.algorithm else {
            panic!("an RSA key: {:?}", issuer.jwk);
        };
        let hs256 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(public.n.as_bytes()),
        )
        .unwrap();
        let rs384 = jsonwebtoken::encode(&Header::new(Algorithm::RS384), &claims, &issuer.encoding).unwrap();
        for (alg, token) in [("ES256", es256), ("HS256", hs256), ("RS384", rs384)] {
            assert_eq!(
                issuer.check(Some(&token), &authorizer()),
                Err(Refusal::Invalid(format!("algorithm {alg}, only RS256 is accepted"))),
            );
        }
        let none = with_alg_none(&rs256);
        assert!(
            matches!(issuer.check(Some(&none), &authorizer()), Err(Refusal::Invalid(_))),
            "alg none"
        );
    }

    /// What API Gateway does with an issuer: read `jwks_uri` from its discovery document, take the key
    /// named by the token's `kid` from the key set, verify with it.
    #[test]
    fn publishes_its_discovery_document_and_key_set_under_the_issuer_url() {
        let issuer = LocalIssuer::generate("http://127.0.0.1:1/local-issuer").unwrap();
        let discovery = issuer
            .well_known("/local-issuer/.well-known/openid-configuration")
            .unwrap();
        assert_eq!(
            discovery,
            json!({
                "issuer": "http://127.0.0.1:1/local-issuer",
                "jwks_uri": "http://127.0.0.1:1/local-issuer/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": ["RS256"],
            })
        );
        let jwks = issuer.well_known("/local-issuer/.well-known/jwks.json").unwrap();
        let keys: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
        assert_eq!(keys.keys.len(), 1);
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
        assert_eq!(jwks["keys"][0]["alg"], "RS256");
        assert_eq!(jwks["keys"][0]["use"], "sig");
        assert_eq!(jwks["keys"][0]["e"], "AQAB");

        let token = issuer.token("aop-app", Duration::from_secs(60)).unwrap();
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(keys.find(&kid).unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["aop-app"]);
        let claims = jsonwebtoken::decode::<Claims>(&token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims.iss, "http://127.0.0.1:1/local-issuer");

        for elsewhere in [
            "/.well-known/openid-configuration",
            "/local-issuer/.well-known/other",
            "/local-issuer-2/.well-known/jwks.json",
            "/local-issuer",
        ] {
            assert_eq!(issuer.well_known(elsewhere), None, "{elsewhere}");
        }
    }
}
