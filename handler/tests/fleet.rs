//! `fleet` over in-memory accounts on a paused clock: each row judged by its
//! own function's configuration, rows read at most N at a time, a slow or
//! failing account holding up nothing else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use handler::config::Config;
use handler::event::Trigger;
use handler::fake::{FakeCloud, FakeFleet, FakeRow};
use handler::fleet::{read_fleet, Deployed, FleetReport, FleetRequest, RowCounts};
use handler::ports::{ErrorKind, PortError};
use handler::reconcile::{Reconciler, RunOptions};
use reconciler_core::coverage::CoverageCounts;
use reconciler_core::{InstanceFacts, InstanceId, InstanceState, StateValue, UnixTime};

const NOW: i64 = 1_795_749_420;
const FUNCTION: &str = "disk-alarm-reconciler";
const BUILD: &str = "c2hhMjU2LW9mLXRoZS1idWlsZA==";

fn environment(account: &str) -> BTreeMap<String, String> {
    [
        ("WARNING_TOPIC_ARN", format!("arn:aws:sns:us-east-1:{account}:disk-warning")),
        ("CRITICAL_TOPIC_ARN", format!("arn:aws:sns:us-east-1:{account}:disk-critical")),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .into()
}

fn id(n: u64) -> InstanceId {
    InstanceId::parse(&format!("i-{n:017x}")).unwrap()
}

/// `running` production instances (the first `publishing` of them publish
/// `/`), swept with the account's own configuration.
async fn account(account: &str, running: u64, publishing: u64) -> FakeRow {
    account_with(account, running, publishing, &[]).await
}

/// [`account`] with `settings` added to its function's environment.
async fn account_with(account: &str, running: u64, publishing: u64, settings: &[(&str, &str)]) -> FakeRow {
    let cloud = FakeCloud::new();
    cloud.set_now(UnixTime(NOW));
    for n in 0..running {
        cloud.put_instance(InstanceFacts {
            id: id(n),
            state: InstanceState::Running,
            tags: [("Environment".to_string(), "production".to_string())].into(),
            platform: Default::default(),
            // Launched recently: a provisional pair is not silent yet.
            launch_time: Some(UnixTime(NOW - 600)),
            state_since: None,
            group: None,
            series: None,
        });
        if n < publishing {
            let instance = id(n).to_string();
            let dimensions = [("InstanceId", instance.as_str()), ("path", "/"), ("fstype", "xfs")];
            cloud.publish("CWAgent", "disk_used_percent", &dimensions);
        }
    }
    let mut environment = environment(account);
    environment.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_lookup(|var| environment.get(var).cloned()).unwrap();
    let sweeper = Reconciler::new(config, cloud.clone(), cloud.clone(), cloud.clone(), cloud.calls.clone());
    let report = sweeper.handle(Trigger::Sweep { generation: 0 }, RunOptions::new(UnixTime(NOW))).await;
    assert!(!report.failed(), "{report:?}");
    cloud.calls.reset();
    FakeRow {
        cloud,
        function: Some((FUNCTION.to_owned(), Deployed { environment, code_sha256: BUILD.to_owned() })),
        sweeps: vec![UnixTime(NOW - 7200)],
        ..FakeRow::default()
    }
}

fn request(targets: &[(&str, &str)], concurrency: usize) -> FleetRequest {
    FleetRequest {
        targets: targets.iter().map(|(a, r)| ((*a).to_owned(), (*r).to_owned())).collect(),
        function_name: FUNCTION.to_owned(),
        concurrency,
        now: UnixTime(NOW),
    }
}

fn account_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{:012}", 100_000_000_000 + i)).collect()
}

#[tokio::test(start_paused = true)]
async fn never_more_rows_in_flight_than_the_concurrency() {
    let fleet = FakeFleet::new();
    let ids = account_ids(20);
    for account_id in &ids {
        let mut row = account(account_id, 3, 1).await;
        row.latency = Duration::from_secs(1);
        fleet.insert(account_id, "us-east-1", row);
    }
    let targets: Vec<(&str, &str)> = ids.iter().map(|a| (a.as_str(), "us-east-1")).collect();
    let started = tokio::time::Instant::now();
    let report = read_fleet(Arc::new(fleet.clone()), &request(&targets, 4)).await;
    assert_eq!(fleet.max_in_flight(), 4);
    assert_eq!(report.rows_failed(), 0);
    // Each row waits 1 s to open, 1 s for the function, 1 s for the heartbeat
    // (read beside the observation): 3 s a row, 5 rounds of 4.
    assert_eq!(started.elapsed().as_secs(), 15);
    // Rows come back in the order asked, whatever order they finished in.
    let accounts: Vec<&str> = report.rows.iter().map(|r| r.account.as_str()).collect();
    assert_eq!(accounts, ids.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_slow_account_does_not_delay_the_others() {
    let fleet = FakeFleet::new();
    let ids = account_ids(13);
    for (i, account_id) in ids.iter().enumerate() {
        let mut row = account(account_id, 5, 5).await;
        row.latency = if i == 0 { Duration::from_secs(100) } else { Duration::from_millis(500) };
        fleet.insert(account_id, "eu-west-1", row);
    }
    let targets: Vec<(&str, &str)> = ids.iter().map(|a| (a.as_str(), "eu-west-1")).collect();
    let started = tokio::time::Instant::now();
    let report = read_fleet(Arc::new(fleet), &request(&targets, 4)).await;
    let elapsed = started.elapsed();
    let slow = report.rows[0].duration;
    assert_eq!(slow, Duration::from_secs(300));
    // The twelve others share the three other slots (4 rounds of 1.5 s) while the slow one runs.
    assert_eq!(elapsed, slow, "the fleet took as long as its slowest row, not longer");
    for row in &report.rows[1..] {
        assert_eq!(row.duration, Duration::from_millis(1500), "{}", row.account);
        assert_eq!(row.read.as_ref().unwrap().counts.coverage.covered, 5);
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_account_is_an_error_row_and_the_others_are_complete() {
    let fleet = FakeFleet::new();
    let [good, denied, absent, misconfigured, unreadable] =
        ["111111111111", "222222222222", "333333333333", "444444444444", "555555555555"];
    fleet.insert(good, "us-east-1", account(good, 4, 2).await);
    let mut row = account(denied, 4, 2).await;
    row.open_error = Some(PortError::new("AssumeRole", ErrorKind::Refused, "AccessDenied: not authorized"));
    fleet.insert(denied, "us-east-1", row);
    let mut row = account(absent, 4, 2).await;
    row.function = None;
    fleet.insert(absent, "us-east-1", row);
    let mut row = account(misconfigured, 4, 2).await;
    row.function.as_mut().unwrap().1.environment.insert("WARNING_THRESHOLD".into(), "ninety".into());
    fleet.insert(misconfigured, "us-east-1", row);
    let row = account(unreadable, 4, 2).await;
    row.cloud.fail_next("DescribeInstances", ErrorKind::Refused, 1);
    fleet.insert(unreadable, "us-east-1", row);

    let targets = [good, denied, absent, misconfigured, unreadable].map(|a| (a, "us-east-1"));
    let report = read_fleet(Arc::new(fleet), &request(&targets, 16)).await;
    let errors: Vec<Option<&str>> =
        report.rows.iter().map(|r| r.read.as_ref().err().map(String::as_str)).collect();
    assert_eq!(errors[0], None);
    assert_eq!(errors[1], Some("AssumeRole failed (Refused): AccessDenied: not authorized"));
    assert_eq!(errors[2], Some("not deployed"));
    assert!(errors[3].unwrap().contains("WARNING_THRESHOLD"), "{:?}", errors[3]);
    assert!(errors[4].unwrap().starts_with("DescribeInstances failed (Refused)"), "{:?}", errors[4]);
    let good_row = report.rows[0].read.as_ref().unwrap();
    let expected = RowCounts {
        coverage: CoverageCounts {
            instances_running: 4,
            in_scope_running: 4,
            covered: 2,
            provisional: 2,
            ..CoverageCounts::default()
        },
        // Two pairs and two provisional pairs, at US$0.10 per alarm.
        alarms: 8,
        monthly_cost_cents: 80,
        ..RowCounts::default()
    };
    assert_eq!(good_row.counts, expected);
    assert_eq!(good_row.last_sweep, Some(UnixTime(NOW - 7200)));
    assert_eq!(report.totals(), expected);
    let json = report.to_json();
    assert_eq!(json["totals"]["rows"], 5);
    assert_eq!(json["totals"]["rows_failed"], 4);
    assert!(json["rows"][1]["covered"].is_null() && json["rows"][1]["code_sha256"].is_null());
    assert!(!report.healthy());
}

/// Drift, coverage and builds across three accounts, and what each does to the exit status.
#[tokio::test(start_paused = true)]
async fn totals_and_the_exit_status() {
    let fleet = FakeFleet::new();
    let [a, b, c] = ["111111111111", "222222222222", "333333333333"];
    for account_id in [a, b, c] {
        fleet.insert(account_id, "us-east-1", account(account_id, 3, 3).await);
    }
    let targets = [a, b, c].map(|x| (x, "us-east-1"));
    let read = |fleet: &FakeFleet| {
        let fleet = fleet.clone();
        let request = request(&targets, 2);
        async move { read_fleet(Arc::new(fleet), &request).await }
    };
    let report: FleetReport = read(&fleet).await;
    assert!(report.healthy(), "{:?}", report.to_json());
    assert_eq!(report.totals().coverage.covered, 9);

    // b: a new unprotected instance, and one alarm edited by hand.
    let mut row_b = account(b, 3, 3).await;
    row_b.cloud.put_instance(InstanceFacts {
        id: id(50),
        state: InstanceState::Running,
        tags: [("Environment".to_string(), "production".to_string())].into(),
        platform: Default::default(),
        launch_time: Some(UnixTime(NOW - 60)),
        state_since: None,
        group: None,
        series: None,
    });
    let edited = format!("ec2-disk-{}-root-warning", id(0));
    let mut config = row_b.cloud.alarm(&edited).unwrap();
    config.threshold = 75.0;
    row_b.cloud.put_alarm_by_hand(&edited, config);
    row_b.sweeps.clear();
    fleet.insert(b, "us-east-1", row_b);
    let report = read(&fleet).await;
    let counts_b = report.rows[1].read.as_ref().unwrap().counts;
    assert_eq!(
        counts_b,
        RowCounts {
            coverage: CoverageCounts {
                instances_running: 4,
                in_scope_running: 4,
                covered: 3,
                unprotected: 1,
                ..CoverageCounts::default()
            },
            to_create: 2,
            to_update: 1,
            // After the sweep: the two alarms to create counted in.
            alarms: 8,
            monthly_cost_cents: 80,
            ..RowCounts::default()
        }
    );
    assert_eq!(report.rows[1].read.as_ref().unwrap().last_sweep, None);
    let json = report.to_json();
    assert_eq!(json["rows"][1]["monthly_cost_usd"], 0.8);
    assert_eq!(json["totals"]["alarms"], report.totals().alarms);
    assert_eq!(json["totals"]["monthly_cost_usd"], report.totals().monthly_cost_cents as f64 / 100.0);
    assert_eq!(report.totals().coverage.unprotected, 1);
    assert_eq!(report.totals().coverage.in_scope_running, 10);
    assert!(!report.healthy());

    // Fixed, but c runs another build: still not healthy, and the table marks c.
    fleet.insert(b, "us-east-1", account(b, 3, 3).await);
    let mut row_c = account(c, 3, 3).await;
    row_c.function.as_mut().unwrap().1.code_sha256 = "YW5vdGhlci1idWlsZA==".into();
    fleet.insert(c, "us-east-1", row_c);
    let report = read(&fleet).await;
    assert!(!report.healthy());
    let table = handler::fleet::render_table(&report);
    let marked: Vec<&str> = table.lines().filter(|l| l.ends_with(" *")).collect();
    assert_eq!(marked.len(), 1, "{table}");
    assert!(marked[0].starts_with(c), "{table}");
}

/// Silent alarms are counted per row and in the totals, and never count as
/// protection: an instance whose alarms are all silent is unprotected.
#[tokio::test(start_paused = true)]
async fn silent_alarms_are_counted_and_protect_nothing() {
    let fleet = FakeFleet::new();
    let a = "111111111111";
    // Instances 0 and 1 publish; 2 is on the provisional pair.
    let row = account(a, 3, 2).await;
    let long_ago = UnixTime(NOW - 7200);
    row.cloud.set_alarm_state(
        &format!("ec2-disk-{}-root-warning", id(0)),
        StateValue::InsufficientData,
        long_ago,
    );
    for severity in ["warning", "critical"] {
        let name = format!("ec2-disk-provisional-{}-{severity}", id(2));
        row.cloud.set_alarm_state(&name, StateValue::InsufficientData, long_ago);
    }
    fleet.insert(a, "us-east-1", row);
    let report = read_fleet(Arc::new(fleet), &request(&[(a, "us-east-1")], 1)).await;
    let counts = report.rows[0].read.as_ref().unwrap().counts;
    assert_eq!(
        counts,
        RowCounts {
            coverage: CoverageCounts {
                instances_running: 3,
                in_scope_running: 3,
                covered: 1,
                partial: 1,
                unprotected: 1,
                ..CoverageCounts::default()
            },
            alarms_silent: 3,
            alarms: 6,
            monthly_cost_cents: 60,
            ..RowCounts::default()
        }
    );
    assert_eq!(report.totals().alarms_silent, 3);
    let json = report.to_json();
    assert_eq!(
        (json["rows"][0]["alarms_silent"].clone(), json["totals"]["alarms_silent"].clone()),
        (3.into(), 3.into())
    );
    let table = handler::fleet::render_table(&report);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    let silent = header.iter().position(|h| *h == "SILENT").expect("a SILENT column");
    assert_eq!(row[silent], "3", "{table}");
    assert!(!report.healthy());
}

/// A row is judged by its own function's settings: with forecasts on, a
/// missing forecast alarm leaves the instance partly protected, and the
/// forecasts count in the alarms and their cost.
#[tokio::test(start_paused = true)]
async fn forecast_alarms_count_in_coverage_and_cost_where_the_function_has_them() {
    let fleet = FakeFleet::new();
    let a = "111111111111";
    let row = account_with(a, 3, 2, &[("FILL_FORECAST_HOURS", "24")]).await;
    assert!(row.cloud.alarm(&format!("ec2-disk-{}-root-forecast", id(0))).is_some());
    row.cloud.remove_alarm_by_hand(&format!("ec2-disk-{}-root-forecast", id(1)));
    fleet.insert(a, "us-east-1", row);
    let report = read_fleet(Arc::new(fleet), &request(&[(a, "us-east-1")], 1)).await;
    let counts = report.rows[0].read.as_ref().unwrap().counts;
    assert_eq!(
        counts,
        RowCounts {
            coverage: CoverageCounts {
                instances_running: 3,
                in_scope_running: 3,
                covered: 1,
                partial: 1,
                provisional: 1,
                ..CoverageCounts::default()
            },
            // The deleted forecast is to be created again: the alarms after
            // the plan are 3 + 3 for the publishing instances and the third's
            // provisional pair.
            to_create: 1,
            alarms: 8,
            monthly_cost_cents: 80,
            ..RowCounts::default()
        }
    );
}
