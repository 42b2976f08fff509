//! The chaos run (issue 12 §5, `integration_tests::chaos`) against a running local stack whose
//! functions reach Stripe through the fault proxy this program starts on `--proxy-port`
//! (`infra/local/chaos` brings such a stack up and runs this). Prints the figures and exits non-zero
//! when a command went unanswered, money differs, moved twice, or an answer went out under two ids.
//!
//! Usage: `chaos --proxy-port PORT [--long] [--seed N] [path/to/.local/stack.json]`

use integration_tests::chaos::{Scale, run};
use integration_tests::local_stack::StackInfo;
use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut scale, mut seed, mut port, mut stack_json) = (Scale::CI, 12_u64, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--long" => scale = Scale::LONG,
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(seed),
            "--proxy-port" => port = args.next().and_then(|p| p.parse::<u16>().ok()),
            path => stack_json = Some(PathBuf::from(path)),
        }
    }
    let Some(port) = port else {
        eprintln!("usage: chaos --proxy-port PORT [--long] [--seed N] [stack.json]");
        return ExitCode::from(2);
    };
    let path = stack_json.unwrap_or_else(|| PathBuf::from(".local/stack.json"));
    let stack = match StackInfo::read(&path) {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("the local stack is not up ({e}): infra/local/chaos starts it");
            return ExitCode::from(2);
        }
    };
    println!(
        "chaos run: {} commands, {} shops, {} orders, seed {seed}",
        scale.commands, scale.tenants, scale.orders
    );
    let report = run(&stack, port, scale, seed).await;
    println!("{report}");
    if report.passed() {
        println!("chaos run passed");
        ExitCode::SUCCESS
    } else {
        println!("chaos run FAILED");
        ExitCode::FAILURE
    }
}
