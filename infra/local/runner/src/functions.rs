//! The template's functions as the local stack runs them: binary, environment (Globals merged with the
//! function's own), timeout, SQS event source and HTTP routes.

use crate::http_api::Route;
use crate::jwt::JwtAuthorizer;
use crate::template::{Resolver, Resource, Template, scalar_to_string};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use std::collections::BTreeMap;
use std::time::Duration;

/// An SQS event source of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsSource {
    /// Logical id of the queue.
    pub queue_id: String,
    /// Queue URL.
    pub queue_url: String,
    /// Queue ARN.
    pub queue_arn: String,
    /// `BatchSize` (default 10).
    pub batch_size: i32,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
}

/// One function of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Logical id.
    pub id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// Environment from the template, references resolved (dynamic references not yet).
    pub environment: BTreeMap<String, String>,
    /// `Timeout` in seconds (default 3, as Lambda).
    pub timeout_seconds: u64,
    /// The SQS event source, if any.
    pub sqs: Option<SqsSource>,
    /// `HttpApi` routes.
    pub routes: Vec<Route>,
    /// How often a `Schedule` / `ScheduleV2` event invokes it (`rate(...)` expressions).
    pub schedule: Option<Duration>,
    /// Event types the local stack does not run (reported at start).
    pub unsupported_events: Vec<String>,
}

/// A function property: the function's own, else `Globals.Function`'s.
fn property<'a>(template: &'a Template, resource: &Resource<'a>, key: &str) -> Option<&'a Yaml> {
    resource
        .properties
        .get(key)
        .or_else(|| template.section("Globals").get("Function").and_then(|g| g.get(key)))
}

fn environment(template: &Template, resource: &Resource<'_>, resolver: &Resolver) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let global = template
        .section("Globals")
        .get("Function")
        .and_then(|g| g.get("Environment"))
        .and_then(|e| e.get("Variables"));
    let own = resource.properties.get("Environment").and_then(|e| e.get("Variables"));
    for variables in [global, own].into_iter().flatten() {
        if let Some(Json::Object(map)) = resolver.resolve(variables)? {
            for (k, v) in map {
                let v = scalar_to_string(&v).ok_or_else(|| anyhow!("{}: variable {k} is not a scalar", resource.id))?;
                out.insert(k, v);
            }
        }
    }
    // Lambda's advanced logging controls become these variables in the function's environment.
    if let Some(Some(logging)) = property(template, resource, "LoggingConfig")
        .map(|l| resolver.resolve(l))
        .transpose()?
    {
        if let Some(level) = logging.get("ApplicationLogLevel").and_then(scalar_to_string) {
            out.entry("AWS_LAMBDA_LOG_LEVEL".into()).or_insert(level);
        }
        if let Some(format) = logging.get("LogFormat").and_then(scalar_to_string) {
            out.entry("AWS_LAMBDA_LOG_FORMAT".into()).or_insert(format);
        }
    }
    Ok(out)
}

/// Reads every function of the template. The resources they refer to must be registered in `resolver`.
pub fn functions(template: &Template, resolver: &Resolver) -> Result<Vec<FunctionSpec>> {
    let mut out = Vec::new();
    for resource in template.resources()? {
        if resource.kind != "AWS::Serverless::Function" {
            continue;
        }
        if let Some(c) = resource.condition
            && !resolver.condition(c)?
        {
            continue;
        }
        out.push(function(template, &resource, resolver).with_context(|| format!("function {}", resource.id))?);
    }
    Ok(out)
}

fn function(template: &Template, resource: &Resource<'_>, resolver: &Resolver) -> Result<FunctionSpec> {
    let binary = resource
        .metadata
        .get("BuildProperties")
        .and_then(|b| b.get("Binary"))
        .and_then(Yaml::as_str)
        .ok_or_else(|| anyhow!("no Metadata.BuildProperties.Binary: the local stack runs the function by its binary"))?
        .to_string();
    let timeout_seconds = match property(template, resource, "Timeout") {
        Some(t) => resolver.resolve_string(t)?.parse()?,
        None => 3,
    };
    let mut sqs = None;
    let mut schedule = None;
    let mut routes = Vec::new();
    let mut unsupported_events = Vec::new();
    for (name, event) in resource
        .properties
        .get("Events")
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or_default();
        let kind = event.get("Type").and_then(Yaml::as_str).unwrap_or_default();
        let props = match event.get("Properties") {
            Some(p) => resolver.resolve_value(p)?,
            None => Json::Object(Default::default()),
        };
        match kind {
            "SQS" => {
                if props.get("Enabled").and_then(scalar_to_string).as_deref() == Some("false") {
                    continue;
                }
                let arn = props
                    .get("Queue")
                    .and_then(scalar_to_string)
                    .ok_or_else(|| anyhow!("event {name}: no Queue"))?;
                let (queue_id, physical) = template
                    .resources()?
                    .into_iter()
                    .filter(|r| r.kind == "AWS::SQS::Queue")
                    .find_map(|r| {
                        resolver
                            .physical(r.id)
                            .filter(|p| p.attributes.get("Arn") == Some(&arn))
                            .map(|p| (r.id.to_string(), p.clone()))
                    })
                    .ok_or_else(|| anyhow!("event {name}: {arn} is not a queue of the template"))?;
                let batch_size = match props.get("BatchSize").and_then(scalar_to_string) {
                    Some(b) => b.parse()?,
                    None => 10,
                };
                let report_batch_item_failures = props
                    .get("FunctionResponseTypes")
                    .and_then(Json::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "ReportBatchItemFailures"));
                sqs = Some(SqsSource {
                    queue_id,
                    queue_url: physical.reference.clone(),
                    queue_arn: arn,
                    batch_size,
                    report_batch_item_failures,
                });
            }
            "HttpApi" => {
                let method = props.get("Method").and_then(scalar_to_string);
                let path = props.get("Path").and_then(scalar_to_string);
                let mut route = Route::new(method.as_deref(), path.as_deref())?;
                route.authorizer =
                    route_authorizer(template, resolver, &props).with_context(|| format!("event {name}"))?;
                routes.push(route);
            }
            "Schedule" | "ScheduleV2" => {
                let expression = props
                    .get("ScheduleExpression")
                    .or_else(|| props.get("Schedule"))
                    .and_then(scalar_to_string)
                    .unwrap_or_default();
                match rate(&expression) {
                    Some(every) => schedule = Some(every),
                    None => unsupported_events.push(format!("{name} ({kind} {expression})")),
                }
            }
            other => unsupported_events.push(format!("{name} ({other})")),
        }
    }
    Ok(FunctionSpec {
        id: resource.id.to_string(),
        binary,
        environment: environment(template, resource, resolver)?,
        timeout_seconds,
        sqs,
        routes,
        schedule,
        unsupported_events,
    })
}

/// The period of a `rate(N minute|minutes|hour|hours|day|days)` schedule expression (cron is not
/// emulated).
pub fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: u64 = count.parse().ok()?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(count * seconds))
}

/// The JWT authorizer of an `HttpApi` event (resolved `props`), as SAM applies it: the event's
/// `Auth.Authorizer` (`NONE` for none), else its API's `Auth.DefaultAuthorizer`. The API is the
/// `AWS::Serverless::HttpApi` resource that `ApiId` refers to, or SAM's implicit API (`Globals.HttpApi`).
/// Only JWT authorizers are emulated: any other kind is an error, never an open route.
fn route_authorizer(template: &Template, resolver: &Resolver, props: &Json) -> Result<Option<JwtAuthorizer>> {
    let api = match props.get("ApiId").and_then(scalar_to_string) {
        Some(api_id) => {
            let resource = template
                .resources()?
                .into_iter()
                .filter(|r| r.kind == "AWS::Serverless::HttpApi")
                .find(|r| resolver.physical(r.id).is_some_and(|p| p.reference == api_id))
                .ok_or_else(|| anyhow!("ApiId {api_id} is not an AWS::Serverless::HttpApi of the template"))?;
            resolver.resolve(resource.properties)?
        }
        None => match template.section("Globals").get("HttpApi") {
            Some(globals) => resolver.resolve(globals)?,
            None => None,
        },
    }
    .unwrap_or(Json::Null);
    let auth = &api["Auth"];
    let name = match props
        .get("Auth")
        .and_then(|a| a.get("Authorizer"))
        .and_then(scalar_to_string)
    {
        Some(name) if name == "NONE" => return Ok(None),
        Some(name) => name,
        None => match auth.get("DefaultAuthorizer").and_then(scalar_to_string) {
            Some(name) => name,
            None => return Ok(None),
        },
    };
    let Some(jwt) = auth["Authorizers"][&name].get("JwtConfiguration") else {
        bail!("authorizer {name} is not a JWT authorizer of the API: the local stack emulates JWT authorizers only");
    };
    let audiences: Vec<String> = match jwt.get("audience") {
        Some(Json::Array(list)) => list.iter().filter_map(scalar_to_string).collect(),
        Some(one) => scalar_to_string(one).into_iter().collect(),
        None => Vec::new(),
    };
    if audiences.is_empty() {
        bail!("authorizer {name} has no audience");
    }
    Ok(Some(JwtAuthorizer { name, audiences }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rate_expressions() {
        assert_eq!(rate("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(rate("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(rate("rate(2 hours)"), Some(Duration::from_secs(7200)));
        assert_eq!(rate("cron(0 12 * * ? *)"), None);
        assert_eq!(rate("rate(soon minutes)"), None);
    }
}
