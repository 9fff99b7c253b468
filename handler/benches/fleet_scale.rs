//! Scale benchmark of `alarmctl fleet`: 240 simulated account-Regions of
//! mixed sizes (up to 2 000 instances, a fifth of them Windows), read at concurrency 16.
//!
//! Runs on a paused tokio clock, so API pacing, AWS's quotas (per account and
//! Region, as the scale benchmark of the sweep models them) and call latency
//! cost simulated time, not real time. `cargo bench -p handler --bench fleet_scale`;
//! BENCHMARKS.md explains the figures. Exits non-zero when a row fails, a
//! row makes more calls than its reads need, or the fleet takes more than
//! 1.10 × max(sum of row times ÷ concurrency, slowest row).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use handler::config::Config;
use handler::fake::{FakeCloud, FakeFleet, FakeRow};
use handler::fleet::{read_fleet, Deployed, FleetRequest};
use handler::ports::{default_rate_limits, RateLimits};
use reconciler_core::{
    desired_alarms, Desire, Dimension, InstanceFacts, InstanceId, InstanceState, MetricSeries, Platform,
    Subject, UnixTime,
};

/// The audit's clock: 2026-11-27T03:17:00Z.
const NOW: i64 = 1_795_749_420;
const ACCOUNTS: usize = 120;
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const CONCURRENCY: usize = 16;
const FUNCTION: &str = "disk-alarm-reconciler";
/// Instances per row, by the row's place in the fleet: mixed sizes, the largest 2 000.
const SIZES: [u64; 8] = [5, 20, 60, 150, 400, 800, 2000, 40];
/// Every seventh instance publishes no disk series: it is on its provisional pair.
const SILENT_EVERY: u64 = 7;
/// Every fifth instance runs Windows and publishes drive C: (and `_Total`, filtered out).
const WINDOWS_EVERY: u64 = 5;
/// Round trip of one STS, Lambda or GetMetricStatistics call.
const LATENCY: Duration = Duration::from_millis(80);
/// Page sizes of DescribeInstances, DescribeAlarms and ListMetrics.
const PAGES: [(&str, u64); 3] = [("DescribeInstances", 1000), ("DescribeAlarms", 100), ("ListMetrics", 500)];
/// Read once per row whatever its size.
const ONCE: [&str; 3] = ["ListAlarmMuteRules", "GetFunctionConfiguration", "GetMetricStatistics"];

/// AWS's quotas per account and Region: CloudWatch's defaults, EC2's
/// describe bucket (20 a second), ListAlarmMuteRules assumed at 9 like
/// DescribeAlarms, Lambda's control-plane 15 a second, GetMetricStatistics 400.
fn server_quotas() -> RateLimits {
    let mut quotas = default_rate_limits();
    quotas.insert("DescribeInstances", 20.0);
    quotas.insert("ListAlarmMuteRules", 9.0);
    quotas.insert("GetFunctionConfiguration", 15.0);
    quotas.insert("GetMetricStatistics", 400.0);
    quotas
}

fn environment(account: &str) -> BTreeMap<String, String> {
    [
        ("WARNING_TOPIC_ARN", format!("arn:aws:sns:us-east-1:{account}:disk-warning")),
        ("CRITICAL_TOPIC_ARN", format!("arn:aws:sns:us-east-1:{account}:disk-critical")),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .into()
}

/// A row of `size` instances whose alarms are what its reconciler wants.
fn row(account: &str, size: u64) -> FakeRow {
    let cloud = FakeCloud::with_quotas(&server_quotas(), &default_rate_limits());
    let environment = environment(account);
    let config = Config::from_lookup(|var| environment.get(var).cloned()).expect("configuration");
    for n in 0..size {
        let id = InstanceId::parse(&format!("i-{n:017x}")).expect("instance id");
        let mut facts = InstanceFacts {
            id: id.clone(),
            state: InstanceState::Running,
            tags: [("Environment".to_string(), "production".to_string())].into(),
            platform: if is_windows(n) { Platform::Windows } else { Platform::Linux },
            launch_time: Some(UnixTime(NOW - 86_400)),
            state_since: None,
            group: None,
            series: None,
        };
        cloud.put_instance(facts.clone());
        let mut series = Vec::new();
        if n % SILENT_EVERY != 0 {
            let published: &[(&str, [(&str, &str); 2])] = if is_windows(n) {
                &[
                    ("LogicalDisk % Free Space", [("instance", "C:"), ("objectname", "LogicalDisk")]),
                    ("LogicalDisk % Free Space", [("instance", "_Total"), ("objectname", "LogicalDisk")]),
                ]
            } else {
                &[("disk_used_percent", [("path", "/"), ("fstype", "xfs")])]
            };
            for (metric, [first, second]) in published {
                let dimensions = [("InstanceId", id.as_str()), *first, *second];
                cloud.publish("CWAgent", metric, &dimensions);
                series.push(MetricSeries::new(
                    dimensions.iter().map(|(n, v)| Dimension::new(*n, *v)).collect(),
                ));
            }
        }
        facts.series = Some(series);
        if let Desire::Alarms { alarms, .. } = desired_alarms(&config.policy, &Subject::Present(facts)) {
            for alarm in alarms {
                cloud.put_alarm_by_hand(alarm.name.as_str(), alarm.config);
            }
        }
    }
    FakeRow {
        cloud,
        function: Some((FUNCTION.to_owned(), Deployed { environment, code_sha256: "build-1".into() })),
        sweeps: vec![UnixTime(NOW - 3 * 3600)],
        open_error: None,
        latency: LATENCY,
    }
}

fn is_windows(n: u64) -> bool {
    n % WINDOWS_EVERY == WINDOWS_EVERY - 1
}

/// The fewest calls that read a row: the pages of its instances, alarms and
/// the series of each platform's metric (an empty listing still costs a
/// call), and one call each for mute rules, the function and its heartbeat.
fn lower_bound(size: u64) -> BTreeMap<&'static str, u64> {
    let publishing =
        |windows: bool| (0..size).filter(move |n| n % SILENT_EVERY != 0 && is_windows(*n) == windows);
    let linux_series = publishing(false).count() as u64;
    // `C:` and `_Total` each.
    let windows_series = 2 * publishing(true).count() as u64;
    let pages = |items: u64, page: u64| items.div_ceil(page).max(1);
    let mut bound: BTreeMap<&'static str, u64> =
        PAGES.iter().zip([size, 2 * size]).map(|((op, page), n)| (*op, pages(n, *page))).collect();
    bound.insert("ListMetrics", pages(linux_series, PAGES[2].1) + pages(windows_series, PAGES[2].1));
    bound.extend(ONCE.map(|op| (op, 1)));
    bound
}

fn main() -> ExitCode {
    let wall = std::time::Instant::now();
    let fleet = FakeFleet::new();
    let mut targets = Vec::new();
    let mut sizes = BTreeMap::new();
    for a in 0..ACCOUNTS {
        let account = format!("{:012}", 200_000_000_000 + a as u64);
        for (r, region) in REGIONS.iter().enumerate() {
            let size = SIZES[(a * REGIONS.len() + r) % SIZES.len()];
            let row = row(&account, size);
            row.cloud.calls.reset();
            fleet.insert(&account, region, row);
            sizes.insert((account.clone(), (*region).to_owned()), size);
            targets.push((account.clone(), (*region).to_owned()));
        }
    }
    let setup = wall.elapsed();
    let request = FleetRequest {
        targets,
        function_name: FUNCTION.to_owned(),
        concurrency: CONCURRENCY,
        now: UnixTime(NOW),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    let audit = std::time::Instant::now();
    let (report, total) = runtime.block_on(async {
        let started = tokio::time::Instant::now();
        let report = read_fleet(Arc::new(fleet.clone()), &request).await;
        (report, started.elapsed())
    });
    let audit = audit.elapsed();

    let mut ok = true;
    println!("{} account-Regions ({ACCOUNTS} accounts × {} Regions), concurrency {CONCURRENCY}, {} instances; every {SILENT_EVERY}th publishes nothing (provisional).", report.rows.len(), REGIONS.len(), report.totals().coverage.instances_running);
    println!();
    println!("| instances per row | rows | calls per row (each operation) | read lower bound | equal | row time (simulated) |");
    println!("|---:|---:|---|---|:---:|---:|");
    let mut by_size: BTreeMap<u64, Vec<&handler::fleet::FleetRow>> = BTreeMap::new();
    for row in &report.rows {
        if let Err(error) = &row.read {
            eprintln!("{} {}: {error}", row.account, row.region);
            ok = false;
        }
        by_size.entry(sizes[&(row.account.clone(), row.region.clone())]).or_default().push(row);
    }
    for (size, rows) in &by_size {
        let bound = lower_bound(*size);
        let equal = rows.iter().all(|r| r.api_calls == bound);
        ok &= equal;
        let calls = &rows[0].api_calls;
        let show = |m: &BTreeMap<&str, u64>| {
            m.iter().map(|(op, n)| format!("{op} {n}")).collect::<Vec<_>>().join(", ")
        };
        let times: Vec<f64> = rows.iter().map(|r| r.duration.as_secs_f64()).collect();
        let (low, high) = times.iter().fold((f64::MAX, 0.0f64), |(l, h), t| (l.min(*t), h.max(*t)));
        println!(
            "| {size} | {} | {} ({} calls) | {} calls | {} | {low:.2}–{high:.2} s |",
            rows.len(),
            show(calls),
            calls.values().sum::<u64>(),
            bound.values().sum::<u64>(),
            if equal { "yes" } else { "NO" },
        );
    }
    let sum: Duration = report.rows.iter().map(|r| r.duration).sum();
    let slowest = report.rows.iter().map(|r| r.duration).max().unwrap_or_default();
    let ideal = (sum / u32::try_from(CONCURRENCY).expect("small")).max(slowest);
    let ratio = total.as_secs_f64() / ideal.as_secs_f64();
    println!();
    println!("| simulated total | sum of row times | ÷ {CONCURRENCY} | slowest row | max(÷, slowest) | total ÷ that |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.2} s | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {ratio:.3} |",
        total.as_secs_f64(),
        sum.as_secs_f64(),
        sum.as_secs_f64() / CONCURRENCY as f64,
        slowest.as_secs_f64(),
        ideal.as_secs_f64(),
    );
    let totals = report.totals();
    println!();
    println!(
        "Totals: {} in scope, {} covered, {} provisional, {} partial, {} unprotected; {} to create, {} to update, {} to delete; {} rows failed. Real time: setup {:.1} s, audit {:.1} s.",
        totals.coverage.in_scope_running, totals.coverage.covered, totals.coverage.provisional, totals.coverage.partial, totals.coverage.unprotected,
        totals.to_create, totals.to_update, totals.to_delete, report.rows_failed(), setup.as_secs_f64(), audit.as_secs_f64(),
    );
    ok &= ratio <= 1.10 && report.healthy();
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("fleet_scale: a row failed, made more calls than its lower bound, or the fleet took over 1.10 × its bound");
        ExitCode::FAILURE
    }
}
