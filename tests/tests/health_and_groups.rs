//! AWS Health maintenance events and Auto Scaling groups end to end:
//! `alarmctl handle` against moto on 127.0.0.1. Each test owns a Region.
//!
//! The mutes themselves are in `maintenance.rs`.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::MetricAlarm;
use e2e_tests::{autoscaling_event, dimensions, in_two_days, sample_event, sample_event_with, World};
use serde_json::{json, Value};

const UPCOMING: &str = "health-reboot-maintenance-upcoming.json";
const LAUNCHED: &str = "autoscaling-launch.json";
const TERMINATED: &str = "autoscaling-terminate.json";
const GROUP_NAME_TAG: &str = "aws:autoscaling:groupName";

/// moto's instances publish no disk series, so every instance here has the
/// provisional pair, on the configured root-filesystem dimensions.
fn warning(id: &str) -> String {
    format!("ec2-disk-provisional-{id}-warning")
}

fn critical(id: &str) -> String {
    format!("ec2-disk-provisional-{id}-critical")
}

/// Both alarm names of an instance, sorted as `World::alarms` sorts them.
fn alarm_pair(id: &str) -> Vec<String> {
    vec![critical(id), warning(id)]
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> =
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    pairs.sort();
    pairs
}

fn notes(report: &Value) -> Vec<String> {
    report["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes array: {report:#}"))
        .iter()
        .map(|n| n.as_str().expect("note is a string").to_owned())
        .collect()
}

fn calls(report: &Value, operation: &str) -> u64 {
    report["api_calls"].get(operation).and_then(Value::as_u64).unwrap_or(0)
}

/// The alarms of one instance, by name.
fn alarms_of(alarms: &BTreeMap<String, MetricAlarm>, id: &str) -> BTreeMap<String, MetricAlarm> {
    alarms.iter().filter(|(name, _)| name.contains(id)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// No mute was attempted and nothing was written or failed.
fn assert_nothing_done(report: &Value) {
    for counter in ["created", "updated", "deleted", "mutes_set", "mutes_removed"] {
        assert_eq!(report[counter], 0, "{counter}: {report:#}");
    }
    assert_eq!(report["failures"], json!([]), "{report:#}");
    assert_eq!(report["changes"], json!([]), "{report:#}");
    for write in ["PutMetricAlarm", "DeleteAlarms", "PutAlarmMuteRule", "DeleteAlarmMuteRule"] {
        assert_eq!(calls(report, write), 0, "{write}: {report:#}");
    }
}

#[tokio::test]
async fn health_events_that_need_no_mute_exit_zero_and_write_nothing() {
    let world = World::new("sa-east-1").await;
    let production = world.launch(&[("Environment", "production"), ("Name", "web-1")]).await;

    // (a) An operational issue is not a scheduled change: ignored before any API call.
    let report = world.handle_event(&sample_event_with("health-operational-issue.json", &[]), &[]).report(0);
    let skipped = report["skipped"].as_str().unwrap_or_else(|| panic!("not skipped: {report:#}"));
    assert!(skipped.contains("\"issue\""), "{skipped}");
    assert_nothing_done(&report);
    assert_eq!(report["api_calls"], json!({}), "{report:#}");

    // (b) A scheduled change of another service, naming an in-scope running instance: ignored too.
    let mut rds = sample_event(UPCOMING, &production);
    rds["detail"]["service"] = json!("RDS");
    let report = world.handle_event(&rds, &[]).report(0);
    let skipped = report["skipped"].as_str().unwrap_or_else(|| panic!("not skipped: {report:#}"));
    assert!(skipped.contains("\"RDS\""), "{skipped}");
    assert_nothing_done(&report);
    assert_eq!(report["api_calls"], json!({}), "{report:#}");

    // (c) Upcoming maintenance of instances that have no alarms to mute. The
    // sample's entity tags say Environment=production for every instance; the
    // product must go by the tags EC2 reports, not by the event's.
    let staging = world.launch(&[("Environment", "staging")]).await;
    let stopped = world.launch(&[("Environment", "production")]).await;
    world.stop(&stopped).await;
    let unknown = "i-0fedcba9876543210";
    // `instances_in_scope` goes by the tags alone: the stopped production instance counts.
    for (id, reason, in_scope) in [
        (staging.as_str(), "out of scope: Environment=staging", 0),
        (stopped.as_str(), "instance stopped", 1),
        (unknown, "instance no longer exists", 0),
    ] {
        let report = world.handle_event(&in_two_days(sample_event(UPCOMING, id)), &[]).report(0);
        assert!(report.get("skipped").is_none(), "{report:#}");
        assert_nothing_done(&report);
        assert_eq!(report["instances_in_scope"], in_scope, "{report:#}");
        assert_eq!(notes(&report), [format!("{id}: no alarms to mute: {reason}")], "{report:#}");
    }

    assert!(world.alarm_names().await.is_empty(), "{:?}", world.alarm_names().await);
}

#[tokio::test]
async fn auto_scaling_instances_take_the_groups_scope_and_lose_their_alarms_on_scale_in() {
    let world = World::new("ap-northeast-2").await;
    let group = "checkout-production";
    world.create_launch_template("checkout").await;
    world.create_group(group, "checkout", 2, &[("Environment", "production")]).await;
    let members = world.group_instances(group).await;
    assert_eq!(members.len(), 2, "{members:?}");

    // PropagateAtLaunch=false: the scope tag stays on the group. moto does
    // tag each instance with aws:autoscaling:groupName, as AWS does.
    for id in &members {
        let tags = world.instance_tags(id).await;
        assert!(!tags.contains_key("Environment"), "{id}: {tags:?}");
        assert_eq!(tags.get(GROUP_NAME_TAG).map(String::as_str), Some(group), "{id}: {tags:?}");
    }
    // Without that tag, membership has to come from DescribeAutoScalingInstances.
    // (AWS forbids deleting aws: tags; moto allows it, which tests the other path.)
    let (tagged, untagged) = (&members[0], &members[1]);
    world
        .ec2
        .delete_tags()
        .resources(untagged)
        .tags(aws_sdk_ec2::types::Tag::builder().key(GROUP_NAME_TAG).build())
        .send()
        .await
        .expect("DeleteTags");
    assert!(!world.instance_tags(untagged).await.contains_key(GROUP_NAME_TAG));

    for id in &members {
        let report = world.handle_event(&autoscaling_event(LAUNCHED, id, group), &[]).report(0);
        assert_eq!(report["trigger"], "autoscaling", "{report:#}");
        assert_eq!(
            (report["created"].as_u64(), report["instances_in_scope"].as_u64()),
            (Some(2), Some(1)),
            "{report:#}"
        );
        assert_eq!(calls(&report, "DescribeAutoScalingGroups"), 1, "{report:#}");
        let expected_instances_lookups = if id == untagged { 1 } else { 0 };
        assert_eq!(calls(&report, "DescribeAutoScalingInstances"), expected_instances_lookups, "{report:#}");
        assert!(
            notes(&report).iter().any(|n| n.starts_with(&format!("{id}: ")) && n.contains(group)),
            "{report:#}"
        );
    }
    let alarms = world.alarms().await;
    let mut expected: Vec<String> = members.iter().flat_map(|id| alarm_pair(id)).collect();
    expected.sort();
    assert_eq!(alarms.keys().cloned().collect::<Vec<_>>(), expected);
    for id in &members {
        for name in alarm_pair(id) {
            assert_eq!(
                dimensions(&alarms[&name]),
                pairs(&[("InstanceId", id), ("fstype", "xfs"), ("path", "/")]),
                "{name}: no group dimension unless APPEND_GROUP_DIMENSION=true"
            );
        }
    }

    // A duplicate launch event writes nothing.
    let duplicate = world.handle_event(&autoscaling_event(LAUNCHED, tagged, group), &[]).report(0);
    assert_eq!(duplicate["unchanged"], 2, "{duplicate:#}");
    assert_eq!(calls(&duplicate, "PutMetricAlarm"), 0, "{duplicate:#}");

    // Scale in by one; moto picks which instance goes.
    world.set_desired_capacity(group, 1).await;
    let remaining = world.group_instances(group).await;
    assert_eq!(remaining.len(), 1, "{remaining:?}");
    let gone: Vec<&String> = members.iter().filter(|id| !remaining.contains(id)).collect();
    let [gone] = gone.as_slice() else { panic!("members {members:?}, remaining {remaining:?}") };
    assert_eq!(world.instance_state(gone).await, "terminated");
    let kept = &remaining[0];
    let kept_before = alarms_of(&world.alarms().await, kept);

    let report = world.handle_event(&autoscaling_event(TERMINATED, gone, group), &[]).report(0);
    assert_eq!(report["deleted"], 2, "{report:#}");
    assert_eq!(report["failures"], json!([]), "{report:#}");
    let after = world.alarms().await;
    assert_eq!(after.keys().cloned().collect::<Vec<_>>(), alarm_pair(kept));
    assert_eq!(after, kept_before, "the remaining instance's alarms changed");

    // A duplicate terminate event finds nothing to do.
    let report = world.handle_event(&autoscaling_event(TERMINATED, gone, group), &[]).report(0);
    assert_nothing_done(&report);
}

#[tokio::test]
async fn the_group_dimension_is_added_when_configured_and_the_instances_own_tag_wins() {
    let world = World::new("eu-west-3").await;
    let group = "api-production";
    world.create_launch_template("api").await;
    world.create_group(group, "api", 2, &[("Environment", "production")]).await;
    let members = world.group_instances(group).await;
    assert_eq!(members.len(), 2, "{members:?}");
    let (member, staging) = (&members[0], &members[1]);
    // The instance's own scope tag takes precedence over the group's.
    world
        .ec2
        .create_tags()
        .resources(staging)
        .tags(aws_sdk_ec2::types::Tag::builder().key("Environment").value("staging").build())
        .send()
        .await
        .expect("CreateTags");
    // A production instance outside any group.
    let standalone = world.launch(&[("Environment", "production")]).await;
    let with_group = [("APPEND_GROUP_DIMENSION", "true")];

    // First without the setting: the usual three dimensions.
    world.handle_event(&autoscaling_event(LAUNCHED, member, group), &[]).report(0);
    let alarms = world.alarms().await;
    for name in alarm_pair(member) {
        assert_eq!(
            dimensions(&alarms[&name]),
            pairs(&[("InstanceId", member), ("fstype", "xfs"), ("path", "/")])
        );
    }

    // With it, the existing alarms gain the group dimension.
    let report = world.handle_event(&autoscaling_event(LAUNCHED, member, group), &with_group).report(0);
    assert_eq!((report["created"].as_u64(), report["updated"].as_u64()), (Some(0), Some(2)), "{report:#}");
    let alarms = world.alarms().await;
    assert_eq!(alarms.keys().cloned().collect::<Vec<_>>(), alarm_pair(member));
    for name in alarm_pair(member) {
        assert_eq!(
            dimensions(&alarms[&name]),
            pairs(&[
                ("AutoScalingGroupName", group),
                ("InstanceId", member),
                ("fstype", "xfs"),
                ("path", "/")
            ]),
            "{name}"
        );
    }
    // ...and stay as they are on the next event.
    let report = world.handle_event(&autoscaling_event(LAUNCHED, member, group), &with_group).report(0);
    assert_eq!(report["unchanged"], 2, "{report:#}");
    assert_eq!(calls(&report, "PutMetricAlarm"), 0, "{report:#}");
    assert_eq!(world.alarms().await, alarms);

    // The staging member stays out of scope although its group is production.
    let report = world.handle_event(&autoscaling_event(LAUNCHED, staging, group), &with_group).report(0);
    assert_eq!((report["created"].as_u64(), report["instances_in_scope"].as_u64()), (Some(0), Some(0)));

    // An instance in no group gets no group dimension; looking for its group cost one call.
    let report = world.handle_event(&sample_event("ec2-running.json", &standalone), &with_group).report(0);
    assert_eq!(report["created"], 2, "{report:#}");
    assert_eq!(calls(&report, "DescribeAutoScalingInstances"), 1, "{report:#}");
    assert_eq!(calls(&report, "DescribeAutoScalingGroups"), 0, "{report:#}");
    let alarms = world.alarms().await;
    for name in alarm_pair(&standalone) {
        assert_eq!(
            dimensions(&alarms[&name]),
            pairs(&[("InstanceId", &standalone), ("fstype", "xfs"), ("path", "/")]),
            "{name}"
        );
    }
    let mut expected = [alarm_pair(member), alarm_pair(&standalone)].concat();
    expected.sort();
    assert_eq!(alarms.keys().cloned().collect::<Vec<_>>(), expected);
}
