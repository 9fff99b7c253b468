//! The reconcile loop against the in-memory fake: observe → plan → apply in a
//! world that changes between calls, with faults injected at the ports.

mod common;

use common::{persons_alarm, reconciler};
use handler::event::{decode, Target, Trigger};
use handler::fake::FakeCloud;
use handler::ports::ErrorKind;
use handler::reconcile::RunOptions;
use reconciler_core::{InstanceFacts, InstanceId, InstanceState, StateClaim, UnixTime};
use serde_json::json;

const NOW: i64 = 1_800_000_000;
const A: &str = "i-0aaaaaaaaaaaaaaaa";
const B: &str = "i-0bbbbbbbbbbbbbbbb";

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn instance(cloud: &FakeCloud, s: &str, state: InstanceState, env: &str) {
    cloud.put_instance(InstanceFacts {
        id: id(s),
        state,
        tags: [("Environment".to_string(), env.to_string()), ("Name".to_string(), format!("web-{s}"))].into(),
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

/// An event from `age` seconds ago claiming `state`.
fn event(s: &str, state: InstanceState, age: i64) -> Trigger {
    Trigger::Instances {
        source: handler::report::TriggerKind::Ec2StateChange,
        targets: vec![Target {
            instance: id(s),
            claim: Some(StateClaim { state, time: UnixTime(NOW - age) }),
        }],
    }
}

fn names(cloud: &FakeCloud) -> Vec<String> {
    cloud.alarm_names()
}

fn owned_pair(s: &str) -> Vec<String> {
    vec![format!("ec2-disk-provisional-{s}-critical"), format!("ec2-disk-provisional-{s}-warning")]
}

#[tokio::test]
async fn running_event_creates_the_pair_and_a_duplicate_writes_nothing() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    let report = r.handle(event(A, InstanceState::Running, 10), options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!(report.created, 2);
    assert_eq!(names(&cloud), owned_pair(A));
    let writes = cloud.writes();
    let again = r.handle(event(A, InstanceState::Running, 10), options()).await;
    assert_eq!((again.created, again.updated, again.deleted, again.unchanged), (0, 0, 0, 2));
    assert_eq!(cloud.writes(), writes, "a duplicate event must cost reads only");
}

#[tokio::test]
async fn stop_then_late_running_event_converges_to_no_alarms() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    r.handle(event(A, InstanceState::Running, 900), options()).await;
    cloud.set_state(&id(A), InstanceState::Stopped);
    r.handle(event(A, InstanceState::Stopped, 600), options()).await;
    assert!(names(&cloud).is_empty());
    // The running event from before the stop arrives again, late.
    let report = r.handle(event(A, InstanceState::Running, 900), options()).await;
    assert!(!report.failed());
    assert!(names(&cloud).is_empty());
}

/// Ordinary reordering: the `running` event arrives seconds after the user
/// stopped the instance. EC2 dates a user-initiated stop, so the order is
/// settled at once: no alarms, and no failed invocation (which would page
/// someone through the function's error alarm).
#[tokio::test]
async fn late_running_event_after_a_dated_user_stop_settles_at_once() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    r.handle(event(A, InstanceState::Running, 30), options()).await;
    assert_eq!(names(&cloud), owned_pair(A));
    cloud.stop_by_user(&id(A), UnixTime(NOW - 10));
    let report = r.handle(event(A, InstanceState::Running, 30), options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!(report.deleted, 2);
    assert!(names(&cloud).is_empty());
    // A running event newer than the dated stop means the API lags behind a
    // start: that stays a retry.
    let report = r.handle(event(A, InstanceState::Running, 2), options()).await;
    assert!(report.failed() && report.failures[0].retryable, "{:?}", report.failures);
    let when = UnixTime(NOW - 2).to_string();
    assert!(report.failures[0].error.contains(&when), "times read as RFC 3339: {}", report.failures[0].error);
}

#[tokio::test]
async fn fresh_event_the_api_has_not_caught_up_with_is_retried_then_converges() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Stopped, "production");
    let r = reconciler(&cloud);
    let report = r.handle(event(A, InstanceState::Running, 5), options()).await;
    assert!(report.failed() && report.failures[0].retryable, "{:?}", report.failures);
    assert!(names(&cloud).is_empty());
    cloud.set_state(&id(A), InstanceState::Running);
    let retry = r.handle(event(A, InstanceState::Running, 65), options()).await;
    assert!(!retry.failed());
    assert_eq!(names(&cloud), owned_pair(A));
}

#[tokio::test]
async fn terminated_event_wins_over_a_lagging_api() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    r.handle(event(A, InstanceState::Running, 100), options()).await;
    let report = r.handle(event(A, InstanceState::Terminated, 1), options()).await;
    assert_eq!(report.deleted, 2);
    assert!(names(&cloud).is_empty());
}

#[tokio::test]
async fn unknown_instance_gets_no_alarms_and_loses_leftovers() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    r.handle(event(A, InstanceState::Running, 100), options()).await;
    cloud.forget_instance(&id(A));
    let report = r.handle(event(A, InstanceState::Terminated, 7200), options()).await;
    assert!(!report.failed());
    assert!(names(&cloud).is_empty());
    let never_existed = r.handle(event(B, InstanceState::Running, 7200), options()).await;
    assert!(!never_existed.failed());
    assert_eq!(never_existed.created, 0);
}

#[tokio::test]
async fn out_of_scope_and_opted_out_instances_get_none() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "staging");
    let r = reconciler(&cloud);
    let report = r.handle(event(A, InstanceState::Running, 100), options()).await;
    assert_eq!((report.created, report.instances_in_scope), (0, 0));
    assert!(names(&cloud).is_empty());
}

#[tokio::test]
async fn a_persons_alarm_under_our_name_is_never_overwritten() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let person = persons_alarm("Alice's own alarm");
    let name = format!("ec2-disk-provisional-{A}-warning");
    cloud.put_alarm_by_hand(&name, person.clone());
    let r = reconciler(&cloud);
    let report = r.handle(event(A, InstanceState::Running, 100), options()).await;
    assert_eq!(report.conflicts.len(), 1, "{:?}", report.conflicts);
    assert_eq!(report.created, 1, "the critical alarm is still created");
    assert_eq!(cloud.alarm(&name), Some(person.clone()));
    cloud.set_state(&id(A), InstanceState::Stopped);
    r.handle(event(A, InstanceState::Stopped, 100), options()).await;
    assert_eq!(cloud.alarm(&name), Some(person), "never deleted either");
}

#[tokio::test]
async fn a_failed_write_fails_the_invocation_and_the_retry_finishes() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    cloud.fail_next("PutMetricAlarm", ErrorKind::Throttled, 1);
    let report = r.handle(event(A, InstanceState::Running, 100), options()).await;
    assert!(report.failed());
    assert_eq!((report.created, report.failures.len()), (1, 1));
    assert!(report.failures[0].retryable);
    let retry = r.handle(event(A, InstanceState::Running, 100), options()).await;
    assert!(!retry.failed());
    assert_eq!(names(&cloud), owned_pair(A));
}

#[tokio::test]
async fn failed_reads_write_nothing_and_are_reported() {
    for operation in ["DescribeInstances", "DescribeAlarms"] {
        let cloud = FakeCloud::new();
        instance(&cloud, A, InstanceState::Running, "production");
        cloud.fail_next(operation, ErrorKind::Transient, 1);
        let report = reconciler(&cloud).handle(event(A, InstanceState::Running, 100), options()).await;
        assert!(report.failed(), "{operation}");
        assert_eq!(cloud.writes(), 0, "{operation}");
    }
}

#[tokio::test]
async fn failed_batch_delete_is_reported_per_alarm() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    r.handle(event(A, InstanceState::Running, 100), options()).await;
    cloud.set_state(&id(A), InstanceState::Stopped);
    cloud.fail_next("DeleteAlarms", ErrorKind::Transient, 1);
    let report = r.handle(event(A, InstanceState::Stopped, 100), options()).await;
    assert_eq!(report.failures.len(), 2);
    assert_eq!(names(&cloud), owned_pair(A));
    r.handle(event(A, InstanceState::Stopped, 100), options()).await;
    assert!(names(&cloud).is_empty());
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let report = reconciler(&cloud)
        .handle(
            event(A, InstanceState::Running, 100),
            RunOptions { dry_run: true, ..RunOptions::new(UnixTime(NOW)) },
        )
        .await;
    assert_eq!(report.created, 2);
    assert_eq!(cloud.writes(), 0);
    assert!(names(&cloud).is_empty());
}

#[tokio::test]
async fn ignored_events_touch_nothing() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    let trigger = decode(json!({"source": "com.example", "detail-type": "Thing", "detail": {}})).unwrap();
    let report = reconciler(&cloud).handle(trigger, options()).await;
    assert!(report.skipped.is_some());
    assert!(cloud.calls.snapshot().is_empty(), "not even a read");
}

/// Observe once, plan once, apply once: every kind of pass calls the applier
/// exactly once, whatever its plan holds (alarms, mutes, tag repairs), and
/// an ignored event not at all.
#[tokio::test]
async fn every_pass_applies_its_one_plan_once() {
    let cloud = FakeCloud::new();
    instance(&cloud, A, InstanceState::Running, "production");
    instance(&cloud, B, InstanceState::Running, "production");
    let r = reconciler(&cloud);
    let notice = reconciler_core::MaintenanceNotice {
        event_arn: "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/x"
            .into(),
        event_type: "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED".into(),
        status: Some(reconciler_core::HealthStatus::Upcoming),
        start: UnixTime(NOW + 86_400),
        end: Some(UnixTime(NOW + 90_000)),
        instances: vec![id(A)],
    };
    let path = [("InstanceId", B), ("path", "/"), ("device", "nvme0n1p1"), ("fstype", "xfs")];
    let passes: Vec<(&str, Trigger, RunOptions)> = vec![
        ("event", event(A, InstanceState::Running, 10), options()),
        ("event again", event(A, InstanceState::Running, 10), options()),
        ("maintenance", Trigger::Maintenance(notice), options()),
        ("event of B", event(B, InstanceState::Running, 10), options()),
        ("follow-up", Trigger::FollowUp, options()),
        ("sweep", Trigger::Sweep { generation: 0 }, options()),
        ("sweep with retag", Trigger::Sweep { generation: 0 }, RunOptions { retag: true, ..options() }),
        ("dry-run sweep", Trigger::Sweep { generation: 0 }, RunOptions { dry_run: true, ..options() }),
    ];
    for (name, trigger, options) in passes {
        if name == "follow-up" {
            cloud.publish("CWAgent", "disk_used_percent", &path);
        }
        let report = r.handle(trigger, options).await;
        assert!(!report.failed(), "{name}: {:?}", report.failures);
        assert_eq!(report.apply_calls, 1, "{name}");
    }
    assert_eq!(cloud.mute_rules_now().len(), 1, "the maintenance pass muted A");
    assert!(names(&cloud).iter().any(|n| n.ends_with("-root-warning")), "the follow-up replaced B's pair");
    let ignored = decode(json!({"source": "com.example", "detail-type": "Thing", "detail": {}})).unwrap();
    assert_eq!(r.handle(ignored, options()).await.apply_calls, 0);
}
