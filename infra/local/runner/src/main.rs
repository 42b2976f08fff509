//! `local-stack serve`: runs template.yaml locally (see the crate docs and `infra/local/stack`).
//!
//! ```text
//! local-stack serve [--root DIR [--transport http-channel|http-sqs]]
//! ```
//! Reads `template.yaml` and `infra/local/parameters.json` under the root (default: the current
//! directory), AWS_ENDPOINT_URL / AWS_REGION / STRIPE_API_BASE from the environment, and the
//! `cargo-lambda` executable from CARGO_LAMBDA (default: `cargo-lambda` on PATH), and optionally
//! LOCAL_STACK_PSP_URL / LOCAL_STACK_PSP_TIMEOUT_MS (where the functions reach Stripe instead of
//! localstripe itself, e.g. the chaos run's fault proxy, and their PSP timeout). Writes
//! `.local/stack.json` once every function answered, and runs until SIGTERM or SIGINT. `--transport`
//! overrides the template's `AcpTransport` (the wiring to the local ACP event platform).

use anyhow::{Context, Result, bail};
use local_stack::lambda::Workspace;
use local_stack::stack::{Settings, run};
use std::path::PathBuf;

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (infra/local/stack sets it)"))
}

fn settings(root: PathBuf, transport: Option<String>) -> Result<Settings> {
    let local = root.join(".local");
    Ok(Settings {
        template: root.join("template.yaml"),
        parameters: root.join("infra/local/parameters.json"),
        stack_file: local.join("stack.json"),
        workspace: Workspace {
            cargo_lambda: std::env::var_os("CARGO_LAMBDA").map_or_else(|| PathBuf::from("cargo-lambda"), PathBuf::from),
            log_dir: local.join("logs"),
            pid_dir: local.join("pids"),
            env_dir: local.join("env"),
            root,
        },
        aws_endpoint_url: env("AWS_ENDPOINT_URL")?,
        region: env("AWS_REGION")?,
        stripe_base_url: env("STRIPE_API_BASE")?,
        functions_psp: std::env::var("LOCAL_STACK_PSP_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .map(|url| (url, std::env::var("LOCAL_STACK_PSP_TIMEOUT_MS").ok())),
        transport,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (root, transport) = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["serve"] => (std::env::current_dir()?, None),
        ["serve", "--root", root] => (PathBuf::from(root), None),
        ["serve", "--root", root, "--transport", transport] => (PathBuf::from(root), Some(transport.to_string())),
        _ => bail!("usage: local-stack serve [--root DIR [--transport http-channel|http-sqs]]"),
    };
    run(settings(root, transport)?).await
}
