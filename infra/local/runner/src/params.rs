//! The local inputs of the stack (`infra/local/parameters.json`): the stack name, template parameter
//! values, the secrets to create in moto (what `{{resolve:secretsmanager:...}}` references read), the
//! local tenant whose Stripe webhooks localstripe delivers, and the local ACP event platform's client.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The parsed parameters file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalParameters {
    /// `AWS::StackName` locally (prefix of every generated resource name).
    #[serde(rename = "StackName")]
    pub stack_name: String,
    /// Template parameter values (override the defaults).
    #[serde(rename = "Parameters", default)]
    pub parameters: BTreeMap<String, String>,
    /// Secrets to create: name → SecretString.
    #[serde(rename = "Secrets", default)]
    pub secrets: BTreeMap<String, String>,
    /// The tenant localstripe delivers its own signed webhooks for (the demo and the tests configure it
    /// through `POST /private/configure` with these secrets).
    #[serde(rename = "LocalTenant", default)]
    pub local_tenant: Option<LocalTenant>,
    /// The client of the local ACP event platform: the stack starts the platform with it and keeps it in
    /// the secret the template's `AcpClientSecretName` names.
    #[serde(rename = "LocalAcp", default)]
    pub local_acp: Option<LocalAcp>,
}

/// The `LocalAcp` entry of the parameters file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalAcp {
    /// The OAuth2 client id the platform accepts.
    #[serde(rename = "ClientId")]
    pub client_id: String,
    /// Its secret (local only).
    #[serde(rename = "ClientSecret")]
    pub client_secret: String,
}

/// The `LocalTenant` entry of the parameters file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalTenant {
    /// Its `x-tenant-identifier`.
    #[serde(rename = "TenantIdentifier")]
    pub tenant_identifier: String,
    /// The webhook signing secrets (`whsec_...`) it is configured with; localstripe signs with the first.
    #[serde(rename = "WebhookSigningSecrets")]
    pub webhook_signing_secrets: Vec<String>,
}

impl LocalParameters {
    /// Reads the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}
