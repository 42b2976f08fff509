//! The benchmark driver (issue 15, `integration_tests::bench`) against a running local stack; the table
//! script `infra/bench/run` brings the stack up, builds the release binaries and runs this. Writes the
//! figures as JSON to `--out`.
//!
//! Usage: `bench --app PATH --bare PATH --out FILE [--starts N] [--commands N] [--rate PER_S] [stack.json]`
//!
//! The latency's rate stays below what the local stack serves (about 4 captures a second on 2 cores): above
//! it the queue grows and the figure measures the backlog, not the latency.

use integration_tests::bench::{Bench, Binaries, Figures, bare_peak_rss, cold_start, function_environment};
use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut app, mut bare, mut out, mut stack_json) = (None, None, None, PathBuf::from(".local/stack.json"));
    let (mut starts, mut commands, mut rate) = (20_usize, 500_usize, 2.0_f64);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--app" => app = args.next().map(PathBuf::from),
            "--bare" => bare = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--starts" => starts = args.next().and_then(|s| s.parse().ok()).unwrap_or(starts),
            "--commands" => commands = args.next().and_then(|s| s.parse().ok()).unwrap_or(commands),
            "--rate" => rate = args.next().and_then(|s| s.parse().ok()).unwrap_or(rate),
            path => stack_json = PathBuf::from(path),
        }
    }
    let (Some(app), Some(bare), Some(out)) = (app, bare, out) else {
        eprintln!(
            "usage: bench --app PATH --bare PATH --out FILE [--starts N] [--commands N] [--rate PER_S] [stack.json]"
        );
        return ExitCode::from(2);
    };
    let binaries = Binaries { app, bare };
    let mut figures = Figures::default();

    eprintln!("cold starts ({starts} each): the bare runtime, then every function");
    let bare = cold_start(&binaries.bare, &Default::default(), starts).await;
    eprintln!("  bare: {bare:.2} ms");
    figures.cold_start_ms.insert("bare".into(), bare);
    let env_dir = stack_json.parent().unwrap_or(std::path::Path::new(".")).join("env");
    let mut functions: Vec<String> = std::fs::read_dir(&env_dir)
        .unwrap_or_else(|e| panic!("{}: {e} (is the stack up?)", env_dir.display()))
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".env").map(str::to_string))
        .collect();
    functions.sort();
    for id in functions {
        let env = function_environment(&stack_json, &id);
        let name = env.get("APP_FUNCTION").cloned().unwrap_or(id);
        let median = cold_start(&binaries.app, &env, starts).await;
        eprintln!("  {name}: {median:.2} ms");
        figures.cold_start_ms.insert(name, median);
    }
    figures.bare_peak_rss_mib = bare_peak_rss(&binaries.bare).await;

    eprintln!("capture-payment under the fake Runtime API: first, warm, 10-record batch, Stripe 100 ms late");
    let bench = Bench::new(&stack_json).await;
    bench.captures(&binaries.app, &mut figures).await;
    eprintln!("end-to-end latency through the stack: {commands} captures at {rate}/s");
    bench.latency(commands, rate, &mut figures).await;

    let text = serde_json::to_string_pretty(&figures).expect("figures as JSON");
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("{}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
