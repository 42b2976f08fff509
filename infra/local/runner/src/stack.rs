//! Brings the template up locally: resources on moto, one emulator per function, warm-up, SQS pollers,
//! the HTTP API, and `.local/stack.json`; then runs until told to stop.

use crate::functions::{FunctionSpec, functions};
use crate::http_api::{self, HttpRequest, HttpResponse, Route};
use crate::jwt::LocalIssuer;
use crate::lambda::{Emulator, Target, Workspace, invoke};
use crate::params::{LocalAcp, LocalParameters, LocalTenant};
use crate::resources::{self, Clients, Location, Plan, plan};
use crate::sqs_source;
use crate::stack_file::{Acp, FunctionEntry, StackFile, Webhooks};
use crate::template::{Pseudo, Resolver, Template};
use acp_platform::{Platform, PlatformConfig};
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// moto's default account.
pub const ACCOUNT_ID: &str = "123456789012";

/// The route localstripe delivers its own webhooks to (the local tenant's), and the events it sends there.
pub const LOCALSTRIPE_WEBHOOK_ROUTE: &str = "POST /webhooks/stripe/{tenantIdentifier}/payment-intents";
const LOCALSTRIPE_WEBHOOK_EVENTS: [&str; 2] = ["payment_intent.succeeded", "payment_intent.payment_failed"];

/// How long the `bearer_token` of stack.json is valid: a working week (its key dies with the stack anyway).
pub const BEARER_TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// What the runner needs to know about this machine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// template.yaml.
    pub template: PathBuf,
    /// infra/local/parameters.json.
    pub parameters: PathBuf,
    /// Where stack.json goes.
    pub stack_file: PathBuf,
    /// Emulator files.
    pub workspace: Workspace,
    /// moto.
    pub aws_endpoint_url: String,
    /// Region.
    pub region: String,
    /// localstripe.
    pub stripe_base_url: String,
    /// Where the functions reach Stripe when not at localstripe itself (a fault-injecting proxy in front
    /// of it: the chaos run), and their PSP timeout then (`LOCAL_STACK_PSP_URL`,
    /// `LOCAL_STACK_PSP_TIMEOUT_MS`).
    pub functions_psp: Option<(String, Option<String>)>,
    /// `AcpTransport` for this run (`http-sqs`), over the parameters file's.
    pub transport: Option<String>,
}

/// The template's resources as created locally, and its functions.
#[derive(Debug)]
pub struct Provisioned {
    /// Evaluates template values (resources registered).
    pub resolver: Resolver,
    /// The functions.
    pub functions: Vec<FunctionSpec>,
    /// The plan of every resource, by logical id.
    pub plans: BTreeMap<String, Plan>,
    /// Each command queue's logical id, by command.
    pub command_queue_ids: BTreeMap<String, String>,
}

/// Plans every resource in dependency order; `apply` creates each one and returns its local value.
pub async fn provision<F, Fut>(template: &Template, mut resolver: Resolver, mut apply: F) -> Result<Provisioned>
where
    F: FnMut(String, Plan) -> Fut,
    Fut: std::future::Future<Output = Result<crate::template::Physical>>,
{
    let mut plans = BTreeMap::new();
    let resources = template.resources()?;
    for id in template.creation_order()? {
        let Some(resource) = resources.iter().find(|r| r.id == id) else {
            continue;
        };
        if let Some(c) = resource.condition
            && !resolver.condition(c)?
        {
            continue;
        }
        let planned = plan(resource, &resolver).with_context(|| format!("resource {id}"))?;
        let physical = apply(id.clone(), planned.clone())
            .await
            .with_context(|| format!("resource {id}"))?;
        resolver.register(&id, physical);
        plans.insert(id, planned);
    }
    let functions = functions(template, &resolver)?;
    let mut command_queue_ids = BTreeMap::new();
    for r in resources.iter().filter(|r| r.kind == "AWS::SQS::Queue") {
        // Only the queues the template tags: the bridge's queues have consumers but carry no one command.
        if let Some(command) = r.metadata.get("AcpCommand").and_then(serde_norway::Value::as_str) {
            command_queue_ids.insert(command.to_string(), r.id.to_string());
        }
    }
    Ok(Provisioned {
        resolver,
        functions,
        plans,
        command_queue_ids,
    })
}

impl Provisioned {
    fn queue_url_by_arn(&self, arn: &str) -> Option<String> {
        self.plans.keys().find_map(|id| {
            self.resolver
                .physical(id)
                .filter(|p| {
                    p.attributes.get("Arn").map(String::as_str) == Some(arn)
                        && matches!(self.plans.get(id), Some(Plan::Queue { .. }))
                })
                .map(|p| p.reference.clone())
        })
    }

    /// The audience of the first route behind a JWT authorizer: what the local bearer token is for.
    pub fn token_audience(&self) -> Option<&str> {
        self.functions
            .iter()
            .flat_map(|f| &f.routes)
            .find_map(|r| r.authorizer.as_ref())
            .and_then(|a| a.audiences.first())
            .map(String::as_str)
    }

    /// The local tenant's webhook configuration (`LocalTenant` of the parameters file) with the URL of
    /// the route localstripe delivers to; `None` without a local tenant or without the route.
    pub fn webhooks(&self, local_tenant: Option<&LocalTenant>, http_base_url: &str) -> Option<Webhooks> {
        let local_tenant = local_tenant?;
        let tenant = &local_tenant.tenant_identifier;
        let route = self
            .functions
            .iter()
            .flat_map(|f| &f.routes)
            .find(|r| r.key() == LOCALSTRIPE_WEBHOOK_ROUTE)?;
        Some(Webhooks {
            tenant: tenant.clone(),
            secrets: local_tenant.webhook_signing_secrets.clone(),
            localstripe_endpoint: format!("{http_base_url}{}", route.path.replace("{tenantIdentifier}", tenant)),
        })
    }

    /// The stack.json description (`http_base_url` from the running HTTP API, `bearer_token` from its
    /// issuer, `webhooks` from the local tenant, `acp` from the running event platform).
    pub fn stack_file(
        &self,
        settings: &Settings,
        http_base_url: &str,
        (bearer_token, token_url): (Option<String>, Option<String>),
        local_tenant: Option<&LocalTenant>,
        acp: Option<Acp>,
    ) -> Result<StackFile> {
        let mut tables = BTreeMap::new();
        let mut bus_name = None;
        for (id, planned) in &self.plans {
            match planned {
                Plan::Table { name, .. } => {
                    tables.insert(id.clone(), name.clone());
                }
                Plan::Bus { name } if bus_name.is_none() => bus_name = Some(name.clone()),
                _ => {}
            }
        }
        let mut command_queues = BTreeMap::new();
        let mut dead_letter_queues = BTreeMap::new();
        for (command, id) in &self.command_queue_ids {
            let physical = self
                .resolver
                .physical(id)
                .ok_or_else(|| anyhow!("queue {id} was not created"))?;
            command_queues.insert(command.clone(), physical.reference.clone());
            if let Some(Plan::Queue { attributes, .. }) = self.plans.get(id)
                && let Some(policy) = attributes.get("RedrivePolicy")
            {
                let policy: serde_json::Value = serde_json::from_str(policy)?;
                let arn = policy["deadLetterTargetArn"].as_str().unwrap_or_default();
                let url = self
                    .queue_url_by_arn(arn)
                    .ok_or_else(|| anyhow!("the dead-letter queue {arn} of {id} is not a queue of the template"))?;
                dead_letter_queues.insert(command.clone(), url);
            }
        }
        let functions = self
            .functions
            .iter()
            .map(|f| {
                (
                    f.id.clone(),
                    FunctionEntry {
                        binary: f.binary.clone(),
                        queue: f.sqs.as_ref().map(|s| s.queue_url.clone()),
                        routes: f.routes.iter().map(Route::key).collect(),
                    },
                )
            })
            .collect();
        Ok(StackFile {
            region: settings.region.clone(),
            aws_endpoint_url: settings.aws_endpoint_url.clone(),
            stripe_base_url: settings.stripe_base_url.clone(),
            http_base_url: http_base_url.to_string(),
            app_identifier: self.resolver.parameter("AppIdentifier").unwrap_or_default().to_string(),
            bus_name: bus_name.unwrap_or_default(),
            tables,
            command_queues,
            dead_letter_queues,
            functions,
            bearer_token,
            token_url,
            webhooks: self.webhooks(local_tenant, http_base_url),
            acp_transport: acp
                .as_ref()
                .and_then(|_| self.resolver.parameter("AcpTransport"))
                .map(String::from),
            acp,
            acp_queues: self
                .plans
                .iter()
                .filter(|(id, plan)| id.starts_with("Acp") && matches!(plan, Plan::Queue { .. }))
                .filter_map(|(id, _)| self.resolver.physical(id).map(|p| (id.clone(), p.reference.clone())))
                .collect(),
        })
    }
}

/// The local values every function gets on top of the template's environment.
fn local_environment(settings: &Settings, http_base_url: &str) -> Vec<(&'static str, String)> {
    let (psp_url, psp_timeout) = match &settings.functions_psp {
        Some((url, timeout)) => (url.clone(), timeout.clone()),
        None => (settings.stripe_base_url.clone(), None),
    };
    let mut environment = vec![
        ("APP_BASE_URL", http_base_url.to_string()),
        ("AWS_ENDPOINT_URL", settings.aws_endpoint_url.clone()),
        ("AWS_REGION", settings.region.clone()),
        ("AWS_DEFAULT_REGION", settings.region.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("STRIPE_API_BASE", psp_url),
        // The payment page loads localstripe's Stripe.js stand-in (infra/local/localstripe_server.py).
        (
            "STRIPE_JS_URL",
            format!("{}/js.stripe.com/v3/", settings.stripe_base_url),
        ),
        ("RUST_BACKTRACE", "1".into()),
    ];
    environment.extend(psp_timeout.map(|ms| ("PSP_TIMEOUT_MS", ms)));
    environment
}

/// Makes localstripe deliver its own signed PaymentIntent events to the local tenant's webhook route,
/// signed with the tenant's first secret (localstripe's `/_config/webhooks/{id}`).
async fn configure_localstripe_webhooks(
    http: &reqwest::Client,
    stripe_base_url: &str,
    webhooks: &Webhooks,
) -> Result<()> {
    let secret = webhooks
        .secrets
        .first()
        .ok_or_else(|| anyhow!("the local tenant has no webhook secret"))?;
    let response = http
        .post(format!("{stripe_base_url}/_config/webhooks/local-stack"))
        .json(&json!({"url": webhooks.localstripe_endpoint, "secret": secret, "events": LOCALSTRIPE_WEBHOOK_EVENTS}))
        .send()
        .await
        .context("configuring localstripe's webhooks")?;
    if !response.status().is_success() {
        bail!("localstripe refused the webhook configuration: {}", response.status());
    }
    Ok(())
}

/// Ports for the emulators, taken below the kernel's ephemeral range (32768 and up on Linux): a port the
/// kernel handed out for `bind(0)` and was released again could go to any other listener or outgoing
/// connection before the emulator binds it, and an emulator whose port is taken exits without a word
/// while the invocations meant for it reach whoever holds the port.
struct EmulatorPorts {
    next: u16,
}

impl EmulatorPorts {
    const FIRST: u16 = 20_000;
    const END: u16 = 32_768;

    /// Starts at a place that depends on the process id, so two runners on one machine rarely meet.
    fn new() -> Self {
        EmulatorPorts {
            next: Self::FIRST + (std::process::id() % 1000) as u16 * 10,
        }
    }

    /// The next port nothing listens on.
    fn take(&mut self) -> Result<u16> {
        while self.next < Self::END {
            let port = self.next;
            self.next += 1;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
        bail!("no free port left between {} and {}", Self::FIRST, Self::END)
    }
}

fn log(message: impl AsRef<str>) {
    eprintln!("[local-stack] {}", message.as_ref());
}

/// A function only a schedule invokes.
fn is_scheduled_only(function: &FunctionSpec) -> bool {
    function.schedule.is_some() && function.sqs.is_none() && function.routes.is_empty()
}

/// Invokes `target` every `every` (the next run starts when both the period has passed and the previous
/// run has ended), with the event EventBridge Scheduler sends, for ever.
async fn run_schedule(http: reqwest::Client, target: Target, every: Duration, timeout: Duration, function_id: String) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let event = json!({"version": "0", "id": format!("local-{}", std::process::id()), "detail-type": "Scheduled Event",
                           "source": "aws.scheduler", "account": ACCOUNT_ID, "detail": {}});
        if let Err(e) = invoke(&http, &target, &event, timeout).await {
            log(format!("{function_id}: scheduled run failed: {e}"));
        }
    }
}

/// Starts the local ACP event platform for the parameters file's `LocalAcp` client, points the template's
/// `AcpEventPlatformUrl`, `AcpTokenUrl` and `AcpEventEndpoint` at it, and keeps the client in the secret
/// `AcpClientSecretName` names. Returns the platform and its stack.json entry.
async fn start_acp_platform(
    local: &mut LocalParameters,
    client: &LocalAcp,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<(Platform, Acp)> {
    let app = local.parameters.get("AppIdentifier").cloned().unwrap_or_default();
    let config = PlatformConfig::new(&client.client_id, &client.client_secret, vec![app]);
    let platform = Platform::start(config, tokio::net::TcpListener::bind("127.0.0.1:0").await?)?;
    for (parameter, value) in [
        ("AcpEventPlatformUrl", platform.url()),
        ("AcpTokenUrl", platform.token_url()),
        ("AcpEventEndpoint", platform.http_endpoint_url()),
    ] {
        local.parameters.insert(parameter.into(), value);
    }
    let secret_name = local
        .parameters
        .get("AcpClientSecretName")
        .cloned()
        .ok_or_else(|| anyhow!("LocalAcp needs the parameter AcpClientSecretName"))?;
    let document = json!({"clientId": client.client_id, "clientSecret": client.client_secret});
    resources::put_secret(secrets, &secret_name, &document.to_string()).await?;
    log(format!(
        "ACP event platform on {} (client in secret {secret_name})",
        platform.url()
    ));
    let acp = Acp {
        url: platform.url(),
        token_url: platform.token_url(),
        client_id: client.client_id.clone(),
        client_secret: client.client_secret.clone(),
    };
    Ok((platform, acp))
}

/// The warm-up event: an empty batch for SQS functions, a request no route serves for HTTP ones.
fn warm_up_event(function: &FunctionSpec) -> serde_json::Value {
    if function.sqs.is_some() {
        json!({ "Records": [] })
    } else if !function.routes.is_empty() {
        let route =
            Route::new(Some("GET"), Some("/__local-stack/warm-up")).unwrap_or_else(|_| function.routes[0].clone());
        let request = HttpRequest {
            method: "GET".into(),
            path: "/__local-stack/warm-up".into(),
            source_ip: "127.0.0.1".into(),
            ..HttpRequest::default()
        };
        http_api::to_event(&request, &route, &BTreeMap::new(), "warm-up", 0)
    } else {
        json!({})
    }
}

/// Invokes every function once, one after another, and waits until each answered (an SQS function must
/// succeed with the empty batch; others may answer anything), printing progress every 10 s. One at a
/// time: each emulator starts its function with `cargo run`, and started together they queue on cargo's
/// locks past the emulator's invocation timeout. Fails when a function process crashes.
async fn warm_up(emulators: &mut [(Emulator, &FunctionSpec)], http: &reqwest::Client) -> Result<()> {
    let started = Instant::now();
    for (emulator, function) in emulators {
        if is_scheduled_only(function) {
            // Its first scheduled run starts it (a run polls for most of a minute: no warm-up call).
            continue;
        }
        let event = warm_up_event(function);
        let target = emulator.target();
        let call = async {
            // The emulator listens a moment after it starts: retry refused connections for a while.
            let mut attempts = 0;
            loop {
                match invoke(http, &target, &event, Duration::from_secs(1800)).await {
                    Err(crate::lambda::InvokeError::Transport(_)) if attempts < 240 => {
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    outcome => return outcome,
                }
            }
        };
        tokio::pin!(call);
        let mut ticker = tokio::time::interval(Duration::from_secs(10));
        ticker.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut call => break outcome,
                _ = ticker.tick() => {
                    if emulator.crashed() {
                        bail!("{} exited during start-up:\n{}", emulator.function_id, emulator.log_tail(20));
                    }
                    let progress = emulator.build_progress().unwrap_or_else(|| "starting".into());
                    log(format!("waiting for {} ({} s): {progress}", emulator.function_id, started.elapsed().as_secs()));
                }
            }
        };
        match &outcome {
            Err(crate::lambda::InvokeError::Transport(e)) => {
                bail!(
                    "{} did not answer its warm-up invocation: {e}\n{}",
                    emulator.function_id,
                    emulator.log_tail(20)
                );
            }
            // An empty batch must succeed; an error here (the emulator timed the call out while the
            // function was still starting, say) leaves the instance unusable.
            Err(e) if function.sqs.is_some() => {
                bail!(
                    "{} failed its warm-up invocation: {e}\n{}",
                    emulator.function_id,
                    emulator.log_tail(20)
                );
            }
            _ => {}
        }
        log(format!(
            "{} answered ({} s)",
            emulator.function_id,
            started.elapsed().as_secs()
        ));
    }
    Ok(())
}

/// Serves the HTTP routes on `listener` for ever.
async fn serve_http(
    listener: tokio::net::TcpListener,
    routes: Arc<Vec<(Route, (Target, Duration))>>,
    issuer: Arc<LocalIssuer>,
    http: reqwest::Client,
) {
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (routes, issuer, http, counter) = (routes.clone(), issuer.clone(), http.clone(), counter.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (routes, issuer, http, counter) = (routes.clone(), issuer.clone(), http.clone(), counter.clone());
                async move {
                    let response = handle_http(request, peer, &routes, &issuer, &http, &counter).await;
                    let mut builder = hyper::Response::builder().status(response.status);
                    for (k, v) in &response.headers {
                        builder = builder.header(k, v);
                    }
                    builder.body(Full::new(Bytes::from(response.body)))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle_http(
    request: hyper::Request<hyper::body::Incoming>,
    peer: std::net::SocketAddr,
    routes: &[(Route, (Target, Duration))],
    issuer: &LocalIssuer,
    http: &reqwest::Client,
    counter: &AtomicU64,
) -> HttpResponse {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes().to_vec()) else {
        return HttpResponse::message(400, "Bad Request");
    };
    let request = HttpRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
        source_ip: peer.ip().to_string(),
    };
    // The stack is also the authorizer's token issuer, which publishes its keys under the issuer URL and
    // issues each tenant's shop its token.
    if request.method == "GET"
        && let Some(document) = issuer.well_known(&request.path)
    {
        return HttpResponse::json(200, &document);
    }
    if request.method == "GET"
        && let Some(answer) = issuer.token_answer(&request.path, &request.query)
    {
        return match answer {
            Ok(token) => HttpResponse::json(200, &token),
            Err(why) => HttpResponse::json(400, &json!({"error": "invalid_request", "error_description": why})),
        };
    }
    let Some((route, (target, timeout), params)) = http_api::route(routes, &request.method, &request.path) else {
        return HttpResponse::message(404, "Not Found");
    };
    // API Gateway's JWT authorizer runs before the function, which never sees a refused request.
    let claims = match &route.authorizer {
        Some(authorizer) => {
            let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
            match issuer.check(header, authorizer) {
                Ok(claims) => Some(claims),
                Err(refusal) => {
                    log(format!("{} {}: 401 ({refusal})", request.method, request.path));
                    return HttpResponse::message(401, "Unauthorized");
                }
            }
        }
        None => None,
    };
    let epoch_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let request_id = format!("local-{}-{}", epoch_ms, counter.fetch_add(1, Ordering::Relaxed));
    let mut event = http_api::to_event(&request, route, &params, &request_id, epoch_ms);
    if let Some(claims) = claims {
        // API Gateway hands the claims to the function as strings (numbers too).
        let claims: BTreeMap<String, String> = serde_json::to_value(&claims)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| crate::template::scalar_to_string(v).map(|v| (k.clone(), v)))
            .collect();
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    match invoke(http, target, &event, *timeout).await {
        Ok(payload) => http_api::from_function_response(&payload),
        Err(e) => {
            log(format!("{} {}: {e}", request.method, request.path));
            HttpResponse::message(500, "Internal Server Error")
        }
    }
}

/// Runs the stack until SIGTERM or SIGINT.
pub async fn run(settings: Settings) -> Result<()> {
    let template = Template::load(&settings.template)?;
    let mut local = LocalParameters::load(&settings.parameters)?;
    if let Some(transport) = &settings.transport {
        local.parameters.insert("AcpTransport".into(), transport.clone());
    }
    let pseudo = Pseudo {
        stack_name: local.stack_name.clone(),
        region: settings.region.clone(),
        account_id: ACCOUNT_ID.into(),
    };
    let clients = Clients::from_env().await;
    let acp = match local.local_acp.clone() {
        Some(client) => Some(start_acp_platform(&mut local, &client, &clients.secrets).await?),
        None => None,
    };
    let resolver = Resolver::new(&template, &local.parameters, &pseudo)?;
    for (name, value) in &local.secrets {
        resources::put_secret(&clients.secrets, name, value).await?;
        log(format!("secret {name} created"));
    }
    let at = Location {
        region: settings.region.clone(),
        account_id: ACCOUNT_ID.into(),
    };
    let provisioned = provision(&template, resolver, |id, planned| {
        let (clients, at) = (clients.clone(), at.clone());
        async move {
            let physical = resources::apply(&planned, &clients, &at).await?;
            match &planned {
                Plan::Skipped { .. } => log(format!("{id}: not emulated locally, skipped")),
                Plan::Function { .. } => {}
                _ => log(format!("{id}: {}", physical.reference)),
            }
            Ok(physical)
        }
    })
    .await?;

    let http = reqwest::Client::new();
    // The HTTP API's address is known before the functions start: it is their APP_BASE_URL (the payment
    // page's links must reach the page).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http_base_url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let mut emulators = Vec::new();
    let mut ports = EmulatorPorts::new();
    for function in &provisioned.functions {
        for e in &function.unsupported_events {
            log(format!("{}: event {e} is not emulated locally", function.id));
        }
        let mut environment = BTreeMap::new();
        for (k, v) in &function.environment {
            environment.insert(
                k.clone(),
                resources::resolve_dynamic_references(v, &clients.secrets).await?,
            );
        }
        for (k, v) in local_environment(&settings, &http_base_url) {
            environment.insert(k.to_string(), v);
        }
        let port = ports.take()?;
        let emulator = Emulator::start(&settings.workspace, &function.id, &function.binary, port, &environment)?;
        log(format!(
            "{}: cargo lambda watch --bin {} on 127.0.0.1:{port} (log {})",
            function.id,
            function.binary,
            emulator.log.display()
        ));
        emulators.push((emulator, function));
    }
    if let Err(e) = warm_up(&mut emulators, &http).await {
        for (emulator, _) in emulators {
            emulator.stop().await;
        }
        return Err(e);
    }

    let mut routes = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (emulator, function) in &emulators {
        let timeout = Duration::from_secs(function.timeout_seconds + 5);
        for route in &function.routes {
            routes.push((route.clone(), (emulator.target(), timeout)));
        }
        if let Some(every) = function.schedule.filter(|_| is_scheduled_only(function)) {
            log(format!("{}: invoked every {} s", function.id, every.as_secs()));
            tasks.spawn(run_schedule(
                http.clone(),
                emulator.target(),
                every,
                timeout,
                function.id.clone(),
            ));
        }
        if let Some(source) = function.sqs.clone() {
            tasks.spawn(sqs_source::poll(
                clients.sqs.clone(),
                http.clone(),
                source,
                emulator.target(),
                function.id.clone(),
                settings.region.clone(),
                timeout,
            ));
        }
    }
    // The stack is its own token issuer (a fresh key each start): see `jwt`. An RSA key takes a few
    // hundred milliseconds to generate: off the async workers.
    let issuer_url = crate::jwt::issuer_url(&http_base_url);
    let issuer = tokio::task::spawn_blocking(move || LocalIssuer::generate(&issuer_url))
        .await??
        .for_audience(provisioned.token_audience());
    let token_url = issuer.token_url();
    let bearer_token = provisioned
        .token_audience()
        .map(|audience| issuer.token(audience, BEARER_TOKEN_LIFETIME))
        .transpose()?;
    tasks.spawn(serve_http(listener, Arc::new(routes), Arc::new(issuer), http.clone()));

    // The http-sqs wiring: the platform fills the app's payment-commands queue as ACP would.
    if let (Some((platform, _)), Some(queue)) = (&acp, provisioned.resolver.physical("AcpCommandQueue")) {
        platform
            .deliver_commands_to(clients.sqs.clone(), queue.reference.clone())
            .await;
        log(format!("the ACP event platform fills {}", queue.reference));
    }
    let stack = provisioned.stack_file(
        &settings,
        &http_base_url,
        (bearer_token, provisioned.token_audience().map(|_| token_url)),
        local.local_tenant.as_ref(),
        acp.map(|(_, entry)| entry),
    )?;
    if let Some(webhooks) = &stack.webhooks {
        configure_localstripe_webhooks(&http, &settings.stripe_base_url, webhooks).await?;
        log(format!(
            "localstripe delivers {} to {}",
            LOCALSTRIPE_WEBHOOK_EVENTS.join(", "),
            webhooks.localstripe_endpoint
        ));
    }
    let tmp = settings.stack_file.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&stack)?)?;
    std::fs::rename(&tmp, &settings.stack_file)?;
    log(format!(
        "ready: {} (HTTP API {http_base_url})",
        settings.stack_file.display()
    ));

    let emulators: Vec<Emulator> = emulators.into_iter().map(|(emulator, _)| emulator).collect();
    let emulators = Arc::new(tokio::sync::Mutex::new(emulators));
    tasks.spawn(supervise(Arc::clone(&emulators)));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    log("stopping");
    tasks.abort_all();
    for emulator in std::mem::take(&mut *emulators.lock().await) {
        emulator.stop().await;
    }
    Ok(())
}

/// Restarts a function whose process died (killed, crashed) as Lambda starts a new instance: `cargo lambda
/// watch` would leave its invocations hanging. The invocation it was working on fails (its caller retries
/// it: an SQS record comes back after its visibility timeout, Stripe retries a webhook).
async fn supervise(emulators: Arc<tokio::sync::Mutex<Vec<Emulator>>>) {
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticks.tick().await;
        for emulator in emulators.lock().await.iter_mut() {
            if emulator.crashed() {
                log(format!(
                    "{}: its process died; starting a new one",
                    emulator.function_id
                ));
                if let Err(e) = emulator.restart().await {
                    log(format!("{}: restart failed: {e:#}", emulator.function_id));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Physical;
    use std::collections::HashMap;
    use std::path::Path;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
    }

    /// Provisions the real template with the real local parameters and made-up physical values.
    fn local_parameters() -> LocalParameters {
        LocalParameters::load(&root().join("infra/local/parameters.json")).unwrap()
    }

    async fn real_template() -> Provisioned {
        let template = Template::load(&root().join("template.yaml")).unwrap();
        let local = local_parameters();
        let pseudo = Pseudo {
            stack_name: local.stack_name.clone(),
            region: "eu-central-1".into(),
            account_id: ACCOUNT_ID.into(),
        };
        let resolver = Resolver::new(&template, &local.parameters, &pseudo).unwrap();
        provision(&template, resolver, |id, planned| async move {
            let name = match &planned {
                Plan::Queue { name, .. } => format!("url/{name}"),
                _ => id.clone(),
            };
            Ok(Physical {
                reference: name,
                attributes: HashMap::from([("Arn".to_string(), format!("arn:{id}"))]),
            })
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn reads_every_function_of_the_template() {
        let p = real_template().await;
        let by_id: BTreeMap<&str, &FunctionSpec> = p.functions.iter().map(|f| (f.id.as_str(), f)).collect();
        assert_eq!(
            by_id.keys().copied().collect::<Vec<_>>(),
            vec![
                "CancelPaymentFunction",
                "CancelPreOrderPaymentFunction",
                "CapturePaymentFunction",
                "ConfigureFunction",
                "ConfirmPreOrderPaymentFunction",
                "CustomerFunction",
                "DisconnectFunction",
                "InitializePaymentFunction",
                "MerchantOnboardingFunction",
                "PaymentPageFunction",
                "PaymentTransfersFunction",
                "PreOrderPaymentFunction",
                "ReconcilerFunction",
                "RefundPaymentFunction",
                "StripeAccountsWebhookFunction",
                "StripePaymentIntentsWebhookFunction",
                "StripeRefundsWebhookFunction",
            ]
        );
        for (id, function, route) in [
            (
                "InitializePaymentFunction",
                "initialize-payment",
                "POST /private/initialize-payment",
            ),
            ("ConfigureFunction", "configure", "POST /private/configure"),
            ("DisconnectFunction", "disconnect", "POST /private/disconnect"),
            (
                "StripeRefundsWebhookFunction",
                "stripe-refunds-webhook",
                "POST /webhooks/stripe/{tenantIdentifier}/refunds",
            ),
            (
                "MerchantOnboardingFunction",
                "merchant-onboarding",
                "POST /private/merchants/onboarding",
            ),
            (
                "StripeAccountsWebhookFunction",
                "stripe-accounts-webhook",
                "POST /webhooks/stripe/{tenantIdentifier}/accounts",
            ),
            (
                "PaymentTransfersFunction",
                "payment-transfers",
                "POST /private/payments/transfers",
            ),
            ("CustomerFunction", "customer", "POST /private/customer"),
        ] {
            let f = by_id[id];
            assert_eq!(
                (f.binary.as_str(), f.environment["APP_FUNCTION"].as_str()),
                ("app", function)
            );
            assert!(f.sqs.is_none());
            let keys: Vec<String> = f.routes.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
            assert_eq!(keys, vec![route]);
        }
        // /private routes are behind the template's default JWT authorizer, /webhooks routes have none.
        let acp_jwt = crate::jwt::JwtAuthorizer {
            name: "AcpJwt".into(),
            audiences: vec!["aop-app".into()],
        };
        for f in &p.functions {
            for route in &f.routes {
                let expected = route.path.starts_with("/private/").then(|| acp_jwt.clone());
                assert_eq!(route.authorizer, expected, "{} {}", f.id, route.key());
            }
        }
        assert_eq!(
            by_id["InitializePaymentFunction"].environment["APP_BASE_URL"],
            "http://127.0.0.1:8000"
        );
        // The reconciler runs on its schedule, read from the template.
        let reconciler = by_id["ReconcilerFunction"];
        assert_eq!(
            (
                reconciler.binary.as_str(),
                reconciler.environment["APP_FUNCTION"].as_str()
            ),
            ("app", "reconciler")
        );
        assert_eq!(reconciler.schedule, Some(std::time::Duration::from_secs(60)));
        assert!(reconciler.routes.is_empty() && reconciler.sqs.is_none());
        for (id, function, queue) in [
            ("CapturePaymentFunction", "capture-payment", "CapturePaymentQueue"),
            ("CancelPaymentFunction", "cancel-payment", "CancelPaymentQueue"),
            ("RefundPaymentFunction", "refund-payment", "RefundPaymentQueue"),
        ] {
            let f = by_id[id];
            assert_eq!(
                (f.binary.as_str(), f.environment["APP_FUNCTION"].as_str()),
                ("app", function)
            );
            assert_eq!(f.timeout_seconds, 30);
            assert!(f.routes.is_empty() && f.unsupported_events.is_empty());
            let sqs = f.sqs.as_ref().unwrap();
            assert_eq!(sqs.queue_id, queue);
            assert_eq!(sqs.queue_url, format!("url/acp-payment-local-{queue}"));
            assert_eq!(sqs.batch_size, 10);
            assert!(sqs.report_batch_item_failures);
            let env = &f.environment;
            assert_eq!(env["TABLE_NAME"], "PaymentsTable");
            assert_eq!(env["EVENT_BUS_NAME"], "EventBus");
            assert_eq!(env["APP_IDENTIFIER"], "acp-payment-local");
            assert_eq!(env["STRIPE_API_BASE"], "https://api.stripe.com");
            assert_eq!(env["TENANT_SECRET_PREFIX"], "acp-payment-local/tenants/");
            assert_eq!(env["AWS_LAMBDA_LOG_LEVEL"], "INFO");
        }
    }

    #[tokio::test]
    async fn plans_every_resource_of_the_template() {
        let p = real_template().await;
        for command in ["CapturePayment", "CancelPayment", "RefundPayment"] {
            assert_eq!(p.command_queue_ids[command], format!("{command}Queue"));
            let Plan::Queue { name, attributes } = &p.plans[&format!("{command}Queue")] else {
                panic!("{command}Queue is a queue");
            };
            assert_eq!(name, &format!("acp-payment-local-{command}Queue"));
            assert_eq!(attributes["VisibilityTimeout"], "2", "from infra/local/parameters.json");
            assert_eq!(attributes["MessageRetentionPeriod"], "345600");
            let policy: serde_json::Value = serde_json::from_str(&attributes["RedrivePolicy"]).unwrap();
            assert_eq!(
                policy,
                json!({"deadLetterTargetArn": format!("arn:{command}DeadLetterQueue"), "maxReceiveCount": 15})
            );
            assert!(
                matches!(&p.plans[&format!("{command}DeadLetterQueue")], Plan::Queue { attributes, .. } if !attributes.contains_key("RedrivePolicy"))
            );
        }
        assert_eq!(
            p.plans["EventBus"],
            Plan::Bus {
                name: "acp-payment-local-bus".into()
            }
        );
        let Plan::Table { name, properties } = &p.plans["PaymentsTable"] else {
            panic!("PaymentsTable is a table");
        };
        assert_eq!(name, "acp-payment-local-PaymentsTable");
        assert_eq!(properties["DeletionProtectionEnabled"], false, "Stage dev is not prod");
        assert!(
            matches!(&p.plans["EventBusArchive"], Plan::Archive { properties, .. } if properties["SourceArn"] == "arn:EventBus")
        );
        assert_eq!(p.resolver.parameter("Stage"), Some("dev"));
        assert_eq!(p.resolver.parameter("CommandQueueMaxReceiveCount"), Some("15"));
    }

    /// The emulated API in front of a stand-in function: a /private request passes the authorizer only
    /// with a valid token of the stack's issuer, and the function sees only those; /webhooks needs none.
    /// The issuer's discovery document and key set are served under the issuer URL.
    #[tokio::test]
    async fn the_authorizer_runs_before_the_function() {
        use crate::jwt::{Claims, JwtAuthorizer, LocalIssuer};
        use wiremock::matchers::{body_partial_json, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let function = MockServer::start().await;
        let answer = ResponseTemplate::new(200).set_body_json(json!({"statusCode": 200, "body": "reached"}));
        // The function sees exactly the one private request with a valid token (with its claims), and the
        // one webhook.
        // What lambda_http reads: claims are strings there, as API Gateway sends them.
        let lambda_http_reads_it = |request: &wiremock::Request| {
            serde_json::from_slice::<aws_lambda_events::apigw::ApiGatewayV2httpRequest>(&request.body).is_ok()
        };
        Mock::given(method("POST"))
            .and(body_partial_json(
                json!({"routeKey": "POST /private/x", "requestContext": {"authorizer": {"jwt": {"claims": {"aud": "aop-app", "sub": "local-stack"}}}}}),
            ))
            .and(lambda_http_reads_it)
            .respond_with(answer.clone())
            .expect(1)
            .mount(&function)
            .await;
        // And once with a tenant's token from the token endpoint: its client's subject, Auth0's grant type.
        Mock::given(method("POST"))
            .and(body_partial_json(
                json!({"routeKey": "POST /private/x", "requestContext": {"authorizer": {"jwt": {"claims": {"aud": "aop-app", "gty": "client-credentials"}}}}}),
            ))
            .and(lambda_http_reads_it)
            .respond_with(answer.clone())
            .expect(1)
            .mount(&function)
            .await;
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"routeKey": "POST /webhooks/{tenant}"})))
            .and(lambda_http_reads_it)
            .respond_with(answer)
            .expect(1)
            .mount(&function)
            .await;
        let target = Target {
            url: format!("{}/2015-03-31/functions/f/invocations", function.uri()),
        };
        let mut private = Route::new(Some("POST"), Some("/private/x")).unwrap();
        private.authorizer = Some(JwtAuthorizer {
            name: "AcpJwt".into(),
            audiences: vec!["aop-app".into()],
        });
        let webhook = Route::new(Some("POST"), Some("/webhooks/{tenant}")).unwrap();
        let timeout = Duration::from_secs(5);
        let routes = vec![(private, (target.clone(), timeout)), (webhook, (target, timeout))];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = LocalIssuer::generate(&format!("{base}/local-issuer"))
            .unwrap()
            .for_audience(Some("aop-app"));
        let token = issuer.token("aop-app", Duration::from_secs(600)).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expired = issuer
            .sign(&Claims {
                iss: issuer.issuer().to_string(),
                aud: "aop-app".into(),
                sub: "s".into(),
                iat: now - 7200,
                exp: now - 3600,
                ..Claims::default()
            })
            .unwrap();
        let wrong_audience = issuer.token("another-app", Duration::from_secs(600)).unwrap();
        let foreign = LocalIssuer::generate(issuer.issuer())
            .unwrap()
            .token("aop-app", Duration::from_secs(600))
            .unwrap();
        let unsigned = crate::jwt::tests::with_alg_none(&token);
        let server = tokio::spawn(serve_http(
            listener,
            Arc::new(routes),
            Arc::new(issuer),
            reqwest::Client::new(),
        ));

        let http = reqwest::Client::new();
        let call = |path: &str, token: Option<&str>| {
            let mut request = http.post(format!("{base}{path}")).body("{}");
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            async move {
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let unauthorized = (401, r#"{"message":"Unauthorized"}"#.to_string());
        assert_eq!(call("/private/x", None).await, unauthorized, "no token");
        assert_eq!(call("/private/x", Some(&foreign)).await, unauthorized, "another key");
        assert_eq!(
            call("/private/x", Some(&wrong_audience)).await,
            unauthorized,
            "another audience"
        );
        assert_eq!(call("/private/x", Some(&expired)).await, unauthorized, "expired");
        assert_eq!(call("/private/x", Some("garbage")).await, unauthorized, "not a JWT");
        assert_eq!(call("/private/x", Some(&unsigned)).await, unauthorized, "alg none");
        assert_eq!(call("/private/x", Some(&token)).await, (200, "reached".to_string()));
        assert_eq!(
            call("/webhooks/t1", None).await,
            (200, "reached".to_string()),
            "no authorizer"
        );
        // The issuer's discovery document and key set, as API Gateway fetches them.
        let get = |url: String| {
            let request = http.get(url);
            async move {
                let response = request.send().await.unwrap();
                (
                    response.status().as_u16(),
                    response.json::<serde_json::Value>().await.unwrap(),
                )
            }
        };
        let (status, discovery) = get(format!("{base}/local-issuer/.well-known/openid-configuration")).await;
        assert_eq!(status, 200);
        assert_eq!(discovery["issuer"], format!("{base}/local-issuer"));
        let jwks_uri = discovery["jwks_uri"].as_str().unwrap().to_string();
        let (status, jwks) = get(jwks_uri).await;
        assert_eq!(status, 200);
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
        assert_eq!(jwks["keys"][0]["alg"], "RS256");
        // A tenant's token from the token endpoint passes the authorizer.
        let (status, issued) = get(format!("{base}/local-issuer/token?tenant=shop-a")).await;
        assert_eq!(status, 200);
        let tenant_token = issued["access_token"].as_str().unwrap();
        assert_eq!(
            call("/private/x", Some(tenant_token)).await,
            (200, "reached".to_string())
        );
        let (status, _) = get(format!("{base}/local-issuer/token")).await;
        assert_eq!(status, 400, "no tenant named");
        server.abort();
        function.verify().await;
    }

    #[tokio::test]
    async fn describes_the_stack() {
        let p = real_template().await;
        let settings = Settings {
            template: root().join("template.yaml"),
            parameters: root().join("infra/local/parameters.json"),
            stack_file: PathBuf::from("stack.json"),
            workspace: Workspace {
                root: root(),
                cargo_lambda: PathBuf::from("cargo-lambda"),
                log_dir: PathBuf::new(),
                pid_dir: PathBuf::new(),
                env_dir: PathBuf::new(),
            },
            aws_endpoint_url: "http://127.0.0.1:1".into(),
            region: "eu-central-1".into(),
            stripe_base_url: "http://127.0.0.1:2".into(),
            functions_psp: None,
            transport: None,
        };
        let file = p
            .stack_file(
                &settings,
                "http://127.0.0.1:3",
                (Some("jwt".into()), Some("http://127.0.0.1:3/local-issuer/token".into())),
                local_parameters().local_tenant.as_ref(),
                None,
            )
            .unwrap();
        assert_eq!(file.bearer_token.as_deref(), Some("jwt"));
        assert_eq!(file.token_url.as_deref(), Some("http://127.0.0.1:3/local-issuer/token"));
        assert_eq!(p.token_audience(), Some("aop-app"), "JwtAudience's default");
        let webhooks = file.webhooks.as_ref().unwrap();
        assert_eq!(webhooks.tenant, "demo-shop");
        assert_eq!(webhooks.secrets, vec!["whsec_local_tests_only"]);
        assert_eq!(
            webhooks.localstripe_endpoint,
            "http://127.0.0.1:3/webhooks/stripe/demo-shop/payment-intents"
        );
        assert_eq!(file.bus_name, "acp-payment-local-bus");
        assert_eq!(file.app_identifier, "acp-payment-local");
        assert_eq!(file.tables["PaymentsTable"], "acp-payment-local-PaymentsTable");
        assert_eq!(
            file.command_queues["CapturePayment"],
            "url/acp-payment-local-CapturePaymentQueue"
        );
        assert_eq!(
            file.dead_letter_queues["RefundPayment"],
            "url/acp-payment-local-RefundPaymentDeadLetterQueue"
        );
        let f = &file.functions["CancelPaymentFunction"];
        assert_eq!(f.binary, "app");
        assert_eq!(f.queue.as_deref(), Some("url/acp-payment-local-CancelPaymentQueue"));
    }
}
