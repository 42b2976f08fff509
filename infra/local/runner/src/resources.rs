//! The template's non-function resources, planned from their resolved properties and created on moto:
//! DynamoDB tables, SQS queues (with redrive policies), EventBridge buses, archives and rules (SQS
//! targets), Secrets Manager secrets. Every resource gets a local name (`<stack>-<logical id>` unless
//! the template names it) and registers what `!Ref` / `!GetAtt` give for it.

use crate::template::{Physical, Resolver, Resource, scalar_to_string};
use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::types as ddb;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};

/// What the local stack does with one resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// A DynamoDB table (`Properties` resolved).
    Table {
        /// Table name.
        name: String,
        /// Resolved properties.
        properties: Json,
    },
    /// An SQS queue with its attributes (`RedrivePolicy` as the JSON text SQS takes).
    Queue {
        /// Queue name.
        name: String,
        /// SQS attributes by name.
        attributes: BTreeMap<String, String>,
    },
    /// An EventBridge bus.
    Bus {
        /// Bus name.
        name: String,
    },
    /// An EventBridge archive.
    Archive {
        /// Archive name.
        name: String,
        /// Resolved properties.
        properties: Json,
    },
    /// An EventBridge rule and its targets.
    Rule {
        /// Rule name.
        name: String,
        /// Resolved properties.
        properties: Json,
    },
    /// A Secrets Manager secret.
    Secret {
        /// Secret name.
        name: String,
        /// Resolved properties.
        properties: Json,
    },
    /// Functions run under the Lambda emulator (see `functions`), nothing to create on moto.
    Function {
        /// The function's local name.
        name: String,
    },
    /// A type the local stack does not emulate (IAM, alarms, log groups, ...): reported and skipped.
    Skipped {
        /// Local name (what `!Ref` gives).
        name: String,
        /// The AWS service of its type (`logs` for `AWS::Logs::LogGroup`): its `Arn` names it, so a
        /// resource that is emulated may refer to it (an access log's destination).
        service: String,
    },
}

fn prop(props: &Json, key: &str) -> Option<String> {
    props.get(key).and_then(scalar_to_string)
}

/// The resource types the local stack creates; every other one is skipped.
const EMULATED: [&str; 8] = [
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::Events::Archive",
    "AWS::Events::Rule",
    "AWS::SecretsManager::Secret",
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
];

/// Plans one resource from its resolved properties.
pub fn plan(resource: &Resource<'_>, resolver: &Resolver) -> Result<Plan> {
    let stack = resolver.pseudo("AWS::StackName").unwrap_or("local");
    let default_name = format!("{stack}-{}", resource.id);
    if !EMULATED.contains(&resource.kind) {
        // Not evaluated: an alarm or a dashboard may name attributes only AWS knows.
        let service = resource
            .kind
            .split("::")
            .nth(1)
            .unwrap_or("unknown")
            .to_ascii_lowercase();
        return Ok(Plan::Skipped {
            name: default_name,
            service,
        });
    }
    let props = resolver
        .resolve(resource.properties)?
        .filter(|p| !p.is_null())
        .unwrap_or_else(|| Json::Object(Default::default()));
    let named = |key: &str| prop(&props, key).unwrap_or_else(|| default_name.clone());
    Ok(match resource.kind {
        "AWS::DynamoDB::Table" => Plan::Table {
            name: named("TableName"),
            properties: props,
        },
        "AWS::SQS::Queue" => {
            let mut name = named("QueueName");
            let fifo = props.get("FifoQueue").and_then(scalar_to_string).as_deref() == Some("true");
            if fifo && !name.ends_with(".fifo") {
                name.push_str(".fifo");
            }
            let mut attributes = BTreeMap::new();
            for key in [
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "MaximumMessageSize",
                "ReceiveMessageWaitTimeSeconds",
                "FifoQueue",
                "ContentBasedDeduplication",
                "SqsManagedSseEnabled",
            ] {
                if let Some(v) = prop(&props, key) {
                    attributes.insert(key.to_string(), v);
                }
            }
            if let Some(policy) = props.get("RedrivePolicy") {
                let arn = policy
                    .get("deadLetterTargetArn")
                    .and_then(scalar_to_string)
                    .ok_or_else(|| anyhow!("{}: RedrivePolicy without deadLetterTargetArn", resource.id))?;
                let count: u64 = policy
                    .get("maxReceiveCount")
                    .and_then(scalar_to_string)
                    .ok_or_else(|| anyhow!("{}: RedrivePolicy without maxReceiveCount", resource.id))?
                    .parse()
                    .with_context(|| format!("{}: maxReceiveCount", resource.id))?;
                attributes.insert(
                    "RedrivePolicy".into(),
                    serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": count}).to_string(),
                );
            }
            Plan::Queue { name, attributes }
        }
        "AWS::Events::EventBus" => Plan::Bus { name: named("Name") },
        "AWS::Events::Archive" => Plan::Archive {
            name: named("ArchiveName"),
            properties: props,
        },
        "AWS::Events::Rule" => Plan::Rule {
            name: named("Name"),
            properties: props,
        },
        "AWS::SecretsManager::Secret" => Plan::Secret {
            name: named("Name"),
            properties: props,
        },
        "AWS::Serverless::Function" | "AWS::Lambda::Function" => Plan::Function {
            name: named("FunctionName"),
        },
        other => bail!("{other} is emulated but has no plan"),
    })
}

/// The SDK clients of the emulator.
#[derive(Debug, Clone)]
pub struct Clients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// EventBridge.
    pub events: aws_sdk_eventbridge::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    /// Clients for the endpoint, region and credentials of the environment.
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
        }
    }
}

/// Where the local resources live (for ARNs).
#[derive(Debug, Clone)]
pub struct Location {
    /// Region.
    pub region: String,
    /// Account id.
    pub account_id: String,
}

impl Location {
    fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{resource}", self.region, self.account_id)
    }
}

fn physical(reference: String, attributes: &[(&str, String)]) -> Physical {
    Physical {
        reference,
        attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    }
}

/// Creates a planned resource on the emulator (an existing one is reused) and returns its local value.
pub async fn apply(plan: &Plan, clients: &Clients, at: &Location) -> Result<Physical> {
    Ok(match plan {
        Plan::Table { name, properties } => {
            create_table(&clients.dynamodb, name, properties).await?;
            physical(
                name.clone(),
                &[
                    ("Arn", at.arn("dynamodb", &format!("table/{name}"))),
                    ("StreamArn", at.arn("dynamodb", &format!("table/{name}/stream/local"))),
                ],
            )
        }
        Plan::Queue { name, attributes } => {
            let mut request = clients.sqs.create_queue().queue_name(name);
            for (k, v) in attributes {
                request = request.attributes(QueueAttributeName::from(k.as_str()), v);
            }
            let url = request
                .send()
                .await
                .with_context(|| format!("creating queue {name}"))?
                .queue_url
                .ok_or_else(|| anyhow!("queue {name}: no URL"))?;
            physical(
                url.clone(),
                &[
                    ("Arn", at.arn("sqs", name)),
                    ("QueueName", name.clone()),
                    ("QueueUrl", url),
                ],
            )
        }
        Plan::Bus { name } => {
            let exists = clients.events.describe_event_bus().name(name).send().await.is_ok();
            if !exists {
                clients
                    .events
                    .create_event_bus()
                    .name(name)
                    .send()
                    .await
                    .with_context(|| format!("creating bus {name}"))?;
            }
            let arn = at.arn("events", &format!("event-bus/{name}"));
            physical(name.clone(), &[("Arn", arn), ("Name", name.clone())])
        }
        Plan::Archive { name, properties } => {
            let source = prop(properties, "SourceArn").ok_or_else(|| anyhow!("archive {name}: no SourceArn"))?;
            let mut request = clients
                .events
                .create_archive()
                .archive_name(name)
                .event_source_arn(source);
            if let Some(days) = prop(properties, "RetentionDays") {
                request = request.retention_days(days.parse()?);
            }
            if let Some(d) = prop(properties, "Description") {
                request = request.description(d);
            }
            if let Some(p) = properties.get("EventPattern") {
                request = request.event_pattern(p.to_string());
            }
            if let Err(e) = request.send().await {
                let e = aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string();
                if !e.contains("AlreadyExists") {
                    bail!("creating archive {name}: {e}");
                }
            }
            physical(name.clone(), &[("Arn", at.arn("events", &format!("archive/{name}")))])
        }
        Plan::Rule { name, properties } => {
            create_rule(&clients.events, name, properties).await?;
            let bus = prop(properties, "EventBusName").unwrap_or_else(|| "default".into());
            let arn = at.arn("events", &format!("rule/{bus}/{name}"));
            physical(name.clone(), &[("Arn", arn)])
        }
        Plan::Secret { name, properties } => {
            let value = prop(properties, "SecretString").ok_or_else(|| {
                anyhow!("secret {name}: the local stack needs a SecretString (GenerateSecretString is not emulated)")
            })?;
            let arn = put_secret(&clients.secrets, name, &value).await?;
            physical(arn, &[("Id", name.clone())])
        }
        Plan::Function { name } => physical(name.clone(), &[("Arn", at.arn("lambda", &format!("function:{name}")))]),
        Plan::Skipped { name, service } => physical(name.clone(), &[("Arn", at.arn(service, name))]),
    })
}

/// Creates (or overwrites) a secret and returns its ARN. The value is never logged.
pub async fn put_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> Result<String> {
    match client.create_secret().name(name).secret_string(value).send().await {
        Ok(out) => out.arn.ok_or_else(|| anyhow!("secret {name}: no ARN")),
        Err(e) => {
            let text = aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string();
            if !text.contains("ResourceExists") {
                bail!("creating secret {name}: {text}");
            }
            let out = client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .with_context(|| format!("updating secret {name}"))?;
            out.arn.ok_or_else(|| anyhow!("secret {name}: no ARN"))
        }
    }
}

fn items<'a>(props: &'a Json, key: &str) -> impl Iterator<Item = &'a Json> {
    props.get(key).and_then(Json::as_array).into_iter().flatten()
}

fn key_schema(list: &Json) -> Result<Vec<ddb::KeySchemaElement>> {
    items(list, "KeySchema")
        .map(|k| {
            Ok(ddb::KeySchemaElement::builder()
                .attribute_name(prop(k, "AttributeName").unwrap_or_default())
                .key_type(ddb::KeyType::from(prop(k, "KeyType").unwrap_or_default().as_str()))
                .build()?)
        })
        .collect()
}

fn projection(index: &Json) -> ddb::Projection {
    let p = index.get("Projection").cloned().unwrap_or_default();
    ddb::Projection::builder()
        .set_projection_type(prop(&p, "ProjectionType").map(|t| ddb::ProjectionType::from(t.as_str())))
        .set_non_key_attributes(
            p.get("NonKeyAttributes")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(scalar_to_string).collect()),
        )
        .build()
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, props: &Json) -> Result<()> {
    let mut request = client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(key_schema(props)?));
    for a in items(props, "AttributeDefinitions") {
        request = request.attribute_definitions(
            ddb::AttributeDefinition::builder()
                .attribute_name(prop(a, "AttributeName").unwrap_or_default())
                .attribute_type(ddb::ScalarAttributeType::from(
                    prop(a, "AttributeType").unwrap_or_default().as_str(),
                ))
                .build()?,
        );
    }
    let on_demand = prop(props, "BillingMode").as_deref() == Some("PAY_PER_REQUEST");
    let throughput = || {
        ddb::ProvisionedThroughput::builder()
            .read_capacity_units(5)
            .write_capacity_units(5)
            .build()
    };
    if on_demand {
        request = request.billing_mode(ddb::BillingMode::PayPerRequest);
    } else {
        request = request.provisioned_throughput(throughput()?);
    }
    for index in items(props, "GlobalSecondaryIndexes") {
        let mut gsi = ddb::GlobalSecondaryIndex::builder()
            .index_name(prop(index, "IndexName").unwrap_or_default())
            .set_key_schema(Some(key_schema(index)?))
            .projection(projection(index));
        if !on_demand {
            gsi = gsi.provisioned_throughput(throughput()?);
        }
        request = request.global_secondary_indexes(gsi.build()?);
    }
    for index in items(props, "LocalSecondaryIndexes") {
        request = request.local_secondary_indexes(
            ddb::LocalSecondaryIndex::builder()
                .index_name(prop(index, "IndexName").unwrap_or_default())
                .set_key_schema(Some(key_schema(index)?))
                .projection(projection(index))
                .build()?,
        );
    }
    if let Some(stream) = props.get("StreamSpecification") {
        request = request.stream_specification(
            ddb::StreamSpecification::builder()
                .stream_enabled(true)
                .set_stream_view_type(prop(stream, "StreamViewType").map(|t| ddb::StreamViewType::from(t.as_str())))
                .build()?,
        );
    }
    if let Err(e) = request.send().await {
        let text = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string();
        if text.contains("ResourceInUse") {
            return Ok(()); // created by an earlier `up` on the same emulator
        }
        bail!("creating table {name}: {text}");
    }
    if let Some(ttl) = props.get("TimeToLiveSpecification")
        && prop(ttl, "Enabled").as_deref() == Some("true")
    {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                ddb::TimeToLiveSpecification::builder()
                    .attribute_name(prop(ttl, "AttributeName").unwrap_or_default())
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .with_context(|| format!("enabling TTL on {name}"))?;
    }
    Ok(())
}

async fn create_rule(client: &aws_sdk_eventbridge::Client, name: &str, props: &Json) -> Result<()> {
    let targets: Vec<&Json> = items(props, "Targets").collect();
    // moto fails every PutEvents on a bus with a Lambda or SNS target: only SQS targets go to moto.
    for t in &targets {
        let arn = prop(t, "Arn").unwrap_or_default();
        if !arn.starts_with("arn:aws:sqs:") {
            bail!("rule {name}: target {arn} is not an SQS queue, and the local stack only routes rules to queues");
        }
    }
    let mut request = client
        .put_rule()
        .name(name)
        .set_event_bus_name(prop(props, "EventBusName"))
        .set_schedule_expression(prop(props, "ScheduleExpression"))
        .set_description(prop(props, "Description"))
        .set_state(prop(props, "State").map(|s| s.as_str().into()));
    if let Some(p) = props.get("EventPattern") {
        request = request.event_pattern(p.to_string());
    }
    request.send().await.with_context(|| format!("creating rule {name}"))?;
    if targets.is_empty() {
        return Ok(());
    }
    let mut put = client
        .put_targets()
        .rule(name)
        .set_event_bus_name(prop(props, "EventBusName"));
    for t in targets {
        put = put.targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id(prop(t, "Id").unwrap_or_else(|| "target".into()))
                .arn(prop(t, "Arn").unwrap_or_default())
                .set_input(prop(t, "Input"))
                .set_input_path(prop(t, "InputPath"))
                .set_sqs_parameters(
                    t.get("SqsParameters")
                        .and_then(|p| prop(p, "MessageGroupId"))
                        .map(|group| {
                            aws_sdk_eventbridge::types::SqsParameters::builder()
                                .message_group_id(group)
                                .build()
                        }),
                )
                .build()?,
        );
    }
    put.send()
        .await
        .with_context(|| format!("adding targets to rule {name}"))?;
    Ok(())
}

/// Replaces `{{resolve:secretsmanager:NAME[:SecretString[:json-key]]}}` references in `text` by the
/// secret's value read from the emulator.
pub async fn resolve_dynamic_references(text: &str, secrets: &aws_sdk_secretsmanager::Client) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{resolve:secretsmanager:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "{{resolve:secretsmanager:".len()..];
        let end = after.find("}}").ok_or_else(|| anyhow!("unclosed dynamic reference"))?;
        let reference = parse_secret_reference(&after[..end])?;
        let value = secrets
            .get_secret_value()
            .secret_id(&reference.name)
            .send()
            .await
            .with_context(|| {
                format!(
                    "reading secret {} (create it through the local parameters file)",
                    reference.name
                )
            })?
            .secret_string
            .ok_or_else(|| anyhow!("secret {} has no SecretString", reference.name))?;
        match reference.json_key {
            None => out.push_str(&value),
            Some(key) => {
                let parsed: HashMap<String, Json> = serde_json::from_str(&value)
                    .with_context(|| format!("secret {} is not a JSON object", reference.name))?;
                let field = parsed
                    .get(&key)
                    .and_then(scalar_to_string)
                    .ok_or_else(|| anyhow!("secret {} has no key {key}", reference.name))?;
                out.push_str(&field);
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The parts of a Secrets Manager dynamic reference (after `resolve:secretsmanager:`).
#[derive(Debug, PartialEq, Eq)]
struct SecretReference {
    name: String,
    json_key: Option<String>,
}

fn parse_secret_reference(inner: &str) -> Result<SecretReference> {
    // The name may be a full ARN (with colons): the segment type `SecretString` marks its end.
    let (name, rest) = match inner.find(":SecretString") {
        Some(i) => (&inner[..i], &inner[i + ":SecretString".len()..]),
        None => (inner, ""),
    };
    if name.is_empty() {
        bail!("dynamic reference without a secret name");
    }
    let json_key = rest
        .strip_prefix(':')
        .and_then(|r| r.split(':').next())
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    Ok(SecretReference {
        name: name.to_string(),
        json_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dynamic_references() {
        assert_eq!(
            parse_secret_reference("a/b:SecretString").unwrap(),
            SecretReference {
                name: "a/b".into(),
                json_key: None
            }
        );
        assert_eq!(
            parse_secret_reference("arn:aws:secretsmanager:r:1:secret:x:SecretString:key::").unwrap(),
            SecretReference {
                name: "arn:aws:secretsmanager:r:1:secret:x".into(),
                json_key: Some("key".into())
            }
        );
        assert_eq!(parse_secret_reference("plain").unwrap().name, "plain");
    }
}
