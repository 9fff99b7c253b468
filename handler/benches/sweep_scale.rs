//! Scale benchmark: full sweeps of a simulated 10 000-instance account, and
//! what discovering the published disk series (`ListMetrics`) costs per
//! sweep, per event and per follow-up pass.
//!
//! Runs on a paused tokio clock, so API pacing, AWS's quotas, the SDK's retry
//! back-off and the Lambda deadline cost simulated time, not real time.
//! `cargo bench -p handler --bench sweep_scale`; BENCHMARKS.md explains the
//! model and the figures. Exits non-zero when an account does not end up
//! holding exactly the desired alarms, a change was lost, or a run made
//! a call of an operation the tables do not list.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use handler::app::{handle_event, HandleError};
use handler::config::Config;
use handler::event::continuation_event;
use handler::fake::FakeCloud;
use handler::observe::FOLLOW_UP_PER_INSTANCE_LISTINGS;
use handler::ports::MetricCatalogue;
use handler::ports::{default_rate_limits, Continuation, PortError, RateLimits, MAX_GROUP_LOOKUP_BATCH};
use handler::reconcile::{Reconciler, RunOptions};
use reconciler_core::{
    desired_alarms, AlarmConfig, Desire, Dimension, InstanceFacts, InstanceId, InstanceState, MetricSeries,
    Platform, Subject, UnixTime,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;

const INSTANCES: u64 = 10_000;
/// The scheduled sweep's time (events/scheduled-sweep.json): 2026-11-21T03:17:00Z.
const NOW: i64 = 1_795_749_420;
/// The function's timeout (template.yaml); Lambda ends the invocation there.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);
/// Lambda retries a failed asynchronous invocation twice (template.yaml:
/// `MaximumRetryAttempts: 2`), about one and two minutes later.
const ASYNC_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
/// Page sizes of DescribeInstances, DescribeAlarms and ListMetrics, and DeleteAlarms' batch.
const INSTANCE_PAGE: u64 = 1000;
const ALARM_PAGE: u64 = 100;
const METRIC_PAGE: u64 = 500;
const DELETE_BATCH: u64 = 100;
/// Instance ids per `DescribeAutoScalingInstances` call, group names per
/// `DescribeAutoScalingGroups` call.
const GROUP_LOOKUP_BATCH: u64 = MAX_GROUP_LOOKUP_BATCH as u64;
/// Every operation a sweep, an event or a follow-up pass calls, in the
/// tables' order. A call of any other operation makes the benchmark fail
/// rather than leave it out of the tables.
const OPERATIONS: [&str; 8] = [
    "DescribeInstances",
    "DescribeAlarms",
    "ListMetrics",
    "PutMetricAlarm",
    "DeleteAlarms",
    "DescribeAutoScalingInstances",
    "DescribeAutoScalingGroups",
    "ListAlarmMuteRules",
];

/// `ListMetrics`' place in `OPERATIONS`.
const LIST_METRICS: usize = 2;

/// AWS's quotas, one for each of `OPERATIONS`: CloudWatch's defaults
/// (ListMetrics 25 a second among them), and EC2's describe bucket, which
/// refills at 20 calls a second. Assumed, not published defaults: the Auto
/// Scaling describe calls at 20 a second, and ListAlarmMuteRules at 9, like
/// DescribeAlarms. The function paces none of these four itself, so beyond a
/// bucket's burst the account throttles them.
fn server_quotas() -> RateLimits {
    let mut quotas = default_rate_limits();
    quotas.insert("ListMetrics", LIST_METRICS_QUOTA);
    quotas.insert("DescribeInstances", 20.0);
    quotas.insert("DescribeAutoScalingInstances", 20.0);
    quotas.insert("DescribeAutoScalingGroups", 20.0);
    quotas.insert("ListAlarmMuteRules", 9.0);
    quotas
}

/// CloudWatch's default quota for ListMetrics, calls per second.
const LIST_METRICS_QUOTA: f64 = 25.0;

/// The metric the default (`cwagent`) profile watches.
const NAMESPACE: &str = "CWAgent";
const METRIC: &str = "disk_used_percent";

/// The filesystems the CloudWatch agent reports on an instance: path, device, type.
type Filesystem = (&'static str, &'static str, &'static str);
const ROOT: Filesystem = ("/", "nvme0n1p1", "xfs");
const DATA: Filesystem = ("/data", "nvme1n1", "ext4");
/// Filtered out (tmpfs, and a path under /run): gets no alarms.
const RUN: Filesystem = ("/run", "tmpfs", "tmpfs");
/// The Windows agent's metric; its series are drives, `_Total` filtered out.
const WINDOWS_METRIC: &str = "LogicalDisk % Free Space";

/// What an instance publishes (series with data in the last three hours).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Agent {
    /// Nothing: no agent, or not running.
    Silent,
    /// `/` and `/run`.
    Root,
    /// `/`, `/data` and `/run`.
    RootAndData,
}

impl Agent {
    /// What the agent publishes on Windows: the same shapes as drives.
    fn volumes(self) -> &'static [&'static str] {
        match self {
            Agent::Silent => &[],
            Agent::Root => &["C:", "_Total"],
            Agent::RootAndData => &["C:", "D:", "_Total"],
        }
    }

    fn filesystems(self) -> &'static [Filesystem] {
        match self {
            Agent::Silent => &[],
            Agent::Root => &[ROOT, RUN],
            Agent::RootAndData => &[ROOT, DATA, RUN],
        }
    }

    /// The series that pass the default filter: one alarm pair each.
    fn watched(self) -> u64 {
        match self {
            Agent::Silent => 0,
            Agent::Root => 1,
            Agent::RootAndData => 2,
        }
    }
}

/// Which instances publish what: the main fleet's [`agent`], or a follow-up
/// pass's fleet.
type Fleet<'a> = &'a dyn Fn(u64) -> Agent;

#[derive(Clone, Copy, PartialEq)]
enum Drift {
    /// Every alarm already as desired.
    None,
    /// No alarm exists yet.
    AllMissing,
    /// Every tenth owned alarm had its threshold changed by hand.
    HandEdited,
    /// Owned alarms of instances that no longer exist, 10 % of the desired count.
    Orphans,
}

#[derive(Clone, Copy, PartialEq)]
enum Runner {
    /// Scheduled event → `handle_event` → follow-up invocations, each with a
    /// 15-minute timeout and the configured deadline margin.
    Lambda,
    /// One run without deadline or timeout, as `alarmctl sweep` does it.
    Unbounded,
}

struct Scenario {
    name: &'static str,
    drift: Drift,
    runner: Runner,
    /// `FILL_FORECAST_HOURS=24`: every watched series also has its forecast alarm.
    forecasts: bool,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario { name: "(a) steady state", drift: Drift::None, runner: Runner::Lambda, forecasts: false },
    Scenario {
        name: "(b) heavy drift: all missing",
        drift: Drift::AllMissing,
        runner: Runner::Lambda,
        forecasts: false,
    },
    Scenario {
        name: "(b′) all missing, one run without deadline (reference)",
        drift: Drift::AllMissing,
        runner: Runner::Unbounded,
        forecasts: false,
    },
    Scenario {
        name: "(c) 10 % hand-edited",
        drift: Drift::HandEdited,
        runner: Runner::Lambda,
        forecasts: false,
    },
    Scenario { name: "(d) 10 % orphans", drift: Drift::Orphans, runner: Runner::Lambda, forecasts: false },
    Scenario {
        name: "(e) steady state, forecast alarms on",
        drift: Drift::None,
        runner: Runner::Lambda,
        forecasts: true,
    },
];

fn main() -> ExitCode {
    assert_eq!(OPERATIONS[LIST_METRICS], "ListMetrics");
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--discovery") {
        return discovery_process();
    }
    match args.iter().position(|arg| arg == "--scenario") {
        Some(at) => scenario_process(args.get(at + 1).and_then(|i| i.parse().ok()).expect("scenario number")),
        None => compare(),
    }
}

/// How a scenario's process hands its figures to the one that compares them.
const OUTCOME_LINE: &str = "OUTCOME ";
/// How the discovery process hands its figures over.
const PROBES_LINE: &str = "PROBES ";

/// Real time a scenario's or the probes' process may take; they need seconds.
/// A simulated clock that stops advancing (a task that waits zero time in a
/// loop never lets it move) would otherwise hang the benchmark.
const WATCHDOG: Duration = Duration::from_secs(300);

/// Ends the process with status 2 if it is still running after [`WATCHDOG`].
fn start_watchdog(what: String) {
    std::thread::spawn(move || {
        std::thread::sleep(WATCHDOG);
        eprintln!(
            "{what}: not finished after {} s of real time; the simulated clock has probably stopped advancing",
            WATCHDOG.as_secs()
        );
        std::process::exit(2);
    });
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime")
}

/// Each scenario runs in a process of its own, so that its memory figures
/// are not inflated or masked by what an earlier scenario left behind.
fn scenario_process(index: usize) -> ExitCode {
    let baseline_kb = status_kb("VmRSS");
    start_watchdog(format!("scenario {}", SCENARIOS[index].name));
    let outcome = paused_runtime().block_on(run(&SCENARIOS[index], baseline_kb));
    println!("{OUTCOME_LINE}{}", serde_json::to_string(&outcome).expect("outcome as JSON"));
    ExitCode::SUCCESS
}

/// The discovery probes run in a process of their own, after the scenarios.
fn discovery_process() -> ExitCode {
    start_watchdog("discovery probes".into());
    let probes = paused_runtime().block_on(discovery());
    println!("{PROBES_LINE}{}", serde_json::to_string(&probes).expect("probes as JSON"));
    ExitCode::SUCCESS
}

fn compare() -> ExitCode {
    let wall = std::time::Instant::now();
    let executable = std::env::current_exe().expect("the benchmark's own executable");
    let fleet = FleetSummary::of(&agent);
    println!(
        "Fleet: {} instances, a fifth of them Windows (drives C:, D: and _Total in place of /, /data and /run), \
         {} running in scope: {} publish / and /run, {} /, /data and /run, {} nothing \
         (provisional); {} series published in all (out-of-scope instances' included), {} desired alarms.",
        count(INSTANCES),
        count(fleet.in_scope),
        count(fleet.in_scope_root),
        count(fleet.in_scope_data),
        count(fleet.in_scope_silent),
        count(fleet.series()),
        count(fleet.desired_alarms),
    );
    println!();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for (index, scenario) in SCENARIOS.iter().enumerate() {
        let output = std::process::Command::new(&executable)
            .args(["--scenario", &index.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("scenario process");
        let mut outcome = None;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            match line.strip_prefix(OUTCOME_LINE) {
                Some(json) => outcome = Some(serde_json::from_str(json).expect("outcome from JSON")),
                None => println!("{line}"),
            }
        }
        match outcome {
            Some(outcome) if output.status.success() => outcomes.push(outcome),
            _ => {
                eprintln!("scenario {} did not finish: {}", scenario.name, output.status);
                return ExitCode::FAILURE;
            }
        }
    }
    let output = std::process::Command::new(&executable)
        .arg("--discovery")
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("discovery process");
    let mut probes: Option<Vec<Probe>> = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        match line.strip_prefix(PROBES_LINE) {
            Some(json) => probes = Some(serde_json::from_str(json).expect("probes from JSON")),
            None => println!("{line}"),
        }
    }
    let probes = match probes {
        Some(probes) if output.status.success() => probes,
        _ => {
            eprintln!("discovery probes did not finish: {}", output.status);
            return ExitCode::FAILURE;
        }
    };

    println!();
    println!("## Calls");
    println!();
    println!("| scenario | {} | calls | lower bound | calls ÷ bound |", OPERATIONS.join(" | "));
    println!("|---|{}", "---:|".repeat(OPERATIONS.len() + 3));
    for o in &outcomes {
        let per_op: Vec<String> = OPERATIONS.iter().map(|op| count(o.calls(op))).collect();
        println!(
            "| {} | {} | {} | {} ({}) | {:.3} |",
            o.name,
            per_op.join(" | "),
            count(o.total_calls()),
            count(o.lower_bound.iter().sum()),
            o.lower_bound.map(count).join(" + "),
            o.total_calls() as f64 / o.lower_bound.iter().sum::<u64>() as f64,
        );
    }
    println!();
    println!("## Time, throttling, invocations, verification");
    println!();
    println!(
        "| scenario | simulated time | quota-bound time | time ÷ bound | throttles retried / surfaced | invocations | changes needed (c/u/d) | writes | converged | real time |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|---|---:|");
    for o in &outcomes {
        println!(
            "| {} | {} | {} | {:.3} | {} / {} | {} | {} / {} / {} | {} | {} | {:.2} s |",
            o.name,
            seconds(o.simulated.as_secs_f64()),
            seconds(o.quota_bound()),
            o.simulated.as_secs_f64() / o.quota_bound(),
            o.retried,
            o.surfaced,
            o.invocations.describe(),
            count(o.needed.creates),
            count(o.needed.updates),
            count(o.needed.deletes),
            count(o.writes),
            o.verification.as_ref().map_or_else(|e| format!("**no**: {e}"), |()| "yes".into()),
            o.wall.as_secs_f64(),
        );
    }
    println!();
    println!("## Memory (one process per scenario)");
    println!();
    // What one alarm costs in the simulated account: scenarios (a) and (b)
    // start with the same instances, (a) with its alarms and (b) without.
    let (with_alarms, without) = (&outcomes[0], &outcomes[1]);
    let kb_per_alarm = with_alarms.rss_before_kb.saturating_sub(without.rss_before_kb) as f64
        / with_alarms.owned_before.max(1) as f64;
    println!(
        "The simulated account's {} alarms take {} ({:.2} kB each: RSS at the start of (a) minus (b)).",
        count(with_alarms.owned_before),
        megabytes(with_alarms.rss_before_kb.saturating_sub(without.rss_before_kb)),
        kb_per_alarm
    );
    println!();
    println!(
        "| scenario | process at start | RSS when the sweep starts (+ simulated account) | peak RSS (VmHWM) | VmHWM − RSS at the sweep's start | of which alarms added to the simulated account | the sweep's working set |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let working_set = |o: &Outcome| {
        let added = o.owned_after.saturating_sub(o.owned_before) as f64 * kb_per_alarm;
        (added as u64, o.sweep_peak_kb().saturating_sub(added as u64))
    };
    for o in &outcomes {
        let (added, working) = working_set(o);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            o.name,
            megabytes(o.baseline_kb),
            megabytes(o.rss_before_kb),
            megabytes(o.peak_rss_kb),
            megabytes(o.sweep_peak_kb()),
            megabytes(added),
            megabytes(working),
        );
    }

    print_discovery(&fleet, &outcomes, &probes);

    println!();
    println!("## Targets");
    println!();
    let steady = &outcomes[0];
    // The memory target is for the default configuration; the opt-in forecast
    // alarms add half as many alarms again and are reported beside it.
    let (with_forecasts, default_configuration): (Vec<_>, Vec<_>) =
        outcomes.iter().zip(&SCENARIOS).partition(|(_, scenario)| scenario.forecasts);
    let forecasts = with_forecasts[0].0;
    let process_peak = outcomes.iter().map(|o| o.peak_rss_kb).max().unwrap_or(0);
    let (heaviest, working) = default_configuration
        .iter()
        .map(|(o, _)| (o.name.as_str(), working_set(o).1))
        .max_by_key(|(_, kb)| *kb)
        .unwrap_or_default();
    let baseline_kb = outcomes.iter().map(|o| o.baseline_kb).max().unwrap_or(0);
    let surfaced: u64 = outcomes.iter().map(|o| o.surfaced).sum();
    let targets = [
        (
            "steady state: calls ≤ 1.05 × lower bound",
            steady.total_calls() as f64 <= 1.05 * steady.lower_bound.iter().sum::<u64>() as f64,
        ),
        (
            "steady state: simulated time ≤ 1.1 × quota-bound time",
            steady.simulated.as_secs_f64() <= 1.1 * steady.quota_bound(),
        ),
        ("steady state: zero writes", steady.writes == 0),
        (
            "steady state with forecast alarms: calls ≤ 1.05 × lower bound, zero writes",
            forecasts.total_calls() as f64 <= 1.05 * forecasts.lower_bound.iter().sum::<u64>() as f64
                && forecasts.writes == 0,
        ),
        ("no throttling error surfaced in any scenario", surfaced == 0),
    ];
    for (target, met) in targets {
        println!("- {target}: {}", if met { "met" } else { "**MISSED**" });
    }
    let without_account = baseline_kb + working;
    println!(
        "- peak memory of a 10 000-instance sweep < 64 MB: {} (process baseline {} + the largest working set, {heaviest}, {} = {}; \
         the benchmark process itself, simulated account included, peaks at {})",
        if without_account < 64 * 1024 { "met" } else { "**MISSED**" },
        megabytes(baseline_kb),
        megabytes(working),
        megabytes(without_account),
        megabytes(process_peak),
    );
    println!(
        "- with the opt-in forecast alarms ({}, {} alarms): process baseline {} + working set {} = {}, reported, no target",
        forecasts.name,
        count(forecasts.owned_before),
        megabytes(forecasts.baseline_kb),
        megabytes(working_set(forecasts).1),
        megabytes(forecasts.baseline_kb + working_set(forecasts).1),
    );
    println!();
    println!("Benchmark real (wall-clock) time: {:.2} s", wall.elapsed().as_secs_f64());

    let uncounted: BTreeSet<&str> = outcomes
        .iter()
        .flat_map(|o| o.calls.keys())
        .chain(probes.iter().flat_map(|p| p.calls.keys()))
        .map(String::as_str)
        .filter(|op| !OPERATIONS.contains(op))
        .collect();
    let failed: Vec<(&str, &String)> = outcomes
        .iter()
        .filter_map(|o| Some((o.name.as_str(), o.verification.as_ref().err()?)))
        .chain(probes.iter().filter_map(|p| Some((p.name.as_str(), p.verification.as_ref().err()?))))
        .collect();
    if failed.is_empty() && uncounted.is_empty() {
        println!("Verification: every account holds exactly the desired alarms; no change was lost.");
        ExitCode::SUCCESS
    } else {
        for (name, error) in failed {
            eprintln!("VERIFICATION FAILED for {name}: {error}");
        }
        if !uncounted.is_empty() {
            let uncounted: Vec<&str> = uncounted.into_iter().collect();
            eprintln!("CALLS NOT IN THE TABLES (add them to OPERATIONS): {}", uncounted.join(", "));
        }
        ExitCode::FAILURE
    }
}

#[derive(Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Changes {
    creates: u64,
    updates: u64,
    deletes: u64,
}

impl Changes {
    fn writes(self) -> u64 {
        self.creates + self.updates + self.deletes
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Invocations {
    total: u32,
    /// Ended by Lambda at the function's timeout.
    killed: u32,
    /// Returned an error (Lambda retries those as well).
    failed: u32,
    /// Events given up after Lambda's retries.
    dropped: u32,
}

impl Invocations {
    fn describe(&self) -> String {
        let mut text = self.total.to_string();
        let extra: Vec<String> = [
            (self.killed, "killed at the timeout"),
            (self.failed, "failed"),
            (self.dropped, "event dropped"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !extra.is_empty() {
            text.push_str(&format!(" ({})", extra.join(", ")));
        }
        text
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Outcome {
    name: String,
    calls: BTreeMap<String, u64>,
    /// Per operation, in the order of `OPERATIONS`.
    lower_bound: [u64; OPERATIONS.len()],
    needed: Changes,
    simulated: Duration,
    retried: u64,
    surfaced: u64,
    invocations: Invocations,
    writes: u64,
    verification: Result<(), String>,
    /// Alarms in the account before and after the sweep.
    owned_before: u64,
    owned_after: u64,
    /// Resident set size of the scenario's process before it does anything.
    baseline_kb: u64,
    /// Resident set size when the sweep starts: the process, the simulated
    /// account and the benchmark's own inputs.
    rss_before_kb: u64,
    peak_rss_kb: u64,
    wall: Duration,
}

impl Outcome {
    fn calls(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }

    fn sweep_peak_kb(&self) -> u64 {
        self.peak_rss_kb.saturating_sub(self.rss_before_kb)
    }

    fn total_calls(&self) -> u64 {
        OPERATIONS.iter().map(|op| self.calls(op)).sum()
    }

    /// Seconds the calls made need at the quotas, one operation after another.
    fn quota_bound(&self) -> f64 {
        quota_bound(&self.calls)
    }
}

/// Seconds `calls` need at the quotas, one operation after another.
fn quota_bound(calls: &BTreeMap<String, u64>) -> f64 {
    let quotas = server_quotas();
    OPERATIONS
        .iter()
        .map(|op| {
            calls.get(*op).copied().unwrap_or(0) as f64
                / quotas.get(op).expect("a quota for every counted operation")
        })
        .sum()
}

/// Captures the follow-up invocation a sweep asks for.
#[derive(Default)]
struct RecordingContinuation(Mutex<Vec<u32>>);

impl RecordingContinuation {
    fn take(&self) -> Vec<u32> {
        std::mem::take(&mut *self.0.lock().expect("recorder lock"))
    }
}

impl Continuation for RecordingContinuation {
    async fn continue_sweep(&self, generation: u32) -> Result<(), PortError> {
        self.0.lock().expect("recorder lock").push(generation);
        Ok(())
    }
}

async fn run(scenario: &Scenario, baseline_kb: u64) -> Outcome {
    let wall = std::time::Instant::now();
    let mut config = config();
    if scenario.forecasts {
        config.policy.forecast.hours = Some(24.0);
    }
    let cloud = FakeCloud::with_quotas(&server_quotas(), &default_rate_limits());
    let needed = build_account(&cloud, &config, scenario.drift, &agent);
    let owned_before = cloud.alarm_names().len() as u64;
    let lower_bound = lower_bound(&config, owned_before, needed, &agent);
    println!(
        "{}: {} instances, {} owned alarms before, {} / {} / {} to create / update / delete",
        scenario.name,
        count(INSTANCES),
        count(owned_before),
        count(needed.creates),
        count(needed.updates),
        count(needed.deletes)
    );

    let reconciler =
        Reconciler::new(config, cloud.clone(), cloud.clone(), cloud.clone(), cloud.calls.clone());
    // An account that was idle before the sweep: every quota bucket is full.
    tokio::time::sleep(Duration::from_secs(1)).await;
    reset_peak_rss();
    let rss_before_kb = status_kb("VmRSS");
    let start = Instant::now();
    let invocations = match scenario.runner {
        Runner::Lambda => lambda(&reconciler, &cloud, start).await,
        Runner::Unbounded => unbounded(&reconciler, start).await,
    };
    let simulated = start.elapsed();
    let peak_rss_kb = status_kb("VmHWM");

    let (retried, surfaced) = cloud.throttles();
    let writes = cloud.writes();
    let desired = desired(&reconciler.config, &agent);
    let verification = verify(&cloud, &desired).and_then(|()| {
        if writes == needed.writes() {
            Ok(())
        } else {
            Err(format!("{writes} alarm writes for {} needed changes", needed.writes()))
        }
    });
    Outcome {
        name: scenario.name.to_owned(),
        calls: cloud.calls.snapshot().into_iter().map(|(op, n)| (op.to_owned(), n)).collect(),
        lower_bound,
        needed,
        simulated,
        retried,
        surfaced,
        invocations,
        writes,
        verification,
        owned_before,
        owned_after: cloud.alarm_names().len() as u64,
        baseline_kb,
        rss_before_kb,
        peak_rss_kb,
        wall: wall.elapsed(),
    }
}

/// The scheduled sweep, then whatever Lambda would run after it: follow-up
/// invocations the sweep asks for, and Lambda's two retries of an invocation
/// that failed or ran into the timeout. Invocations run one after another.
async fn lambda(
    reconciler: &Reconciler<FakeCloud, FakeCloud, FakeCloud>,
    cloud: &FakeCloud,
    start: Instant,
) -> Invocations {
    let scheduled: Value =
        serde_json::from_str(include_str!("../../events/scheduled-sweep.json")).expect("sample event");
    let continuation = RecordingContinuation::default();
    let margin = Duration::from_secs(reconciler.config.deadline_margin_seconds);
    let mut queue: VecDeque<(Value, usize)> = VecDeque::from([(scheduled, 0)]);
    let mut invocations = Invocations::default();
    while let Some((event, attempt)) = queue.pop_front() {
        if attempt > 0 {
            tokio::time::sleep(ASYNC_RETRY_DELAYS[attempt - 1]).await;
        }
        invocations.total += 1;
        let began = Instant::now();
        let writes_before = cloud.writes();
        let options = RunOptions {
            dry_run: false,
            now: simulated_now(start),
            deadline: Some(began + LAMBDA_TIMEOUT - margin),
            progress: false,
            retag: false,
        };
        let result = tokio::time::timeout(
            LAMBDA_TIMEOUT,
            handle_event(reconciler, &continuation, event.clone(), options),
        )
        .await;
        let (failed, what) = match result {
            Err(_) => {
                invocations.killed += 1;
                (true, "ended by Lambda at the 900 s timeout".to_owned())
            }
            Ok(Ok(report)) => (false, format!("finished, {} deferred", count(report.deferred as u64))),
            Ok(Err(HandleError::Incomplete(report))) => {
                invocations.failed += 1;
                (true, format!("failed: {}", report.failure_summary()))
            }
            Ok(Err(HandleError::Rejected(error))) => panic!("sweep event rejected: {error}"),
        };
        println!(
            "  invocation {} ({}, attempt {}): {} s, {} writes, {what}",
            invocations.total,
            event["id"].as_str().unwrap_or("?"),
            attempt + 1,
            began.elapsed().as_secs(),
            count(cloud.writes() - writes_before),
        );
        for generation in continuation.take() {
            queue.push_back((continuation_event(generation, &rfc3339(simulated_now(start))), 0));
        }
        if failed {
            if attempt < ASYNC_RETRY_DELAYS.len() {
                queue.push_back((event, attempt + 1));
            } else {
                invocations.dropped += 1;
                println!("  event {} dropped after Lambda's retries", event["id"].as_str().unwrap_or("?"));
            }
        }
    }
    invocations
}

/// One sweep without a deadline, as `alarmctl sweep` runs it.
async fn unbounded(reconciler: &Reconciler<FakeCloud, FakeCloud, FakeCloud>, start: Instant) -> Invocations {
    let report = reconciler
        .handle(handler::event::Trigger::Sweep { generation: 0 }, RunOptions::new(simulated_now(start)))
        .await;
    println!(
        "  one run: {} s, {} created, {} failures",
        start.elapsed().as_secs(),
        count(report.created as u64),
        report.failures.len()
    );
    Invocations { total: 1, failed: u32::from(report.failed()), ..Invocations::default() }
}

/// The calls one complete pass over the account needs, per operation in the
/// order of `OPERATIONS`: read every instance, every owned alarm and every
/// published series, look up the Auto Scaling groups of the instances whose
/// alarms depend on them, make the changes, and list the mute rules once to
/// remove expired ones.
fn lower_bound(
    config: &Config,
    owned_before: u64,
    needed: Changes,
    fleet: Fleet<'_>,
) -> [u64; OPERATIONS.len()] {
    let policy = &config.policy;
    // As `Reconciler::attach_groups` decides: a running (or pending) instance
    // needs its group when it lacks the scope tag (or alarms carry the group
    // dimension); the `aws:autoscaling:groupName` tag names it, otherwise a
    // lookup does.
    let mut unknown_membership: u64 = 0;
    let mut group_names = BTreeSet::new();
    // One instance at a time, as `build_account` does: no fleet-sized copy in the memory figures.
    for facts in (0..INSTANCES).map(instance) {
        let needs_group = matches!(facts.state, InstanceState::Running | InstanceState::Pending)
            && (policy.linux.group_dimension || !facts.tags.contains_key(&policy.scope_tag_key));
        if needs_group {
            match facts.group_name_tag() {
                Some(name) => {
                    group_names.insert(name.to_owned());
                }
                None => unknown_membership += 1,
            }
        }
    }
    // The lookups find no group: `build_account` makes no instance a group member.
    [
        INSTANCES.div_ceil(INSTANCE_PAGE),
        owned_before.div_ceil(ALARM_PAGE).max(1),
        FleetSummary::of(fleet).listing_pages(),
        needed.creates + needed.updates,
        needed.deletes.div_ceil(DELETE_BATCH),
        unknown_membership.div_ceil(GROUP_LOOKUP_BATCH),
        (group_names.len() as u64).div_ceil(GROUP_LOOKUP_BATCH),
        1,
    ]
}

/// `ListMetrics` pages of an account-wide listing of `series` series: an
/// empty listing still costs one call.
fn list_pages(series: u64) -> u64 {
    series.div_ceil(METRIC_PAGE).max(1)
}

fn simulated_now(start: Instant) -> UnixTime {
    UnixTime(NOW + i64::try_from(start.elapsed().as_secs()).unwrap_or(0))
}

fn rfc3339(time: UnixTime) -> String {
    OffsetDateTime::from_unix_timestamp(time.0).expect("valid time").format(&Rfc3339).expect("formatted time")
}

fn config() -> Config {
    Config::from_lookup(|name| match name {
        "WARNING_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:disk-warning".into()),
        "CRITICAL_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:disk-critical".into()),
        _ => None,
    })
    .expect("benchmark configuration")
}

/// A deterministic pseudo-random number for `n` (splitmix64).
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A deterministic pseudo-random id for instance number `n`.
fn instance_id(n: u64) -> InstanceId {
    InstanceId::parse(&format!("i-0{:016x}", mix(n))).expect("valid instance id")
}

fn is_running(n: u64) -> bool {
    matches!(n % 20, 0..=13 | 16..=18)
}

/// A deterministic pseudo-random fifth of the fleet runs Windows.
fn platform_of(n: u64) -> Platform {
    if mix(n ^ 0x0517_d0e5).is_multiple_of(5) {
        Platform::Windows
    } else {
        Platform::Linux
    }
}

/// Running production instances: the ones in scope.
fn is_in_scope(n: u64) -> bool {
    n % 20 <= 13
}

/// Instance number `n`'s place among the in-scope instances (0, 1, 2, ...).
fn in_scope_index(n: u64) -> Option<u64> {
    is_in_scope(n).then_some(n / 20 * 14 + n % 20)
}

/// What instance number `n` of the main fleet publishes. A deterministic
/// pseudo-random tenth of the running instances, in scope or not, publishes
/// nothing (no agent yet); the others publish `/` and `/run`, and three in
/// ten of them also `/data`. Instances that are not running publish nothing
/// (their series are older than three hours).
fn agent(n: u64) -> Agent {
    if !is_running(n) {
        return Agent::Silent;
    }
    match mix(n ^ 0x5eed_5eed) % 10 {
        0 => Agent::Silent,
        1..=3 => Agent::RootAndData,
        _ => Agent::Root,
    }
}

/// The series instance `id` publishes, as `ListMetrics` returns them.
fn series_of(id: &InstanceId, agent: Agent, platform: Platform) -> Vec<MetricSeries> {
    published(id, agent, platform)
        .1
        .into_iter()
        .map(|dims| MetricSeries::new(dims.into_iter().map(|(n, v)| Dimension::new(n, v)).collect()))
        .collect()
}

/// The metric name and the dimension sets of what instance `id` publishes.
fn published(id: &InstanceId, agent: Agent, platform: Platform) -> (&'static str, Vec<Vec<(&str, &str)>>) {
    match platform {
        Platform::Linux => (
            METRIC,
            agent
                .filesystems()
                .iter()
                .map(|(path, device, fstype)| {
                    vec![
                        ("InstanceId", id.as_str()),
                        ("path", *path),
                        ("device", *device),
                        ("fstype", *fstype),
                    ]
                })
                .collect(),
        ),
        Platform::Windows => (
            WINDOWS_METRIC,
            agent
                .volumes()
                .iter()
                .map(|volume| {
                    vec![("InstanceId", id.as_str()), ("instance", *volume), ("objectname", "LogicalDisk")]
                })
                .collect(),
        ),
    }
}

/// The CloudWatch agent starts publishing instance `id`'s series.
fn publish(cloud: &FakeCloud, id: &InstanceId, agent: Agent, platform: Platform) {
    let (metric, published) = published(id, agent, platform);
    for dims in published {
        cloud.publish(NAMESPACE, metric, &dims);
    }
}

/// Counts of a fleet, computed from its construction.
#[derive(Default)]
struct FleetSummary {
    in_scope: u64,
    in_scope_root: u64,
    in_scope_data: u64,
    in_scope_silent: u64,
    /// Series in the account, in scope or not, of each platform's metric.
    linux_series: u64,
    windows_series: u64,
    desired_alarms: u64,
}

impl FleetSummary {
    fn series(&self) -> u64 {
        self.linux_series + self.windows_series
    }

    /// `ListMetrics` calls of the account-wide listings, one per metric.
    fn listing_pages(&self) -> u64 {
        list_pages(self.linux_series) + list_pages(self.windows_series)
    }

    fn of(fleet: Fleet<'_>) -> Self {
        let mut summary = Self::default();
        for n in 0..INSTANCES {
            let agent = fleet(n);
            match platform_of(n) {
                Platform::Linux => summary.linux_series += agent.filesystems().len() as u64,
                Platform::Windows => summary.windows_series += agent.volumes().len() as u64,
            }
            if is_in_scope(n) {
                summary.in_scope += 1;
                match agent {
                    Agent::Silent => summary.in_scope_silent += 1,
                    Agent::Root => summary.in_scope_root += 1,
                    Agent::RootAndData => summary.in_scope_data += 1,
                }
                summary.desired_alarms += 2 * agent.watched().max(1);
            }
        }
        summary
    }
}

/// Instance number `n` of a fleet: 70 % production running, 10 % production
/// stopped, 10 % staging running, 5 % running without an Environment tag,
/// 5 % production terminated. Every instance has a Name tag.
fn instance(n: u64) -> InstanceFacts {
    let (environment, state) = match n % 20 {
        0..=13 => (Some("production"), InstanceState::Running),
        14 | 15 => (Some("production"), InstanceState::Stopped),
        16 | 17 => (Some("staging"), InstanceState::Running),
        18 => (None, InstanceState::Running),
        _ => (Some("production"), InstanceState::Terminated),
    };
    let mut tags = BTreeMap::from([("Name".to_owned(), format!("web-{n:05}"))]);
    if let Some(environment) = environment {
        tags.insert("Environment".to_owned(), environment.to_owned());
    }
    InstanceFacts {
        id: instance_id(n),
        state,
        tags,
        platform: platform_of(n),
        launch_time: Some(UnixTime(NOW - 86_400)),
        state_since: None,
        group: None,
        series: None,
    }
}

/// Instance number `n` as the reconciler sees it once it has listed the series.
fn instance_with_series(n: u64, agent: Agent) -> InstanceFacts {
    let mut facts = instance(n);
    facts.series = Some(series_of(&facts.id, agent, facts.platform));
    facts
}

/// The alarms the policy wants for the fleet, by name.
fn desired(config: &Config, fleet: Fleet<'_>) -> BTreeMap<String, AlarmConfig> {
    let mut desired = BTreeMap::new();
    for n in 0..INSTANCES {
        let facts = instance_with_series(n, fleet(n));
        if let Desire::Alarms { alarms, .. } = desired_alarms(&config.policy, &Subject::Present(facts)) {
            desired.extend(alarms.into_iter().map(|a| (a.name.to_string(), a.config)));
        }
    }
    desired
}

/// Fills the account: the fleet, the series it publishes, and its alarms in
/// the scenario's starting state, put by hand. One instance at a time, so
/// that no large temporary copy inflates the memory figures. Returns what a
/// correct sweep has to change, known from the construction.
fn build_account(cloud: &FakeCloud, config: &Config, drift: Drift, fleet: Fleet<'_>) -> Changes {
    let mut needed = Changes::default();
    let mut desired_count = 0;
    for n in 0..INSTANCES {
        let agent = fleet(n);
        let facts = instance_with_series(n, agent);
        publish(cloud, &facts.id, agent, facts.platform);
        if let Desire::Alarms { alarms, .. } =
            desired_alarms(&config.policy, &Subject::Present(facts.clone()))
        {
            for alarm in alarms {
                // As the sweep tags the alarms it creates, so that the account's
                // per-alarm memory is the same whoever put the alarm.
                let tags = alarm.tags(&[]);
                let mut config = alarm.config;
                match drift {
                    Drift::AllMissing => needed.creates += 1,
                    Drift::HandEdited if desired_count % 10 == 0 => {
                        config.threshold += 5.0;
                        needed.updates += 1;
                    }
                    Drift::None | Drift::HandEdited | Drift::Orphans => {}
                }
                if drift != Drift::AllMissing {
                    cloud.put_alarm_by_hand(alarm.name.as_str(), exact_size(config));
                    cloud.set_alarm_tags_by_hand(alarm.name.as_str(), tags);
                }
                desired_count += 1;
            }
        }
        // The EC2 API knows nothing of series.
        cloud.put_instance(InstanceFacts { series: None, ..facts });
    }
    if drift == Drift::Orphans {
        // Owned alarms of instances that existed once: ids the account no longer
        // knows, each with the pair of its root filesystem, whose series are long gone.
        for n in INSTANCES..INSTANCES + desired_count / 10 / 2 {
            let mut facts = instance(0);
            facts.id = instance_id(n);
            facts.tags.insert("Name".to_owned(), format!("web-{n:05}"));
            facts.series = Some(series_of(&facts.id, Agent::Root, Platform::Linux));
            if let Desire::Alarms { alarms, .. } = desired_alarms(&config.policy, &Subject::Present(facts)) {
                for alarm in alarms {
                    let tags = alarm.tags(&[]);
                    cloud.put_alarm_by_hand(alarm.name.as_str(), exact_size(alarm.config));
                    cloud.set_alarm_tags_by_hand(alarm.name.as_str(), tags);
                    needed.deletes += 1;
                }
            }
        }
    }
    needed
}

/// An alarm as the account stores the ones the sweep puts (copies): without
/// the spare capacity of the buffer the description was built in. Alarms
/// put by hand and by the sweep then cost the same, which the memory table's
/// per-alarm subtraction assumes.
fn exact_size(mut config: AlarmConfig) -> AlarmConfig {
    config.description.shrink_to_fit();
    config
}

/// The account holds exactly the desired alarms, each with the desired configuration.
fn verify(cloud: &FakeCloud, desired: &BTreeMap<String, AlarmConfig>) -> Result<(), String> {
    let names = cloud.alarm_names();
    let extra = names.iter().filter(|name| !desired.contains_key(*name)).count();
    let mut missing = 0;
    let mut different = 0;
    for (name, alarm) in desired {
        match cloud.alarm(name) {
            None => missing += 1,
            Some(actual) if actual != *alarm => different += 1,
            Some(_) => {}
        }
    }
    if extra + missing + different == 0 {
        Ok(())
    } else {
        Err(format!("{missing} desired alarms missing, {different} different, {extra} not wanted"))
    }
}

/// One measured run of the discovery section: an event, a follow-up pass, or
/// the sweep's account-wide listing alone, on a 10 000-instance account.
#[derive(serde::Serialize, serde::Deserialize)]
struct Probe {
    name: String,
    calls: BTreeMap<String, u64>,
    /// Per operation, in the order of `OPERATIONS`.
    lower_bound: [u64; OPERATIONS.len()],
    simulated: Duration,
    /// Throttling answers the modelled SDK retried (surfaced ones fail the run).
    retried: u64,
    writes: u64,
    verification: Result<(), String>,
}

impl Probe {
    fn calls(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }

    fn bound(&self, operation: &str) -> u64 {
        OPERATIONS.iter().position(|op| *op == operation).map_or(0, |i| self.lower_bound[i])
    }
}

/// A lower bound with only the given operations' terms.
fn bound_of(terms: &[(&str, u64)]) -> [u64; OPERATIONS.len()] {
    let mut bound = [0; OPERATIONS.len()];
    for (operation, calls) in terms {
        let index = OPERATIONS.iter().position(|op| op == operation).expect("a counted operation");
        bound[index] += calls;
    }
    bound
}

/// An account in the state `fleet` calls for, every alarm present and correct.
struct Account {
    cloud: FakeCloud,
    reconciler: Reconciler<FakeCloud, FakeCloud, FakeCloud>,
}

impl Account {
    fn steady(fleet: Fleet<'_>) -> Self {
        let cloud = FakeCloud::with_quotas(&server_quotas(), &default_rate_limits());
        let config = config();
        build_account(&cloud, &config, Drift::None, fleet);
        let reconciler =
            Reconciler::new(config, cloud.clone(), cloud.clone(), cloud.clone(), cloud.calls.clone());
        Self { cloud, reconciler }
    }

    /// Runs `work` after a simulated second of idleness (every bucket full)
    /// and records what it cost. `work` must succeed, and the account must
    /// then hold exactly `desired` after `expected_writes` alarm writes.
    async fn probe<F: std::future::Future<Output = Result<(), String>>>(
        &self,
        name: String,
        lower_bound: [u64; OPERATIONS.len()],
        desired: &BTreeMap<String, AlarmConfig>,
        expected_writes: u64,
        work: F,
    ) -> Probe {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = self.cloud.calls.snapshot();
        let writes_before = self.cloud.writes();
        let (retried_before, _) = self.cloud.throttles();
        let start = Instant::now();
        let result = work.await;
        let simulated = start.elapsed();
        let calls = self
            .cloud
            .calls
            .snapshot()
            .into_iter()
            .map(|(op, n)| (op.to_owned(), n - before.get(op).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let writes = self.cloud.writes() - writes_before;
        let retried = self.cloud.throttles().0 - retried_before;
        let verification = result.and_then(|()| verify(&self.cloud, desired)).and_then(|()| {
            if writes == expected_writes {
                Ok(())
            } else {
                Err(format!("{writes} alarm writes, {expected_writes} expected"))
            }
        });
        println!("  {name}: {:.1} s simulated, {} writes", simulated.as_secs_f64(), count(writes));
        Probe { name, calls, lower_bound, simulated, retried, writes, verification }
    }

    /// Handles `event` as one Lambda invocation would.
    async fn invoke(&self, event: Value, origin: Instant) -> Result<(), String> {
        let margin = Duration::from_secs(self.reconciler.config.deadline_margin_seconds);
        let options = RunOptions {
            dry_run: false,
            now: simulated_now(origin),
            deadline: Some(Instant::now() + LAMBDA_TIMEOUT - margin),
            progress: false,
            retag: false,
        };
        match handle_event(&self.reconciler, &RecordingContinuation::default(), event, options).await {
            Ok(_) => Ok(()),
            Err(HandleError::Incomplete(report)) => Err(report.failure_summary()),
            Err(HandleError::Rejected(error)) => Err(format!("event rejected: {error}")),
        }
    }
}

/// An EC2 state-change event (events/ec2-running.json) for instance number `n`.
fn state_change_event(n: u64, state: &str, time: UnixTime) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../events/ec2-running.json")).expect("sample event");
    let id = instance_id(n);
    event["id"] = json!(format!("state-change-{n}"));
    event["time"] = json!(rfc3339(time));
    event["resources"] = json!([format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")]);
    event["detail"] = json!({ "instance-id": id.as_str(), "state": state });
    event
}

/// Provisional instances in the follow-up passes measured: none, few enough
/// to be listed one by one, and a tenth of the fleet.
const FOLLOW_UP_PROVISIONAL: [u64; 3] = [0, 20, 1000];
/// Instances started within `RECENT_START_MINUTES` in the late-mount probe.
const RECENT_STARTS: u64 = 100;
/// Running (state-change) events handled one after another in the burst probe.
const EVENT_BURST: u64 = 100;

/// The fleet before a follow-up pass: the first `provisional` in-scope
/// instances publish nothing yet (they hold the provisional pair); every other
/// running instance publishes as in the main fleet, except that in-scope ones
/// all have the agent. `ready` of the provisional ones have started
/// publishing `/` and `/run` when `after` is set.
fn follow_up_agent(n: u64, provisional: u64, ready: u64, after: bool) -> Agent {
    match in_scope_index(n) {
        Some(i) if i < provisional => {
            if after && i < ready {
                Agent::Root
            } else {
                Agent::Silent
            }
        }
        Some(_) if agent(n) == Agent::Silent => Agent::Root,
        _ => agent(n),
    }
}

/// What discovery costs on the 10 000-instance account: the sweep's
/// account-wide listing, events, and follow-up passes.
async fn discovery() -> Vec<Probe> {
    let origin = Instant::now();
    let mut probes = Vec::new();
    println!("Discovery probes (10,000 instances):");
    {
        let account = Account::steady(&agent);
        let desired = desired(&account.reconciler.config, &agent);
        let pages = FleetSummary::of(&agent).listing_pages();
        let cloud = &account.cloud;
        probes.push(
            account
                .probe(
                    "sweep: the account-wide listings alone (Linux and Windows metrics)".into(),
                    bound_of(&[("ListMetrics", pages)]),
                    &desired,
                    0,
                    async {
                        let mut listed = 0;
                        for metric in [METRIC, WINDOWS_METRIC] {
                            let series = cloud.published_series(NAMESPACE, metric, None).await;
                            listed += series.map_err(|e| e.to_string())?.len() as u64;
                        }
                        let expected = FleetSummary::of(&agent).series();
                        if listed == expected {
                            Ok(())
                        } else {
                            Err(format!("{listed} series listed, {expected} published"))
                        }
                    },
                )
                .await,
        );

        let first =
            |wanted: &dyn Fn(u64) -> bool| (0..INSTANCES).find(|n| wanted(*n)).expect("such an instance");
        let events = [
            (
                "event: running, in scope, publishes / and /run",
                first(&|n| is_in_scope(n) && agent(n) == Agent::Root && platform_of(n) == Platform::Linux),
                "running",
                1,
            ),
            (
                "event: running, in scope, publishes /, /data and /run",
                first(&|n| {
                    is_in_scope(n) && agent(n) == Agent::RootAndData && platform_of(n) == Platform::Linux
                }),
                "running",
                1,
            ),
            (
                "event: running, in scope, Windows, publishes C:, D: and _Total",
                first(&|n| {
                    is_in_scope(n) && agent(n) == Agent::RootAndData && platform_of(n) == Platform::Windows
                }),
                "running",
                1,
            ),
            (
                "event: running, in scope, publishes nothing (provisional pair)",
                first(&|n| is_in_scope(n) && agent(n) == Agent::Silent),
                "running",
                1,
            ),
            ("event: running, out of scope (staging)", first(&|n| n % 20 == 16), "running", 0),
            ("event: stopped", first(&|n| n % 20 == 14), "stopped", 0),
        ];
        for (name, n, state, listings) in events {
            let bound =
                bound_of(&[("DescribeInstances", 1), ("DescribeAlarms", 2), ("ListMetrics", listings)]);
            let event = state_change_event(n, state, simulated_now(origin));
            probes.push(account.probe(name.into(), bound, &desired, 0, account.invoke(event, origin)).await);
        }

        let burst: Vec<u64> = (0..INSTANCES).filter(|n| is_in_scope(*n)).take(EVENT_BURST as usize).collect();
        let bound = bound_of(&[
            ("DescribeInstances", EVENT_BURST),
            ("DescribeAlarms", 2 * EVENT_BURST),
            ("ListMetrics", EVENT_BURST),
        ]);
        let name = format!("{EVENT_BURST} running events (in scope), one after another");
        probes.push(
            account
                .probe(name, bound, &desired, 0, async {
                    for n in burst {
                        account
                            .invoke(state_change_event(n, "running", simulated_now(origin)), origin)
                            .await?;
                    }
                    Ok(())
                })
                .await,
        );
    }

    let follow_up_event: Value =
        serde_json::from_str(include_str!("../../events/provisional-follow-up.json")).expect("sample event");
    for provisional in FOLLOW_UP_PROVISIONAL {
        // A tenth of the waiting instances has started publishing since the last pass.
        let ready = provisional / 10;
        let before = move |n| follow_up_agent(n, provisional, ready, false);
        let after = move |n| follow_up_agent(n, provisional, ready, true);
        let account = Account::steady(&before);
        for n in (0..INSTANCES).filter(|n| in_scope_index(*n).is_some_and(|i| i < ready)) {
            publish(&account.cloud, &instance_id(n), Agent::Root, platform_of(n));
        }
        let desired = desired(&account.reconciler.config, &after);
        // Per provisional instance, or one account-wide listing, whichever is fewer calls.
        let listings = provisional.min(FleetSummary::of(&after).listing_pages());
        // Every pass also pages through the instances for recent starts (there
        // are none here); the instances whose provisional pair is replaced have
        // their mute rules listed, once for the pass.
        let bound = bound_of(&[
            ("DescribeAlarms", (2 * provisional).div_ceil(ALARM_PAGE).max(1) + 2 * ready),
            ("ListMetrics", listings + ready),
            ("DescribeInstances", INSTANCES.div_ceil(INSTANCE_PAGE) + u64::from(ready > 0)),
            ("PutMetricAlarm", 2 * ready),
            ("DeleteAlarms", (2 * ready).div_ceil(DELETE_BATCH)),
            ("ListAlarmMuteRules", u64::from(ready > 0)),
        ]);
        let name = format!(
            "follow-up pass: {} provisional, {} of them now publishing",
            count(provisional),
            count(ready)
        );
        let work = account.invoke(follow_up_event.clone(), origin);
        probes.push(account.probe(name, bound, &desired, 4 * ready, work).await);
    }

    // Late mounts: no instance provisional, RECENT_STARTS in-scope instances
    // started ten minutes ago, all of them with every pair already: the pass
    // reads their series and alarms and writes nothing.
    let settled = |n| follow_up_agent(n, 0, 0, false);
    let account = Account::steady(&settled);
    let recent: Vec<u64> = (0..INSTANCES).filter(|n| is_in_scope(*n)).take(RECENT_STARTS as usize).collect();
    for n in &recent {
        let mut facts = account.cloud.instance(&instance_id(*n)).expect("the fleet has it");
        facts.launch_time = Some(UnixTime(NOW - 600));
        account.cloud.put_instance(facts);
    }
    let desired = desired(&account.reconciler.config, &settled);
    let bound = bound_of(&[
        ("DescribeAlarms", 1 + RECENT_STARTS),
        ("DescribeInstances", INSTANCES.div_ceil(INSTANCE_PAGE)),
        ("ListMetrics", RECENT_STARTS.min(FleetSummary::of(&settled).listing_pages())),
    ]);
    let name = format!("follow-up pass: 0 provisional, {RECENT_STARTS} started in the last hour");
    let work = account.invoke(follow_up_event.clone(), origin);
    probes.push(account.probe(name, bound, &desired, 0, work).await);
    probes
}

fn print_discovery(fleet: &FleetSummary, outcomes: &[Outcome], probes: &[Probe]) {
    println!();
    println!("## Discovery cost (10 000 instances)");
    println!();
    let pages = fleet.listing_pages();
    println!(
        "{} series published, {} of them by Windows instances (pages of {METRIC_PAGE}: {pages} ListMetrics \
         calls for the account-wide listings of both metrics, {} at the quota of {LIST_METRICS_QUOTA} per second). \
         ListMetrics calls per sweep, by scenario: {}.",
        count(fleet.series()),
        count(fleet.windows_series),
        seconds(pages as f64 / LIST_METRICS_QUOTA),
        outcomes
            .iter()
            .map(|o| format!(
                "{} {} in {} invocation{} (bound {})",
                o.name.split(' ').next().unwrap_or(""),
                count(o.calls("ListMetrics")),
                o.invocations.total,
                if o.invocations.total == 1 { "" } else { "s" },
                count(o.lower_bound[LIST_METRICS]),
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "The follow-up pass lists each provisional instance's series when there are at most \
         {FOLLOW_UP_PER_INSTANCE_LISTINGS}, otherwise the whole account's."
    );
    println!();
    println!(
        "| case | ListMetrics calls | lower bound | ListMetrics ÷ 25 per s | all calls | lower bound (all) | calls ÷ bound | simulated time | quota-bound time | throttles retried | writes | converged |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for p in probes {
        let total: u64 = OPERATIONS.iter().map(|op| p.calls(op)).sum();
        let bound: u64 = p.lower_bound.iter().sum();
        let detail: Vec<String> = OPERATIONS
            .iter()
            .filter(|op| p.calls(op) > 0 || p.bound(op) > 0)
            .map(|op| format!("{op} {}", count(p.calls(op))))
            .collect();
        println!(
            "| {} | {} | {} | {} | {} ({}) | {} | {:.3} | {} | {} | {} | {} | {} |",
            p.name,
            count(p.calls("ListMetrics")),
            count(p.bound("ListMetrics")),
            seconds(p.calls("ListMetrics") as f64 / LIST_METRICS_QUOTA),
            count(total),
            detail.join(", "),
            count(bound),
            total as f64 / bound.max(1) as f64,
            seconds(p.simulated.as_secs_f64()),
            seconds(quota_bound(&p.calls)),
            p.retried,
            count(p.writes),
            p.verification.as_ref().map_or_else(|e| format!("**no**: {e}"), |()| "yes".into()),
        );
    }
}

/// Starts a new peak-RSS measurement (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak_rss() {
    if let Err(error) = std::fs::write("/proc/self/clear_refs", "5") {
        println!("  (peak RSS not reset: {error}; the figure covers the whole process so far)");
    }
}

/// A `/proc/self/status` figure in kB (`VmHWM`: peak resident set size,
/// `VmRSS`: current), 0 where unknown.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// 14000 → "14,000".
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn megabytes(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn seconds(s: f64) -> String {
    if s >= 120.0 {
        format!("{s:.1} s ({}:{:02} min)", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}
