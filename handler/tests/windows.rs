//! Mixed fleets over the in-memory account: Windows drives get free-space
//! alarms on exactly their published series, Linux and Windows instances
//! share one configuration, and every alarm is tagged when it is created.

mod common;

use common::reconciler;
use handler::event::Trigger;
use handler::fake::FakeCloud;
use handler::observe::FOLLOW_UP_PER_INSTANCE_LISTINGS;
use handler::reconcile::RunOptions;
use reconciler_core::{
    parse_alarm_tags, ComparisonOperator, Dimension, InstanceFacts, InstanceId, InstanceState, Platform,
    UnixTime,
};

const NOW: i64 = 1_800_000_000;
const LINUX: &str = "i-0aaaaaaaaaaaaaaaa";
const WINDOWS: &str = "i-0bbbbbbbbbbbbbbbb";
const FREE_SPACE: &str = "LogicalDisk % Free Space";

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn instance(cloud: &FakeCloud, s: &str, platform: Platform, tags: &[(&str, &str)]) {
    let mut all: std::collections::BTreeMap<String, String> =
        [("Environment".to_string(), "production".to_string())].into();
    all.extend(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    cloud.put_instance(InstanceFacts {
        id: id(s),
        state: InstanceState::Running,
        tags: all,
        platform,
        launch_time: Some(UnixTime(NOW - 60)),
        state_since: None,
        group: None,
        series: None,
    });
}

/// What the agent on Windows publishes for one volume, with `append_dimensions`.
fn publish_volume(cloud: &FakeCloud, s: &str, volume: &str) {
    let dims =
        [("InstanceId", s), ("instance", volume), ("objectname", "LogicalDisk"), ("ImageId", "ami-0w")];
    cloud.publish("CWAgent", FREE_SPACE, &dims);
}

fn running(s: &str) -> Trigger {
    common::running_event(s, NOW)
}

fn options() -> RunOptions {
    RunOptions::new(UnixTime(NOW))
}

/// (operator, threshold, `instance` dimension) of an alarm.
fn shape(cloud: &FakeCloud, name: &str) -> (ComparisonOperator, f64, Option<String>) {
    let config = cloud.alarm(name).unwrap_or_else(|| panic!("{name} missing: {:?}", cloud.alarm_names()));
    let drive = config.dimensions.iter().find(|d| d.name == "instance").map(|d| d.value.clone());
    (config.comparison_operator, config.threshold, drive)
}

#[tokio::test]
async fn a_windows_instance_gets_one_free_space_pair_per_drive() {
    let cloud = FakeCloud::new();
    instance(&cloud, WINDOWS, Platform::Windows, &[("disk-alarms:critical-threshold", "90")]);
    for volume in ["C:", "D:", "_Total", "HarddiskVolume1"] {
        publish_volume(&cloud, WINDOWS, volume);
    }
    let report = reconciler(&cloud).handle(running(WINDOWS), options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!(report.created, 4);
    let le = ComparisonOperator::LessThanOrEqualToThreshold;
    let name = |label: &str, severity: &str| format!("ec2-disk-{WINDOWS}-{label}-{severity}");
    assert_eq!(shape(&cloud, &name("c", "warning")), (le.clone(), 40.0, Some("C:".into())));
    assert_eq!(shape(&cloud, &name("c", "critical")), (le.clone(), 10.0, Some("C:".into())));
    assert_eq!(shape(&cloud, &name("d", "warning")), (le.clone(), 40.0, Some("D:".into())));
    assert_eq!(shape(&cloud, &name("d", "critical")), (le, 10.0, Some("D:".into())));
    assert_eq!(cloud.alarm_names().len(), 4);
    let dims = cloud.alarm(&name("d", "critical")).unwrap().dimensions;
    let expected: Vec<Dimension> =
        [("ImageId", "ami-0w"), ("InstanceId", WINDOWS), ("instance", "D:"), ("objectname", "LogicalDisk")]
            .iter()
            .map(|(n, v)| Dimension::new(*n, *v))
            .collect();
    assert_eq!(dims, expected, "exactly the published series' dimensions");
    // The event path listed the Windows metric for this instance, nothing else.
    assert_eq!(cloud.calls.get("ListMetrics"), 1);
}

#[tokio::test]
async fn a_silent_windows_instance_gets_the_system_drive_pair_until_it_publishes() {
    let cloud = FakeCloud::new();
    instance(&cloud, WINDOWS, Platform::Windows, &[]);
    let r = reconciler(&cloud);
    r.handle(running(WINDOWS), options()).await;
    let provisional = format!("ec2-disk-provisional-{WINDOWS}-critical");
    let config = cloud.alarm(&provisional).expect("provisional pair");
    assert_eq!(config.metric_name, FREE_SPACE);
    assert_eq!(
        config.dimensions,
        vec![
            Dimension::new("InstanceId", WINDOWS),
            Dimension::new("instance", "C:"),
            Dimension::new("objectname", "LogicalDisk")
        ]
    );
    assert_eq!(
        (config.comparison_operator, config.threshold),
        (ComparisonOperator::LessThanOrEqualToThreshold, 20.0)
    );

    // The follow-up pass lists the Windows metric for it and replaces the pair.
    publish_volume(&cloud, WINDOWS, "C:");
    cloud.calls.reset();
    let report = r.handle(Trigger::FollowUp, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!((report.created, report.deleted), (2, 2));
    assert!(cloud.alarm(&format!("ec2-disk-{WINDOWS}-c-warning")).is_some());
    assert!(cloud.alarm(&provisional).is_none());
}

#[tokio::test]
async fn linux_and_windows_side_by_side_in_one_sweep() {
    let cloud = FakeCloud::new();
    instance(&cloud, LINUX, Platform::Linux, &[]);
    instance(&cloud, WINDOWS, Platform::Windows, &[]);
    cloud.publish("CWAgent", "disk_used_percent", &[("InstanceId", LINUX), ("path", "/"), ("fstype", "xfs")]);
    publish_volume(&cloud, WINDOWS, "C:");
    let r = reconciler(&cloud);
    let report = r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    assert_eq!(report.created, 4);
    assert_eq!(cloud.calls.get("ListMetrics"), 2, "one account-wide listing per metric");
    let ge = ComparisonOperator::GreaterThanOrEqualToThreshold;
    let le = ComparisonOperator::LessThanOrEqualToThreshold;
    assert_eq!(shape(&cloud, &format!("ec2-disk-{LINUX}-root-warning")), (ge, 60.0, None));
    assert_eq!(shape(&cloud, &format!("ec2-disk-{WINDOWS}-c-warning")), (le, 40.0, Some("C:".into())));

    // The next sweep finds everything as it should be.
    cloud.calls.reset();
    let again = r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    assert_eq!((again.created, again.updated, again.deleted, again.unchanged), (0, 0, 0, 4));
}

#[tokio::test]
async fn many_provisional_instances_of_both_platforms_share_one_listing_per_metric() {
    let cloud = FakeCloud::new();
    let r = reconciler(&cloud);
    let count = FOLLOW_UP_PER_INSTANCE_LISTINGS + 4;
    let ids: Vec<String> = (0..count).map(|n| format!("i-{n:017x}")).collect();
    for (n, s) in ids.iter().enumerate() {
        let platform = if n % 2 == 0 { Platform::Windows } else { Platform::Linux };
        instance(&cloud, s, platform, &[]);
        r.handle(running(s), options()).await;
    }
    publish_volume(&cloud, &ids[0], "C:");
    cloud.calls.reset();
    let report = r.handle(Trigger::FollowUp, options()).await;
    assert!(!report.failed(), "{:?}", report.failures);
    // One listing per metric, then the event path's listing for the instance that published.
    assert_eq!(cloud.calls.get("ListMetrics"), 3);
    assert_eq!((report.created, report.deleted), (2, 2));
    assert_eq!(report.instances_provisional, count - 1);
}

#[tokio::test]
async fn alarms_are_tagged_when_created_and_updates_leave_the_tags_alone() {
    let cloud = FakeCloud::new();
    instance(&cloud, WINDOWS, Platform::Windows, &[]);
    publish_volume(&cloud, WINDOWS, "C:");
    let mut r = reconciler(&cloud);
    r.config.policy.alarm_tags = parse_alarm_tags("team=platform,cost-center=cc-42").unwrap();
    r.handle(running(WINDOWS), options()).await;
    let name = format!("ec2-disk-{WINDOWS}-c-critical");
    let tags = |cloud: &FakeCloud| -> Vec<String> {
        cloud.alarm_tags(&name).unwrap().into_iter().map(|t| format!("{}={}", t.key, t.value)).collect()
    };
    let expected = vec![
        "ManagedBy=ec2-disk-alarms".to_string(),
        format!("InstanceId={WINDOWS}"),
        "Severity=critical".into(),
        "Filesystem=c".into(),
        "team=platform".into(),
        "cost-center=cc-42".into(),
    ];
    assert_eq!(tags(&cloud), expected);

    // A threshold override updates the alarm in place: CloudWatch keeps its tags.
    instance(&cloud, WINDOWS, Platform::Windows, &[("disk-alarms:critical-threshold", "95")]);
    let report = r.handle(running(WINDOWS), options()).await;
    assert_eq!(report.updated, 1);
    assert_eq!(shape(&cloud, &name).1, 5.0);
    assert_eq!(tags(&cloud), expected);
}

#[tokio::test]
async fn the_retag_pass_adds_missing_tags_to_owned_alarms_only() {
    let cloud = FakeCloud::new();
    instance(&cloud, WINDOWS, Platform::Windows, &[]);
    instance(&cloud, LINUX, Platform::Linux, &[]);
    publish_volume(&cloud, WINDOWS, "C:");
    let r = reconciler(&cloud);
    // Alarms of an earlier release: created without tags.
    r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    let names = cloud.alarm_names();
    assert_eq!(names.len(), 4);
    let windows_critical = format!("ec2-disk-{WINDOWS}-c-critical");
    for name in &names {
        cloud.set_alarm_tags_by_hand(name, Vec::new());
    }
    // Someone's own tag stays; a managed one edited by hand is put back.
    let own = reconciler_core::AlarmTag::new("owner", "alice");
    cloud.set_alarm_tags_by_hand(
        &windows_critical,
        vec![own.clone(), reconciler_core::AlarmTag::new("Severity", "low")],
    );
    // An alarm under our name without our marker is never touched.
    let foreign = format!("ec2-disk-{LINUX}-data-warning");
    cloud.put_alarm_by_hand(&foreign, common::persons_alarm("Alice's alarm"));

    let mut tagged = reconciler(&cloud);
    tagged.config.policy.alarm_tags = parse_alarm_tags("team=platform").unwrap();
    let sweep = Trigger::Sweep { generation: 0 };
    let dry = tagged.handle(sweep.clone(), RunOptions { dry_run: true, retag: true, ..options() }).await;
    let summary = dry.retag.clone().expect("summary");
    assert_eq!((summary.checked, summary.retagged), (4, 4));
    assert_eq!(cloud.alarm_tags(&windows_critical).unwrap().len(), 2, "a dry run writes nothing");

    cloud.calls.reset();
    let report = tagged.handle(sweep.clone(), RunOptions { retag: true, ..options() }).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let summary = report.retag.clone().expect("summary");
    assert_eq!((summary.checked, summary.retagged), (4, 4));
    assert_eq!((cloud.calls.get("ListTagsForResource"), cloud.calls.get("TagResource")), (4, 4));
    let tags: Vec<String> = cloud
        .alarm_tags(&windows_critical)
        .unwrap()
        .into_iter()
        .map(|t| format!("{}={}", t.key, t.value))
        .collect();
    assert_eq!(
        tags,
        [
            "owner=alice".to_string(),
            "Severity=critical".into(),
            "ManagedBy=ec2-disk-alarms".into(),
            format!("InstanceId={WINDOWS}"),
            "Filesystem=c".into(),
            "team=platform".into()
        ]
    );
    assert_eq!(cloud.alarm_tags(&foreign), None, "the foreign alarm was neither read nor tagged");

    // Everything in place: the next pass reads and writes nothing more than the reads.
    cloud.calls.reset();
    let again = tagged.handle(sweep, RunOptions { retag: true, ..options() }).await;
    assert_eq!(again.retag.map(|s| (s.checked, s.retagged)), Some((4, 0)));
    assert_eq!(cloud.calls.get("TagResource"), 0);
}

#[tokio::test]
async fn a_tag_read_that_fails_is_reported_and_the_other_alarms_are_still_checked() {
    let cloud = FakeCloud::new();
    instance(&cloud, WINDOWS, Platform::Windows, &[]);
    publish_volume(&cloud, WINDOWS, "C:");
    let r = reconciler(&cloud);
    r.handle(Trigger::Sweep { generation: 0 }, options()).await;
    cloud.fail_next("ListTagsForResource", handler::ports::ErrorKind::Throttled, 1);
    let report = r.handle(Trigger::Sweep { generation: 0 }, RunOptions { retag: true, ..options() }).await;
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].retryable);
    assert_eq!(report.retag.map(|s| s.checked), Some(1));
}
