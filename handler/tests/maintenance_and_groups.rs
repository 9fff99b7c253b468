//! AWS Health maintenance mutes and Auto Scaling group awareness, against the
//! in-memory account: the events go through the same decoding and handling
//! as in production.

mod common;

use common::reconciler;
use handler::app::handle_event;
use handler::aws::NoContinuation;
use handler::event::Trigger;
use handler::fake::FakeCloud;
use handler::ports::ErrorKind;
use handler::reconcile::RunOptions;
use reconciler_core::{AlarmName, InstanceFacts, InstanceId, InstanceState, UnixTime, AUTOSCALING_GROUP_TAG};
use serde_json::{json, Value};

/// 2026-11-21T10:00:00Z
const NOW: i64 = 1_795_255_200;
/// 2026-12-05T14:00:00Z, two weeks later.
const START: i64 = 1_796_479_200;
const A: &str = "i-0aaaaaaaaaaaaaaaa";
const B: &str = "i-0bbbbbbbbbbbbbbbb";
const C: &str = "i-0cccccccccccccccc";
const ARN: &str = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED_7f3a";

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn instance(cloud: &FakeCloud, s: &str, tags: &[(&str, &str)]) {
    cloud.put_instance(InstanceFacts {
        id: id(s),
        state: InstanceState::Running,
        tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        platform: Default::default(),
        launch_time: Some(UnixTime(NOW - 3600)),
        state_since: None,
        group: None,
        series: None,
    });
}

fn options() -> RunOptions {
    RunOptions::new(UnixTime(NOW))
}

fn health(status: &str, end: Option<&str>, instances: &[&str]) -> Value {
    let mut detail = json!({
        "eventArn": ARN,
        "service": "EC2",
        "eventTypeCode": "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
        "eventTypeCategory": "scheduledChange",
        "statusCode": status,
        "startTime": "Sat, 05 Dec 2026 14:00:00 GMT",
        "affectedEntities": instances.iter().map(|i| json!({"entityValue": i})).collect::<Vec<_>>(),
    });
    if let Some(end) = end {
        detail["endTime"] = json!(end);
    }
    json!({
        "version": "0", "id": "h-1", "detail-type": "AWS Health Event", "source": "aws.health",
        "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
        "resources": instances, "detail": detail,
    })
}

fn autoscaling(detail_type: &str, instance: &str) -> Value {
    json!({
        "version": "0", "id": "a-1", "detail-type": detail_type, "source": "aws.autoscaling",
        "account": "123456789012", "time": "2026-11-21T09:59:00Z", "region": "us-east-1", "resources": [],
        "detail": {"EC2InstanceId": instance, "AutoScalingGroupName": "web", "StatusCode": "InProgress"},
    })
}

fn alarm_names(s: &str) -> Vec<AlarmName> {
    ["warning", "critical"]
        .map(|sev| AlarmName::parse(&format!("ec2-disk-provisional-{s}-{sev}")).unwrap())
        .to_vec()
}

#[tokio::test]
async fn upcoming_maintenance_mutes_exactly_the_in_scope_instances_for_the_window() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    instance(&cloud, B, &[("Environment", "staging")]);
    let r = reconciler(&cloud);
    let event = health("upcoming", Some("Sat, 05 Dec 2026 16:00:00 GMT"), &[A, B, C]);
    let report = handle_event(&r, &NoContinuation, event, options()).await.unwrap();

    let rules = cloud.mute_rules_now();
    assert_eq!(rules.len(), 1, "{rules:?}");
    let rule = &rules[0];
    assert_eq!(rule.instance, id(A));
    assert_eq!(rule.alarms, alarm_names(A));
    // 10 minutes of lead before the start, 30 minutes of margin after the end.
    assert_eq!((rule.window.start.0, rule.window.end.0), (START - 600, START + 7200 + 1800));
    assert_eq!(rule.window.schedule_expression(), "at(2026-12-05T13:50)");
    assert_eq!(rule.window.duration(), "PT2H40M");
    assert_eq!(report.mutes_set, 1);
    // The muted instance's alarms were made right first; the others got none.
    assert_eq!(cloud.alarm_names().len(), 2);
    assert!(report.notes.iter().any(|n| n.contains(B) && n.contains("out of scope")), "{:?}", report.notes);
    assert!(
        report.notes.iter().any(|n| n.contains(C) && n.contains("no longer exists")),
        "{:?}",
        report.notes
    );
}

#[tokio::test]
async fn repeated_updated_and_closed_events_upsert_then_remove_the_one_rule() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    let r = reconciler(&cloud);
    let end = Some("Sat, 05 Dec 2026 16:00:00 GMT");
    handle_event(&r, &NoContinuation, health("upcoming", end, &[A]), options()).await.unwrap();
    let first = cloud.mute_rules_now();
    handle_event(&r, &NoContinuation, health("upcoming", end, &[A]), options()).await.unwrap();
    assert_eq!(cloud.mute_rules_now(), first, "the same event again leaves the same single rule");

    let moved = Some("Sat, 05 Dec 2026 20:00:00 GMT");
    handle_event(&r, &NoContinuation, health("open", moved, &[A]), options()).await.unwrap();
    let updated = cloud.mute_rules_now();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].name, first[0].name);
    assert_eq!(updated[0].window.end.0, START + 6 * 3600 + 1800);

    let report = handle_event(&r, &NoContinuation, health("closed", moved, &[A]), options()).await.unwrap();
    assert!(cloud.mute_rules_now().is_empty());
    assert_eq!(report.mutes_removed, 1);
    assert_eq!(cloud.alarm_names().len(), 2, "closing the maintenance leaves the alarms in place");
}

#[tokio::test]
async fn no_end_time_mutes_for_the_default_duration() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    let r = reconciler(&cloud);
    handle_event(&r, &NoContinuation, health("upcoming", None, &[A]), options()).await.unwrap();
    let rule = &cloud.mute_rules_now()[0];
    assert_eq!((rule.window.start.0, rule.window.end.0), (START - 600, START + 2 * 3600 + 1800));
}

#[tokio::test]
async fn a_failed_mute_fails_the_invocation_for_a_retry() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    let r = reconciler(&cloud);
    cloud.fail_next("PutAlarmMuteRule", ErrorKind::Throttled, 1);
    let event = health("upcoming", Some("Sat, 05 Dec 2026 16:00:00 GMT"), &[A]);
    let error = handle_event(&r, &NoContinuation, event.clone(), options()).await.unwrap_err();
    assert!(error.to_string().contains("1 retryable"), "{error}");
    assert!(cloud.mute_rules_now().is_empty());
    // Lambda's retry of the same event finishes the job.
    handle_event(&r, &NoContinuation, event, options()).await.unwrap();
    assert_eq!(cloud.mute_rules_now().len(), 1);
}

#[tokio::test]
async fn the_sweep_removes_expired_mutes_and_only_ours() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    let r = reconciler(&cloud);
    handle_event(&r, &NoContinuation, health("upcoming", None, &[A]), options()).await.unwrap();
    let sweep = json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-12-06T02:00:00Z", "detail": {}});

    // Before the window ends the rule stays.
    let report = handle_event(&r, &NoContinuation, sweep.clone(), options()).await.unwrap();
    assert_eq!((report.mutes_removed, cloud.mute_rules_now().len()), (0, 1));

    let after = START + 86_400;
    cloud.set_now(UnixTime(after));
    let report = handle_event(&r, &NoContinuation, sweep, RunOptions::new(UnixTime(after))).await.unwrap();
    assert_eq!(report.mutes_removed, 1);
    assert!(cloud.mute_rules_now().is_empty());
}

#[tokio::test]
async fn a_group_lends_its_scope_tag_to_instances_without_one() {
    let cloud = FakeCloud::new();
    cloud.put_group("web", &[("Environment", "production")]);
    cloud.put_group("batch", &[("Environment", "staging")]);
    // Launched by the group, carrying AWS's group tag but not the scope tag.
    instance(&cloud, A, &[(AUTOSCALING_GROUP_TAG, "web")]);
    // Attached to the group by hand: no group tag; only the Auto Scaling API knows.
    instance(&cloud, B, &[]);
    cloud.join_group(&id(B), "web");
    // The instance's own tag wins over its group's.
    instance(&cloud, C, &[(AUTOSCALING_GROUP_TAG, "batch"), ("Environment", "production")]);
    let r = reconciler(&cloud);
    for s in [A, B, C] {
        let report =
            handle_event(&r, &NoContinuation, autoscaling("EC2 Instance Launch Successful", s), options())
                .await
                .unwrap();
        assert_eq!(report.created, 2, "{s}: {:?}", report.notes);
    }
    assert_eq!(cloud.alarm_names().len(), 6);
    assert_eq!(cloud.calls.get("DescribeAutoScalingInstances"), 1, "only B needed a membership lookup");

    // Scale-in: the terminated instance loses its alarms with its event.
    cloud.set_state(&id(A), InstanceState::Terminated);
    let report =
        handle_event(&r, &NoContinuation, autoscaling("EC2 Instance Terminate Successful", A), options())
            .await
            .unwrap();
    assert_eq!(report.deleted, 2);
    assert!(cloud.alarm_names().iter().all(|n| !n.contains(A)));
}

#[tokio::test]
async fn the_sweep_batches_group_lookups_and_keeps_group_scoped_alarms() {
    let cloud = FakeCloud::new();
    cloud.put_group("web", &[("Environment", "production")]);
    let untagged: Vec<String> = (0..120).map(|n| format!("i-0{n:016x}")).collect();
    for s in &untagged {
        instance(&cloud, s, &[]);
        cloud.join_group(&id(s), "web");
    }
    let r = reconciler(&cloud);
    let sweep = json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-21T02:00:00Z", "detail": {}});
    let report = handle_event(&r, &NoContinuation, sweep.clone(), options()).await.unwrap();
    assert_eq!(report.created, 240);
    assert_eq!(report.api_calls["DescribeAutoScalingInstances"], 3, "50 + 50 + 20");
    assert_eq!(report.api_calls["DescribeAutoScalingGroups"], 1);
    let again = handle_event(&r, &NoContinuation, sweep, options()).await.unwrap();
    assert_eq!((again.created, again.deleted, again.unchanged), (0, 0, 240));
}

#[tokio::test]
async fn a_failed_group_lookup_changes_nothing_and_fails_for_a_retry() {
    let cloud = FakeCloud::new();
    cloud.put_group("web", &[("Environment", "production")]);
    instance(&cloud, A, &[(AUTOSCALING_GROUP_TAG, "web")]);
    let r = reconciler(&cloud);
    let launch = autoscaling("EC2 Instance Launch Successful", A);
    handle_event(&r, &NoContinuation, launch.clone(), options()).await.unwrap();
    let before = cloud.writes();
    cloud.fail_next("DescribeAutoScalingGroups", ErrorKind::Transient, 1);
    let sweep = json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-21T02:00:00Z", "detail": {}});
    assert!(handle_event(&r, &NoContinuation, sweep, options()).await.is_err());
    assert_eq!(
        cloud.writes(),
        before,
        "without the group's tags nothing may be decided, least of all deletes"
    );
    assert_eq!(cloud.alarm_names().len(), 2);
}

#[tokio::test]
async fn the_group_dimension_profile_adds_auto_scaling_group_name() {
    let cloud = FakeCloud::new();
    cloud.put_group("web", &[]);
    instance(&cloud, A, &[(AUTOSCALING_GROUP_TAG, "web"), ("Environment", "production")]);
    instance(&cloud, B, &[("Environment", "production")]);
    let mut r = reconciler(&cloud);
    r.config.policy.linux.group_dimension = true;
    for s in [A, B] {
        handle_event(&r, &NoContinuation, autoscaling("EC2 Instance Launch Successful", s), options())
            .await
            .unwrap();
    }
    let dims = |name: &str| {
        cloud
            .alarm(name)
            .unwrap()
            .dimensions
            .iter()
            .map(|d| format!("{}={}", d.name, d.value))
            .collect::<Vec<_>>()
    };
    assert!(
        dims(&format!("ec2-disk-provisional-{A}-warning")).contains(&"AutoScalingGroupName=web".to_owned())
    );
    assert!(dims(&format!("ec2-disk-provisional-{B}-warning"))
        .iter()
        .all(|d| !d.starts_with("AutoScalingGroupName")));
}

#[tokio::test]
async fn explain_shows_the_group_the_scope_decision_and_the_mutes() {
    let cloud = FakeCloud::new();
    cloud.put_group("web", &[("Environment", "production")]);
    instance(&cloud, A, &[(AUTOSCALING_GROUP_TAG, "web")]);
    let r = reconciler(&cloud);
    handle_event(&r, &NoContinuation, health("upcoming", None, &[A]), options()).await.unwrap();

    let explanation = handler::explain::explain(&r.config, &r.observer, &id(A), UnixTime(NOW)).await.unwrap();
    let text = handler::render::render_explanation(&explanation);
    assert!(text.contains("group:   web (tags: Environment=production)"), "{text}");
    assert!(text.contains("in scope through Auto Scaling group web"), "{text}");
    let rule = &cloud.mute_rules_now()[0];
    assert!(text.contains(&format!("{} scheduled (until 2026-12-05T16:30 UTC)", rule.name)), "{text}");
    assert!(text.contains("diff:    none"), "{text}");

    // Mutes that cannot be listed do not hide the rest of the answer.
    cloud.fail_next("ListAlarmMuteRules", ErrorKind::Refused, 1);
    let text = handler::render::render_explanation(
        &handler::explain::explain(&r.config, &r.observer, &id(A), UnixTime(NOW)).await.unwrap(),
    );
    assert!(text.contains("mutes:   could not be listed"), "{text}");
    assert!(text.contains("desired:"), "{text}");
}

/// `A` publishes `filesystems` mounts, `/m0`, `/m1`, …
fn publish_mounts(cloud: &FakeCloud, s: &str, filesystems: usize) {
    for n in 0..filesystems {
        let path = format!("/m{n}");
        let dims = [("InstanceId", s), ("path", path.as_str()), ("device", "nvme1n1"), ("fstype", "xfs")];
        cloud.publish("CWAgent", "disk_used_percent", &dims);
    }
}

fn rules_by_name(cloud: &FakeCloud) -> Vec<(String, usize)> {
    let mut rules: Vec<(String, usize)> =
        cloud.mute_rules_now().into_iter().map(|r| (r.name.clone(), r.alarms.len())).collect();
    rules.sort();
    rules
}

/// Every rule of ours names only alarms that exist, and together they name
/// every alarm of `s`.
fn assert_rules_cover_exactly(cloud: &FakeCloud, s: &str) {
    let existing: std::collections::BTreeSet<String> =
        cloud.alarm_names().into_iter().filter(|n| n.contains(s)).collect();
    let mut named = std::collections::BTreeSet::new();
    for rule in cloud.mute_rules_now() {
        assert!(rule.alarms.len() <= 100, "{} names {}", rule.name, rule.alarms.len());
        for alarm in rule.alarms {
            assert!(existing.contains(alarm.as_str()), "{} names {alarm}, which does not exist", rule.name);
            named.insert(alarm.to_string());
        }
    }
    assert_eq!(named, existing);
}

#[tokio::test]
async fn an_instance_with_120_alarms_is_muted_in_two_rules_and_a_repeat_changes_nothing() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    publish_mounts(&cloud, A, 60);
    let r = reconciler(&cloud);
    let event = health("upcoming", Some("Sat, 05 Dec 2026 16:00:00 GMT"), &[A]);
    let report = handle_event(&r, &NoContinuation, event.clone(), options()).await.unwrap();
    assert_eq!((report.created, report.mutes_set), (120, 2), "{:?}", report.failures);
    let rules = rules_by_name(&cloud);
    assert_eq!(rules.iter().map(|(_, n)| n).collect::<Vec<_>>(), [&100, &20]);
    assert!(rules[1].0.ends_with("-2"), "{rules:?}");
    assert_rules_cover_exactly(&cloud, A);

    let writes = cloud.writes();
    let again = handle_event(&r, &NoContinuation, event, options()).await.unwrap();
    assert_eq!(rules_by_name(&cloud), rules);
    assert_eq!(again.mutes_set, 2, "rewritten with the same content");
    assert_eq!(cloud.writes() - writes, 2, "only the two rules, no alarm");
}

#[tokio::test]
async fn a_mute_covers_the_forecast_alarms_and_follows_a_forecast_turned_on_by_tag() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    publish_mounts(&cloud, A, 40);
    let mut r = reconciler(&cloud);
    r.config.policy.forecast.hours = Some(24.0);
    let event = health("upcoming", Some("Sat, 05 Dec 2026 16:00:00 GMT"), &[A]);
    let report = handle_event(&r, &NoContinuation, event, options()).await.unwrap();
    assert_eq!((report.created, report.mutes_set), (120, 2), "{:?}", report.failures);
    let forecasts = cloud.alarm_names().into_iter().filter(|n| n.ends_with("-forecast")).count();
    assert_eq!(forecasts, 40);
    assert_rules_cover_exactly(&cloud, A);

    // Off for this instance by tag: the forecasts go, and the rules name only what is left.
    cloud.tag_instance(&id(A), "disk-alarms:fill-forecast-hours", "0");
    let report = r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!(report.deleted, 40);
    assert_eq!(rules_by_name(&cloud).iter().map(|(_, n)| *n).sum::<usize>(), 80);
    assert_rules_cover_exactly(&cloud, A);
}

#[tokio::test]
async fn a_rule_follows_the_alarms_that_replace_the_provisional_pair() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    let r = reconciler(&cloud);
    let event = health("upcoming", Some("Sat, 05 Dec 2026 16:00:00 GMT"), &[A]);
    handle_event(&r, &NoContinuation, event, options()).await.unwrap();
    let before = cloud.mute_rules_now();
    assert_eq!(before[0].alarms, alarm_names(A), "the provisional pair is muted");

    // The agent publishes two filesystems; the follow-up pass replaces the pair.
    publish_mounts(&cloud, A, 2);
    let report = r.handle(Trigger::FollowUp, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!((report.created, report.deleted, report.mutes_set), (4, 2, 1));
    let after = cloud.mute_rules_now();
    assert_eq!(after.len(), 1);
    assert_eq!((after[0].name.as_str(), after[0].window), (before[0].name.as_str(), before[0].window));
    assert_rules_cover_exactly(&cloud, A);
    assert!(report.changes.iter().any(|c| c.reason.contains("rewritten")), "{:?}", report.changes);

    // The next follow-up and an event of the instance change nothing.
    let writes = cloud.writes();
    r.handle(Trigger::FollowUp, options()).await;
    r.handle(common::running_event(A, NOW), options()).await;
    assert_eq!(cloud.writes(), writes);
}

#[tokio::test]
async fn the_sweep_repairs_a_rule_edited_by_hand_and_removes_the_rule_of_a_stopped_instance() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, &[("Environment", "production")]);
    instance(&cloud, B, &[("Environment", "production")]);
    let r = reconciler(&cloud);
    let event = health("upcoming", Some("Sat, 05 Dec 2026 16:00:00 GMT"), &[A, B]);
    handle_event(&r, &NoContinuation, event, options()).await.unwrap();
    let mut edited = cloud.mute_rules_now().into_iter().find(|rule| rule.instance == id(A)).unwrap();
    edited.alarms.truncate(1);
    cloud.put_mute_rule_by_hand(edited.clone());
    // B stops; its event is lost, so the sweep is the first to see it.
    cloud.set_state(&id(B), InstanceState::Stopped);

    let report = r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!(cloud.calls.get("GetAlarmMuteRule"), 2, "the two rules in force, read in full");
    let rules = cloud.mute_rules_now();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0].alarms.len(), 2, "the hand-edited rule names both alarms again");
    assert_rules_cover_exactly(&cloud, A);
    assert_eq!((report.mutes_set, report.mutes_removed, report.deleted), (1, 1, 2));
}
