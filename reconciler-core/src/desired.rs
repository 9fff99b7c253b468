//! The alarms one instance should have.

use std::fmt::{self, Write as _};

use crate::alarm::{
    AlarmConfig, ComparisonOperator, Dimension, MetricMath, MissingData, Severity, Statistic,
    OWNERSHIP_MARKER,
};
use crate::forecast::{
    free_percent, ForecastRule, FORECAST_DATAPOINTS_TO_ALARM, FORECAST_EVALUATION_PERIODS,
    FORECAST_METRIC_ID, FORECAST_PERIOD_SECONDS,
};
use crate::ids::{AlarmName, InstanceId};
use crate::instance::{InstanceFacts, InstanceState, Subject};
use crate::platform::Platform;
use crate::policy::{MetricProfile, OutOfScope, Policy, ScopeDecision};
use crate::series::{shorten, MetricSeries, SeriesVerdict};
use crate::tags::{AlarmTag, MANAGED_BY};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DesiredAlarm {
    pub name: AlarmName,
    pub instance: InstanceId,
    pub severity: Severity,
    /// The label in the alarm's name (`root`, `data`, `c`), or `provisional`.
    pub filesystem: String,
    pub config: AlarmConfig,
}

/// The `Filesystem` tag of a provisional alarm, whose name has no label.
pub const PROVISIONAL_FILESYSTEM: &str = "provisional";

impl DesiredAlarm {
    /// The tags the alarm is created with: `ManagedBy`, `InstanceId`,
    /// `Severity` and `Filesystem`, then the operator's `extra` tags.
    pub fn tags(&self, extra: &[AlarmTag]) -> Vec<AlarmTag> {
        let mut tags = Vec::with_capacity(4 + extra.len());
        tags.push(AlarmTag::new("ManagedBy", MANAGED_BY));
        tags.push(AlarmTag::new("InstanceId", self.instance.as_str()));
        tags.push(AlarmTag::new("Severity", self.severity.as_str()));
        tags.push(AlarmTag::new("Filesystem", self.filesystem.as_str()));
        tags.extend(extra.iter().cloned());
        tags
    }
}

/// What one instance should have: its alarms, or the reason it should have none.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "desire", rename_all = "kebab-case")]
pub enum Desire {
    /// `provisional`: the instance has published no series that passes the
    /// filter yet, so `alarms` is the provisional pair on the profile's
    /// root-filesystem guess.
    Alarms {
        alarms: Vec<DesiredAlarm>,
        notes: Vec<String>,
        provisional: bool,
    },
    None {
        reason: NoAlarmsReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum NoAlarmsReason {
    /// The API no longer knows the instance.
    Gone,
    NotRunning {
        state: InstanceState,
    },
    OutOfScope(OutOfScope),
}

impl fmt::Display for NoAlarmsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gone => f.write_str("instance no longer exists"),
            Self::NotRunning { state } => write!(f, "instance {state}"),
            Self::OutOfScope(why) => write!(f, "{why}"),
        }
    }
}

/// Alarms exist only for running, in-scope instances. A `pending` instance
/// gets its alarms with the `running` event that follows. Each published
/// series that passes the filter gets a pair on exactly its dimensions; an
/// instance without one gets the provisional pair, so it is never unprotected.
pub fn desired_alarms(policy: &Policy, subject: &Subject) -> Desire {
    match subject {
        Subject::Gone { .. } => Desire::None { reason: NoAlarmsReason::Gone },
        Subject::Present(facts) => desired_alarms_in(policy, facts, policy.scope(facts)),
    }
}

/// [`desired_alarms`] of an instance whose scope is already decided: a plan
/// decides each instance's scope once and uses it for its alarms and its counts.
pub fn desired_alarms_in(policy: &Policy, facts: &InstanceFacts, scope: ScopeDecision) -> Desire {
    if facts.state != InstanceState::Running {
        return Desire::None { reason: NoAlarmsReason::NotRunning { state: facts.state } };
    }
    let (thresholds, notes) = match scope {
        ScopeDecision::Out(why) => return Desire::None { reason: NoAlarmsReason::OutOfScope(why) },
        ScopeDecision::In { thresholds, notes } => (thresholds, notes),
    };
    let profile = policy.profile(facts.platform);
    let watched: Vec<(MetricSeries, String, String)> = match &facts.series {
        None => Vec::new(),
        Some(series) => profile
            .series_verdicts(series)
            .into_iter()
            .filter_map(|c| match c.verdict {
                SeriesVerdict::Watched { label, path } => Some((c.series, label, path)),
                SeriesVerdict::Skipped { .. } => None,
            })
            .collect(),
    };
    let per_series = if thresholds.forecast_hours.is_some() { 3 } else { 2 };
    let mut alarms = Vec::with_capacity(per_series * watched.len().max(1));
    let provisional = watched.is_empty();
    if provisional {
        let dimensions = provisional_dimensions(profile, facts);
        let path = profile.dimensions.iter().find(|d| d.name == profile.path_dimension);
        let watches = Watches { profile, path: path.map(|d| d.value.as_str()), provisional: true };
        // One copy per alarm, the original moved into the last: a sweep builds 20 000 of these.
        for (severity, dimensions) in Severity::PAIR.into_iter().zip([dimensions.clone(), dimensions]) {
            let threshold = thresholds.get(severity);
            alarms.push(DesiredAlarm {
                name: policy.naming.provisional_alarm_name(&facts.id, severity),
                instance: facts.id.clone(),
                severity,
                filesystem: PROVISIONAL_FILESYSTEM.to_owned(),
                config: alarm_config(policy, facts, severity, threshold, dimensions, watches),
            });
        }
    }
    for (series, label, path) in watched {
        let watches = Watches { profile, path: Some(&path), provisional: false };
        for severity in Severity::PAIR {
            let threshold = thresholds.get(severity);
            alarms.push(DesiredAlarm {
                name: policy.naming.filesystem_alarm_name(&facts.id, &label, severity),
                instance: facts.id.clone(),
                severity,
                filesystem: label.clone(),
                config: alarm_config(
                    policy,
                    facts,
                    severity,
                    threshold,
                    series.dimensions().to_vec(),
                    watches,
                ),
            });
        }
        if let Some(hours) = thresholds.forecast_hours {
            let rule = ForecastRule {
                platform: profile.platform,
                floor_percent: policy.forecast.floor_percent,
                hours,
            };
            alarms.push(DesiredAlarm {
                name: policy.naming.filesystem_alarm_name(&facts.id, &label, Severity::Forecast),
                instance: facts.id.clone(),
                severity: Severity::Forecast,
                filesystem: label.clone(),
                config: forecast_config(policy, facts, rule, series.dimensions().to_vec(), watches),
            });
        }
    }
    Desire::Alarms { alarms, notes, provisional }
}

/// The provisional pair's dimensions: the instance, the profile's fixed
/// root-filesystem (or system drive) dimensions and, when configured, its
/// Auto Scaling group.
fn provisional_dimensions(profile: &MetricProfile, facts: &InstanceFacts) -> Vec<Dimension> {
    let mut dimensions = vec![Dimension::new("InstanceId", facts.id.as_str())];
    dimensions.extend(profile.dimensions.iter().cloned());
    if let (true, Some(group)) = (profile.group_dimension, &facts.group) {
        dimensions.push(Dimension::new("AutoScalingGroupName", &group.name));
    }
    dimensions
}

/// What an alarm watches, for its description.
#[derive(Debug, Clone, Copy)]
struct Watches<'a> {
    profile: &'a MetricProfile,
    path: Option<&'a str>,
    provisional: bool,
}

fn alarm_config(
    policy: &Policy,
    facts: &InstanceFacts,
    severity: Severity,
    threshold: f64,
    dimensions: Vec<Dimension>,
    watches: Watches<'_>,
) -> AlarmConfig {
    let topic = policy.severity(severity).topic.as_str().to_owned();
    let profile = watches.profile;
    // Thresholds mean percent used on every platform; the Windows metric is percent free.
    let (threshold, comparison_operator) = match profile.platform {
        Platform::Linux => (threshold, ComparisonOperator::GreaterThanOrEqualToThreshold),
        Platform::Windows => (free_percent(threshold), ComparisonOperator::LessThanOrEqualToThreshold),
    };
    AlarmConfig {
        description: description(policy, facts, severity, threshold, watches),
        namespace: profile.namespace.clone(),
        metric_name: profile.metric_name.clone(),
        dimensions,
        statistic: policy.statistic.clone(),
        period_seconds: policy.period_seconds,
        evaluation_periods: policy.evaluation_periods,
        datapoints_to_alarm: None,
        threshold,
        comparison_operator,
        treat_missing_data: policy.treat_missing_data.clone(),
        actions_enabled: true,
        alarm_actions: vec![topic.clone()],
        ok_actions: vec![topic],
        insufficient_data_actions: Vec::new(),
        math: None,
    }
    .normalized()
}

/// The forecast alarm of one series: a metric-math alarm whose one metric is
/// exactly the series the pair watches (see `forecast`). Missing hours are
/// `missing` whatever the pair's setting: a series that stops then leaves the
/// alarm in `INSUFFICIENT_DATA`, where silent-alarm detection sees it.
fn forecast_config(
    policy: &Policy,
    facts: &InstanceFacts,
    rule: ForecastRule,
    dimensions: Vec<Dimension>,
    watches: Watches<'_>,
) -> AlarmConfig {
    let topic = policy.severity(Severity::Forecast).topic.as_str().to_owned();
    AlarmConfig {
        description: forecast_description(facts, rule, watches),
        namespace: watches.profile.namespace.clone(),
        metric_name: watches.profile.metric_name.clone(),
        dimensions,
        statistic: Statistic::Average,
        period_seconds: FORECAST_PERIOD_SECONDS,
        evaluation_periods: FORECAST_EVALUATION_PERIODS,
        datapoints_to_alarm: Some(FORECAST_DATAPOINTS_TO_ALARM),
        threshold: rule.hours,
        comparison_operator: ComparisonOperator::LessThanThreshold,
        treat_missing_data: MissingData::Missing,
        actions_enabled: true,
        alarm_actions: vec![topic.clone()],
        ok_actions: vec![topic],
        insufficient_data_actions: Vec::new(),
        math: Some(MetricMath {
            expression: rule.expression().to_string(),
            metric_id: FORECAST_METRIC_ID.to_owned(),
            other_metrics: Vec::new(),
        }),
    }
    .normalized()
}

/// The volume and instance an alarm's description names: `filesystem /data
/// on i-0123 (web-1)`.
fn push_subject(text: &mut String, facts: &InstanceFacts, watches: Watches<'_>) {
    let volume = if watches.profile.platform == Platform::Windows { "drive" } else { "filesystem" };
    match watches.path {
        Some(path) => {
            text.push_str(volume);
            text.push(' ');
            text.push_str(&shorten(path));
        }
        None => {
            text.push_str("the monitored ");
            text.push_str(volume);
        }
    }
    text.push_str(" on ");
    text.push_str(facts.id.as_str());
    if let Some(name) = facts.name() {
        text.push_str(" (");
        text.extend(name.chars().filter(|c| !c.is_control()).take(100));
        text.push(')');
    }
}

/// Read in an email, hours ahead of the static alarms.
fn forecast_description(facts: &InstanceFacts, rule: ForecastRule, watches: Watches<'_>) -> String {
    let mut text = String::with_capacity(640);
    text.push_str("forecast: ");
    push_subject(&mut text, facts, watches);
    let _ = write!(
        text,
        " fills in less than {} hours at the last hour's growth: it is at least {}% full and still growing. \
         The values in this notification are the hours left. ",
        rule.hours, rule.floor_percent
    );
    if watches.profile.platform == Platform::Windows {
        text.push_str(
            "Find what is writing (Resource Monitor, `Get-ChildItem -Recurse | Sort-Object Length`) and stop \
             or rotate it, or grow the EBS volume and extend the partition before it fills.",
        );
    } else {
        text.push_str(
            "Find what is writing (`du -xh --max-depth=2 <mount>`, `lsof +L1` for deleted open files) and stop \
             or rotate it, or grow the EBS volume and the filesystem before it fills.",
        );
    }
    let _ = writeln!(
        text,
        " A short burst that stops clears it within {FORECAST_EVALUATION_PERIODS} hours. \
         Hand edits to this alarm are reverted."
    );
    text.push_str(OWNERSHIP_MARKER);
    text
}

/// Written for the person who receives the page at 3 a.m.
fn description(
    policy: &Policy,
    facts: &InstanceFacts,
    severity: Severity,
    threshold: f64,
    watches: Watches<'_>,
) -> String {
    let minutes = i64::from(policy.period_seconds) * i64::from(policy.evaluation_periods) / 60;
    let windows = watches.profile.platform == Platform::Windows;
    let full = if windows { "the drive is" } else { "the filesystem is" };
    // Built piece by piece: a sweep writes 20 000 of these, and `format!`
    // costs a large share of planning time.
    // Sized to fit without a reallocation: about 450 bytes, 700 for a provisional alarm.
    let mut text = String::with_capacity(if watches.provisional { 768 } else { 512 });
    text.push_str(severity.as_str());
    text.push_str(": ");
    push_subject(&mut text, facts, watches);
    if windows {
        let _ = write!(text, " has had free space at or below {threshold}% for {minutes} minutes. ");
    } else {
        let _ = write!(text, " has been at least {threshold}% full for {minutes} minutes. ");
    }
    match severity {
        Severity::Warning => text.push_str("Plan clean-up or growth of the volume within the day."),
        Severity::Critical | Severity::Forecast => {
            text.push_str("Act now: ");
            text.push_str(full);
            text.push_str(" close to full and services on it will fail when it is.");
        }
    }
    if windows {
        text.push_str(
            " Check with `Get-PSDrive` and Disk Cleanup; free space (old logs, temp files, \
             Windows Update leftovers) or grow the EBS volume and extend the partition. \
             Hand edits to this alarm are reverted.\n",
        );
    } else {
        text.push_str(
            " Check with `df -h` and `du -xh --max-depth=2 /`; free space (old logs, caches, \
             core dumps) or grow the EBS volume and the filesystem. Hand edits to this alarm are reverted.\n",
        );
    }
    if watches.provisional {
        text.push_str(
            "Provisional: the instance has published no disk series yet, so this alarm watches the \
             configured root-filesystem series; it is replaced by one pair per published filesystem \
             once the CloudWatch agent reports.\n",
        );
    }
    text.push_str(OWNERSHIP_MARKER);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{instance, policy};
    use crate::policy::MetricProfile;
    use crate::series::MetricSeries;

    fn alarms(desire: Desire) -> Vec<DesiredAlarm> {
        match desire {
            Desire::Alarms { alarms, .. } => alarms,
            Desire::None { reason } => panic!("expected alarms, got none: {reason}"),
        }
    }

    #[test]
    fn running_in_scope_instance_without_series_gets_the_provisional_pair() {
        let p = policy();
        let mut facts = instance(&[("Environment", "production"), ("Name", "web-1")]);
        facts.state = InstanceState::Running;
        let alarms = alarms(desired_alarms(&p, &Subject::Present(facts)));
        assert_eq!(alarms.len(), 2);
        let (warning, critical) = (&alarms[0], &alarms[1]);
        assert_eq!(warning.name.as_str(), "ec2-disk-provisional-i-0123456789abcdef0-warning");
        assert_eq!(warning.config.threshold, 60.0);
        assert_eq!(warning.config.alarm_actions, vec![p.warning.topic.to_string()]);
        assert_eq!(warning.config.ok_actions, vec![p.warning.topic.to_string()]);
        assert_eq!(critical.name.as_str(), "ec2-disk-provisional-i-0123456789abcdef0-critical");
        assert_eq!(critical.config.threshold, 80.0);
        assert_eq!(critical.config.alarm_actions, vec![p.critical.topic.to_string()]);
        for alarm in &alarms {
            let c = &alarm.config;
            assert_eq!((c.namespace.as_str(), c.metric_name.as_str()), ("CWAgent", "disk_used_percent"));
            assert_eq!(
                c.dimensions,
                vec![
                    Dimension::new("InstanceId", "i-0123456789abcdef0"),
                    Dimension::new("fstype", "xfs"),
                    Dimension::new("path", "/"),
                ]
            );
            assert_eq!(c.comparison_operator, ComparisonOperator::GreaterThanOrEqualToThreshold);
            assert_eq!((c.statistic.as_str(), c.period_seconds, c.evaluation_periods), ("Average", 300, 2));
            assert_eq!(c.treat_missing_data.as_str(), "missing");
            assert!(c.actions_enabled);
            assert!(c.has_ownership_marker());
            assert!(c.description.contains("i-0123456789abcdef0 (web-1)"), "{}", c.description);
            assert!(c.description.contains("filesystem /"));
            assert!(c.description.contains("10 minutes"));
            assert!(c.description.contains("Provisional"));
            assert!(c.description.len() <= 1024);
        }
    }

    fn agent_series(path: &str, device: &str, fstype: &str) -> MetricSeries {
        MetricSeries::new(vec![
            Dimension::new("InstanceId", "i-0123456789abcdef0"),
            Dimension::new("path", path),
            Dimension::new("device", device),
            Dimension::new("fstype", fstype),
        ])
    }

    fn with_series(series: Vec<MetricSeries>) -> Subject {
        let mut facts = instance(&[("Environment", "production")]);
        facts.series = Some(series);
        Subject::Present(facts)
    }

    #[test]
    fn each_published_filesystem_gets_a_pair_on_exactly_its_dimensions() {
        let p = policy();
        let published = vec![
            agent_series("/", "nvme0n1p1", "xfs"),
            agent_series("/data", "nvme1n1", "ext4"),
            agent_series("/run", "tmpfs", "tmpfs"),
        ];
        let desire = desired_alarms(&p, &with_series(published.clone()));
        let Desire::Alarms { alarms, provisional, .. } = desire else { panic!("expected alarms") };
        assert!(!provisional);
        let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "ec2-disk-i-0123456789abcdef0-root-warning",
                "ec2-disk-i-0123456789abcdef0-root-critical",
                "ec2-disk-i-0123456789abcdef0-data-warning",
                "ec2-disk-i-0123456789abcdef0-data-critical",
            ]
        );
        for (alarm, series) in alarms.iter().zip([&published[0], &published[0], &published[1], &published[1]])
        {
            assert_eq!(alarm.config.dimensions, series.dimensions(), "{}", alarm.name);
            assert!(alarm.config.is_normalized());
            assert!(!alarm.config.description.contains("Provisional"));
        }
        assert!(alarms[2].config.description.contains("filesystem /data on"));
        assert_eq!(alarms[3].config.threshold, 80.0);
    }

    #[test]
    fn only_filtered_series_or_none_listed_means_provisional() {
        let p = policy();
        for series in [vec![], vec![agent_series("/run", "tmpfs", "tmpfs")]] {
            let Desire::Alarms { alarms, provisional, .. } = desired_alarms(&p, &with_series(series)) else {
                panic!("expected alarms")
            };
            assert!(provisional);
            assert_eq!(alarms[0].name.as_str(), "ec2-disk-provisional-i-0123456789abcdef0-warning");
        }
    }

    #[test]
    fn legacy_series_and_the_group_variant_are_copied_exactly() {
        let mut p = policy();
        p.linux = MetricProfile::legacy(None);
        let series = MetricSeries::new(vec![
            Dimension::new("InstanceId", "i-0123456789abcdef0"),
            Dimension::new("Filesystem", "/dev/nvme1n1"),
            Dimension::new("MountPath", "/srv/data"),
            Dimension::new("AutoScalingGroupName", "web"),
        ]);
        let pseudo = MetricSeries::new(vec![
            Dimension::new("InstanceId", "i-0123456789abcdef0"),
            Dimension::new("Filesystem", "tmpfs"),
            Dimension::new("MountPath", "/dev/shm"),
        ]);
        let alarms = alarms(desired_alarms(&p, &with_series(vec![series.clone(), pseudo])));
        assert_eq!(alarms.len(), 2);
        assert_eq!(alarms[0].name.as_str(), "ec2-disk-i-0123456789abcdef0-srv-data-warning");
        assert_eq!(alarms[0].config.dimensions, series.dimensions());
        assert_eq!(alarms[0].config.namespace, "System/Linux");
    }

    #[test]
    fn legacy_profile_watches_the_monitoring_scripts_metric() {
        let mut p = policy();
        p.linux = MetricProfile::legacy(None);
        let alarms =
            alarms(desired_alarms(&p, &Subject::Present(instance(&[("Environment", "production")]))));
        let c = &alarms[0].config;
        assert_eq!((c.namespace.as_str(), c.metric_name.as_str()), ("System/Linux", "DiskSpaceUtilization"));
        assert_eq!(
            c.dimensions,
            vec![
                Dimension::new("Filesystem", "/dev/xvda1"),
                Dimension::new("InstanceId", "i-0123456789abcdef0"),
                Dimension::new("MountPath", "/"),
            ]
        );
    }

    #[test]
    fn overrides_change_thresholds_but_never_actions() {
        let p = policy();
        let facts = instance(&[
            ("Environment", "production"),
            ("disk-alarms:warning-threshold", "70"),
            ("disk-alarms:alarm-actions", "arn:aws:sns:eu-west-1:1:attacker"),
        ]);
        let alarms = alarms(desired_alarms(&p, &Subject::Present(facts)));
        assert_eq!(alarms[0].config.threshold, 70.0);
        assert_eq!(alarms[0].config.alarm_actions, vec![p.warning.topic.to_string()]);
        assert_eq!(alarms[1].config.alarm_actions, vec![p.critical.topic.to_string()]);
    }

    #[test]
    fn no_alarms_unless_running_and_in_scope() {
        let p = policy();
        let cases = [
            (InstanceState::Pending, "production", "instance pending"),
            (InstanceState::Stopping, "production", "instance stopping"),
            (InstanceState::Stopped, "production", "instance stopped"),
            (InstanceState::ShuttingDown, "production", "instance shutting-down"),
            (InstanceState::Terminated, "production", "instance terminated"),
            (InstanceState::Running, "staging", "out of scope: Environment=staging"),
        ];
        for (state, env, reason) in cases {
            let mut facts = instance(&[("Environment", env)]);
            facts.state = state;
            match desired_alarms(&p, &Subject::Present(facts)) {
                Desire::None { reason: why } => assert_eq!(why.to_string(), reason),
                Desire::Alarms { .. } => panic!("{state} {env} should have no alarms"),
            }
        }
        let gone = Subject::Gone { id: InstanceId::parse("i-1234abcd").unwrap() };
        assert_eq!(desired_alarms(&p, &gone), Desire::None { reason: NoAlarmsReason::Gone });
    }

    #[test]
    fn hostile_name_tag_is_bounded_in_description() {
        let p = policy();
        let long = format!("web\n{}", "x".repeat(5000));
        let facts = instance(&[("Environment", "production"), ("Name", &long)]);
        let alarms = alarms(desired_alarms(&p, &Subject::Present(facts)));
        assert!(alarms[0].config.description.len() <= 1024);
        assert!(!alarms[0].config.description.contains("web\nx"));
    }

    fn windows(tags: &[(&str, &str)], volumes: Option<&[&str]>) -> Subject {
        let mut facts = instance(tags);
        facts.platform = Platform::Windows;
        facts.series = volumes.map(|volumes| {
            volumes
                .iter()
                .map(|v| {
                    MetricSeries::new(vec![
                        Dimension::new("InstanceId", "i-0123456789abcdef0"),
                        Dimension::new("instance", *v),
                        Dimension::new("objectname", "LogicalDisk"),
                        Dimension::new("ImageId", "ami-0abc"),
                    ])
                })
                .collect()
        });
        Subject::Present(facts)
    }

    /// (name, operator, threshold, dimension `instance`) of each alarm.
    fn summary(alarms: &[DesiredAlarm]) -> Vec<(String, String, f64, String)> {
        alarms
            .iter()
            .map(|a| {
                let drive = a.config.dimensions.iter().find(|d| d.name == "instance");
                (
                    a.name.as_str().to_owned(),
                    a.config.comparison_operator.as_str().to_owned(),
                    a.config.threshold,
                    drive.map(|d| d.value.clone()).unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn windows_drives_get_free_space_alarms_at_100_minus_the_thresholds() {
        let p = policy();
        let le = "LessThanOrEqualToThreshold";
        let name = |label: &str, severity: &str| format!("ec2-disk-i-0123456789abcdef0-{label}-{severity}");
        // (behaviour, tags, published volumes, expected alarms)
        type Case<'a> =
            (&'a str, Vec<(&'a str, &'a str)>, Option<&'a [&'a str]>, Vec<(String, &'a str, f64, &'a str)>);
        let production = ("Environment", "production");
        let cases: Vec<Case> = vec![
            (
                "two drives, the pseudo volumes skipped",
                vec![production],
                Some(&["C:", "D:", "_Total", "HarddiskVolume1"]),
                vec![
                    (name("c", "warning"), le, 40.0, "C:"),
                    (name("c", "critical"), le, 20.0, "C:"),
                    (name("d", "warning"), le, 40.0, "D:"),
                    (name("d", "critical"), le, 20.0, "D:"),
                ],
            ),
            (
                "a percent-used override keeps its meaning",
                vec![production, ("disk-alarms:critical-threshold", "90")],
                Some(&["C:"]),
                vec![(name("c", "warning"), le, 40.0, "C:"), (name("c", "critical"), le, 10.0, "C:")],
            ),
            (
                "fractions stay readable",
                vec![production, ("disk-alarms:warning-threshold", "66.6")],
                Some(&["C:"]),
                vec![(name("c", "warning"), le, 33.4, "C:"), (name("c", "critical"), le, 20.0, "C:")],
            ),
            (
                "nothing published: the provisional pair on the system drive",
                vec![production],
                None,
                vec![
                    ("ec2-disk-provisional-i-0123456789abcdef0-warning".into(), le, 40.0, "C:"),
                    ("ec2-disk-provisional-i-0123456789abcdef0-critical".into(), le, 20.0, "C:"),
                ],
            ),
            (
                "only pseudo volumes published: provisional too",
                vec![production],
                Some(&["_Total", "HarddiskVolume2"]),
                vec![
                    ("ec2-disk-provisional-i-0123456789abcdef0-warning".into(), le, 40.0, "C:"),
                    ("ec2-disk-provisional-i-0123456789abcdef0-critical".into(), le, 20.0, "C:"),
                ],
            ),
        ];
        for (behaviour, tags, volumes, expected) in cases {
            let got = alarms(desired_alarms(&p, &windows(&tags, volumes)));
            let expected: Vec<(String, String, f64, String)> =
                expected.into_iter().map(|(n, op, t, d)| (n, op.to_owned(), t, d.to_owned())).collect();
            assert_eq!(summary(&got), expected, "{behaviour}");
            for alarm in &got {
                let c = &alarm.config;
                assert_eq!(
                    (c.namespace.as_str(), c.metric_name.as_str()),
                    ("CWAgent", "LogicalDisk % Free Space")
                );
                assert!(c.has_ownership_marker());
            }
        }
    }

    #[test]
    fn windows_alarms_copy_the_series_dimensions_and_name_the_drive() {
        let p = policy();
        let got = alarms(desired_alarms(
            &p,
            &windows(&[("Environment", "production"), ("Name", "sql-1")], Some(&["D:"])),
        ));
        let c = &got[1].config;
        assert_eq!(
            c.dimensions,
            vec![
                Dimension::new("ImageId", "ami-0abc"),
                Dimension::new("InstanceId", "i-0123456789abcdef0"),
                Dimension::new("instance", "D:"),
                Dimension::new("objectname", "LogicalDisk"),
            ]
        );
        assert!(
            c.description.starts_with(
                "critical: drive D: on i-0123456789abcdef0 (sql-1) has had free space at or below 20% for 10 minutes."
            ),
            "{}",
            c.description
        );
        assert!(c.description.contains("Get-PSDrive"));
        assert!(!c.description.contains("df -h"));
        // The provisional pair: the configured system drive, with the instance.
        let provisional = alarms(desired_alarms(&p, &windows(&[("Environment", "production")], None)));
        assert_eq!(
            provisional[0].config.dimensions,
            vec![
                Dimension::new("InstanceId", "i-0123456789abcdef0"),
                Dimension::new("instance", "C:"),
                Dimension::new("objectname", "LogicalDisk"),
            ]
        );
        assert!(provisional[0].config.description.starts_with("warning: drive C: on"));
    }

    #[test]
    fn linux_and_windows_under_one_policy() {
        let p = policy();
        let linux = alarms(desired_alarms(&p, &with_series(vec![agent_series("/", "nvme0n1p1", "xfs")])));
        let windows = alarms(desired_alarms(&p, &windows(&[("Environment", "production")], Some(&["C:"]))));
        assert_eq!(summary(&linux)[0].1, "GreaterThanOrEqualToThreshold");
        assert_eq!((linux[0].config.threshold, linux[1].config.threshold), (60.0, 80.0));
        assert_eq!((windows[0].config.threshold, windows[1].config.threshold), (40.0, 20.0));
        assert_eq!(linux[0].config.alarm_actions, windows[0].config.alarm_actions);
        assert_eq!(linux[1].config.alarm_actions, windows[1].config.alarm_actions);
    }

    #[test]
    fn every_alarm_carries_the_four_tags_then_the_operators() {
        let p = policy();
        let extra = crate::tags::parse_alarm_tags("team=platform,cost-center=42").unwrap();
        let tags = |alarm: &DesiredAlarm| -> Vec<String> {
            alarm.tags(&extra).into_iter().map(|t| format!("{}={}", t.key, t.value)).collect()
        };
        let windows = alarms(desired_alarms(&p, &windows(&[("Environment", "production")], Some(&["C:"]))));
        assert_eq!(
            tags(&windows[1]),
            vec![
                "ManagedBy=ec2-disk-alarms",
                "InstanceId=i-0123456789abcdef0",
                "Severity=critical",
                "Filesystem=c",
                "team=platform",
                "cost-center=42"
            ]
        );
        let linux = alarms(desired_alarms(&p, &with_series(vec![agent_series("/data", "nvme1n1", "ext4")])));
        assert_eq!(tags(&linux[0])[2..4], ["Severity=warning", "Filesystem=data"]);
        let provisional =
            alarms(desired_alarms(&p, &Subject::Present(instance(&[("Environment", "production")]))));
        assert_eq!(tags(&provisional[0])[3], "Filesystem=provisional");
    }

    fn with_forecasts(hours: Option<f64>) -> Policy {
        let mut p = policy();
        p.forecast = crate::policy::ForecastPolicy { hours, floor_percent: 50.0 };
        p
    }

    fn forecasts(alarms: &[DesiredAlarm]) -> Vec<&DesiredAlarm> {
        alarms.iter().filter(|a| a.severity == Severity::Forecast).collect()
    }

    #[test]
    fn each_watched_series_gets_a_forecast_alarm_on_exactly_its_dimensions() {
        let p = with_forecasts(Some(24.0));
        let published = vec![agent_series("/", "nvme0n1p1", "xfs"), agent_series("/data", "nvme1n1", "ext4")];
        let mut facts = instance(&[("Environment", "production"), ("Name", "web-1")]);
        facts.series = Some(published.clone());
        let all = alarms(desired_alarms(&p, &Subject::Present(facts)));
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ec2-disk-i-0123456789abcdef0-root-warning",
                "ec2-disk-i-0123456789abcdef0-root-critical",
                "ec2-disk-i-0123456789abcdef0-root-forecast",
                "ec2-disk-i-0123456789abcdef0-data-warning",
                "ec2-disk-i-0123456789abcdef0-data-critical",
                "ec2-disk-i-0123456789abcdef0-data-forecast",
            ]
        );
        for (forecast, series) in forecasts(&all).into_iter().zip(&published) {
            let c = &forecast.config;
            assert_eq!(c.dimensions, series.dimensions());
            assert_eq!((c.namespace.as_str(), c.metric_name.as_str()), ("CWAgent", "disk_used_percent"));
            assert_eq!((c.statistic.as_str(), c.period_seconds), ("Average", 3600));
            assert_eq!((c.evaluation_periods, c.datapoints_to_alarm), (3, Some(2)));
            assert_eq!((c.threshold, &c.comparison_operator), (24.0, &ComparisonOperator::LessThanThreshold));
            assert_eq!(c.treat_missing_data, MissingData::Missing);
            let email = vec![p.warning.topic.to_string()];
            assert_eq!((&c.alarm_actions, &c.ok_actions), (&email, &email));
            assert!(c.insufficient_data_actions.is_empty());
            let math = c.math.as_ref().expect("a metric-math alarm");
            assert_eq!(
                math.expression,
                "IF((m1 >= 50) AND (RATE(m1) > 0), (100 - m1) / (RATE(m1) * 3600), 100000)"
            );
            assert_eq!((math.metric_id.as_str(), math.other_metrics.len()), ("m1", 0));
            assert_eq!(c.billed_metrics(), 1);
            assert!(c.is_normalized() && c.has_ownership_marker());
        }
        let tags: Vec<String> =
            all[5].tags(&[]).into_iter().map(|t| format!("{}={}", t.key, t.value)).collect();
        assert_eq!(
            tags,
            [
                "ManagedBy=ec2-disk-alarms",
                "InstanceId=i-0123456789abcdef0",
                "Severity=forecast",
                "Filesystem=data"
            ]
        );
    }

    #[test]
    fn the_forecast_description_names_the_filesystem_instance_horizon_and_remedy() {
        let p = with_forecasts(Some(24.0));
        let mut facts = instance(&[("Environment", "production"), ("Name", "web-1")]);
        facts.series = Some(vec![agent_series("/data", "nvme1n1", "ext4")]);
        let all = alarms(desired_alarms(&p, &Subject::Present(facts)));
        let text = &forecasts(&all)[0].config.description;
        for expected in [
            "forecast: filesystem /data on i-0123456789abcdef0 (web-1)",
            "fills in less than 24 hours at the last hour's growth",
            "at least 50% full",
            "the hours left",
            "du -xh",
            "grow the EBS volume",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
        assert!(text.ends_with(crate::alarm::OWNERSHIP_MARKER));
        assert!(text.len() <= 1024, "{}", text.len());
    }

    #[test]
    fn windows_drives_forecast_on_falling_free_space() {
        let p = with_forecasts(Some(4.0));
        let all = alarms(desired_alarms(&p, &windows(&[("Environment", "production")], Some(&["C:", "D:"]))));
        let found = forecasts(&all);
        assert_eq!(found.len(), 2);
        let c = &found[1].config;
        assert_eq!(found[1].name.as_str(), "ec2-disk-i-0123456789abcdef0-d-forecast");
        assert_eq!(c.metric_name, "LogicalDisk % Free Space");
        assert_eq!(c.threshold, 4.0);
        assert_eq!(
            c.math.as_ref().unwrap().expression,
            "IF((m1 <= 50) AND (RATE(m1) < 0), m1 / (0 - (RATE(m1) * 3600)), 100000)"
        );
        assert!(c.description.contains("drive D:"), "{}", c.description);
    }

    #[test]
    fn the_floor_setting_goes_into_the_expression() {
        let mut p = with_forecasts(Some(24.0));
        p.forecast.floor_percent = 70.0;
        let all = alarms(desired_alarms(&p, &with_series(vec![agent_series("/", "nvme0n1p1", "xfs")])));
        let forecast = forecasts(&all)[0];
        assert!(forecast.config.math.as_ref().unwrap().expression.starts_with("IF((m1 >= 70) AND"));
        assert!(forecast.config.description.contains("at least 70% full"));
    }

    #[test]
    fn the_forecast_tag_overrides_the_setting_per_instance() {
        let series = || Some(vec![agent_series("/", "nvme0n1p1", "xfs")]);
        /// (case, setting, tag value, expected hours, a note)
        type Case<'a> = (&'a str, Option<f64>, Option<&'a str>, Option<f64>, bool);
        let cases: &[Case] = &[
            ("off by default", None, None, None, false),
            ("the setting", Some(24.0), None, Some(24.0), false),
            ("a tag turns it on", None, Some("12"), Some(12.0), false),
            ("a tag changes the horizon", Some(24.0), Some("4"), Some(4.0), false),
            ("0 turns it off", Some(24.0), Some("0"), None, false),
            ("an invalid tag keeps the setting", Some(24.0), Some("soon"), Some(24.0), true),
            ("too far ahead keeps the setting", Some(24.0), Some("1000"), Some(24.0), true),
            ("an invalid tag keeps it off", None, Some("-3"), None, true),
        ];
        for (case, setting, tag, expected, noted) in cases {
            let p = with_forecasts(*setting);
            let mut tags = vec![("Environment", "production")];
            if let Some(value) = tag {
                tags.push((crate::policy::FILL_FORECAST_HOURS_TAG, value));
            }
            let mut facts = instance(&tags);
            facts.series = series();
            let Desire::Alarms { alarms, notes, .. } = desired_alarms(&p, &Subject::Present(facts)) else {
                panic!("{case}: expected alarms")
            };
            let hours: Vec<f64> = forecasts(&alarms).iter().map(|a| a.config.threshold).collect();
            assert_eq!(hours, expected.iter().copied().collect::<Vec<_>>(), "{case}");
            assert_eq!(alarms.len(), 2 + hours.len(), "{case}");
            assert_eq!(
                notes.iter().any(|n| n.contains(crate::policy::FILL_FORECAST_HOURS_TAG)),
                *noted,
                "{case}: {notes:?}"
            );
        }
    }

    #[test]
    fn the_provisional_pair_gets_no_forecast() {
        let p = with_forecasts(Some(24.0));
        for series in [None, Some(vec![]), Some(vec![agent_series("/run", "tmpfs", "tmpfs")])] {
            let mut facts = instance(&[("Environment", "production")]);
            facts.series = series;
            let all = alarms(desired_alarms(&p, &Subject::Present(facts)));
            assert_eq!(all.len(), 2);
            assert!(forecasts(&all).is_empty());
        }
    }

    #[test]
    fn an_edited_expression_is_a_difference_to_revert() {
        let p = with_forecasts(Some(24.0));
        let all = alarms(desired_alarms(&p, &with_series(vec![agent_series("/", "nvme0n1p1", "xfs")])));
        let desired = &forecasts(&all)[0].config;
        let mut edited = desired.clone();
        edited.math.as_mut().unwrap().expression = "m1".into();
        let changes = crate::diff::diff(&edited, desired);
        assert_eq!(changes.iter().map(|c| c.field).collect::<Vec<_>>(), ["expression"]);
        edited.math = None;
        assert_eq!(crate::diff::diff(&edited, desired)[0].after, desired.math.as_ref().unwrap().expression);
        let mut extra = desired.clone();
        extra.math.as_mut().unwrap().other_metrics.push("m2 CWAgent/disk_used_percent".into());
        assert_eq!(extra.billed_metrics(), 2);
        assert_eq!(
            crate::diff::diff(&extra, desired).iter().map(|c| c.field).collect::<Vec<_>>(),
            ["metric ids"]
        );
        assert!(crate::diff::diff(desired, desired).is_empty());
    }
}
