//! Tag changes end to end: EC2 `CreateTags` on moto, then the `aws.tag`
//! `Tag Change on Resource` event (`events/tag-change.json`), through
//! `alarmctl handle` and through the Lambda binary under the Runtime API
//! emulator. Each test owns a Region.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::MetricAlarm;
use e2e_tests::{provisional_pair, tag_change_event, LambdaFunction, World};
use serde_json::{json, Value};

fn count(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("no {field}: {report:#}"))
}

/// (created, updated, deleted) of a report.
fn writes(report: &Value) -> (u64, u64, u64) {
    (count(report, "created"), count(report, "updated"), count(report, "deleted"))
}

fn assert_no_write_call(report: &Value) {
    for write in ["PutMetricAlarm", "DeleteAlarms", "TagResource", "PutAlarmMuteRule", "DeleteAlarmMuteRule"]
    {
        assert!(report["api_calls"].get(write).is_none(), "{write}: {report:#}");
    }
}

fn description(alarms: &BTreeMap<String, MetricAlarm>, name: &str) -> String {
    alarms[name].alarm_description().unwrap_or_default().to_owned()
}

/// The whole story on one instance, with `send` delivering each event and
/// returning the report (after checking the invocation succeeded, exit 0).
async fn tag_changes_take_effect_at_once(world: &World, send: impl Fn(&Value) -> Value) {
    let id = world.launch(&[("Environment", "staging"), ("Name", "web-1")]).await;
    let (critical, warning) = {
        let pair = provisional_pair(&id);
        (pair[0].clone(), pair[1].clone())
    };

    // A staging instance tagged production gets its pair in that invocation.
    world.tag(&id, "Environment", "production").await;
    let event = tag_change_event(&id, &["Environment"], &world.instance_tags(&id).await);
    let report = send(&event);
    assert_eq!(report["trigger"], "tag-change", "{report:#}");
    assert_eq!(writes(&report), (2, 0, 0), "{report:#}");
    assert_eq!(world.alarm_names().await, provisional_pair(&id));
    let alarms = world.alarms().await;
    assert_eq!(alarms[&critical].threshold(), Some(80.0));
    assert!(description(&alarms, &critical).contains(&format!("{id} (web-1)")), "{alarms:?}");

    // A threshold override updates that alarm in place.
    world.tag(&id, "disk-alarms:critical-threshold", "90").await;
    let event = tag_change_event(&id, &["disk-alarms:critical-threshold"], &world.instance_tags(&id).await);
    let report = send(&event);
    assert_eq!(writes(&report), (0, 1, 0), "{report:#}");
    let alarms = world.alarms().await;
    assert_eq!((alarms[&critical].threshold(), alarms[&warning].threshold()), (Some(90.0), Some(60.0)));

    // A new Name updates both descriptions.
    world.tag(&id, "Name", "web-renamed").await;
    let event = tag_change_event(&id, &["Name"], &world.instance_tags(&id).await);
    let report = send(&event);
    assert_eq!(writes(&report), (0, 2, 0), "{report:#}");
    let alarms = world.alarms().await;
    for name in [&critical, &warning] {
        assert!(description(&alarms, name).contains(&format!("{id} (web-renamed)")), "{alarms:?}");
    }

    // A key that affects no alarm: reads only, and the alarms stay as they are.
    world.tag(&id, "Owner", "alice").await;
    let event = tag_change_event(&id, &["Owner"], &world.instance_tags(&id).await);
    let report = send(&event);
    assert_eq!((writes(&report), count(&report, "unchanged")), ((0, 0, 0), 2), "{report:#}");
    assert_no_write_call(&report);
    assert_eq!(world.alarms().await, alarms, "an unrelated key changed the alarms");

    // A subnet's tag event is a deliberate skip: no AWS call at all.
    let subnets = world.ec2.describe_subnets().send().await.expect("DescribeSubnets");
    let subnet = subnets.subnets()[0].subnet_id().expect("subnet id").to_owned();
    world.tag(&subnet, "Environment", "staging").await;
    let mut event = tag_change_event(&id, &["Environment"], &world.instance_tags(&subnet).await);
    event["resources"] = json!([format!("arn:aws:ec2:{}:123456789012:subnet/{subnet}", world.region)]);
    event["detail"]["resource-type"] = json!("subnet");
    let report = send(&event);
    assert!(report["skipped"].as_str().unwrap_or_default().contains("subnet"), "{report:#}");
    assert_eq!(report["api_calls"], json!({}), "{report:#}");
    assert_eq!(world.alarms().await, alarms, "a subnet's tags changed the alarms");

    // Leaving scope deletes the pair.
    world.tag(&id, "Environment", "staging").await;
    let event = tag_change_event(&id, &["Environment"], &world.instance_tags(&id).await);
    let report = send(&event);
    assert_eq!((writes(&report), count(&report, "instances_in_scope")), ((0, 0, 2), 0), "{report:#}");
    assert!(world.alarm_names().await.is_empty());
}

#[tokio::test]
async fn tag_changes_through_alarmctl_handle() {
    let world = World::new("us-gov-west-1").await;
    tag_changes_take_effect_at_once(&world, |event| world.handle_event(event, &[]).report(0)).await;
}

#[tokio::test]
async fn tag_changes_through_the_runtime_api() {
    let world = World::new("us-gov-east-1").await;
    let function = LambdaFunction::start(&world, &[]);
    tag_changes_take_effect_at_once(&world, |event| function.invoke(event).response()).await;
}
