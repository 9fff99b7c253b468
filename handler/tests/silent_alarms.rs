//! Silent alarms over the in-memory account: an owned alarm of a running,
//! in-scope instance that has been in `INSUFFICIENT_DATA` for
//! `SILENT_AFTER_MINUTES` is counted and listed by the sweep and the event
//! path, with its likely cause, and shown by `explain`; the alarms of stopped
//! or out-of-scope instances never are. Finding them costs no call.

mod common;

use std::collections::BTreeMap;

use common::reconciler;
use handler::event::Trigger;
use handler::explain::explain;
use handler::fake::FakeCloud;
use handler::reconcile::RunOptions;
use handler::render::{render_explanation, render_report};
use handler::report::Report;
use reconciler_core::{InstanceFacts, InstanceId, InstanceState, SilenceReason, StateValue, UnixTime};

/// When the alarms are made.
const T0: i64 = 1_800_000_000;
const MINUTE: i64 = 60;
const A: &str = "i-0aaaaaaaaaaaaaaaa";
const B: &str = "i-0bbbbbbbbbbbbbbbb";

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn instance(cloud: &FakeCloud, s: &str, environment: &str) {
    cloud.put_instance(InstanceFacts {
        id: id(s),
        state: InstanceState::Running,
        tags: [("Environment".to_string(), environment.to_string())].into(),
        platform: Default::default(),
        launch_time: Some(UnixTime(T0 - MINUTE)),
        state_since: None,
        group: None,
        series: None,
    });
}

/// The agent's root series, with `append_dimensions: {InstanceId}`.
fn publish_root(cloud: &FakeCloud, s: &str) {
    let dims = [("InstanceId", s), ("path", "/"), ("device", "nvme0n1p1"), ("fstype", "xfs")];
    cloud.publish("CWAgent", "disk_used_percent", &dims);
}

fn root(s: &str, severity: &str) -> String {
    format!("ec2-disk-{s}-root-{severity}")
}

fn provisional(s: &str, severity: &str) -> String {
    format!("ec2-disk-provisional-{s}-{severity}")
}

/// A publishing production instance `A` with its pair, made at `T0`.
async fn publishing_instance() -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.set_now(UnixTime(T0));
    instance(&cloud, A, "production");
    publish_root(&cloud, A);
    let made = reconciler(&cloud).handle(Trigger::Sweep { generation: 0 }, at(0)).await;
    assert_eq!(made.created, 2, "{made:?}");
    cloud
}

fn at(minutes: i64) -> RunOptions {
    RunOptions::new(UnixTime(T0 + minutes * MINUTE))
}

fn silent_names(report: &Report) -> Vec<(String, String)> {
    report.silent.iter().map(|s| (s.alarm.to_string(), s.reason.to_string())).collect()
}

#[tokio::test]
async fn an_alarm_whose_series_sends_no_data_is_silent_after_the_threshold() {
    let cloud = publishing_instance().await;
    // Data arrives: the alarms are OK.
    assert_eq!(cloud.alarm_state(&root(A, "warning")).unwrap().value, StateValue::Ok);
    cloud.set_alarm_state(&root(A, "warning"), StateValue::InsufficientData, UnixTime(T0));
    let r = reconciler(&cloud);

    let before = cloud.calls.snapshot();
    let early = r.handle(Trigger::Sweep { generation: 0 }, at(59)).await;
    assert_eq!((early.alarms_silent, early.silent.len()), (0, 0), "{early:?}");

    let between = cloud.calls.snapshot();
    let sweep = r.handle(Trigger::Sweep { generation: 0 }, at(60)).await;
    assert_eq!(sweep.alarms_silent, 1, "{sweep:?}");
    let reason = SilenceReason::NoRecentData.to_string();
    assert_eq!(silent_names(&sweep), [(root(A, "warning"), reason.clone())]);
    assert_eq!(sweep.silent[0].instance, id(A));
    assert_eq!(sweep.silent[0].since, UnixTime(T0));
    // A finding, not a change: nothing is written for it.
    assert_eq!((sweep.created, sweep.updated, sweep.deleted), (0, 0, 0));
    let json = serde_json::to_value(&sweep).unwrap();
    assert_eq!(json["alarms_silent"], 1);
    assert_eq!(
        json["silent"],
        serde_json::json!([{
            "instance": A,
            "alarm": root(A, "warning"),
            "since": "2027-01-15T08:00:00Z",
            "reason": reason,
        }])
    );
    assert_eq!(sweep.emf("DiskAlarmReconciler", "f", 0)["AlarmsSilent"], 1);
    let text = render_report(&sweep);
    assert!(text.contains("Silent: 1 alarm(s)"), "{text}");
    assert!(text.contains(&format!("{} ({A}): since 2027-01-15T08:00:00Z", root(A, "warning"))), "{text}");
    // Exactly the calls of the sweep before, which found nothing.
    let after = cloud.calls.snapshot();
    let made = |from: &BTreeMap<&'static str, u64>, to: &BTreeMap<&'static str, u64>| -> Vec<(&str, u64)> {
        to.iter().map(|(op, n)| (*op, n - from.get(op).copied().unwrap_or(0))).collect()
    };
    assert_eq!(made(&between, &after), made(&before, &between));
}

#[tokio::test]
async fn the_event_path_counts_and_lists_a_silent_alarm() {
    let cloud = publishing_instance().await;
    cloud.set_alarm_state(&root(A, "critical"), StateValue::InsufficientData, UnixTime(T0 - 120 * MINUTE));
    let report = reconciler(&cloud).handle(common::running_event(A, T0), at(0)).await;
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.alarms_silent, 1);
    assert_eq!(silent_names(&report), [(root(A, "critical"), SilenceReason::NoRecentData.to_string())]);
    assert_eq!(report.emf("DiskAlarmReconciler", "f", 0)["AlarmsSilent"], 1);
}

#[tokio::test]
async fn a_provisional_pair_older_than_the_threshold_is_silent() {
    let cloud = FakeCloud::new();
    cloud.set_now(UnixTime(T0));
    instance(&cloud, B, "production");
    let r = reconciler(&cloud);
    let made = r.handle(common::running_event(B, T0), at(0)).await;
    assert_eq!(made.created, 2);
    // A new alarm starts in INSUFFICIENT_DATA, as on AWS; the agent never publishes.
    let state = cloud.alarm_state(&provisional(B, "warning")).unwrap();
    assert_eq!((state.value, state.since), (StateValue::InsufficientData, UnixTime(T0)));

    // The instance was launched a minute before the pair was made: its time counts.
    let early = r.handle(Trigger::Sweep { generation: 0 }, at(58)).await;
    assert_eq!(early.alarms_silent, 0, "{early:?}");
    let sweep = r.handle(Trigger::Sweep { generation: 0 }, at(59)).await;
    let never = SilenceReason::NeverPublished.to_string();
    assert_eq!(
        silent_names(&sweep),
        [(provisional(B, "critical"), never.clone()), (provisional(B, "warning"), never)]
    );
    assert_eq!(sweep.instances_provisional, 1);
    // The follow-up pass judges only the instances it reconciles: none publishes yet.
    let follow_up = r.handle(Trigger::FollowUp, at(90)).await;
    assert_eq!(follow_up.alarms_silent, 0);
}

#[tokio::test]
async fn a_provisional_pair_of_an_instance_publishing_only_filtered_series_is_silent() {
    let cloud = FakeCloud::new();
    cloud.set_now(UnixTime(T0));
    instance(&cloud, B, "production");
    cloud.publish("CWAgent", "disk_used_percent", &[("InstanceId", B), ("path", "/boot"), ("fstype", "xfs")]);
    let r = reconciler(&cloud);
    r.handle(common::running_event(B, T0), at(0)).await;
    let sweep = r.handle(Trigger::Sweep { generation: 0 }, at(120)).await;
    let differ = SilenceReason::DimensionsDiffer.to_string();
    assert_eq!(
        silent_names(&sweep),
        [(provisional(B, "critical"), differ.clone()), (provisional(B, "warning"), differ)]
    );
}

#[tokio::test]
async fn an_alarm_whose_series_stopped_is_silent_until_the_sweep_retires_it() {
    let cloud = publishing_instance().await;
    cloud.set_now(UnixTime(T0 + 10 * MINUTE));
    let dims = [("InstanceId", A), ("path", "/"), ("device", "nvme0n1p1"), ("fstype", "xfs")];
    cloud.unpublish("CWAgent", "disk_used_percent", &dims);
    let state = cloud.alarm_state(&root(A, "warning")).unwrap();
    assert_eq!((state.value, state.since), (StateValue::InsufficientData, UnixTime(T0 + 10 * MINUTE)));
    let r = reconciler(&cloud);
    let sweep = r.handle(Trigger::Sweep { generation: 0 }, at(70)).await;
    let none = SilenceReason::NoSeries.to_string();
    assert_eq!(silent_names(&sweep), [(root(A, "critical"), none.clone()), (root(A, "warning"), none)]);
    // The same sweep retires the pair and falls back to the provisional pair.
    assert_eq!((sweep.created, sweep.deleted, sweep.alarms_series_gone), (2, 2, 2));
}

#[tokio::test]
async fn the_alarms_of_stopped_or_out_of_scope_instances_are_never_silent() {
    let cloud = publishing_instance().await;
    instance(&cloud, B, "production");
    let r = reconciler(&cloud);
    r.handle(Trigger::Sweep { generation: 0 }, at(0)).await;
    for name in
        [root(A, "warning"), root(A, "critical"), provisional(B, "warning"), provisional(B, "critical")]
    {
        cloud.set_alarm_state(&name, StateValue::InsufficientData, UnixTime(T0 - 24 * 60 * MINUTE));
    }
    let before = r.handle(Trigger::Sweep { generation: 0 }, RunOptions { dry_run: true, ..at(0) }).await;
    assert_eq!(before.alarms_silent, 4, "{before:?}");

    cloud.set_state(&id(A), InstanceState::Stopped);
    instance(&cloud, B, "staging");
    // A dry run: the alarms the sweep would delete are still there, and not silent.
    let sweep = r.handle(Trigger::Sweep { generation: 0 }, RunOptions { dry_run: true, ..at(0) }).await;
    assert_eq!(sweep.deleted, 4, "{sweep:?}");
    assert_eq!((sweep.alarms_silent, sweep.silent.len()), (0, 0), "{sweep:?}");
    let event = r.handle(common::running_event(B, T0), RunOptions { dry_run: true, ..at(0) }).await;
    assert_eq!(event.alarms_silent, 0, "{event:?}");
}

#[tokio::test]
async fn a_silent_threshold_of_zero_reports_at_once() {
    let cloud = publishing_instance().await;
    cloud.set_alarm_state(&root(A, "warning"), StateValue::InsufficientData, UnixTime(T0));
    let mut r = reconciler(&cloud);
    r.config.silent_after_seconds = 0;
    let sweep = r.handle(Trigger::Sweep { generation: 0 }, at(0)).await;
    assert_eq!(sweep.alarms_silent, 1);
}

#[tokio::test]
async fn explain_prints_each_alarms_state_and_the_cause_of_a_silent_one() {
    let cloud = publishing_instance().await;
    cloud.set_alarm_state(&root(A, "warning"), StateValue::InsufficientData, UnixTime(T0));
    let r = reconciler(&cloud);
    let explanation = explain(&r.config, &r.observer, &id(A), UnixTime(T0 + 61 * MINUTE)).await.unwrap();
    let text = render_explanation(&explanation);
    let warning = format!(
        "    {} (owned), threshold 60, INSUFFICIENT_DATA since 2027-01-15T08:00:00Z\n      SILENT: protects nothing; likely cause: {}\n",
        root(A, "warning"),
        SilenceReason::NoRecentData
    );
    assert!(text.contains(&warning), "{text}");
    let critical =
        format!("    {} (owned), threshold 80, OK since 2027-01-15T08:00:00Z\n", root(A, "critical"));
    assert!(text.contains(&critical), "{text}");
    assert_eq!(text.matches("SILENT").count(), 1, "{text}");
    let json = serde_json::to_value(&explanation).unwrap();
    let actual = json["actual"].as_array().unwrap();
    let silent: Vec<&serde_json::Value> = actual.iter().filter(|a| a.get("silent").is_some()).collect();
    assert_eq!(silent.len(), 1, "{json}");
    assert_eq!(silent[0]["state"]["value"], "INSUFFICIENT_DATA");

    // Before the threshold the state is shown, and nothing is silent.
    let early = explain(&r.config, &r.observer, &id(A), UnixTime(T0 + 30 * MINUTE)).await.unwrap();
    assert!(!render_explanation(&early).contains("SILENT"));
}
