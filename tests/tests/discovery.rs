//! Series discovery end to end: the CloudWatch agent's disk series are
//! published into moto with `PutMetricData`, and `alarmctl` (the Lambda's code
//! path) must give each real filesystem a pair of alarms on exactly the
//! dimensions of its series, the provisional pair to an instance that
//! publishes nothing yet, and replace that pair once series appear (follow-up
//! pass, sweep). Each test owns a Region.
//!
//! moto's `DescribeAlarmsForMetric` does not require the alarm's dimensions to
//! equal the metric's, so the dimension sets are compared here instead.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic};
use e2e_tests::{change_set, dimension_set, dimensions, follow_up_event, sample_event, World};
use serde_json::{json, Value};

const PRODUCTION: [(&str, &str); 1] = [("Environment", "production")];
const MARKER: &str = "[managed-by: ec2-disk-alarms]";
const REPLACED: &str = "replaced by the instance's current alarms";

/// A mounted filesystem as the CloudWatch agent reports it.
#[derive(Clone, Copy)]
struct Filesystem {
    path: &'static str,
    device: &'static str,
    fstype: &'static str,
}

const ROOT: Filesystem = Filesystem { path: "/", device: "nvme0n1p1", fstype: "xfs" };
const DATA: Filesystem = Filesystem { path: "/data", device: "nvme1n1", fstype: "ext4" };
/// Skipped by filesystem type.
const RUN: Filesystem = Filesystem { path: "/run", device: "tmpfs", fstype: "tmpfs" };
/// Skipped by path, although its type is a real one.
const BOOT: Filesystem = Filesystem { path: "/boot", device: "nvme0n1p2", fstype: "xfs" };
const SRV: Filesystem = Filesystem { path: "/srv", device: "nvme2n1", fstype: "xfs" };

/// Publishes one data point of `fs` for `instance` with the agent's dimensions
/// (`InstanceId` appended, device kept) and returns that dimension set.
async fn publish(world: &World, instance: &str, fs: Filesystem) -> Vec<(String, String)> {
    let dims = [("InstanceId", instance), ("path", fs.path), ("device", fs.device), ("fstype", fs.fstype)];
    world.put_disk_metric(&dims, 42.0).await;
    dimension_set(dims)
}

fn filesystem_alarm(id: &str, label: &str, severity: &str) -> String {
    format!("ec2-disk-{id}-{label}-{severity}")
}

fn filesystem_pair(id: &str, label: &str) -> Vec<String> {
    vec![filesystem_alarm(id, label, "critical"), filesystem_alarm(id, label, "warning")]
}

fn provisional_alarm(id: &str, severity: &str) -> String {
    format!("ec2-disk-provisional-{id}-{severity}")
}

fn provisional_pair(id: &str) -> Vec<String> {
    vec![provisional_alarm(id, "critical"), provisional_alarm(id, "warning")]
}

/// The name of a release before series discovery.
fn earlier_release_alarm(id: &str, severity: &str) -> String {
    format!("ec2-disk-{id}-{severity}")
}

fn sorted(names: impl IntoIterator<Item = Vec<String>>) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().flatten().collect();
    names.sort();
    names
}

fn calls(report: &Value, operation: &str) -> u64 {
    report["api_calls"].get(operation).and_then(Value::as_u64).unwrap_or(0)
}

fn counter(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} missing: {report:#}"))
}

/// (created, updated, deleted, unchanged).
fn writes(report: &Value) -> [u64; 4] {
    ["created", "updated", "deleted", "unchanged"].map(|field| counter(report, field))
}

fn change(action: &str, alarm: &str, instance: &str, reason: &str) -> (String, String, String, String) {
    (action.to_owned(), alarm.to_owned(), instance.to_owned(), reason.to_owned())
}

fn assert_no_writes(report: &Value) {
    assert_eq!(writes(report)[..3], [0, 0, 0], "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    assert_eq!(report["failures"], json!([]), "{report:#}");
    for write in ["PutMetricAlarm", "DeleteAlarms"] {
        assert_eq!(calls(report, write), 0, "{write}: {report:#}");
    }
}

/// The settings every owned alarm shares, by severity.
fn assert_severity_settings(world: &World, alarm: &MetricAlarm, severity: &str) {
    let name = alarm.alarm_name().unwrap_or_default();
    let (threshold, topic) = match severity {
        "warning" => (60.0, "disk-warning"),
        _ => (80.0, "disk-critical"),
    };
    assert_eq!(alarm.namespace(), Some("CWAgent"), "{name}");
    assert_eq!(alarm.metric_name(), Some("disk_used_percent"), "{name}");
    assert_eq!(alarm.threshold(), Some(threshold), "{name}");
    assert_eq!(alarm.comparison_operator(), Some(&ComparisonOperator::GreaterThanOrEqualToThreshold));
    assert_eq!(alarm.statistic(), Some(&Statistic::Average), "{name}");
    assert_eq!((alarm.period(), alarm.evaluation_periods()), (Some(300), Some(2)), "{name}");
    assert_eq!(alarm.alarm_actions(), [world.topic(topic)], "{name}");
    assert_eq!(alarm.ok_actions(), [world.topic(topic)], "{name}");
    assert_eq!(alarm.actions_enabled(), Some(true), "{name}");
    let description = alarm.alarm_description().unwrap_or_default();
    assert!(description.contains(MARKER), "{name}: {description}");
}

/// Both alarms of one filesystem exist and watch exactly `series`: their
/// dimension set equals the published series' set, which `ListMetrics`
/// (moto) still reports for the instance.
async fn assert_filesystem_pair(
    world: &World,
    alarms: &BTreeMap<String, MetricAlarm>,
    id: &str,
    label: &str,
    fs: Filesystem,
    series: &[(String, String)],
) {
    let listed = world.published_series(id).await;
    assert!(listed.iter().any(|s| s == series), "{series:?} is not among the listed series {listed:?}");
    for severity in ["warning", "critical"] {
        let name = filesystem_alarm(id, label, severity);
        let alarm = alarms.get(&name).unwrap_or_else(|| panic!("no {name} in {:?}", alarms.keys()));
        let actual: BTreeSet<(String, String)> = dimensions(alarm).into_iter().collect();
        let expected: BTreeSet<(String, String)> = series.iter().cloned().collect();
        assert_eq!(actual, expected, "{name}: dimensions differ from the published series");
        assert_eq!(alarm.dimensions().len(), series.len(), "{name}: {:?}", alarm.dimensions());
        assert_severity_settings(world, alarm, severity);
        let description = alarm.alarm_description().unwrap_or_default();
        assert!(description.contains(&format!("filesystem {} on {id}", fs.path)), "{name}: {description}");
        assert!(!description.contains("Provisional"), "{name}: {description}");
    }
}

/// Both provisional alarms exist, on `InstanceId` plus the configured
/// root-filesystem dimensions (default `path=/`, `fstype=xfs`).
fn assert_provisional_pair(world: &World, alarms: &BTreeMap<String, MetricAlarm>, id: &str) {
    for severity in ["warning", "critical"] {
        let name = provisional_alarm(id, severity);
        let alarm = alarms.get(&name).unwrap_or_else(|| panic!("no {name} in {:?}", alarms.keys()));
        assert_eq!(
            dimensions(alarm),
            dimension_set([("InstanceId", id), ("fstype", "xfs"), ("path", "/")]),
            "{name}"
        );
        assert_severity_settings(world, alarm, severity);
        let description = alarm.alarm_description().unwrap_or_default();
        assert!(description.contains("Provisional"), "{name}: {description}");
    }
}

fn alarms_of(alarms: &BTreeMap<String, MetricAlarm>, id: &str) -> BTreeMap<String, MetricAlarm> {
    alarms.iter().filter(|(name, _)| name.contains(id)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[tokio::test]
async fn each_real_filesystem_gets_a_pair_on_exactly_its_published_dimensions() {
    let world = World::new("me-south-1").await;
    let id = world.launch(&[("Environment", "production"), ("Name", "db-1")]).await;
    // Another instance's series must not give this one alarms.
    let neighbour = world.launch(&PRODUCTION).await;

    let root = publish(&world, &id, ROOT).await;
    // The agent publishes every minute: the same series again.
    assert_eq!(publish(&world, &id, ROOT).await, root);
    let data = publish(&world, &id, DATA).await;
    let run = publish(&world, &id, RUN).await;
    let boot = publish(&world, &id, BOOT).await;
    publish(&world, &neighbour, SRV).await;
    let mut all = vec![root.clone(), data.clone(), run, boot];
    all.sort();
    assert_eq!(world.published_series(&id).await, all, "moto does not list what was published");

    let report = world.handle_sample("ec2-running.json", &id).report(0);
    assert_eq!(writes(&report), [4, 0, 0, 0], "{report:#}");
    assert_eq!(counter(&report, "instances_in_scope"), 1, "{report:#}");
    assert_eq!(counter(&report, "instances_provisional"), 0, "{report:#}");
    assert_eq!(counter(&report, "alarms_series_gone"), 0, "{report:#}");
    assert_eq!(calls(&report, "ListMetrics"), 1, "{report:#}");
    assert_eq!(report["failures"], json!([]), "{report:#}");

    // One pair for / and one for /data: nothing provisional, nothing for the
    // tmpfs on /run or for /boot, nothing for the neighbour's /srv.
    let alarms = world.alarms().await;
    assert_eq!(
        alarms.keys().cloned().collect::<Vec<_>>(),
        sorted([filesystem_pair(&id, "root"), filesystem_pair(&id, "data")])
    );
    assert_filesystem_pair(&world, &alarms, &id, "root", ROOT, &root).await;
    assert_filesystem_pair(&world, &alarms, &id, "data", DATA, &data).await;
    let description =
        alarms[&filesystem_alarm(&id, "data", "warning")].alarm_description().unwrap_or_default();
    assert!(description.contains(&format!("{id} (db-1)")), "{description}");

    // A duplicate event writes nothing (moto restamps every put, so equal alarms prove it).
    let duplicate = world.handle_sample("ec2-running.json", &id).report(0);
    assert_eq!(writes(&duplicate), [0, 0, 0, 4], "{duplicate:#}");
    assert_no_writes(&duplicate);
    assert_eq!(world.alarms().await, alarms);
}

#[tokio::test]
async fn the_follow_up_pass_replaces_the_provisional_pair_once_series_appear() {
    let world = World::new("af-south-1").await;
    let early = world.launch(&[("Environment", "production"), ("Name", "web-1")]).await;
    // Publishes nothing but a tmpfs throughout: it keeps the provisional pair.
    let silent = world.launch(&PRODUCTION).await;

    // Reconciled before the agent reports: the provisional pair.
    for id in [&early, &silent] {
        let report = world.handle_sample("ec2-running.json", id).report(0);
        assert_eq!(writes(&report), [2, 0, 0, 0], "{report:#}");
        assert_eq!(counter(&report, "instances_provisional"), 1, "{report:#}");
    }
    let provisional = world.alarms().await;
    assert_eq!(
        provisional.keys().cloned().collect::<Vec<_>>(),
        sorted([provisional_pair(&early), provisional_pair(&silent)])
    );
    assert_provisional_pair(&world, &provisional, &early);
    assert_provisional_pair(&world, &provisional, &silent);

    // A follow-up while nothing is published changes nothing.
    let report = world.handle_event(&follow_up_event(), &[]).report(0);
    assert_eq!(report["trigger"], "follow-up", "{report:#}");
    assert_no_writes(&report);
    assert_eq!(counter(&report, "instances_provisional"), 2, "{report:#}");
    assert_eq!(world.alarms().await, provisional);

    let root = publish(&world, &early, ROOT).await;
    let data = publish(&world, &early, DATA).await;
    publish(&world, &early, RUN).await;
    publish(&world, &silent, RUN).await;

    let report = world.handle_event(&follow_up_event(), &[]).report(0);
    assert_eq!(report["trigger"], "follow-up", "{report:#}");
    assert_eq!(writes(&report), [4, 0, 2, 0], "{report:#}");
    assert_eq!(counter(&report, "instances_provisional"), 1, "{report:#}");
    assert_eq!(counter(&report, "alarms_series_gone"), 0, "{report:#}");
    assert_eq!(report["failures"], json!([]), "{report:#}");
    assert_eq!(report["conflicts"], json!([]), "{report:#}");
    let expected: BTreeSet<_> = [
        change("create", &filesystem_alarm(&early, "data", "critical"), &early, "missing"),
        change("create", &filesystem_alarm(&early, "data", "warning"), &early, "missing"),
        change("create", &filesystem_alarm(&early, "root", "critical"), &early, "missing"),
        change("create", &filesystem_alarm(&early, "root", "warning"), &early, "missing"),
        change("delete", &provisional_alarm(&early, "critical"), &early, REPLACED),
        change("delete", &provisional_alarm(&early, "warning"), &early, REPLACED),
    ]
    .into();
    assert_eq!(change_set(&report), expected, "{report:#}");

    let alarms = world.alarms().await;
    assert_eq!(
        alarms.keys().cloned().collect::<Vec<_>>(),
        sorted([filesystem_pair(&early, "root"), filesystem_pair(&early, "data"), provisional_pair(&silent)])
    );
    assert_filesystem_pair(&world, &alarms, &early, "root", ROOT, &root).await;
    assert_filesystem_pair(&world, &alarms, &early, "data", DATA, &data).await;
    assert_eq!(
        alarms_of(&alarms, &silent),
        alarms_of(&provisional, &silent),
        "the silent instance's pair changed"
    );

    // A second follow-up finds nothing to replace and writes nothing.
    let again = world.handle_event(&follow_up_event(), &[]).report(0);
    assert_eq!(again["trigger"], "follow-up", "{again:#}");
    assert_no_writes(&again);
    assert_eq!(counter(&again, "instances_provisional"), 1, "{again:#}");
    assert_eq!(world.alarms().await, alarms, "the second follow-up wrote");

    // The event path agrees with what the follow-up made.
    let event = world.handle_sample("ec2-running.json", &early).report(0);
    assert_eq!(writes(&event), [0, 0, 0, 4], "{event:#}");
    assert_eq!(world.alarms().await, alarms);
}

#[tokio::test]
async fn a_sweep_replaces_the_provisional_pair_with_one_account_wide_listing() {
    let world = World::new("eu-north-1").await;
    let early = world.launch(&PRODUCTION).await;
    let report = world.handle_sample("ec2-running.json", &early).report(0);
    assert_eq!(writes(&report), [2, 0, 0, 0], "{report:#}");
    // Running and in scope, but its event never arrived.
    let unevented = world.launch(&PRODUCTION).await;

    let plan = world.alarmctl(&["plan", "--json"], b"").report(0);
    assert_eq!(writes(&plan), [2, 0, 0, 2], "{plan:#}");
    assert_eq!(counter(&plan, "instances_provisional"), 2, "{plan:#}");

    let root = publish(&world, &early, ROOT).await;
    let data = publish(&world, &early, DATA).await;
    let unevented_root = publish(&world, &unevented, ROOT).await;

    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(report["trigger"], "sweep", "{report:#}");
    assert_eq!(writes(&report), [6, 0, 2, 0], "{report:#}");
    assert_eq!(counter(&report, "instances_provisional"), 0, "{report:#}");
    assert_eq!(counter(&report, "alarms_series_gone"), 0, "{report:#}");
    // Two instances, one listing of each platform's series.
    assert_eq!(calls(&report, "ListMetrics"), 2, "{report:#}");
    assert_eq!(report["failures"], json!([]), "{report:#}");
    let deletes: BTreeSet<_> = change_set(&report).into_iter().filter(|c| c.0 == "delete").collect();
    let expected: BTreeSet<_> = [
        change("delete", &provisional_alarm(&early, "critical"), &early, REPLACED),
        change("delete", &provisional_alarm(&early, "warning"), &early, REPLACED),
    ]
    .into();
    assert_eq!(deletes, expected, "{report:#}");

    let alarms = world.alarms().await;
    assert_eq!(
        alarms.keys().cloned().collect::<Vec<_>>(),
        sorted([
            filesystem_pair(&early, "root"),
            filesystem_pair(&early, "data"),
            filesystem_pair(&unevented, "root")
        ])
    );
    assert_filesystem_pair(&world, &alarms, &early, "root", ROOT, &root).await;
    assert_filesystem_pair(&world, &alarms, &early, "data", DATA, &data).await;
    assert_filesystem_pair(&world, &alarms, &unevented, "root", ROOT, &unevented_root).await;

    let again = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(writes(&again), [0, 0, 0, 6], "{again:#}");
    assert_no_writes(&again);
    assert_eq!(counter(&again, "instances_provisional"), 0, "{again:#}");
    assert_eq!(world.alarms().await, alarms, "the second sweep wrote");
}

#[tokio::test]
async fn a_sweep_counts_the_instances_that_publish_nothing_it_watches() {
    let world = World::new("ap-east-1").await;
    let silent = world.launch(&PRODUCTION).await;
    // Publishes only filesystems the default filter skips.
    let pseudo_only = world.launch(&PRODUCTION).await;
    publish(&world, &pseudo_only, RUN).await;
    publish(&world, &pseudo_only, BOOT).await;
    let publishing = world.launch(&PRODUCTION).await;
    let root = publish(&world, &publishing, ROOT).await;
    // Out of scope: neither alarms nor counted, although it publishes.
    let staging = world.launch(&[("Environment", "staging")]).await;
    publish(&world, &staging, ROOT).await;

    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(writes(&report), [6, 0, 0, 0], "{report:#}");
    assert_eq!(
        (counter(&report, "instances_examined"), counter(&report, "instances_in_scope")),
        (4, 3),
        "{report:#}"
    );
    assert_eq!(counter(&report, "instances_provisional"), 2, "{report:#}");
    // Account-wide listings of the Linux and the Windows metric.
    assert_eq!(calls(&report, "ListMetrics"), 2, "{report:#}");

    let alarms = world.alarms().await;
    assert_eq!(
        alarms.keys().cloned().collect::<Vec<_>>(),
        sorted([
            provisional_pair(&silent),
            provisional_pair(&pseudo_only),
            filesystem_pair(&publishing, "root")
        ])
    );
    assert_provisional_pair(&world, &alarms, &silent);
    assert_provisional_pair(&world, &alarms, &pseudo_only);
    assert_filesystem_pair(&world, &alarms, &publishing, "root", ROOT, &root).await;

    // The readable report says so too, also when there is nothing to do.
    let text = world.alarmctl(&["sweep"], b"");
    assert_eq!(text.code(), 0, "{}\n{}", text.stdout(), text.stderr());
    let stdout = text.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(
            &"Applied: 0 created, 0 updated, 0 deleted, 6 unchanged; 4 instances examined, 3 in scope; 0 conflicts, 0 failures."
        ),
        "{stdout}"
    );
    assert!(
        lines.contains(
            &"Series: 2 instance(s) on the provisional pair (no disk series published yet), 0 alarm(s) whose series is gone."
        ),
        "{stdout}"
    );
    assert_eq!(world.alarms().await, alarms, "the second sweep wrote");
}

/// (name, dimension set) of each alarm line under `desired:` in `alarmctl explain` output.
fn desired_lines(text: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut desired = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("  desired:") {
            inside = true;
            continue;
        }
        if !line.starts_with("    ") {
            inside = false;
        }
        if !inside {
            continue;
        }
        let (name, rest) = line.trim().split_once(": ").unwrap_or_else(|| panic!("desired line {line:?}"));
        let dims =
            rest.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(d, _)| d).unwrap_or_default();
        let set = dims
            .split(", ")
            .map(|pair| {
                let (n, v) = pair.split_once('=').unwrap_or_else(|| panic!("dimension {pair:?} in {line:?}"));
                (n.to_owned(), v.to_owned())
            })
            .collect();
        desired.insert(name.to_owned(), set);
    }
    desired
}

#[tokio::test]
async fn explain_shows_the_watched_and_skipped_series_and_the_provisional_pair() {
    let world = World::new("me-central-1").await;
    let id = world.launch(&[("Environment", "production"), ("Name", "app-1")]).await;
    let root = publish(&world, &id, ROOT).await;
    let data = publish(&world, &id, DATA).await;
    publish(&world, &id, RUN).await;
    publish(&world, &id, BOOT).await;
    let silent = world.launch(&PRODUCTION).await;

    let run = world.alarmctl(&["explain", &id], b"");
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let text = run.stdout();
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "  series:  published in the last 3 hours:".to_owned(),
        format!("    watched  [InstanceId={id}, device=nvme0n1p1, fstype=xfs, path=/] as root"),
        format!("    watched  [InstanceId={id}, device=nvme1n1, fstype=ext4, path=/data] as data"),
        format!(
            "    skipped  [InstanceId={id}, device=tmpfs, fstype=tmpfs, path=/run]: filesystem type tmpfs matches skip pattern \"tmpfs\""
        ),
        format!(
            "    skipped  [InstanceId={id}, device=nvme0n1p2, fstype=xfs, path=/boot]: path /boot matches skip pattern \"/boot\""
        ),
        "  desired:".to_owned(),
    ] {
        assert!(lines.contains(&expected.as_str()), "no line {expected:?} in:\n{text}");
    }
    assert!(!text.contains("provisional"), "{text}");
    let set = |series: &[(String, String)]| series.iter().cloned().collect::<BTreeSet<_>>();
    let expected: BTreeMap<String, BTreeSet<(String, String)>> = [
        (filesystem_alarm(&id, "root", "warning"), set(&root)),
        (filesystem_alarm(&id, "root", "critical"), set(&root)),
        (filesystem_alarm(&id, "data", "warning"), set(&data)),
        (filesystem_alarm(&id, "data", "critical"), set(&data)),
    ]
    .into();
    assert_eq!(desired_lines(&text), expected, "{text}");

    let run = world.alarmctl(&["explain", &silent], b"");
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let text = run.stdout();
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "  series:  none published in the last 3 hours",
        "  desired: (provisional: no published series passes the filter yet; the configured root-filesystem dimensions are watched until one does)",
        "  actual:  no alarms under this instance's prefix",
    ] {
        assert!(lines.contains(&expected), "no line {expected:?} in:\n{text}");
    }
    let provisional_dims = dimension_set([("InstanceId", silent.as_str()), ("fstype", "xfs"), ("path", "/")]);
    let expected: BTreeMap<String, BTreeSet<(String, String)>> = [
        (provisional_alarm(&silent, "warning"), set(&provisional_dims)),
        (provisional_alarm(&silent, "critical"), set(&provisional_dims)),
    ]
    .into();
    assert_eq!(desired_lines(&text), expected, "{text}");

    // Once reconciled, explain finds the alarms it described and nothing to change.
    for instance in [&id, &silent] {
        world.handle_sample("ec2-running.json", instance).report(0);
    }
    for (instance, names) in [
        (&id, sorted([filesystem_pair(&id, "root"), filesystem_pair(&id, "data")])),
        (&silent, provisional_pair(&silent)),
    ] {
        let run = world.alarmctl(&["explain", instance], b"");
        assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
        let text = run.stdout();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"  diff:    none; the alarms match the policy"), "{text}");
        for name in names {
            let threshold = if name.ends_with("-warning") { 60 } else { 80 };
            // The emulator starts a new alarm in OK (AWS: INSUFFICIENT_DATA).
            let expected = format!("    {name} (owned), threshold {threshold}, OK since ");
            assert!(lines.iter().any(|l| l.starts_with(&expected)), "no line {expected:?}... in:\n{text}");
        }
    }
}

#[tokio::test]
async fn alarms_under_the_names_of_earlier_releases_are_replaced() {
    let world = World::new("ap-south-2").await;
    let publishing = world.launch(&PRODUCTION).await;
    let silent = world.launch(&PRODUCTION).await;
    let root = publish(&world, &publishing, ROOT).await;

    // What the release before series discovery left: owned (marker) pairs
    // named `<prefix><instance>-<severity>`.
    for id in [&publishing, &silent] {
        for (severity, threshold, topic) in
            [("warning", 60.0, "disk-warning"), ("critical", 80.0, "disk-critical")]
        {
            world
                .cloudwatch
                .put_metric_alarm()
                .alarm_name(earlier_release_alarm(id, severity))
                .alarm_description(format!("{severity}: filesystem / on {id}.\n{MARKER}"))
                .namespace("CWAgent")
                .metric_name("disk_used_percent")
                .dimensions(Dimension::builder().name("InstanceId").value(id.as_str()).build())
                .dimensions(Dimension::builder().name("path").value("/").build())
                .dimensions(Dimension::builder().name("fstype").value("xfs").build())
                .statistic(Statistic::Average)
                .period(300)
                .evaluation_periods(2)
                .threshold(threshold)
                .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                .alarm_actions(world.topic(topic))
                .ok_actions(world.topic(topic))
                .send()
                .await
                .expect("PutMetricAlarm");
        }
    }

    // The event path: the instance that publishes gets its root pair instead.
    let report = world.handle_event(&sample_event("ec2-running.json", &publishing), &[]).report(0);
    assert_eq!(writes(&report), [2, 0, 2, 0], "{report:#}");
    assert_eq!(counter(&report, "alarms_series_gone"), 0, "{report:#}");
    let expected: BTreeSet<_> = [
        change("create", &filesystem_alarm(&publishing, "root", "critical"), &publishing, "missing"),
        change("create", &filesystem_alarm(&publishing, "root", "warning"), &publishing, "missing"),
        change("delete", &earlier_release_alarm(&publishing, "critical"), &publishing, REPLACED),
        change("delete", &earlier_release_alarm(&publishing, "warning"), &publishing, REPLACED),
    ]
    .into();
    assert_eq!(change_set(&report), expected, "{report:#}");
    let alarms = world.alarms().await;
    assert_eq!(
        alarms_of(&alarms, &publishing).into_keys().collect::<Vec<_>>(),
        filesystem_pair(&publishing, "root")
    );
    assert_filesystem_pair(&world, &alarms, &publishing, "root", ROOT, &root).await;

    // The sweep: the instance that publishes nothing gets the provisional pair instead.
    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(writes(&report), [2, 0, 2, 2], "{report:#}");
    assert_eq!(counter(&report, "instances_provisional"), 1, "{report:#}");
    assert_eq!(counter(&report, "alarms_series_gone"), 0, "{report:#}");
    let changes = change_set(&report);
    let deleted: BTreeSet<&str> =
        changes.iter().filter(|c| c.0 == "delete" && c.2 == silent).map(|c| c.1.as_str()).collect();
    let legacy = [earlier_release_alarm(&silent, "critical"), earlier_release_alarm(&silent, "warning")];
    assert_eq!(deleted, legacy.iter().map(String::as_str).collect(), "{report:#}");
    let alarms = world.alarms().await;
    assert_eq!(
        alarms.keys().cloned().collect::<Vec<_>>(),
        sorted([filesystem_pair(&publishing, "root"), provisional_pair(&silent)])
    );
    assert_provisional_pair(&world, &alarms, &silent);
}

#[tokio::test]
async fn a_filesystem_that_is_no_longer_watched_loses_its_pair_and_the_others_stay() {
    // moto cannot retire a published series, so the /data series stops being
    // watched by configuration (SKIP_PATHS) instead: to the plan it is the
    // same as a series no longer listed.
    let world = World::new("il-central-1").await;
    let id = world.launch(&PRODUCTION).await;
    let root = publish(&world, &id, ROOT).await;
    publish(&world, &id, DATA).await;
    let report = world.handle_sample("ec2-running.json", &id).report(0);
    assert_eq!(writes(&report), [4, 0, 0, 0], "{report:#}");
    let before = world.alarms().await;

    let skip_data = [("SKIP_PATHS", "/data")];
    let report = world.handle_event(&sample_event("ec2-running.json", &id), &skip_data).report(0);
    assert_eq!(writes(&report), [0, 0, 2, 2], "{report:#}");
    assert_eq!(counter(&report, "alarms_series_gone"), 2, "{report:#}");
    assert_eq!(counter(&report, "instances_provisional"), 0, "{report:#}");
    let deleted: BTreeSet<String> =
        change_set(&report).into_iter().filter(|c| c.0 == "delete").map(|c| c.1).collect();
    assert_eq!(deleted, filesystem_pair(&id, "data").into_iter().collect(), "{report:#}");

    let alarms = world.alarms().await;
    assert_eq!(alarms.keys().cloned().collect::<Vec<_>>(), filesystem_pair(&id, "root"));
    assert_filesystem_pair(&world, &alarms, &id, "root", ROOT, &root).await;
    for name in filesystem_pair(&id, "root") {
        assert_eq!(alarms[&name], before[&name], "{name} was rewritten");
    }
}
