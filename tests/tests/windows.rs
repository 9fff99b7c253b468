//! Mixed fleets end to end: Windows instances (moto's Windows Server image,
//! `Platform: windows`) publishing the agent's `LogicalDisk % Free Space`, a
//! Linux instance beside them under one configuration, and the tags every
//! created alarm carries, read back with `ListTagsForResource`. The test owns
//! its Region.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm};
use e2e_tests::{dimension_set, dimensions, World, WINDOWS_DISK_METRIC};

const PRODUCTION: (&str, &str) = ("Environment", "production");
const ALARM_TAGS: &str = "team=platform,cost-center=cc-42";

fn alarm<'a>(alarms: &'a BTreeMap<String, MetricAlarm>, name: &str) -> &'a MetricAlarm {
    alarms.get(name).unwrap_or_else(|| panic!("{name} missing; alarms: {:?}", alarms.keys()))
}

/// (operator, threshold) of an alarm.
fn rule(alarm: &MetricAlarm) -> (ComparisonOperator, f64) {
    (alarm.comparison_operator().cloned().expect("operator"), alarm.threshold().expect("threshold"))
}

#[tokio::test]
async fn windows_drives_and_a_linux_host_under_one_configuration_with_tagged_alarms() {
    let world = World::new("ap-southeast-6").await;
    let drives = world.launch_windows(&[PRODUCTION, ("Name", "sql-1")]).await;
    let strict = world.launch_windows(&[PRODUCTION, ("disk-alarms:critical-threshold", "90")]).await;
    let silent = world.launch_windows(&[PRODUCTION]).await;
    let linux = world.launch(&[PRODUCTION]).await;
    for volume in ["C:", "D:", "_Total", "HarddiskVolume1"] {
        world.put_windows_disk_metric(&drives, volume, 55.0).await;
    }
    world.put_windows_disk_metric(&strict, "C:", 55.0).await;
    let root = [("InstanceId", linux.as_str()), ("path", "/"), ("device", "nvme0n1p1"), ("fstype", "xfs")];
    world.put_disk_metric(&root, 42.0).await;

    let run = world.alarmctl_with_env(&["sweep", "--json"], b"", &[("ALARM_TAGS", ALARM_TAGS)]);
    let report = run.report(0);
    assert_eq!(report["created"], 10, "{report}");

    let alarms = world.alarms().await;
    let name = |id: &str, label: &str, severity: &str| format!("ec2-disk-{id}-{label}-{severity}");
    let mut expected: Vec<String> = Vec::new();
    for label in ["c", "d"] {
        for severity in ["critical", "warning"] {
            expected.push(name(&drives, label, severity));
        }
    }
    for severity in ["critical", "warning"] {
        expected.push(name(&strict, "c", severity));
        expected.push(format!("ec2-disk-provisional-{silent}-{severity}"));
        expected.push(name(&linux, "root", severity));
    }
    expected.sort();
    assert_eq!(
        alarms.keys().cloned().collect::<Vec<_>>(),
        expected,
        "exactly C and D: _Total and HarddiskVolume1 are skipped"
    );

    // Free space: at or below 100 - the percent-used thresholds, on exactly the published series.
    let le = ComparisonOperator::LessThanOrEqualToThreshold;
    for drive in ["C:", "D:"] {
        let label = drive[..1].to_ascii_lowercase();
        let warning = alarm(&alarms, &name(&drives, &label, "warning"));
        let critical = alarm(&alarms, &name(&drives, &label, "critical"));
        assert_eq!(rule(warning), (le.clone(), 40.0));
        assert_eq!(rule(critical), (le.clone(), 20.0));
        let published = dimension_set([
            ("instance", drive),
            ("objectname", "LogicalDisk"),
            ("InstanceId", drives.as_str()),
        ]);
        assert_eq!(dimensions(warning), published);
        assert_eq!(dimensions(critical), published);
        assert_eq!(warning.metric_name(), Some(WINDOWS_DISK_METRIC));
        let description = critical.alarm_description().unwrap_or_default();
        assert!(
            description
                .contains(&format!("drive {drive} on {drives} (sql-1) has had free space at or below 20%")),
            "{description}"
        );
    }
    assert_eq!(
        rule(alarm(&alarms, &name(&strict, "c", "critical"))),
        (le.clone(), 10.0),
        "critical-threshold=90"
    );
    let provisional = alarm(&alarms, &format!("ec2-disk-provisional-{silent}-warning"));
    assert_eq!(rule(provisional), (le, 40.0));
    assert_eq!(
        dimensions(provisional),
        dimension_set([("instance", "C:"), ("objectname", "LogicalDisk"), ("InstanceId", silent.as_str())])
    );
    let linux_warning = alarm(&alarms, &name(&linux, "root", "warning"));
    assert_eq!(rule(linux_warning), (ComparisonOperator::GreaterThanOrEqualToThreshold, 60.0));
    assert_eq!(linux_warning.alarm_actions(), alarm(&alarms, &name(&drives, "c", "warning")).alarm_actions());

    // Every created alarm carries the four tags, then ALARM_TAGS.
    for (alarm_name, alarm) in &alarms {
        let (instance, filesystem) = match alarm_name.strip_prefix("ec2-disk-provisional-") {
            Some(rest) => (rest.rsplit_once('-').unwrap().0.to_owned(), "provisional".to_owned()),
            None => {
                let rest = alarm_name.strip_prefix("ec2-disk-").unwrap().rsplit_once('-').unwrap().0;
                let (instance, label) = rest.rsplit_once('-').unwrap();
                (instance.to_owned(), label.to_owned())
            }
        };
        let severity = alarm_name.rsplit_once('-').unwrap().1;
        let mut expected = vec![
            "ManagedBy=ec2-disk-alarms".to_owned(),
            format!("InstanceId={instance}"),
            format!("Severity={severity}"),
            format!("Filesystem={filesystem}"),
            "team=platform".to_owned(),
            "cost-center=cc-42".to_owned(),
        ];
        let mut tags = world.alarm_tags(alarm).await;
        expected.sort();
        tags.sort();
        assert_eq!(tags, expected, "{alarm_name}");
    }

    // `explain` shows the platform and the drives' verdicts.
    let explained = world.alarmctl(&["explain", &drives], b"");
    assert_eq!(explained.code(), 0, "{}", explained.stderr());
    let text = explained.stdout();
    assert!(text.contains("platform: windows"), "{text}");
    assert!(text.contains("volume _Total matches skip pattern"), "{text}");
    assert!(text.contains("objectname=LogicalDisk] <= 20 for"), "{text}");

    // Nothing changed: the next sweep writes nothing.
    let again = world.alarmctl_with_env(&["sweep", "--json"], b"", &[("ALARM_TAGS", ALARM_TAGS)]).report(0);
    assert_eq!(
        (again["created"].clone(), again["updated"].clone(), again["deleted"].clone()),
        (0.into(), 0.into(), 0.into()),
        "{again}"
    );

    // ALARM_TAGS changes: new alarms would get the new tags at creation, and
    // `sweep --retag` brings the existing ones up to date.
    let retagged = world
        .alarmctl_with_env(&["sweep", "--retag", "--json"], b"", &[("ALARM_TAGS", "team=storage,tier=gold")])
        .report(0);
    assert_eq!(retagged["retag"], serde_json::json!({"checked": 10, "retagged": 10}), "{retagged}");
    assert_eq!(retagged["api_calls"]["ListTagsForResource"], 10, "{retagged}");
    assert_eq!(retagged["api_calls"]["TagResource"], 10, "{retagged}");
    let alarms = world.alarms().await;
    let mut tags = world.alarm_tags(alarm(&alarms, &name(&drives, "d", "warning"))).await;
    tags.sort();
    assert_eq!(
        tags,
        [
            "Filesystem=d".to_owned(),
            format!("InstanceId={drives}"),
            "ManagedBy=ec2-disk-alarms".into(),
            "Severity=warning".into(),
            // Left as it was: the pass adds and corrects, it never removes a tag.
            "cost-center=cc-42".into(),
            "team=storage".into(),
            "tier=gold".into(),
        ]
    );
    let quiet = world
        .alarmctl_with_env(&["sweep", "--retag", "--json"], b"", &[("ALARM_TAGS", "team=storage,tier=gold")])
        .report(0);
    assert_eq!(quiet["retag"], serde_json::json!({"checked": 10, "retagged": 0}), "{quiet}");
}
