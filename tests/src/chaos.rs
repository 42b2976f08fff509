//! The chaos run (issue 12 §5): thousands of Spryker commands over many shops and orders through the
//! running local stack while things go wrong, then the books are checked.
//!
//! What goes wrong, all at once:
//! - every function reaches Stripe through a [`FaultProxy`] that fails a share of the calls (a 5xx
//!   before Stripe saw it, an answer lost after Stripe applied it, an answer too late for the function's
//!   timeout) and emulates Stripe's idempotency layer, which localstripe lacks;
//! - a share of the SQS messages is delivered twice (the same message: same `transactionId`), and a share
//!   of an order's commands is sent in the wrong order;
//! - signed Stripe webhooks arrive in random order: the current state of a PaymentIntent, states that are
//!   stale by now, the app's refunds and the charge's refunded total, on either webhook route;
//! - function processes are killed while they work (the runner starts new ones, as Lambda would).
//!
//! Each order runs a script of commands a Spryker OMS sends (captures, split shipments, partial cancels,
//! refunds, repeats), one after the other as the OMS does (the next once the last was answered, or after
//! a while without an answer). At the end the faults stop and the reconciler settles what is left. Then
//! the run counts, from the bus, the commands without an answer and the answers published twice under
//! different ids, and compares, per order, the money Stripe moved with the money the app recorded.

use crate::acp::{BusMessage, send_identified};
use crate::aws::take_bodies;
use crate::fault_proxy::FaultProxy;
use crate::local_stack::StackInfo;
use crate::stripe_customer::LOCALSTRIPE_API_KEY;
use crate::tenant::configure_tenant;
use futures::StreamExt;
use serde_json::{Value, json};
use shared::ports::{PaymentGateway, PaymentStore};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How big a run is.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// Commands sent (about; each order's script is whole).
    pub commands: usize,
    /// Shops.
    pub tenants: usize,
    /// Orders.
    pub orders: usize,
}

impl Scale {
    /// The CI run: 1,000 commands over 20 shops and 200 orders.
    pub const CI: Scale = Scale {
        commands: 1_000,
        tenants: 20,
        orders: 200,
    };
    /// `--long`: 10,000 commands over 20 shops and 2,000 orders.
    pub const LONG: Scale = Scale {
        commands: 10_000,
        tenants: 20,
        orders: 2_000,
    };
}

/// The share of Stripe calls that fail.
const PSP_FAULT_RATE: f64 = 0.10;
/// The share of messages delivered twice, and of an order's adjacent commands sent swapped.
const DUPLICATE_RATE: f64 = 0.05;
const REORDER_RATE: f64 = 0.05;
/// The functions' PSP timeout in this run (`LOCAL_STACK_PSP_TIMEOUT_MS`), and the delay of a late answer.
pub const PSP_TIMEOUT_MS: u64 = 1_500;
const LATE_ANSWER: Duration = Duration::from_millis(PSP_TIMEOUT_MS + 1_000);
/// How long an order waits for an answer before it sends its next command anyway.
const ANSWER_PATIENCE: Duration = Duration::from_secs(10);
/// Orders in flight at once.
const CONCURRENT_ORDERS: usize = 48;
/// Orders authorized at once during the setup: enough to keep the checkout function busy, few enough that
/// no request waits in its queue for long.
const SETUP_CONCURRENCY: usize = 6;
/// How often the setup sends an initialize-payment the stack answered with a 5xx.
const INITIALIZE_ATTEMPTS: usize = 3;
/// The functions (`APP_FUNCTION` of the one binary `app`) the run kills while they work.
const KILLABLE: [&str; 6] = [
    "capture-payment",
    "cancel-payment",
    "refund-payment",
    "stripe-payment-intents-webhook",
    "stripe-refunds-webhook",
    "reconciler",
];

/// One order of a shop: three items and what they cost.
#[derive(Clone, Debug)]
pub struct Order {
    /// The shop.
    pub tenant: String,
    /// The order reference.
    pub reference: String,
    /// `(sales order item id, amount in cents)`.
    pub items: Vec<(i64, i64)>,
}

impl Order {
    fn amount_of(&self, items: &[i64]) -> i64 {
        self.items
            .iter()
            .filter(|(id, _)| items.contains(id))
            .map(|(_, a)| a)
            .sum()
    }

    fn total(&self) -> i64 {
        self.items.iter().map(|(_, a)| a).sum()
    }
}

/// One command message as Spryker's broker puts it on a command queue.
#[derive(Clone, Debug)]
pub struct Command {
    /// `CapturePayment`, `CancelPayment` or `RefundPayment`.
    pub name: &'static str,
    /// The payload.
    pub payload: Value,
    /// The message's own id (`transactionId`).
    pub message_id: String,
    /// Its `correlationId`: the answer carries it.
    pub correlation_id: String,
    /// Delivered twice (the same message).
    pub twice: bool,
}

impl Command {
    fn new(name: &'static str, payload: Value) -> Command {
        Command {
            name,
            payload,
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            twice: false,
        }
    }

    /// The messages that answer this command.
    pub fn answers(&self) -> [&'static str; 2] {
        answers_to(self.name)
    }
}

/// The messages that answer the command `name`.
fn answers_to(name: &str) -> [&'static str; 2] {
    match name {
        "CapturePayment" => ["PaymentCaptured", "PaymentCaptureFailed"],
        "CancelPayment" => ["PaymentCanceled", "PaymentCancellationFailed"],
        _ => ["PaymentRefunded", "PaymentRefundFailed"],
    }
}

fn capture(order: &Order, items: &[i64]) -> Command {
    Command::new(
        "CapturePayment",
        json!({"orderReference": order.reference, "orderItemIds": items, "amount": order.amount_of(items),
               "currencyIsoCode": "EUR"}),
    )
}

fn cancel(order: &Order, items: &[i64]) -> Command {
    Command::new(
        "CancelPayment",
        json!({"orderReference": order.reference, "orderItemIds": items, "amount": 0, "currencyIsoCode": "EUR"}),
    )
}

fn refund(order: &Order, items: &[i64], amount: i64) -> Command {
    let lines: Vec<Value> = items
        .iter()
        .map(|i| json!({"orderItemId": i, "sku": format!("SKU-{i}")}))
        .collect();
    Command::new(
        "RefundPayment",
        json!({"orderReference": order.reference, "orderItems": lines, "orderItemIds": items, "amount": -amount,
               "currencyIsoCode": "EUR"}),
    )
}

/// A repeat of `command` as a new message (Spryker's retry after a failure, or an operator's).
fn repeat(command: &Command) -> Command {
    Command::new(command.name, command.payload.clone())
}

/// The commands an OMS sends for `order`, in one of four shapes, with some swapped and some delivered
/// twice.
pub fn script(order: &Order, rng: &mut fastrand::Rng) -> Vec<Command> {
    let [(a, _), (b, _), (c, _)] = order.items[..] else {
        unreachable!("orders have three items")
    };
    let amount = |items: &[i64]| order.amount_of(items);
    let mut commands = match rng.u8(0..4) {
        // One capture of everything, refunds item by item, repeats.
        0 => {
            let all = capture(order, &[a, b, c]);
            let first = refund(order, &[a], amount(&[a]));
            vec![
                all.clone(),
                first.clone(),
                refund(order, &[b], amount(&[b])),
                repeat(&first),
                repeat(&all),
            ]
        }
        // Split shipments, the item that cannot ship canceled, a refund of a shipped one and one of the
        // canceled one.
        1 => vec![
            capture(order, &[a]),
            capture(order, &[b]),
            cancel(order, &[c]),
            refund(order, &[b], amount(&[b])),
            refund(order, &[c], amount(&[c])),
        ],
        // The whole order canceled, then commands that come too late.
        2 => {
            let all = cancel(order, &[a, b, c]);
            vec![
                all.clone(),
                repeat(&all),
                capture(order, &[a]),
                refund(order, &[a], amount(&[a])),
                cancel(order, &[b]),
            ]
        }
        // A partial cancel before the capture, then refunds, one beyond what is left.
        _ => vec![
            cancel(order, &[c]),
            capture(order, &[a, b]),
            refund(order, &[a], amount(&[a])),
            refund(order, &[b], amount(&[b]) + 1_000),
            refund(order, &[b], amount(&[b])),
        ],
    };
    for i in 1..commands.len() {
        if rng.f64() < REORDER_RATE {
            commands.swap(i - 1, i);
        }
    }
    for command in &mut commands {
        command.twice = rng.f64() < DUPLICATE_RATE;
    }
    commands
}

/// The answers seen on the bus, by correlation id: `(message name, event id)`.
#[derive(Default)]
struct Answers(Mutex<BTreeMap<String, Vec<(String, String)>>>);

impl Answers {
    fn record(&self, message: &BusMessage) {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let correlation = text(&message.attributes["correlationId"]);
        let event_id = text(&message.attributes["transactionId"]);
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.entry(correlation)
            .or_default()
            .push((message.name.clone(), event_id));
    }

    /// The distinct event ids of `command`'s answers.
    fn of(&self, command: &Command) -> BTreeSet<String> {
        let seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let answers = command.answers();
        seen.get(&command.correlation_id)
            .into_iter()
            .flatten()
            .filter(|(name, _)| answers.contains(&name.as_str()))
            .map(|(_, id)| id.clone())
            .collect()
    }
}

/// What the run did and found.
#[derive(Debug, Default)]
pub struct Report {
    /// Shops.
    pub tenants: usize,
    /// Orders.
    pub orders: usize,
    /// Command messages (one delivered twice counts once).
    pub commands: usize,
    /// SQS deliveries (duplicates included).
    pub deliveries: usize,
    /// Commands with at least one answer.
    pub answered: usize,
    /// Commands without an answer.
    pub unanswered: Vec<String>,
    /// Answers published under a second (third...) event id.
    pub published_twice: usize,
    /// Stripe faults injected.
    pub psp_faults: usize,
    /// Webhooks delivered.
    pub webhooks: usize,
    /// Webhooks answered with something other than 200 (Stripe would deliver them again).
    pub webhooks_refused: usize,
    /// Function processes killed.
    pub kills: usize,
    /// Captured at Stripe, over all orders (cents).
    pub psp_captured: i64,
    /// Refunded at Stripe.
    pub psp_refunded: i64,
    /// Orders whose money at Stripe differs from the app's record.
    pub money_mismatches: Vec<String>,
    /// Refunds at Stripe made twice for one command.
    pub duplicate_money_movements: usize,
    /// How long the commands took to send and answer while things went wrong.
    pub chaos: Duration,
    /// How long the reconciler took, after the faults stopped, until every command had its answer.
    pub settling: Duration,
}

impl Report {
    /// Whether the run found nothing wrong.
    pub fn passed(&self) -> bool {
        self.unanswered.is_empty()
            && self.published_twice == 0
            && self.money_mismatches.is_empty()
            && self.duplicate_money_movements == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = [
            ("shops / orders", format!("{} / {}", self.tenants, self.orders)),
            (
                "commands sent (SQS deliveries)",
                format!("{} ({})", self.commands, self.deliveries),
            ),
            ("answers received", self.answered.to_string()),
            ("attempts without an answer", self.unanswered.len().to_string()),
            ("Stripe faults injected", self.psp_faults.to_string()),
            (
                "webhooks delivered (not acknowledged)",
                format!("{} ({})", self.webhooks, self.webhooks_refused),
            ),
            ("function processes killed", self.kills.to_string()),
            (
                "money at Stripe: captured / refunded (cents)",
                format!("{} / {}", self.psp_captured, self.psp_refunded),
            ),
            ("orders whose money differs", self.money_mismatches.len().to_string()),
            ("duplicate money movements", self.duplicate_money_movements.to_string()),
            (
                "events published twice under different ids",
                self.published_twice.to_string(),
            ),
            ("chaos phase", format!("{:.0} s", self.chaos.as_secs_f64())),
            (
                "reconciler settled the rest in",
                format!("{:.0} s", self.settling.as_secs_f64()),
            ),
        ];
        for (what, value) in rows {
            writeln!(f, "{what:<48} {value}")?;
        }
        for problem in self.unanswered.iter().chain(&self.money_mismatches).take(20) {
            writeln!(f, "  {problem}")?;
        }
        Ok(())
    }
}

/// Runs the chaos against the stack of `stack`, whose functions reach Stripe at `127.0.0.1:proxy_port`.
pub async fn run(stack: &StackInfo, proxy_port: u16, scale: Scale, seed: u64) -> Report {
    let proxy = FaultProxy::start_on(proxy_port, &stack.stripe_base_url).await;
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let answer_names = ["CapturePayment", "CancelPayment", "RefundPayment"]
        .map(answers_to)
        .concat();
    let (rule, watch) = stack.watch_messages(&aws, &answer_names).await;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut report = Report {
        tenants: scale.tenants,
        orders: scale.orders,
        ..Report::default()
    };

    // Shops and their authorized orders, before anything goes wrong.
    let setup = Instant::now();
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let tenants: Vec<String> = (0..scale.tenants).map(|i| format!("chaos-{run_id}-shop-{i}")).collect();
    for tenant in &tenants {
        configure_tenant(stack, tenant).await;
    }
    let orders: Vec<Order> = (0..scale.orders)
        .map(|i| Order {
            tenant: tenants[i % tenants.len()].clone(),
            reference: format!("CH-{run_id}-{i}"),
            items: (1..=3).map(|item| (item, i64::from(rng.u16(5..60)) * 100)).collect(),
        })
        .collect();
    let intents: Vec<String> = futures::stream::iter(&orders)
        .map(|order| authorized(stack, &aws, order))
        .buffered(SETUP_CONCURRENCY)
        .collect()
        .await;
    println!(
        "{} shops, {} orders authorized in {:.0} s",
        tenants.len(),
        orders.len(),
        setup.elapsed().as_secs_f64()
    );

    // The scripts.
    let per_order = scale.commands.div_ceil(scale.orders.max(1));
    let scripts: Vec<Vec<Command>> = orders
        .iter()
        .map(|order| {
            let mut commands = script(order, &mut rng);
            commands.truncate(per_order.max(1));
            commands
        })
        .collect();

    // The watch on the bus.
    let answers = Arc::new(Answers::default());
    // Message by message as they come (the bus never goes quiet while the run goes on), by a few
    // readers at once.
    let collectors: Vec<_> = (0..4)
        .map(|_| {
            let (answers, sqs, watch) = (Arc::clone(&answers), sqs.clone(), watch.clone());
            tokio::spawn(async move {
                loop {
                    for body in take_bodies(&sqs, &watch).await {
                        answers.record(&BusMessage::parse(&body));
                    }
                }
            })
        })
        .collect();

    // Chaos.
    proxy.random_faults(PSP_FAULT_RATE, LATE_ANSWER, seed);
    let kills = Arc::new(Mutex::new(0_usize));
    let killer = tokio::spawn(kill_functions_at_random(Arc::clone(&kills), seed));
    let webhook_stats = Arc::new(Mutex::new((0_usize, 0_usize)));
    let stale_events = {
        let targets: Vec<(String, String)> = orders.iter().map(|o| o.tenant.clone()).zip(intents.clone()).collect();
        tokio::spawn(webhooks_at_random(
            stack.clone(),
            targets,
            Arc::clone(&webhook_stats),
            seed,
        ))
    };
    let started = Instant::now();
    let deliveries: Vec<usize> = futures::stream::iter(orders.iter().zip(&scripts))
        .map(|(order, commands)| run_script(stack, &sqs, order, commands, &answers))
        .buffer_unordered(CONCURRENT_ORDERS)
        .collect()
        .await;
    report.deliveries = deliveries.iter().sum();
    report.chaos = started.elapsed();
    killer.abort();
    stale_events.abort();
    report.psp_faults = proxy.random_faults_injected();
    proxy.random_faults(0.0, LATE_ANSWER, seed);
    report.kills = *kills.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (webhooks, refused) = *webhook_stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    (report.webhooks, report.webhooks_refused) = (webhooks, refused);
    println!(
        "chaos phase over after {:.0} s: the reconciler settles the rest",
        report.chaos.as_secs_f64()
    );

    // Settling: every command gets its answer (the reconciler runs every minute).
    let commands: Vec<&Command> = scripts.iter().flatten().collect();
    report.commands = commands.len();
    let settling = Instant::now();
    // A command holds its payment until it is answered: the commands queued behind one whose worker
    // was killed wait for its lease to pass, then the next of them runs it first; the queues' 15
    // receives of 2 s outlast that lease. What reaches a dead-letter queue waits for the reconciler.
    let deadline = settling
        + Duration::from_secs(if scale.commands > Scale::CI.commands {
            1_800
        } else {
            900
        });
    let mut told = Instant::now();
    loop {
        let missing: Vec<&&Command> = commands.iter().filter(|c| answers.of(c).is_empty()).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        if told.elapsed() > Duration::from_secs(30) {
            told = Instant::now();
            let some: Vec<String> = missing
                .iter()
                .take(3)
                .map(|c| format!("{} {} ({})", c.name, c.payload["orderReference"], c.message_id))
                .collect();
            println!("{} commands still unanswered, e.g. {}", missing.len(), some.join(", "));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    report.settling = settling.elapsed();
    // Anything published late would show here as a second id.
    tokio::time::sleep(Duration::from_secs(5)).await;
    collectors.iter().for_each(|c| c.abort());
    stack.unwatch_bus(&aws, &rule).await;
    for command in &commands {
        let ids = answers.of(command);
        match ids.len() {
            0 => report.unanswered.push(format!(
                "no answer to {} {} ({})",
                command.name, command.payload["orderReference"], command.message_id
            )),
            n => {
                report.answered += 1;
                report.published_twice += n - 1;
            }
        }
    }
    check_money(stack, &aws, &orders, &intents, &mut report).await;
    report
}

/// Initializes `order` through the stack's HTTP API, lets the shopper pay it at localstripe and reports
/// the authorization by the signed webhook. Returns its PaymentIntent.
async fn authorized(stack: &StackInfo, aws: &aws_config::SdkConfig, order: &Order) -> String {
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|(id, amount)| {
            json!({"idSalesOrderItem": id, "sku": format!("SKU-{id}"), "quantity": 1,
                                   "unitPrice": amount, "sumPriceToPayAggregation": amount})
        })
        .collect();
    let body = json!({"orderData": {"orderReference": order.reference, "currencyCode": "EUR",
                                    "grandTotal": order.total(), "paymentMethodName": "Credit Card",
                                    "items": items}});
    // The stack's HTTP functions run one request at a time, as one Lambda instance would: behind a long
    // queue a request can outwait its timeout (500), and the shopper's checkout tries again, as here.
    let route = "/private/initialize-payment";
    for attempt in 1..=INITIALIZE_ATTEMPTS {
        let (status, answer) = stack
            .call_private(route, &order.tenant, Some(stack.bearer_token()), &body)
            .await;
        match status {
            200 => break,
            500..=599 if attempt < INITIALIZE_ATTEMPTS => continue,
            _ => panic!("initialize-payment of {}: {status} {answer}", order.reference),
        }
    }
    stack
        .pay_and_report_authorization(aws, &order.tenant, &order.reference)
        .await
}

/// Sends an order's commands one by one, each once answered (or after [`ANSWER_PATIENCE`]). Returns the
/// SQS deliveries made.
async fn run_script(
    stack: &StackInfo,
    sqs: &aws_sdk_sqs::Client,
    order: &Order,
    commands: &[Command],
    answers: &Answers,
) -> usize {
    let mut deliveries = 0;
    for command in commands {
        let times = if command.twice { 2 } else { 1 };
        for _ in 0..times {
            send_identified(
                sqs,
                stack.queue(command.name),
                command.name,
                &order.tenant,
                &command.payload,
                Some(&command.message_id),
                &command.correlation_id,
            )
            .await;
            deliveries += 1;
        }
        let waited = Instant::now();
        while answers.of(command).is_empty() && waited.elapsed() < ANSWER_PATIENCE {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    deliveries
}

/// The processes of this workspace's `app` binary (beside this program's own) serving `function`.
fn function_pids(function: &str) -> Vec<u32> {
    let Some(app) = std::env::current_exe().ok().and_then(|e| Some(e.parent()?.join("app"))) else {
        return Vec::new();
    };
    let wanted = format!("APP_FUNCTION={function}");
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    processes
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == app))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()))
        })
        .collect()
}

/// Kills a running function process every few seconds (`kill -9`), counting the kills.
async fn kill_functions_at_random(kills: Arc<Mutex<usize>>, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x6b69_6c6c);
    loop {
        tokio::time::sleep(Duration::from_millis(rng.u64(3_000..9_000))).await;
        let function = KILLABLE[rng.usize(..KILLABLE.len())];
        let pids = function_pids(function);
        let Some(pid) = (!pids.is_empty()).then(|| pids[rng.usize(..pids.len())].to_string()) else {
            continue;
        };
        let killed = tokio::process::Command::new("kill").args(["-9", &pid]).status().await;
        if killed.is_ok_and(|s| s.success()) {
            *kills.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        }
    }
}

/// Delivers signed Stripe events about random orders (`(tenant, PaymentIntent)`) on random routes: the
/// PaymentIntent's current state, the app's refunds and the charge's refunded total, and, as often,
/// an event built earlier (stale by now, out of order). Counts `(delivered, not acknowledged)`.
async fn webhooks_at_random(
    stack: StackInfo,
    targets: Vec<(String, String)>,
    stats: Arc<Mutex<(usize, usize)>>,
    seed: u64,
) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x7765_6268);
    let mut built: Vec<(String, String)> = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(rng.u64(50..250))).await;
        let (tenant, event) = if !built.is_empty() && rng.bool() {
            built[rng.usize(..built.len())].clone()
        } else {
            let (tenant, intent) = &targets[rng.usize(..targets.len())];
            let Some(event) = current_event(&stack, intent, &mut rng).await else {
                continue;
            };
            built.push((tenant.clone(), event.clone()));
            (tenant.clone(), event)
        };
        let route = if rng.bool() { "payment-intents" } else { "refunds" };
        let status = stack.deliver_signed(&tenant, route, &event).await;
        let mut counts = stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.0 += 1;
        if status != 200 {
            counts.1 += 1;
        }
    }
}

/// A Stripe event about `intent` as localstripe has it now: its state, one of its refunds, or its
/// charge's refunded total.
async fn current_event(stack: &StackInfo, intent: &str, rng: &mut fastrand::Rng) -> Option<String> {
    let refunds = refunds_of(stack, intent).await;
    let event = |event_type: &str, object: Value| {
        let created = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({"id": format!("evt_chaos_{}", uuid::Uuid::new_v4().simple()), "object": "event",
               "type": event_type, "created": created, "api_version": "2024-10-28.acacia",
               "data": {"object": object}})
        .to_string()
    };
    match rng.u8(0..3) {
        0 if !refunds.is_empty() => {
            let refund = refunds[rng.usize(..refunds.len())].clone();
            Some(event("charge.refund.updated", refund))
        }
        1 if !refunds.is_empty() => {
            let total: i64 = refunds
                .iter()
                .filter(|r| r["status"] == "succeeded")
                .filter_map(|r| r["amount"].as_i64())
                .sum();
            let charge = json!({"id": format!("ch_of_{intent}"), "object": "charge", "amount_refunded": total,
                                "currency": "eur", "payment_intent": intent, "metadata": {}});
            Some(event("charge.refunded", charge))
        }
        _ => {
            let object = stack.stripe_intent(intent).await;
            let event_type = match object["status"].as_str()? {
                "requires_capture" => "payment_intent.amount_capturable_updated",
                "succeeded" => "payment_intent.succeeded",
                "canceled" => "payment_intent.canceled",
                _ => return None,
            };
            Some(event(event_type, object))
        }
    }
}

/// The refunds of `intent` at localstripe.
async fn refunds_of(stack: &StackInfo, intent: &str) -> Vec<Value> {
    let answer = reqwest::Client::new()
        .get(format!(
            "{}/v1/refunds?payment_intent={intent}&limit=100",
            stack.stripe_base_url
        ))
        .bearer_auth(LOCALSTRIPE_API_KEY)
        .send()
        .await;
    let Ok(answer) = answer else {
        return Vec::new();
    };
    let list: Value = answer.json().await.unwrap_or_default();
    list["data"].as_array().cloned().unwrap_or_default()
}

/// Compares, per order, what Stripe captured and refunded with what the app recorded, and counts refunds
/// Stripe made twice for one of the app's keys.
async fn check_money(
    stack: &StackInfo,
    aws: &aws_config::SdkConfig,
    orders: &[Order],
    intents: &[String],
    report: &mut Report,
) {
    let store = stack.store(aws);
    let (gateway, _) = stack.stripe();
    for (order, intent) in orders.iter().zip(intents) {
        let psp = gateway
            .get_payment(&order.tenant, intent)
            .await
            .unwrap_or_else(|e| panic!("reading {intent} at localstripe: {e}"));
        let refunds = refunds_of(stack, intent).await;
        let refunded: i64 = refunds
            .iter()
            .filter(|r| r["status"] == "succeeded" || r["status"] == "pending")
            .filter_map(|r| r["amount"].as_i64())
            .sum();
        let mut keys = BTreeMap::<String, usize>::new();
        for refund in &refunds {
            let key = ["refundId", "cancelId"]
                .iter()
                .find_map(|k| refund["metadata"][k].as_str())
                .unwrap_or("none");
            *keys.entry(key.to_string()).or_default() += 1;
        }
        report.duplicate_money_movements += keys.values().map(|n| n - 1).sum::<usize>();
        report.psp_captured += psp.amount_captured;
        report.psp_refunded += refunded;
        let app = store
            .find_payment_by_order(&order.tenant, &order.reference)
            .await
            .unwrap_or_else(|e| panic!("reading {}: {e}", order.reference))
            .unwrap_or_else(|| panic!("no payment for {}", order.reference));
        let recorded = (app.captured, app.refunded + app.refunding);
        if recorded != (psp.amount_captured, refunded) {
            report.money_mismatches.push(format!(
                "{} {}: Stripe captured {} refunded {}, the app recorded captured {} refunded {}",
                order.tenant, order.reference, psp.amount_captured, refunded, recorded.0, recorded.1
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        Order {
            tenant: "t".into(),
            reference: "CH-1".into(),
            items: vec![(1, 1_000), (2, 2_000), (3, 3_000)],
        }
    }

    #[test]
    fn every_shape_sends_five_commands_of_the_order_each_a_message_of_its_own() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut shapes = BTreeSet::new();
        let mut twice = 0;
        for _ in 0..400 {
            let commands = script(&order(), &mut rng);
            assert_eq!(commands.len(), 5);
            let ids: BTreeSet<&str> = commands.iter().map(|c| c.message_id.as_str()).collect();
            assert_eq!(ids.len(), 5, "a repeat is a new message");
            for c in &commands {
                assert_eq!(c.payload["orderReference"], "CH-1");
                let amount = c.payload["amount"].as_i64().unwrap();
                match c.name {
                    "RefundPayment" => assert!(amount < 0),
                    "CancelPayment" => assert_eq!(amount, 0),
                    _ => assert!(amount > 0),
                }
                twice += usize::from(c.twice);
            }
            shapes.insert(commands.iter().map(|c| c.name).collect::<Vec<_>>().join(","));
        }
        assert!(shapes.len() >= 4, "{shapes:?}");
        assert!((40..=160).contains(&twice), "about 5% delivered twice: {twice}");
    }
}
