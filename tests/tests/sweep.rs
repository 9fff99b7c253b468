//! The sweep end to end: `alarmctl sweep` / `alarmctl plan` against moto on
//! 127.0.0.1, after drift made both by events and by hand. Each test owns a
//! Region.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::{Dimension, MetricAlarm};
use e2e_tests::{change_set, World};
use serde_json::{json, Value};

const MARKER: &str = "[managed-by: ec2-disk-alarms]";

/// The names the product gives the alarms of these tests' instances: moto's
/// instances publish no disk series, so each gets the provisional pair.
fn warning(id: &str) -> String {
    format!("ec2-disk-provisional-{id}-warning")
}

fn critical(id: &str) -> String {
    format!("ec2-disk-provisional-{id}-critical")
}

/// A name of a release before series discovery, still recognised as an
/// owned name (and replaced when it carries the ownership marker).
fn earlier_release(id: &str, severity: &str) -> String {
    format!("ec2-disk-{id}-{severity}")
}

/// The line a readable report adds when instances are on the provisional pair.
fn provisional_line(instances: usize) -> String {
    format!(
        "Series: {instances} instance(s) on the provisional pair (no disk series published yet), 0 alarm(s) whose series is gone."
    )
}

/// `PutMetricAlarm` with every setting of `source`, under `name`, with the
/// `InstanceId` dimension pointing at `instance` and the given threshold:
/// what a person editing an alarm in the console (or copying one) does.
async fn put_copy(world: &World, source: &MetricAlarm, name: &str, instance: &str, threshold: f64) {
    let dimensions = source
        .dimensions()
        .iter()
        .map(|d| {
            let value = if d.name() == Some("InstanceId") { instance } else { d.value().unwrap_or_default() };
            Dimension::builder().name(d.name().unwrap_or_default()).value(value).build()
        })
        .collect();
    world
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .set_alarm_description(source.alarm_description().map(str::to_owned))
        .set_namespace(source.namespace().map(str::to_owned))
        .set_metric_name(source.metric_name().map(str::to_owned))
        .set_dimensions(Some(dimensions))
        .set_statistic(source.statistic().cloned())
        .set_extended_statistic(source.extended_statistic().map(str::to_owned))
        .set_unit(source.unit().cloned())
        .set_period(source.period())
        .set_evaluation_periods(source.evaluation_periods())
        .set_datapoints_to_alarm(source.datapoints_to_alarm())
        .threshold(threshold)
        .set_comparison_operator(source.comparison_operator().cloned())
        .set_treat_missing_data(source.treat_missing_data().map(str::to_owned))
        .set_actions_enabled(source.actions_enabled())
        .set_alarm_actions(Some(source.alarm_actions().to_vec()))
        .set_ok_actions(Some(source.ok_actions().to_vec()))
        .set_insufficient_data_actions(Some(source.insufficient_data_actions().to_vec()))
        .send()
        .await
        .expect("PutMetricAlarm");
}

/// An alarm a person created: any name, no ownership marker.
async fn put_persons_alarm(world: &World, name: &str, instance: &str, description: &str) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
    world
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .alarm_description(description)
        .namespace("CWAgent")
        .metric_name("disk_used_percent")
        .dimensions(Dimension::builder().name("InstanceId").value(instance).build())
        .dimensions(Dimension::builder().name("path").value("/").build())
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(95.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions(world.topic("alice-pager"))
        .send()
        .await
        .expect("PutMetricAlarm");
}

/// The readable plan, parsed: the change lines under each instance heading
/// (whitespace collapsed, so column widths do not matter) and the other lines.
struct Rendered {
    by_instance: BTreeMap<String, Vec<String>>,
    other: Vec<String>,
}

fn parse_rendered(text: &str) -> Rendered {
    let mut by_instance: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut other = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.starts_with("  ") {
            let heading = current
                .clone()
                .unwrap_or_else(|| panic!("change line before any instance heading: {line:?}"));
            by_instance.entry(heading).or_default().push(collapsed);
        } else if line.starts_with("i-") {
            assert!(
                by_instance.insert(collapsed.clone(), Vec::new()).is_none(),
                "instance {collapsed} appears twice:\n{text}"
            );
            current = Some(collapsed);
        } else {
            current = None;
            other.push(line.to_owned());
        }
    }
    Rendered { by_instance, other }
}

fn counts(report: &Value) -> [u64; 6] {
    ["created", "updated", "deleted", "unchanged", "instances_examined", "instances_in_scope"]
        .map(|field| report[field].as_u64().unwrap_or_else(|| panic!("{field} missing: {report:#}")))
}

fn assert_owned_alarm(world: &World, alarm: &MetricAlarm, id: &str, threshold: f64, topic: &str) {
    let name = alarm.alarm_name().unwrap_or_default();
    assert_eq!(alarm.threshold(), Some(threshold), "{name}");
    assert_eq!(alarm.alarm_actions(), [world.topic(topic)], "{name}");
    assert_eq!(alarm.ok_actions(), [world.topic(topic)], "{name}");
    assert!(
        alarm.dimensions().iter().any(|d| d.name() == Some("InstanceId") && d.value() == Some(id)),
        "{name}: {:?}",
        alarm.dimensions()
    );
    let description = alarm.alarm_description().unwrap_or_default();
    assert!(description.contains(MARKER), "{name}: {description}");
}

#[tokio::test]
async fn a_sweep_repairs_every_kind_of_drift_and_leaves_persons_alarms_alone() {
    let world = World::new("ca-central-1").await;
    let production = [("Environment", "production")];

    // An instance that has been in sync all along.
    let healthy = world.launch(&production).await;
    // (a) One of its two alarms deleted by hand.
    let hand_deleted = world.launch(&production).await;
    // (b) Its warning threshold edited by hand to 70.
    let hand_edited = world.launch(&production).await;
    // (c) Running and in scope, but its event never arrived.
    let never_evented = world.launch(&production).await;
    // (d) Terminated and (e) stopped, with no event for either.
    let terminated = world.launch(&production).await;
    let stopped = world.launch(&production).await;
    // (f) Had its alarms, then was retagged out of scope.
    let retagged = world.launch(&production).await;
    for id in [&healthy, &hand_deleted, &hand_edited, &terminated, &stopped, &retagged] {
        let report = world.handle_sample("ec2-running.json", id).report(0);
        assert_eq!(report["created"], 2, "{id}: {report:#}");
    }
    assert_eq!(world.alarm_names().await.len(), 12);

    world.cloudwatch.delete_alarms().alarm_names(critical(&hand_deleted)).send().await.expect("DeleteAlarms");

    let original = world.alarms().await[&warning(&hand_edited)].clone();
    put_copy(&world, &original, &warning(&hand_edited), &hand_edited, 70.0).await;
    let edited = world.alarms().await[&warning(&hand_edited)].clone();
    assert_eq!(edited.threshold(), Some(70.0));
    assert_eq!(edited.alarm_description(), original.alarm_description());

    world.terminate(&terminated).await;
    world.stop(&stopped).await;
    world
        .ec2
        .create_tags()
        .resources(&retagged)
        .tags(aws_sdk_ec2::types::Tag::builder().key("Environment").value("staging").build())
        .send()
        .await
        .expect("CreateTags");

    // (h) An owned alarm whose instance EC2 does not know (long gone).
    let gone = "i-0fedcba9876543210";
    let template = world.alarms().await[&warning(&healthy)].clone();
    put_copy(&world, &template, &warning(gone), gone, 60.0).await;

    // (g) A person's own alarm on one of the instances.
    let persons = format!("alice-root-disk-{never_evented}");
    put_persons_alarm(&world, &persons, &never_evented, "Alice's own, 95 % max").await;

    let before = world.alarms().await;
    assert_eq!(before.len(), 12 - 1 + 1 + 1);

    let expected_changes: BTreeSet<(String, String, String, String)> = [
        ("create", critical(&hand_deleted), &hand_deleted, "missing"),
        ("update", warning(&hand_edited), &hand_edited, "threshold 70 → 60"),
        ("create", critical(&never_evented), &never_evented, "missing"),
        ("create", warning(&never_evented), &never_evented, "missing"),
        ("delete", critical(&terminated), &terminated, "instance terminated"),
        ("delete", warning(&terminated), &terminated, "instance terminated"),
        ("delete", critical(&stopped), &stopped, "instance stopped"),
        ("delete", warning(&stopped), &stopped, "instance stopped"),
        ("delete", critical(&retagged), &retagged, "out of scope: Environment=staging"),
        ("delete", warning(&retagged), &retagged, "out of scope: Environment=staging"),
        ("delete", warning(gone), &gone.to_owned(), "instance no longer exists"),
    ]
    .into_iter()
    .map(|(action, alarm, instance, reason)| (action.to_owned(), alarm, instance.clone(), reason.to_owned()))
    .collect();
    // Seven instances are examined (moto still lists the terminated one).
    // Scope is decided by tags alone, so the stopped and terminated
    // production instances count as in scope: six of seven.
    let expected_counts = [3, 1, 7, 4, 7, 6];

    // --- sweep --dry-run: the readable plan, and nothing written.
    let dry = world.alarmctl(&["sweep", "--dry-run"], b"");
    assert_eq!(dry.code(), 0, "{}\n{}", dry.stdout(), dry.stderr());
    let text = dry.stdout();
    let rendered = parse_rendered(&text);
    let line =
        |symbol: &str, action: &str, alarm: &str, reason: &str| format!("{symbol} {action} {alarm} {reason}");
    let expected_text: BTreeMap<String, Vec<String>> = [
        (hand_deleted.clone(), vec![line("+", "create", &critical(&hand_deleted), "missing")]),
        (hand_edited.clone(), vec![line("~", "update", &warning(&hand_edited), "threshold 70 → 60")]),
        (
            never_evented.clone(),
            vec![
                line("+", "create", &critical(&never_evented), "missing"),
                line("+", "create", &warning(&never_evented), "missing"),
            ],
        ),
        (
            terminated.clone(),
            vec![
                line("-", "delete", &critical(&terminated), "instance terminated"),
                line("-", "delete", &warning(&terminated), "instance terminated"),
            ],
        ),
        (
            stopped.clone(),
            vec![
                line("-", "delete", &critical(&stopped), "instance stopped"),
                line("-", "delete", &warning(&stopped), "instance stopped"),
            ],
        ),
        (
            retagged.clone(),
            vec![
                line("-", "delete", &critical(&retagged), "out of scope: Environment=staging"),
                line("-", "delete", &warning(&retagged), "out of scope: Environment=staging"),
            ],
        ),
        (gone.to_owned(), vec![line("-", "delete", &warning(gone), "instance no longer exists")]),
    ]
    .into_iter()
    .collect();
    assert_eq!(rendered.by_instance, expected_text, "plan:\n{text}");
    // The four running production instances publish no disk series.
    let series_line = provisional_line(4);
    assert_eq!(
        without_notes(&rendered.other),
        [
            "Plan: 3 to create, 1 to update, 7 to delete, 4 unchanged; 7 instances examined, 6 in scope; 0 conflicts, 0 failures.",
            series_line.as_str(),
            // 4 unchanged, 1 updated and 3 created, at US$0.10 each.
            "Cost: 8 owned alarm(s) once applied, about US$0.80 a month."
        ],
        "plan:\n{text}"
    );
    assert!(!text.contains(&persons), "plan:\n{text}");
    assert!(!text.contains(&healthy), "plan:\n{text}");
    assert_eq!(world.alarms().await, before, "sweep --dry-run wrote");

    // --- plan --json: the same plan as data, and still nothing written.
    let plan = world.alarmctl(&["plan", "--json"], b"").report(0);
    assert_eq!(plan["dry_run"], true, "{plan:#}");
    assert_eq!(plan["trigger"], "sweep", "{plan:#}");
    assert_eq!(counts(&plan), expected_counts, "{plan:#}");
    assert_eq!(
        (&plan["instances_provisional"], &plan["alarms_series_gone"]),
        (&json!(4), &json!(0)),
        "{plan:#}"
    );
    assert_eq!(change_set(&plan), expected_changes, "{plan:#}");
    assert!(
        plan["changes"].as_array().is_some_and(|c| c.iter().all(|c| c["status"] == "planned")),
        "{plan:#}"
    );
    assert_eq!(plan["conflicts"], serde_json::json!([]), "{plan:#}");
    assert_eq!(plan["failures"], serde_json::json!([]), "{plan:#}");
    assert_eq!(
        (&plan["alarms_after_apply"], &plan["monthly_cost_usd"]),
        (&json!(8), &json!(0.8)),
        "{plan:#}"
    );
    for write in ["PutMetricAlarm", "DeleteAlarms"] {
        assert!(plan["api_calls"].get(write).is_none(), "{plan:#}");
    }
    assert_eq!(world.alarms().await, before, "plan wrote");

    // --- sweep: applies exactly that plan.
    let applied = world.alarmctl(&["sweep"], b"");
    assert_eq!(applied.code(), 0, "{}\n{}", applied.stdout(), applied.stderr());
    let applied_text = parse_rendered(&applied.stdout());
    assert_eq!(applied_text.by_instance, expected_text, "{}", applied.stdout());
    assert_eq!(
        without_notes(&applied_text.other),
        [
            "Applied: 3 created, 1 updated, 7 deleted, 4 unchanged; 7 instances examined, 6 in scope; 0 conflicts, 0 failures.",
            series_line.as_str(),
            "Cost: 8 owned alarm(s) now, about US$0.80 a month."
        ],
        "{}",
        applied.stdout()
    );

    let after = world.alarms().await;
    let mut expected_names: Vec<String> = [&healthy, &hand_deleted, &hand_edited, &never_evented]
        .into_iter()
        .flat_map(|id| [warning(id), critical(id)])
        .chain([persons.clone()])
        .collect();
    expected_names.sort();
    assert_eq!(after.keys().cloned().collect::<Vec<_>>(), expected_names);
    for id in [&healthy, &hand_deleted, &hand_edited, &never_evented] {
        assert_owned_alarm(&world, &after[&warning(id)], id, 60.0, "disk-warning");
        assert_owned_alarm(&world, &after[&critical(id)], id, 80.0, "disk-critical");
    }
    assert_eq!(after[&persons], before[&persons], "the person's alarm was modified");
    // Alarms that already matched were not rewritten (moto restamps on every put).
    for name in [warning(&healthy), critical(&healthy), warning(&hand_deleted), critical(&hand_edited)] {
        assert_eq!(after[&name], before[&name], "{name} was rewritten");
    }
    // The repaired alarm is the one an event would have written.
    assert_eq!(after[&warning(&hand_edited)].alarm_description(), original.alarm_description());

    // --- a second sweep finds nothing to do and writes nothing.
    let again = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(again["dry_run"], false, "{again:#}");
    assert_eq!(counts(&again), [0, 0, 0, 8, 7, 6], "{again:#}");
    assert_eq!(again["instances_provisional"], 4, "{again:#}");
    assert_eq!(again["changes"], serde_json::json!([]), "{again:#}");
    assert_eq!(again["conflicts"], serde_json::json!([]), "{again:#}");
    assert_eq!(again["failures"], serde_json::json!([]), "{again:#}");
    for write in ["PutMetricAlarm", "DeleteAlarms"] {
        assert!(again["api_calls"].get(write).is_none(), "{again:#}");
    }
    assert!(again["api_calls"]["DescribeAlarms"].as_u64() >= Some(1), "{again:#}");
    assert_eq!(world.alarms().await, after, "the second sweep wrote");
}

#[tokio::test]
async fn a_sweep_of_an_empty_region_succeeds_with_nothing_to_do() {
    let world = World::new("ap-south-1").await;

    let plan = world.alarmctl(&["plan", "--json"], b"").report(0);
    assert_eq!(counts(&plan), [0; 6], "{plan:#}");
    assert_eq!(plan["instances_provisional"], 0, "{plan:#}");

    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(report["trigger"], "sweep", "{report:#}");
    assert_eq!(report["dry_run"], false, "{report:#}");
    assert_eq!(counts(&report), [0; 6], "{report:#}");
    for list in ["changes", "conflicts", "failures"] {
        assert_eq!(report[list], serde_json::json!([]), "{list}: {report:#}");
    }
    for write in ["PutMetricAlarm", "DeleteAlarms"] {
        assert!(report["api_calls"].get(write).is_none(), "{report:#}");
    }

    let text = world.alarmctl(&["sweep"], b"");
    assert_eq!(text.code(), 0, "{}\n{}", text.stdout(), text.stderr());
    let stdout = text.stdout();
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(
        without_notes(&lines),
        [
            "Applied: 0 created, 0 updated, 0 deleted, 0 unchanged; 0 instances examined, 0 in scope; 0 conflicts, 0 failures.",
            "Cost: 0 owned alarm(s) now, about US$0.00 a month."
        ]
    );
    assert!(world.alarm_names().await.is_empty());
}

#[tokio::test]
async fn alarms_under_the_owned_names_without_the_marker_are_never_touched() {
    let world = World::new("ap-southeast-2").await;
    let production = [("Environment", "production")];
    let stopped = world.launch(&production).await;
    world.stop(&stopped).await;
    let running = world.launch(&production).await;
    let staging = world.launch(&[("Environment", "staging")]).await;
    let gone = "i-0fedcba9876543210";

    // People's alarms that happen to use the owned naming schemes: the one
    // the product generates now, and the one of earlier releases, which it
    // still recognises (and replaces when the alarm carries the marker).
    let foreign = [
        (warning(&stopped), &stopped),
        (earlier_release(&stopped, "critical"), &stopped),
        (warning(&running), &running),
        (earlier_release(&running, "critical"), &running),
        (critical(&staging), &staging),
        (warning(gone), &gone.to_owned()),
        (earlier_release(gone, "warning"), &gone.to_owned()),
    ];
    for (name, id) in &foreign {
        put_persons_alarm(&world, name, id, "Bob made this one by hand").await;
    }
    let before = world.alarms().await;
    assert_eq!(before.len(), 7);
    let conflict_for = |name: &str| {
        format!(
            "alarm {name} exists without the ownership marker; it is left untouched and {running} is not covered by it"
        )
    };

    // Only the running, in-scope instance's generated name is a conflict; its
    // other severity is still created, and the alarm under its earlier-release
    // name is neither a conflict nor replaced.
    let plan = world.alarmctl(&["plan", "--json"], b"").report(0);
    assert_eq!(plan["conflicts"], serde_json::json!([conflict_for(&warning(&running))]), "{plan:#}");
    let only_create: BTreeSet<_> =
        [("create".to_owned(), critical(&running), running.clone(), "missing".to_owned())].into();
    assert_eq!(change_set(&plan), only_create, "{plan:#}");
    assert_eq!(world.alarms().await, before, "plan wrote");

    let text = world.alarmctl(&["sweep", "--dry-run"], b"");
    assert_eq!(text.code(), 0, "{}\n{}", text.stdout(), text.stderr());
    assert!(
        text.stdout().lines().any(|l| l == format!("! conflict: {}", conflict_for(&warning(&running)))),
        "{}",
        text.stdout()
    );

    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(report["conflicts"], serde_json::json!([conflict_for(&warning(&running))]), "{report:#}");
    assert_eq!(change_set(&report), only_create, "{report:#}");
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64(), report["deleted"].as_u64()),
        (Some(1), Some(0), Some(0)),
        "{report:#}"
    );
    let after = world.alarms().await;
    assert_eq!(after.len(), 8);
    for (name, _) in &foreign {
        assert_eq!(after[name], before[name], "{name} was modified");
    }
    assert_owned_alarm(&world, &after[&critical(&running)], &running, 80.0, "disk-critical");

    // Once that instance stops, its owned alarm goes, the person's stays, and
    // nothing is a conflict any more.
    world.stop(&running).await;
    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(report["conflicts"], serde_json::json!([]), "{report:#}");
    let only_delete: BTreeSet<_> =
        [("delete".to_owned(), critical(&running), running.clone(), "instance stopped".to_owned())].into();
    assert_eq!(change_set(&report), only_delete, "{report:#}");
    let last = world.alarms().await;
    assert_eq!(last, before, "only the people's alarms should remain, unchanged");
}

/// The output lines, after checking that none is a note: the sweep's clean-up
/// of expired mute rules lists them and, finding none, says nothing.
fn without_notes(lines: &[String]) -> Vec<&str> {
    assert!(!lines.iter().any(|l| l.starts_with("! note:")), "{lines:?}");
    lines.iter().map(String::as_str).collect()
}
