//! Series discovery over the in-memory account: one pair per published
//! filesystem on exactly its dimensions, the provisional pair before the first
//! publish, the follow-up pass that replaces it, and what the sweep does when
//! a series goes away.

mod common;

use common::reconciler;
use handler::app::handle_event;
use handler::aws::NoContinuation;
use handler::event::{Target, Trigger};
use handler::explain::explain;
use handler::fake::FakeCloud;
use handler::observe::FOLLOW_UP_PER_INSTANCE_LISTINGS;
use handler::ports::ErrorKind;
use handler::reconcile::RunOptions;
use handler::render::render_explanation;
use reconciler_core::{Dimension, InstanceFacts, InstanceId, InstanceState, StateClaim, UnixTime};
use serde_json::json;

const NOW: i64 = 1_800_000_000;
const A: &str = "i-0aaaaaaaaaaaaaaaa";
const B: &str = "i-0bbbbbbbbbbbbbbbb";
const NAMESPACE: &str = "CWAgent";
const METRIC: &str = "disk_used_percent";

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn instance(cloud: &FakeCloud, s: &str) {
    cloud.put_instance(InstanceFacts {
        id: id(s),
        state: InstanceState::Running,
        tags: [("Environment".to_string(), "production".to_string())].into(),
        platform: Default::default(),
        launch_time: Some(UnixTime(NOW - 60)),
        state_since: None,
        group: None,
        series: None,
    });
}

/// What the CloudWatch agent publishes for one filesystem, with `append_dimensions: {InstanceId}`.
fn agent(s: &str, path: &str, device: &str, fstype: &str) -> [(&'static str, String); 4] {
    [
        ("InstanceId", s.to_owned()),
        ("path", path.to_owned()),
        ("device", device.to_owned()),
        ("fstype", fstype.to_owned()),
    ]
}

fn publish(cloud: &FakeCloud, dims: &[(&'static str, String)]) {
    let dims: Vec<(&str, &str)> = dims.iter().map(|(n, v)| (*n, v.as_str())).collect();
    cloud.publish(NAMESPACE, METRIC, &dims);
}

fn publish_host(cloud: &FakeCloud, s: &str) {
    publish(cloud, &agent(s, "/", "nvme0n1p1", "xfs"));
    publish(cloud, &agent(s, "/data", "nvme1n1", "ext4"));
    publish(cloud, &agent(s, "/run", "tmpfs", "tmpfs"));
}

fn sorted(dims: &[(&'static str, String)]) -> Vec<Dimension> {
    let mut dims: Vec<Dimension> = dims.iter().map(|(n, v)| Dimension::new(*n, v.as_str())).collect();
    dims.sort();
    dims
}

fn running_event(s: &str) -> Trigger {
    common::running_event(s, NOW)
}

fn options() -> RunOptions {
    RunOptions::new(UnixTime(NOW))
}

fn pair(prefix: &str) -> [String; 2] {
    [format!("{prefix}-critical"), format!("{prefix}-warning")]
}

#[tokio::test]
async fn each_real_filesystem_gets_a_pair_on_exactly_its_published_dimensions() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    publish_host(&cloud, A);
    let r = reconciler(&cloud);
    let report = r.handle(running_event(A), options()).await;
    assert!(!report.failed(), "{:?}", report.failures);

    let mut expected: Vec<String> =
        [pair(&format!("ec2-disk-{A}-data")), pair(&format!("ec2-disk-{A}-root"))].concat().to_vec();
    expected.sort();
    assert_eq!(cloud.alarm_names(), expected);
    for (label, series) in
        [("root", agent(A, "/", "nvme0n1p1", "xfs")), ("data", agent(A, "/data", "nvme1n1", "ext4"))]
    {
        for severity in ["warning", "critical"] {
            let config = cloud.alarm(&format!("ec2-disk-{A}-{label}-{severity}")).unwrap();
            assert_eq!(config.dimensions, sorted(&series), "{label} {severity}");
        }
    }
    assert_eq!(report.instances_provisional, 0);
    assert_eq!(cloud.calls.get("ListMetrics"), 1, "one filtered listing for the one instance");

    // The same event again: nothing to write.
    let writes = cloud.writes();
    let again = r.handle(running_event(A), options()).await;
    assert_eq!((again.created, again.updated, again.deleted), (0, 0, 0));
    assert_eq!(cloud.writes(), writes);
}

/// A filesystem mounted a minute after the follow-up pass replaced the
/// provisional pair: the next pass gives it its pair; an instance started
/// longer ago than `RECENT_START_MINUTES` is not listed again.
#[tokio::test]
async fn a_filesystem_mounted_after_the_follow_up_gets_its_pair_at_the_next_pass() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    instance(&cloud, B);
    let mut old = cloud.instance(&id(B)).expect("B exists");
    old.launch_time = Some(UnixTime(NOW - 2 * 3600));
    cloud.put_instance(old);
    let r = reconciler(&cloud);
    r.handle(running_event(A), options()).await;
    r.handle(running_event(B), options()).await;
    for s in [A, B] {
        publish(&cloud, &agent(s, "/", "nvme0n1p1", "xfs"));
    }
    let replaced = r.handle(Trigger::FollowUp, options()).await;
    assert_eq!((replaced.created, replaced.deleted), (4, 4), "{:?}", replaced.failures);

    // /data appears on both a minute later.
    for s in [A, B] {
        publish(&cloud, &agent(s, "/data", "nvme1n1", "ext4"));
    }
    cloud.calls.reset();
    let report = r.handle(Trigger::FollowUp, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!(report.created, 2, "{:?}", report.changes);
    assert!(cloud.alarm(&format!("ec2-disk-{A}-data-warning")).is_some());
    assert!(
        cloud.alarm(&format!("ec2-disk-{B}-data-warning")).is_none(),
        "B started two hours ago: the sweep's"
    );
    assert!(report.notes.iter().any(|n| n.contains(A) && n.contains("without alarms")), "{:?}", report.notes);
    // The look: the provisional prefix and A's alarms, the instances, A's
    // series; then A converged as the event path does (its mute rules listed,
    // since its alarm names change).
    let calls: Vec<_> = cloud.calls.snapshot().into_iter().collect();
    assert_eq!(
        calls,
        [
            ("DescribeAlarms", 4),
            ("DescribeInstances", 2),
            ("ListAlarmMuteRules", 1),
            ("ListMetrics", 2),
            ("PutMetricAlarm", 2)
        ]
    );

    // Nothing missing now: the next pass writes nothing.
    let writes = cloud.writes();
    r.handle(Trigger::FollowUp, options()).await;
    assert_eq!(cloud.writes(), writes);

    // RECENT_START_MINUTES=0 turns the look off.
    let mut off = reconciler(&cloud);
    off.config.recent_start_seconds = 0;
    cloud.calls.reset();
    off.handle(Trigger::FollowUp, options()).await;
    assert_eq!(cloud.calls.get("ListMetrics"), 0);
}

#[tokio::test]
async fn the_provisional_pair_protects_the_instance_until_the_follow_up_replaces_it() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    let r = reconciler(&cloud);
    let report = r.handle(running_event(A), options()).await;
    assert_eq!(report.instances_provisional, 1);
    assert_eq!(cloud.alarm_names(), pair(&format!("ec2-disk-provisional-{A}")));
    let provisional = cloud.alarm(&format!("ec2-disk-provisional-{A}-warning")).unwrap();
    assert!(provisional.description.contains("Provisional"), "{}", provisional.description);

    // Nothing published yet: the pass looks, and leaves the pair alone.
    cloud.calls.reset();
    let idle = r.handle(Trigger::FollowUp, options()).await;
    assert!(!idle.failed());
    assert_eq!((idle.created, idle.deleted, idle.instances_provisional), (0, 0, 1));
    assert_eq!(cloud.calls.get("DescribeAlarms"), 1);
    assert_eq!(cloud.calls.get("ListMetrics"), 1);
    // The late-mount look: one DescribeInstances page, and no recent instance
    // besides A, which is the provisional case.
    assert_eq!(cloud.calls.get("DescribeInstances"), 1, "nothing to reconcile, nothing more read");

    // The agent starts publishing; the next pass replaces the pair.
    publish_host(&cloud, A);
    let replaced = r.handle(Trigger::FollowUp, options()).await;
    assert!(!replaced.failed(), "{:?}", replaced.failures);
    assert_eq!((replaced.created, replaced.deleted, replaced.instances_provisional), (4, 2, 0));
    assert!(cloud.alarm_names().iter().all(|n| !n.contains("provisional")), "{:?}", cloud.alarm_names());
    assert_eq!(cloud.alarm_names().len(), 4);

    // With no provisional alarm left, a pass lists the provisional prefix and
    // the instances, and looks again at A, started a minute ago: its series
    // and its alarms. Nothing is missing, so nothing more is read or written.
    cloud.calls.reset();
    let writes = cloud.writes();
    let quiet = r.handle(Trigger::FollowUp, options()).await;
    assert_eq!((quiet.created, quiet.updated, quiet.deleted), (0, 0, 0));
    assert_eq!(cloud.writes(), writes);
    let calls: Vec<_> = cloud.calls.snapshot().into_iter().collect();
    assert_eq!(calls, [("DescribeAlarms", 2), ("DescribeInstances", 1), ("ListMetrics", 1)]);
}

#[tokio::test]
async fn many_provisional_instances_share_one_account_wide_listing() {
    let cloud = FakeCloud::new();
    let ids: Vec<String> = (0..FOLLOW_UP_PER_INSTANCE_LISTINGS + 5).map(|n| format!("i-{n:017x}")).collect();
    let r = reconciler(&cloud);
    for s in &ids {
        instance(&cloud, s);
        r.handle(running_event(s), options()).await;
    }
    publish_host(&cloud, &ids[3]);
    cloud.calls.reset();
    let report = r.handle(Trigger::FollowUp, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    // One account-wide listing, then the event path for the one instance that published.
    assert_eq!(cloud.calls.get("ListMetrics"), 2);
    assert_eq!(report.instances_provisional, ids.len() - 1);
    assert_eq!((report.created, report.deleted), (4, 2));
}

#[tokio::test]
async fn the_sweep_discovers_and_retires_the_pair_of_a_series_that_is_gone() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    instance(&cloud, B);
    publish_host(&cloud, A);
    let r = reconciler(&cloud);
    let first = r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    assert!(!first.failed(), "{:?}", first.failures);
    assert_eq!(first.instances_provisional, 1, "B publishes nothing");
    assert_eq!(
        cloud.calls.get("ListMetrics"),
        2,
        "one account-wide listing per platform's metric, not one per instance"
    );
    assert!(cloud.alarm(&format!("ec2-disk-{A}-data-warning")).is_some());
    assert!(cloud.alarm(&format!("ec2-disk-provisional-{B}-warning")).is_some());

    // /data is unmounted: its series drops out of ListMetrics.
    cloud.unpublish(
        NAMESPACE,
        METRIC,
        &[("InstanceId", A), ("path", "/data"), ("device", "nvme1n1"), ("fstype", "ext4")],
    );
    let second = r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    assert!(!second.failed(), "{:?}", second.failures);
    assert_eq!((second.deleted, second.alarms_series_gone), (2, 2));
    assert!(cloud.alarm(&format!("ec2-disk-{A}-data-warning")).is_none());
    assert!(cloud.alarm(&format!("ec2-disk-{A}-root-warning")).is_some());
    let change = second.changes.iter().find(|c| c.action == reconciler_core::Action::Delete).unwrap();
    assert_eq!(change.reason, "its series is no longer published or is now filtered out");
}

#[tokio::test]
async fn a_stopped_instance_loses_its_pairs_and_gets_them_back_when_it_starts() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    publish_host(&cloud, A);
    let r = reconciler(&cloud);
    r.handle(running_event(A), options()).await;
    cloud.set_state(&id(A), InstanceState::Stopped);
    let stop = Trigger::Instances {
        source: handler::report::TriggerKind::Ec2StateChange,
        targets: vec![Target {
            instance: id(A),
            claim: Some(StateClaim { state: InstanceState::Stopped, time: UnixTime(NOW - 5) }),
        }],
    };
    let stopped = r.handle(stop, options()).await;
    assert_eq!(stopped.deleted, 4);
    assert_eq!(stopped.alarms_series_gone, 0, "the instance stopped; its series did not go away");
    cloud.set_state(&id(A), InstanceState::Running);
    let started = r.handle(running_event(A), options()).await;
    assert_eq!(started.created, 4, "the series published before the stop are still listed");
}

#[tokio::test]
async fn a_failed_listing_writes_nothing_and_fails_the_invocation_for_a_retry() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    publish_host(&cloud, A);
    let r = reconciler(&cloud);
    cloud.fail_next("ListMetrics", ErrorKind::Throttled, 1);
    let failed = r.handle(running_event(A), options()).await;
    assert!(failed.failed());
    assert!(failed.failures.iter().all(|f| f.retryable), "{:?}", failed.failures);
    assert!(failed.failures[0].error.contains("ListMetrics"), "{:?}", failed.failures);
    assert_eq!(cloud.writes(), 0);
    let retried = r.handle(running_event(A), options()).await;
    assert!(!retried.failed());
    assert_eq!(retried.created, 4);

    // A sweep that cannot list the series decides nothing: it would otherwise
    // retire every discovered pair.
    cloud.fail_next("ListMetrics", ErrorKind::Transient, 1);
    let writes = cloud.writes();
    let sweep = r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    assert!(sweep.failed());
    assert_eq!(cloud.writes(), writes);
}

#[tokio::test]
async fn alarms_named_by_earlier_releases_are_replaced() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    let r = reconciler(&cloud);
    r.handle(running_event(A), options()).await;
    // What an earlier release created: the same alarms without `provisional-`.
    for severity in ["warning", "critical"] {
        let config = cloud.alarm(&format!("ec2-disk-provisional-{A}-{severity}")).unwrap();
        cloud.remove_alarm_by_hand(&format!("ec2-disk-provisional-{A}-{severity}"));
        cloud.put_alarm_by_hand(&format!("ec2-disk-{A}-{severity}"), config);
    }
    publish_host(&cloud, A);
    let report = r.handle(running_event(A), options()).await;
    assert_eq!((report.created, report.deleted), (4, 2));
    assert!(cloud.alarm(&format!("ec2-disk-{A}-warning")).is_none());
}

#[tokio::test]
async fn maintenance_mutes_the_discovered_alarms() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    publish_host(&cloud, A);
    let r = reconciler(&cloud);
    let event = json!({
        "version": "0", "id": "h-1", "detail-type": "AWS Health Event", "source": "aws.health",
        "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1", "resources": [A],
        "detail": {
            "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/x",
            "service": "EC2", "eventTypeCode": "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
            "eventTypeCategory": "scheduledChange", "statusCode": "upcoming",
            "startTime": "Sat, 05 Dec 2026 14:00:00 GMT", "endTime": "Sat, 05 Dec 2026 16:00:00 GMT",
        },
    });
    handle_event(&r, &NoContinuation, event, RunOptions::new(UnixTime(1_796_400_000))).await.unwrap();
    let rules = cloud.mute_rules_now();
    assert_eq!(rules.len(), 1);
    let mut muted: Vec<String> = rules[0].alarms.iter().map(ToString::to_string).collect();
    muted.sort();
    assert_eq!(muted, cloud.alarm_names());
    assert_eq!(muted.len(), 4);
}

#[tokio::test]
async fn explain_lists_watched_and_skipped_series() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    instance(&cloud, B);
    publish_host(&cloud, A);
    let r = reconciler(&cloud);
    let text = render_explanation(&explain(&r.config, &r.observer, &id(A), UnixTime(NOW)).await.unwrap());
    assert!(text.contains("series:  published in the last 3 hours:"), "{text}");
    assert!(
        text.contains(&format!("watched  [InstanceId={A}, device=nvme0n1p1, fstype=xfs, path=/] as root")),
        "{text}"
    );
    assert!(text.contains("watched  [") && text.contains("as data"), "{text}");
    assert!(text.contains("path=/run]: filesystem type tmpfs matches skip pattern \"tmpfs\""), "{text}");
    assert!(text.contains(&format!("ec2-disk-{A}-data-critical")), "{text}");

    let text = render_explanation(&explain(&r.config, &r.observer, &id(B), UnixTime(NOW)).await.unwrap());
    assert!(text.contains("series:  none published in the last 3 hours"), "{text}");
    assert!(text.contains("desired: (provisional"), "{text}");
    assert!(text.contains(&format!("ec2-disk-provisional-{B}-warning")), "{text}");
}

#[tokio::test]
async fn the_provisional_pair_stays_until_every_alarm_replacing_it_is_written() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    let r = reconciler(&cloud);
    r.handle(running_event(A), options()).await;
    publish_host(&cloud, A);
    // The second of the four creates fails.
    cloud.fail_call("PutMetricAlarm", 2, ErrorKind::Throttled);
    let failed = r.handle(Trigger::FollowUp, options()).await;
    assert!(failed.failed());
    assert_eq!((failed.created, failed.deleted), (3, 0));
    assert!(cloud.alarm(&format!("ec2-disk-provisional-{A}-warning")).is_some());
    assert!(cloud.alarm(&format!("ec2-disk-provisional-{A}-critical")).is_some());
    assert!(failed.notes.iter().any(|n| n.contains("kept until")), "{:?}", failed.notes);
    // The retry finishes the job.
    let retried = r.handle(Trigger::FollowUp, options()).await;
    assert!(!retried.failed(), "{:?}", retried.failures);
    assert_eq!((retried.created, retried.deleted), (1, 2));
    assert_eq!(cloud.alarm_names().len(), 4);
}

#[tokio::test]
async fn explain_fails_rather_than_show_a_provisional_plan_when_series_cannot_be_listed() {
    let cloud = FakeCloud::new();
    instance(&cloud, A);
    publish_host(&cloud, A);
    let r = reconciler(&cloud);
    r.handle(running_event(A), options()).await;
    cloud.fail_next("ListMetrics", ErrorKind::Transient, 1);
    let error = explain(&r.config, &r.observer, &id(A), UnixTime(NOW)).await.map(|_| ()).unwrap_err();
    assert_eq!(error.operation, "ListMetrics");
}
