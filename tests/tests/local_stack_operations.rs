//! What operators see of the running functions (`infra/local/stack up` must have run): the functions'
//! captured log lines (`.local/logs/lambda-<Function>.log`, what CloudWatch Logs would hold) carry each
//! request's context as top-level JSON keys, with the metrics as EMF documents beside them; bad input
//! on every error path leaves none of its values in any log or answer.

use integration_tests::acp::{send_identified, send_message, tenant_messages};
use integration_tests::local_stack::StackInfo;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The stack's log directory.
fn log_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/logs")
}

/// The JSON lines `function` logged so far (cargo's and the emulator's own lines are not JSON).
fn json_lines(function: &str) -> Vec<Value> {
    let path = log_dir().join(format!("lambda-{function}.log"));
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(Value::is_object)
        .collect()
}

/// Polls `function`'s log until `check` passes on its JSON lines (a line is written after the answer it
/// logs may already be on the bus), at most 20 s; panics with the last complaint.
async fn until_logged(function: &str, check: impl Fn(&[Value]) -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check(&json_lines(function)) {
            Ok(()) => return,
            Err(complaint) if start.elapsed() > Duration::from_secs(20) => {
                panic!("{function}: {complaint} (see .local/logs/lambda-{function}.log)")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// The log lines (not the EMF documents) naming `tenant` as a top-level key.
fn lines_of<'a>(lines: &'a [Value], tenant: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l.get("_aws").is_none() && l["tenant"] == tenant)
        .collect()
}

/// The EMF documents of metric `name`.
fn metric_documents<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l.get("_aws").is_some() && l.get(name).is_some())
        .collect()
}

#[tokio::test]
async fn every_log_line_of_an_order_carries_its_context_and_the_metrics_are_emf() {
    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (rule, watch) = stack.watch_bus(&aws).await;
    let tenant = integration_tests::aws::unique_name("ops");
    integration_tests::tenant::configure_watched_tenant(&stack, &sqs, &watch, &tenant).await;
    let order = integration_tests::aws::unique_name("DE");
    stack.checkout(&tenant, &order, 3_000, &[1]).await;
    stack.pay_and_report_authorization(&aws, &tenant, &order).await;
    let correlation = uuid::Uuid::new_v4().to_string();
    let capture = json!({"orderReference": order, "orderItemIds": [1], "amount": 3_000, "currencyIsoCode": "EUR"});
    send_identified(
        &sqs,
        stack.queue("CapturePayment"),
        "CapturePayment",
        &tenant,
        &capture,
        None,
        &correlation,
    )
    .await;
    let seen = tenant_messages(&sqs, &watch, &tenant, 4, Duration::from_secs(90)).await;
    assert!(
        seen.iter().any(|m| m.name == "PaymentCaptured"),
        "no PaymentCaptured: {:?}",
        seen.iter().map(|m| &m.name).collect::<Vec<_>>()
    );

    // The command: every line the capture function wrote for this tenant names the correlation id,
    // the order, the SQS message and the Lambda invocation (with its X-Ray trace).
    until_logged("CapturePaymentFunction", |lines| {
        let ours = lines_of(lines, &tenant);
        if !ours.iter().any(|l| l["fields"]["message"] == "command handled") {
            return Err(format!("no `command handled` line for {tenant}"));
        }
        for line in &ours {
            for (key, expected) in [
                ("correlationId", correlation.as_str()),
                ("orderReference", order.as_str()),
            ] {
                if line[key] != expected {
                    return Err(format!("{key} is not {expected} in {line}"));
                }
            }
            for key in ["messageId", "requestId", "xrayTraceId"] {
                if line[key].as_str().is_none_or(str::is_empty) {
                    return Err(format!("no {key} in {line}"));
                }
            }
        }
        let handled = metric_documents(lines, "CommandsHandled");
        if !handled
            .iter()
            .any(|d| d["command"] == "CapturePayment" && d["outcome"] == "PaymentCaptured")
        {
            return Err("no CommandsHandled document for a PaymentCaptured".into());
        }
        if !metric_documents(lines, "PspCalls")
            .iter()
            .any(|d| d["operation"] == "payment_intents.capture" && d["outcome"] == "ok")
        {
            return Err("no PspCalls document for a capture".into());
        }
        if metric_documents(lines, "ColdStart").is_empty() {
            return Err("no ColdStart document".into());
        }
        Ok(())
    })
    .await;

    // The webhook: its lines name the tenant, the route and the Stripe event; once the payment is
    // found, the order. Its metrics name the tenant as a property.
    until_logged("StripePaymentIntentsWebhookFunction", |lines| {
        let ours = lines_of(lines, &tenant);
        let applied: Vec<_> = ours
            .iter()
            .filter(|l| l["fields"]["message"] == "webhook applied")
            .collect();
        if applied.is_empty() {
            return Err(format!("no `webhook applied` line for {tenant}"));
        }
        for line in &applied {
            if line["orderReference"] != order.as_str()
                || !line["messageId"].as_str().is_some_and(|id| id.starts_with("evt"))
            {
                return Err(format!("the order or the event id is missing in {line}"));
            }
        }
        for line in &ours {
            if line["route"] != "POST /webhooks/stripe/{tenantIdentifier}/payment-intents"
                || line["requestId"].is_null()
            {
                return Err(format!("the route or the invocation is missing in {line}"));
            }
        }
        if !metric_documents(lines, "WebhookEvents")
            .iter()
            .any(|d| d["type"] == "payment" && d["tenant"] == tenant.as_str())
        {
            return Err(format!("no WebhookEvents document with the property tenant {tenant}"));
        }
        Ok(())
    })
    .await;

    // The checkout: the initialize-payment lines name the tenant and the route.
    until_logged("InitializePaymentFunction", |lines| {
        let ours = lines_of(lines, &tenant);
        if ours.is_empty() {
            return Err(format!("no line for {tenant}"));
        }
        match ours.iter().find(|l| l["route"] != "POST /private/initialize-payment") {
            Some(line) => Err(format!("the route is missing in {line}")),
            None => Ok(()),
        }
    })
    .await;
    // The operators' order history (infra/ops/order_history.py) tells the same story from the table
    // and the logs.
    let history = order_history(&stack, &tenant, &order);
    assert_eq!(history["payment"]["status"], "captured", "{history}");
    let operations = history["operations"].as_array().expect("operations");
    let messages: Vec<&str> = operations
        .iter()
        .flat_map(|op| op["events"].as_array().into_iter().flatten())
        .filter_map(|e| e["message"].as_str())
        .filter(|m| *m != "PaymentUpdated")
        .collect();
    assert_eq!(messages, ["PaymentAuthorized", "PaymentCaptured"], "{history}");
    let capture = operations
        .iter()
        .find(|op| op["command"] == "CapturePayment")
        .expect("the capture's operation");
    assert_eq!(capture["correlationId"], correlation.as_str());
    let functions: Vec<&str> = history["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["function"].as_str())
        .collect();
    for function in ["CapturePaymentFunction", "StripePaymentIntentsWebhookFunction"] {
        assert!(
            functions.contains(&function),
            "no {function} line in the history: {functions:?}"
        );
    }
    stack.unwatch_bus(&aws, &rule).await;
}

/// `infra/ops/order_history.py` for `order` of `tenant` against the stack's table and its function logs,
/// run with the project's Python (.venv) as an operator would.
fn order_history(stack: &StackInfo, tenant: &str, order: &str) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("infra/ops/order_history.py"))
        .args([
            "--table",
            &stack.tables["PaymentsTable"],
            "--tenant",
            tenant,
            "--order",
            order,
        ])
        .arg("--log-dir")
        .arg(log_dir())
        .env("AWS_ENDPOINT_URL", &stack.aws_endpoint_url)
        .env("AWS_DEFAULT_REGION", &stack.region)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("the project's .venv python runs");
    assert!(
        output.status.success(),
        "order_history.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("order_history.py prints JSON")
}

/// Every function log line written so far that contains `marker`.
fn lines_containing(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(log_dir()).expect("the stack's log directory") {
        let path = entry.expect("log entry").path();
        if !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("lambda-") && n.ends_with(".log"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        found.extend(
            text.lines()
                .filter(|l| l.contains(marker))
                .map(|l| format!("{}: {l}", path.display())),
        );
    }
    found
}

#[tokio::test]
async fn bad_input_on_every_error_path_leaves_no_value_in_the_logs_or_the_answers() {
    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let tenant = integration_tests::aws::unique_name("errors");
    integration_tests::tenant::configure_tenant(&stack, &tenant).await;
    // A value shaped like a live key: if any error path quotes the input, it shows.
    let marker = format!("sk_live_{}", uuid::Uuid::new_v4().simple());

    let bodies: [(&str, Value); 6] = [
        (
            "/private/configure",
            json!({"data": {"attributes": {"configuration": {"secretKey": marker}}}}),
        ),
        (
            "/private/initialize-payment",
            json!({"orderData": {"orderReference": 1, "grandTotal": marker}}),
        ),
        (
            "/private/pre-order-payment",
            json!({"orderData": marker, "preOrderPaymentData": [marker]}),
        ),
        ("/private/customer", json!({"transactionId": [marker]})),
        (
            "/private/payments/transfers",
            json!({"orderItems": [{"amount": marker}]}),
        ),
        (
            "/private/merchants/onboarding",
            json!({"merchant": {"merchantReference": [marker]}}),
        ),
    ];
    for (path, body) in &bodies {
        let (status, answer) = stack
            .call_private(path, &tenant, Some(stack.bearer_token()), body)
            .await;
        assert!((400..500).contains(&status), "{path} answered {status}: {answer}");
        assert!(!answer.contains(&marker), "{path} echoed the bad value: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{path}: not JSON: {answer}"));
        // The ACP error body, or the checkout endpoints' own (`isSuccessful: false` with a message).
        let message = answer["errors"][0]["message"].as_str().or(answer["message"].as_str());
        assert!(message.is_some_and(|m| !m.is_empty()), "{path}: {answer}");
    }
    // A command whose payload has the wrong types: a batch item failure, retried, then dead-lettered.
    let command = json!({"orderReference": {"value": marker}, "orderItemIds": [marker]});
    send_message(
        &sqs,
        stack.queue("CapturePayment"),
        "CapturePayment",
        &tenant,
        &command,
        None,
    )
    .await;
    let logged_failure = || {
        json_lines("CapturePaymentFunction").into_iter().any(|l| {
            l["fields"]["message"] == "unreadable record"
                && l["fields"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("CapturePayment payload") && r.contains("wrong type"))
        })
    };
    let start = Instant::now();
    while !logged_failure() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the capture function never logged the unreadable command"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        lines_containing(&marker),
        Vec::<String>::new(),
        "the bad value in the logs"
    );
}
