//! The TLS trust roots of every outbound HTTPS client (Stripe, the ACP event platform and the AWS SDK):
//! Mozilla's root certificates compiled in (`webpki-root-certs`), never the operating
//! system's store. Reading that store (every file under `/etc/ssl/certs`) cost about 10 ms of each
//! cold start, twice: reqwest and the SDK each loaded their own (issue 15, `infra/bench/run`).

use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;
use std::sync::{Arc, OnceLock};

/// The rustls configuration for reqwest (`tls_backend_preconfigured`): the compiled-in roots,
/// aws-lc-rs as the crypto provider, TLS 1.2 and 1.3.
pub fn rustls_client_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The AWS SDK's HTTPS client on rustls (aws-lc-rs) trusting the compiled-in roots only, built on the
/// first request (see [`OnFirstRequest`]).
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(OnFirstRequest::default())
}

/// The SDK's HTTPS client, built when a request first needs it. The SDK's own client builds its TLS
/// connector (every root certificate parsed from PEM) each time an SDK client is created, only to check
/// that it can, and drops it: four clients and the credential chain's STS client made that a third of a
/// command function's cold start (issue 15). Here the SDK clients share one connector per connection
/// setting, built once, on the first call to AWS.
#[derive(Debug, Default)]
struct OnFirstRequest {
    client: OnceLock<SharedHttpClient>,
}

impl HttpClient for OnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.client
            .get_or_init(compiled_in_roots_client)
            .http_connector(settings, components)
    }
}

/// The SDK's own hyper client on rustls (aws-lc-rs) trusting the compiled-in roots only.
fn compiled_in_roots_client() -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(roots_pem()),
        )
        .build()
        .expect("a trust store of PEM certificates");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// The compiled-in root certificates, PEM-encoded: the SDK takes extra roots as PEM only.
fn roots_pem() -> String {
    let mut pem = String::new();
    for certificate in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let body = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_sdk_gets_every_root_that_reqwest_trusts() {
        let pem = roots_pem();
        let parsed: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("PEM the SDK can read");
        assert_eq!(parsed.as_slice(), webpki_root_certs::TLS_SERVER_ROOT_CERTS);
        // Every certificate is a trust anchor rustls takes, on both sides.
        assert!(parsed.len() > 100);
        let mut store = rustls::RootCertStore::empty();
        let (added, ignored) = store.add_parsable_certificates(parsed);
        assert_eq!((added, ignored), (webpki_root_certs::TLS_SERVER_ROOT_CERTS.len(), 0));
    }
}
