//! The opt-in forecast alarm end to end, with `FILL_FORECAST_HOURS=24`: each
//! published filesystem or drive gets a metric-math alarm beside its pair, on
//! exactly its series; the provisional pair gets none; a stop deletes them
//! all; the sweep recreates a deleted one and reverts an edited expression.
//! The test owns its Region (moto's `cn-north-1`, which no other test uses).

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, MetricDataQuery, MetricStat, Statistic};
use e2e_tests::{dimension_set, World, WINDOWS_DISK_METRIC};
use serde_json::Value;

const PRODUCTION: (&str, &str) = ("Environment", "production");
const FORECAST: [(&str, &str); 1] = [("FILL_FORECAST_HOURS", "24")];
const LINUX_EXPRESSION: &str = "IF((m1 >= 50) AND (RATE(m1) > 0), (100 - m1) / (RATE(m1) * 3600), 100000)";
const WINDOWS_EXPRESSION: &str = "IF((m1 <= 50) AND (RATE(m1) < 0), m1 / (0 - (RATE(m1) * 3600)), 100000)";

fn name(id: &str, label: &str, severity: &str) -> String {
    format!("ec2-disk-{id}-{label}-{severity}")
}

fn alarm<'a>(alarms: &'a BTreeMap<String, MetricAlarm>, name: &str) -> &'a MetricAlarm {
    alarms.get(name).unwrap_or_else(|| panic!("{name} missing; alarms: {:?}", alarms.keys()))
}

fn of(alarms: &BTreeMap<String, MetricAlarm>, id: &str) -> Vec<String> {
    alarms.keys().filter(|name| name.contains(id)).cloned().collect()
}

/// The one metric query and the returned expression of a metric-math alarm.
fn math(alarm: &MetricAlarm) -> (&MetricDataQuery, &MetricStat, &str) {
    let name = alarm.alarm_name().unwrap_or_default();
    let queries = alarm.metrics();
    assert_eq!(queries.len(), 2, "{name}: {queries:?}");
    let metric = queries.iter().find(|q| q.metric_stat().is_some()).expect("a metric query");
    let expression = queries.iter().find(|q| q.expression().is_some()).expect("an expression");
    assert_eq!(metric.return_data(), Some(false), "{name}");
    assert_eq!(expression.return_data(), Some(true), "{name}");
    (metric, metric.metric_stat().unwrap(), expression.expression().unwrap())
}

/// The forecast alarm's settings: exactly the series at 3600 s, the
/// expression, threshold 24 below, 2 of 3, the email topic only.
fn assert_forecast(
    world: &World,
    alarm: &MetricAlarm,
    metric: &str,
    series: &[(String, String)],
    expression: &str,
) {
    let name = alarm.alarm_name().unwrap_or_default();
    let (query, stat, text) = math(alarm);
    assert_eq!(query.id(), Some("m1"), "{name}");
    assert_eq!(text, expression, "{name}");
    let watched = stat.metric().expect("metric");
    assert_eq!((watched.namespace(), watched.metric_name()), (Some("CWAgent"), Some(metric)), "{name}");
    let mut dimensions: Vec<(String, String)> = watched
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap_or_default().to_owned(), d.value().unwrap_or_default().to_owned()))
        .collect();
    dimensions.sort();
    assert_eq!(dimensions, series, "{name}: not exactly the published series");
    assert_eq!((stat.period(), stat.stat()), (Some(3600), Some("Average")), "{name}");
    assert_eq!(alarm.threshold(), Some(24.0), "{name}");
    assert_eq!(alarm.comparison_operator(), Some(&ComparisonOperator::LessThanThreshold), "{name}");
    assert_eq!((alarm.evaluation_periods(), alarm.datapoints_to_alarm()), (Some(3), Some(2)), "{name}");
    assert_eq!(alarm.alarm_actions(), [world.topic("disk-warning")], "{name}");
    assert_eq!(alarm.ok_actions(), [world.topic("disk-warning")], "{name}");
    assert!(alarm.insufficient_data_actions().is_empty(), "{name}");
    assert_eq!((alarm.metric_name(), alarm.statistic()), (None, None::<&Statistic>), "{name}");
    let description = alarm.alarm_description().unwrap_or_default();
    assert!(description.starts_with("forecast: "), "{name}: {description}");
    assert!(description.contains("fills in less than 24 hours"), "{name}: {description}");
}

fn counter(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} missing: {report:#}"))
}

#[tokio::test]
async fn forecast_alarms_follow_the_pairs_through_creation_stop_and_sweep() {
    let world = World::new("cn-north-1").await;
    let web = world.launch(&[PRODUCTION, ("Name", "web-1")]).await;
    let sql = world.launch_windows(&[PRODUCTION, ("Name", "sql-1")]).await;
    let fresh = world.launch(&[PRODUCTION]).await;
    let root = [("InstanceId", web.as_str()), ("path", "/"), ("device", "nvme0n1p1"), ("fstype", "xfs")];
    let data = [("InstanceId", web.as_str()), ("path", "/data"), ("device", "nvme1n1"), ("fstype", "ext4")];
    world.put_disk_metric(&root, 42.0).await;
    world.put_disk_metric(&data, 57.0).await;
    world.put_windows_disk_metric(&sql, "C:", 55.0).await;

    // The running events: two pairs and two forecasts for web-1, a pair and
    // a forecast for sql-1's C:, and only the provisional pair for the instance
    // that publishes nothing yet.
    for id in [&web, &sql, &fresh] {
        let event = e2e_tests::sample_event("ec2-running.json", id);
        let report = world.handle_event(&event, &FORECAST).report(0);
        assert_eq!(report["failures"], serde_json::json!([]), "{report:#}");
    }
    let alarms = world.alarms().await;
    let mut expected: Vec<String> = ["root", "data"]
        .iter()
        .flat_map(|label| ["critical", "forecast", "warning"].map(|severity| name(&web, label, severity)))
        .collect();
    expected.sort();
    assert_eq!(of(&alarms, &web), expected);
    assert_forecast(
        &world,
        alarm(&alarms, &name(&web, "root", "forecast")),
        "disk_used_percent",
        &dimension_set(root),
        LINUX_EXPRESSION,
    );
    assert_forecast(
        &world,
        alarm(&alarms, &name(&web, "data", "forecast")),
        "disk_used_percent",
        &dimension_set(data),
        LINUX_EXPRESSION,
    );
    let description = alarm(&alarms, &name(&web, "data", "forecast")).alarm_description().unwrap_or_default();
    assert!(description.contains(&format!("filesystem /data on {web} (web-1)")), "{description}");

    let drive =
        dimension_set([("instance", "C:"), ("objectname", "LogicalDisk"), ("InstanceId", sql.as_str())]);
    assert_eq!(of(&alarms, &sql), ["critical", "forecast", "warning"].map(|s| name(&sql, "c", s)));
    assert_forecast(
        &world,
        alarm(&alarms, &name(&sql, "c", "forecast")),
        WINDOWS_DISK_METRIC,
        &drive,
        WINDOWS_EXPRESSION,
    );

    assert_eq!(
        of(&alarms, &fresh),
        ["critical", "warning"].map(|s| format!("ec2-disk-provisional-{fresh}-{s}")),
        "the provisional pair gets no forecast"
    );

    // The same events again write nothing: the math alarms read back equal.
    let again = world.handle_event(&e2e_tests::sample_event("ec2-running.json", &web), &FORECAST).report(0);
    assert_eq!((counter(&again, "created"), counter(&again, "updated")), (0, 0), "{again:#}");
    assert_eq!(counter(&again, "unchanged"), 6, "{again:#}");

    // What the plan says it costs: every alarm here uses one metric.
    let plan = world.alarmctl_with_env(&["plan", "--json"], b"", &FORECAST).report(0);
    assert_eq!(counter(&plan, "alarms_after_apply"), 11, "{plan:#}");
    assert!((plan["monthly_cost_usd"].as_f64().unwrap() - 1.1).abs() < 1e-9, "{plan:#}");

    // A hand edit of one expression and a deleted forecast: the sweep reverts and recreates.
    let edited = name(&web, "root", "forecast");
    let original = alarm(&alarms, &edited).clone();
    let (query, _, _) = math(&original);
    world
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&edited)
        .set_alarm_description(original.alarm_description().map(str::to_owned))
        .metrics(query.clone())
        .metrics(MetricDataQuery::builder().id("hours_left").expression("m1").return_data(true).build())
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(24.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .alarm_actions(world.topic("disk-warning"))
        .ok_actions(world.topic("disk-warning"))
        .send()
        .await
        .expect("edit the expression");
    let deleted = name(&sql, "c", "forecast");
    world.cloudwatch.delete_alarms().alarm_names(&deleted).send().await.expect("delete");

    let sweep = world.alarmctl_with_env(&["sweep", "--json"], b"", &FORECAST).report(0);
    assert_eq!((counter(&sweep, "created"), counter(&sweep, "updated")), (1, 1), "{sweep:#}");
    let alarms = world.alarms().await;
    assert_forecast(
        &world,
        alarm(&alarms, &edited),
        "disk_used_percent",
        &dimension_set(root),
        LINUX_EXPRESSION,
    );
    assert_forecast(&world, alarm(&alarms, &deleted), WINDOWS_DISK_METRIC, &drive, WINDOWS_EXPRESSION);
    let quiet = world.alarmctl_with_env(&["sweep", "--json"], b"", &FORECAST).report(0);
    assert_eq!(
        (counter(&quiet, "created"), counter(&quiet, "updated"), counter(&quiet, "deleted")),
        (0, 0, 0)
    );

    // `explain` shows the forecast alarm with its expression.
    let explained = world.alarmctl_with_env(&["explain", &web], b"", &FORECAST);
    assert_eq!(explained.code(), 0, "{}", explained.stderr());
    let text = explained.stdout();
    assert!(
        text.contains(&format!("{}: CWAgent/disk_used_percent", name(&web, "data", "forecast"))),
        "{text}"
    );
    assert!(
        text.contains("in scope (warning at 60%, critical at 80%, forecast when full within 24 hours)"),
        "{text}"
    );
    assert!(text.contains("hours until full < 24 for 2 of 3x3600s"), "{text}");
    assert!(text.contains(&format!("expression: {LINUX_EXPRESSION}")), "{text}");

    // A stop deletes the pairs and the forecasts.
    world.stop(&web).await;
    let stopped = world.handle_event(&e2e_tests::sample_event("ec2-stopped.json", &web), &FORECAST).report(0);
    assert_eq!(counter(&stopped, "deleted"), 6, "{stopped:#}");
    assert_eq!(of(&world.alarms().await, &web), Vec::<String>::new());

    // Without the setting, the sweep deletes the forecasts it no longer wants and keeps the pairs.
    let off = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!((counter(&off, "created"), counter(&off, "deleted")), (0, 1), "{off:#}");
    assert_eq!(of(&world.alarms().await, &sql), ["critical", "warning"].map(|s| name(&sql, "c", s)));
}
