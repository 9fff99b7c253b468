//! `alarmctl`: the reconciler from a terminal, built from the same code as the Lambda.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use handler::app::{handle_event, now, HandleError};
use handler::aws::{self, AwsPorts, NoContinuation};
use handler::config::Config;
use handler::explain::explain;
use handler::ports::ApiCalls;
use handler::reconcile::{Reconciler, RunOptions};
use handler::render;
use reconciler_core::InstanceId;

/// Keeps per-instance CloudWatch disk alarms true to the EC2 fleet.
///
/// Configuration comes from the same environment variables as the Lambda
/// function (see docs/configuration.md), AWS settings from the standard chain
/// (AWS_REGION, AWS_ENDPOINT_URL, credentials).
#[derive(Parser)]
#[command(name = "alarmctl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Process one EventBridge event exactly as the Lambda function does and
    /// print the JSON report.
    Handle {
        /// File with the event, or - for standard input.
        file: String,
        /// Plan only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Reconcile every instance and every owned alarm.
    Sweep {
        /// Print the plan; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the JSON report instead of the readable plan.
        #[arg(long)]
        json: bool,
        /// Also read the tags of every owned alarm it keeps and add the missing
        /// ones: one ListTagsForResource call per alarm, paced (see docs/operations.md).
        #[arg(long)]
        retag: bool,
    },
    /// The same as `sweep --dry-run`.
    Plan {
        #[arg(long)]
        json: bool,
    },
    /// Why an instance has (or lacks) its alarms: facts, scope, desired, actual, diff.
    Explain {
        instance_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Coverage across accounts and Regions, each judged by its own
    /// reconciler's configuration; read-only. Exit status 1 when a row could
    /// not be read, an instance is unprotected, a sweep would change
    /// something, or the Regions run different builds.
    Fleet(handler::fleet::FleetArgs),
}

/// Exit codes: 0 done, 1 work left undone (retry), 2 invalid input or configuration.
const EXIT_INCOMPLETE: u8 = 1;
const EXIT_INVALID: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    // Each row is judged by its own function's configuration, not this environment's.
    let command = match cli.command {
        Command::Fleet(args) => return ExitCode::from(handler::fleet::run(args).await),
        command => command,
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("alarmctl: configuration: {error}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let calls = ApiCalls::with_limits(&config.rate_limits);
    let (AwsPorts { ec2, cloudwatch }, _) = aws::load(calls.clone()).await;
    let reconciler = Reconciler::new(config, ec2, cloudwatch.clone(), cloudwatch, calls);
    match command {
        Command::Handle { file, dry_run } => handle(&reconciler, &file, dry_run).await,
        Command::Sweep { dry_run, json, retag } => sweep(&reconciler, dry_run, json, retag).await,
        Command::Plan { json } => sweep(&reconciler, true, json, false).await,
        Command::Explain { instance_id, json } => {
            let Ok(id) = InstanceId::parse(&instance_id).inspect_err(|e| eprintln!("alarmctl: {e}")) else {
                return ExitCode::from(EXIT_INVALID);
            };
            let explanation = explain(&reconciler.config, &reconciler.observer, &id, now()).await;
            match explanation {
                Ok(explanation) if json => {
                    println!("{}", serde_json::to_string_pretty(&explanation).unwrap_or_default())
                }
                Ok(explanation) => print!("{}", render::render_explanation(&explanation)),
                Err(error) => {
                    eprintln!("alarmctl: {error}");
                    return ExitCode::from(EXIT_INCOMPLETE);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Fleet(_) => unreachable!("handled before the configuration is read"),
    }
}

async fn handle<I, R, W>(reconciler: &Reconciler<I, R, W>, file: &str, dry_run: bool) -> ExitCode
where
    I: handler::ports::Inventory,
    R: handler::ports::CloudWatchReads,
    W: handler::ports::CloudWatchWrites,
{
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(file).map(|b| bytes = b)
    };
    if let Err(error) = read {
        eprintln!("alarmctl: cannot read {file}: {error}");
        return ExitCode::from(EXIT_INVALID);
    }
    let event = match serde_json::from_slice(&bytes) {
        Ok(event) => event,
        Err(error) => {
            eprintln!(
                "alarmctl: {}",
                HandleError::Rejected(handler::event::EventError::Json(error.to_string()))
            );
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let options = RunOptions { dry_run, ..RunOptions::new(now()) };
    match handle_event(reconciler, &NoContinuation, event, options).await {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(HandleError::Rejected(error)) => {
            eprintln!("alarmctl: rejected event: {error}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(HandleError::Incomplete(report)) => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            eprintln!("alarmctl: reconcile incomplete: {}", report.failure_summary());
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
}

async fn sweep<I, R, W>(reconciler: &Reconciler<I, R, W>, dry_run: bool, json: bool, retag: bool) -> ExitCode
where
    I: handler::ports::Inventory,
    R: handler::ports::CloudWatchReads,
    W: handler::ports::CloudWatchWrites,
{
    // Large accounts take minutes at CloudWatch's write quota: show progress on a terminal.
    let progress = !dry_run && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let options = RunOptions { dry_run, progress, retag, ..RunOptions::new(now()) };
    let report = reconciler.handle(handler::event::Trigger::Sweep { generation: 0 }, options).await;
    if progress {
        eprintln!();
    }
    handler::app::log_summary(&report);
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", render::render_report(&report));
    }
    if report.failed() {
        eprintln!("alarmctl: sweep incomplete: {}", report.failure_summary());
        return ExitCode::from(EXIT_INCOMPLETE);
    }
    ExitCode::SUCCESS
}
