//! Tag changes take effect at once: an `aws.tag` `Tag Change on Resource`
//! event (events/tag-change.json) for an instance re-reads it and converges
//! its alarms, through the handler's code path (`handle_event`) against the
//! in-memory account. The tags the event carries are never trusted.

mod common;

use common::reconciler;
use handler::app::handle_event;
use handler::aws::NoContinuation;
use handler::fake::FakeCloud;
use handler::reconcile::RunOptions;
use handler::report::{Report, TriggerKind};
use reconciler_core::{InstanceFacts, InstanceId, InstanceState, UnixTime};
use serde_json::{json, Value};

/// 2026-11-21T10:00:00Z, the time of the sample event.
const NOW: i64 = 1_795_255_200;
const A: &str = "i-0aaaaaaaaaaaaaaaa";
const SAMPLE_INSTANCE: &str = "i-0123456789abcdef0";

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn instance(cloud: &FakeCloud, s: &str, env: &str) {
    cloud.put_instance(InstanceFacts {
        id: id(s),
        state: InstanceState::Running,
        tags: [("Environment".to_string(), env.to_string()), ("Name".to_string(), "web-1".to_string())]
            .into(),
        platform: Default::default(),
        launch_time: Some(UnixTime(NOW - 3600)),
        state_since: None,
        group: None,
        series: None,
    });
}

/// events/tag-change.json for `instance`, saying `changed` keys changed and
/// the instance now has `tags`.
fn tag_event(instance: &str, changed: &[&str], tags: Value) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/tag-change.json");
    let text = std::fs::read_to_string(path).unwrap().replace(SAMPLE_INSTANCE, instance);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["detail"]["changed-tag-keys"] = json!(changed);
    event["detail"]["tags"] = tags;
    event
}

async fn handle(cloud: &FakeCloud, event: Value) -> Report {
    let report = handle_event(&reconciler(cloud), &NoContinuation, event, RunOptions::new(UnixTime(NOW)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.failed(), "{:?}", report.failures);
    report
}

fn pair(s: &str) -> Vec<String> {
    vec![format!("ec2-disk-provisional-{s}-critical"), format!("ec2-disk-provisional-{s}-warning")]
}

/// A production instance with its pair already in place.
async fn converged() -> FakeCloud {
    let cloud = FakeCloud::new();
    instance(&cloud, A, "production");
    let report = handle(&cloud, tag_event(A, &["Environment"], json!({"Environment": "production"}))).await;
    assert_eq!(report.created, 2);
    cloud
}

#[tokio::test]
async fn tagging_a_staging_instance_production_creates_its_pair_at_once() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, "staging");
    cloud.tag_instance(&id(A), "Environment", "production");
    let report =
        handle(&cloud, tag_event(A, &["Environment"], json!({"Environment": "production", "Name": "web-1"})))
            .await;
    assert_eq!(report.trigger, TriggerKind::TagChange);
    assert_eq!((report.created, report.instances_in_scope), (2, 1));
    assert_eq!(cloud.alarm_names(), pair(A));
    // A duplicate delivery costs reads only.
    let writes = cloud.writes();
    let again = handle(&cloud, tag_event(A, &["Environment"], json!({"Environment": "production"}))).await;
    assert_eq!((again.created, again.unchanged), (0, 2));
    assert_eq!(cloud.writes(), writes);
}

#[tokio::test]
async fn the_events_tags_are_not_trusted_over_the_instance() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, "staging");
    // The event says production, EC2 says staging: EC2 wins.
    let report = handle(&cloud, tag_event(A, &["Environment"], json!({"Environment": "production"}))).await;
    assert_eq!((report.created, report.instances_in_scope), (0, 0));
    assert!(cloud.alarm_names().is_empty());
}

#[tokio::test]
async fn a_threshold_override_updates_the_alarm_in_place() {
    let cloud = converged().await;
    cloud.tag_instance(&id(A), "disk-alarms:critical-threshold", "90");
    let report = handle(
        &cloud,
        tag_event(
            A,
            &["disk-alarms:critical-threshold"],
            json!({"Environment": "production", "disk-alarms:critical-threshold": "90"}),
        ),
    )
    .await;
    assert_eq!((report.created, report.updated, report.deleted, report.unchanged), (0, 1, 0, 1));
    assert_eq!(cloud.alarm_names(), pair(A));
    assert_eq!(cloud.alarm(&pair(A)[0]).unwrap().threshold, 90.0);
    assert_eq!(cloud.alarm(&pair(A)[1]).unwrap().threshold, 60.0);
}

#[tokio::test]
async fn a_name_change_updates_the_descriptions() {
    let cloud = converged().await;
    cloud.tag_instance(&id(A), "Name", "web-renamed");
    let report =
        handle(&cloud, tag_event(A, &["Name"], json!({"Environment": "production", "Name": "web-renamed"})))
            .await;
    assert_eq!((report.created, report.updated, report.deleted), (0, 2, 0));
    for name in pair(A) {
        let description = cloud.alarm(&name).unwrap().description;
        assert!(description.contains(&format!("{A} (web-renamed)")), "{description}");
    }
}

#[tokio::test]
async fn leaving_scope_deletes_the_pair() {
    let cloud = converged().await;
    cloud.tag_instance(&id(A), "Environment", "staging");
    let report = handle(&cloud, tag_event(A, &["Environment"], json!({"Environment": "staging"}))).await;
    assert_eq!((report.deleted, report.instances_in_scope), (2, 0));
    assert!(cloud.alarm_names().is_empty());

    // Removing the scope tag, or opting out, takes the instance out of scope as well.
    for (change, key) in [("untag", "Environment"), ("opt out", "disk-alarms:opt-out")] {
        let cloud = converged().await;
        match change {
            "untag" => cloud.untag_instance(&id(A), key),
            _ => cloud.tag_instance(&id(A), key, "true"),
        }
        let report = handle(&cloud, tag_event(A, &[key], json!({"Name": "web-1"}))).await;
        assert_eq!(report.deleted, 2, "{change}");
        assert!(cloud.alarm_names().is_empty(), "{change}");
    }
}

#[tokio::test]
async fn a_subnets_tag_event_and_an_unrelated_key_write_nothing() {
    let cloud = converged().await;
    let before = (cloud.writes(), cloud.alarm_names());

    let mut subnet = tag_event(A, &["Environment"], json!({"Environment": "staging"}));
    subnet["resources"] = json!(["arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0"]);
    subnet["detail"]["resource-type"] = json!("subnet");
    let calls = cloud.calls.snapshot();
    let report = handle(&cloud, subnet).await;
    assert!(report.skipped.as_deref().unwrap_or_default().contains("subnet"), "{:?}", report.skipped);
    assert_eq!(cloud.calls.snapshot(), calls, "a deliberate skip makes no AWS call");

    cloud.tag_instance(&id(A), "Owner", "alice");
    let report =
        handle(&cloud, tag_event(A, &["Owner"], json!({"Environment": "production", "Owner": "alice"})))
            .await;
    assert_eq!((report.created, report.updated, report.deleted, report.unchanged), (0, 0, 0, 2));
    assert_eq!((cloud.writes(), cloud.alarm_names()), before);
}
