//! The tag policy: which instances are in scope, and the settings their alarms get.

use std::collections::BTreeSet;
use std::fmt;

use crate::alarm::{Dimension, MissingData, Naming, Severity, Statistic};
use crate::forecast::parse_forecast_hours;
use crate::ids::TopicArn;
use crate::instance::{InstanceFacts, TagSource};
use crate::platform::Platform;
use crate::series::{classify_series, ClassifiedSeries, MetricSeries, SeriesFilter};
use crate::tags::AlarmTag;

/// Tag that takes an instance out of scope when set to `true`, `yes` or `1`.
pub const OPT_OUT_TAG: &str = "disk-alarms:opt-out";
/// Tags that override a threshold for one instance (a number in (0, 100]).
pub const WARNING_THRESHOLD_TAG: &str = "disk-alarms:warning-threshold";
pub const CRITICAL_THRESHOLD_TAG: &str = "disk-alarms:critical-threshold";
/// Tag that overrides `FILL_FORECAST_HOURS` for one instance (`0` = off).
pub const FILL_FORECAST_HOURS_TAG: &str = "disk-alarms:fill-forecast-hours";

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub scope_tag_key: String,
    pub scope_tag_values: BTreeSet<String>,
    pub warning: SeverityPolicy,
    pub critical: SeverityPolicy,
    /// The opt-in "fills within N hours" alarm.
    pub forecast: ForecastPolicy,
    /// The disk metric of Linux instances.
    pub linux: MetricProfile,
    /// The disk metric of Windows instances.
    pub windows: MetricProfile,
    pub statistic: Statistic,
    pub period_seconds: i32,
    pub evaluation_periods: i32,
    pub treat_missing_data: MissingData,
    pub naming: Naming,
    /// Put on every alarm at creation, after the tags the reconciler always sets.
    pub alarm_tags: Vec<AlarmTag>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeverityPolicy {
    pub threshold: f64,
    pub topic: TopicArn,
}

/// The forecast alarm's settings. It notifies the warning (email) topic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastPolicy {
    /// `None`: off unless an instance's tag turns it on.
    pub hours: Option<f64>,
    /// The forecast only counts while the filesystem is at least this full.
    pub floor_percent: f64,
}

impl ForecastPolicy {
    pub const OFF: Self = Self { hours: None, floor_percent: 50.0 };
}

/// Which disk metric the alarms watch. Each instance's published series of
/// it are discovered; `dimensions` (with `InstanceId`, and `group_dimension`)
/// are only the provisional pair's guess at the root filesystem's series,
/// used until the instance publishes anything.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricProfile {
    pub name: &'static str,
    /// Linux metrics are percent used (alarm at or above the threshold);
    /// the Windows metric is percent free (alarm at or below 100 − threshold).
    pub platform: Platform,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<Dimension>,
    /// The agent appends `AutoScalingGroupName` (its `append_dimensions`), so
    /// the provisional alarms of instances in a group carry that dimension too.
    pub group_dimension: bool,
    /// The dimension that holds the mount path.
    pub path_dimension: &'static str,
    /// The dimension the filesystem-type patterns of `filter` are matched against.
    pub fstype_dimension: &'static str,
    pub filter: SeriesFilter,
}

impl MetricProfile {
    /// The CloudWatch agent's `disk_used_percent`, with `append_dimensions`
    /// adding `InstanceId` and `drop_device: true`.
    pub fn cwagent(extra: Option<Vec<Dimension>>) -> Self {
        Self {
            name: "cwagent",
            platform: Platform::Linux,
            namespace: "CWAgent".into(),
            metric_name: "disk_used_percent".into(),
            dimensions: extra
                .unwrap_or_else(|| vec![Dimension::new("path", "/"), Dimension::new("fstype", "xfs")]),
            group_dimension: false,
            path_dimension: "path",
            fstype_dimension: "fstype",
            filter: SeriesFilter::default(),
        }
    }

    /// The deprecated CloudWatch monitoring scripts (`mon-put-instance-data.pl`).
    pub fn legacy(extra: Option<Vec<Dimension>>) -> Self {
        Self {
            name: "legacy",
            platform: Platform::Linux,
            namespace: "System/Linux".into(),
            metric_name: "DiskSpaceUtilization".into(),
            dimensions: extra.unwrap_or_else(|| {
                vec![Dimension::new("Filesystem", "/dev/xvda1"), Dimension::new("MountPath", "/")]
            }),
            group_dimension: false,
            path_dimension: "MountPath",
            // `df`'s Filesystem column: a device, or `tmpfs`, `overlay`, ... for pseudo filesystems.
            fstype_dimension: "Filesystem",
            filter: SeriesFilter::default(),
        }
    }

    /// The CloudWatch agent on Windows: `LogicalDisk % Free Space`, one
    /// series per volume (`instance` is the drive, `C:`), with
    /// `append_dimensions` adding `InstanceId`.
    pub fn windows(extra: Option<Vec<Dimension>>) -> Self {
        Self {
            name: "windows",
            platform: Platform::Windows,
            namespace: "CWAgent".into(),
            metric_name: "LogicalDisk % Free Space".into(),
            dimensions: extra.unwrap_or_else(|| {
                vec![Dimension::new("instance", "C:"), Dimension::new("objectname", "LogicalDisk")]
            }),
            group_dimension: false,
            path_dimension: "instance",
            // Unused: Windows volumes are filtered by name only.
            fstype_dimension: "objectname",
            filter: SeriesFilter::default(),
        }
    }

    /// What happens to each of an instance's published series.
    pub fn series_verdicts(&self, series: &[MetricSeries]) -> Vec<ClassifiedSeries> {
        classify_series(self.platform, self.path_dimension, self.fstype_dimension, &self.filter, series)
    }
}

impl Policy {
    /// The disk metric an instance of `platform` publishes.
    pub fn profile(&self, platform: Platform) -> &MetricProfile {
        match platform {
            Platform::Linux => &self.linux,
            Platform::Windows => &self.windows,
        }
    }

    pub fn severity(&self, severity: Severity) -> &SeverityPolicy {
        match severity {
            // The forecast warns ahead of time: it goes to the email topic.
            Severity::Warning | Severity::Forecast => &self.warning,
            Severity::Critical => &self.critical,
        }
    }

    /// Whether the instance's tags put it in scope, and with which thresholds.
    /// Each tag the policy reads comes from the instance, or, when the instance
    /// does not have it, from its Auto Scaling group.
    pub fn scope(&self, instance: &InstanceFacts) -> ScopeDecision {
        let opt_out = instance.policy_tag(OPT_OUT_TAG).map(|(value, _)| value);
        if let Some(value) = opt_out {
            if matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1") {
                return ScopeDecision::Out(OutOfScope::OptedOut { value: value.to_owned() });
            }
        }
        match instance.policy_tag(&self.scope_tag_key) {
            None => ScopeDecision::Out(OutOfScope::NoScopeTag { key: self.scope_tag_key.clone() }),
            Some((value, _)) if !self.scope_tag_values.contains(value) => {
                ScopeDecision::Out(OutOfScope::ScopeTagValue {
                    key: self.scope_tag_key.clone(),
                    value: value.to_owned(),
                })
            }
            Some((value, source)) => {
                let (thresholds, mut notes) = self.thresholds_for(instance);
                if let (TagSource::Group, Some(group)) = (source, &instance.group) {
                    notes.push(format!(
                        "in scope through Auto Scaling group {}: {}={value} is on the group, not on the instance",
                        group.name, self.scope_tag_key
                    ));
                }
                if let Some(value) = opt_out {
                    notes.push(format!(
                        "ignored {OPT_OUT_TAG}={value:?}: only true, yes or 1 opt an instance out"
                    ));
                }
                ScopeDecision::In { thresholds, notes }
            }
        }
    }

    /// Thresholds after the instance's override tags. An invalid override is
    /// ignored with a note rather than failing the instance: an instance with
    /// a typo in a tag is still better protected by the default than not at all.
    fn thresholds_for(&self, instance: &InstanceFacts) -> (Thresholds, Vec<String>) {
        let mut notes = Vec::new();
        let mut read = |tag: &str, default: f64| match instance.policy_tag(tag) {
            None => default,
            Some((raw, _)) => match parse_threshold(raw) {
                Ok(value) => value,
                Err(why) => {
                    notes.push(format!("ignored {tag}={raw:?}: {why}; using {default}"));
                    default
                }
            },
        };
        let warning = read(WARNING_THRESHOLD_TAG, self.warning.threshold);
        let critical = read(CRITICAL_THRESHOLD_TAG, self.critical.threshold);
        let forecast_hours = match instance.policy_tag(FILL_FORECAST_HOURS_TAG) {
            None => self.forecast.hours,
            Some((raw, _)) => parse_forecast_hours(raw).unwrap_or_else(|why| {
                let default = self.forecast.hours.map_or_else(|| "off".to_owned(), |h| format!("{h} hours"));
                notes.push(format!("ignored {FILL_FORECAST_HOURS_TAG}={raw:?}: {why}; using {default}"));
                self.forecast.hours
            }),
        };
        if warning < critical {
            return (Thresholds { warning, critical, forecast_hours }, notes);
        }
        notes.push(format!(
            "ignored threshold overrides: warning {warning} must be below critical {critical}; using {} and {}",
            self.warning.threshold, self.critical.threshold
        ));
        (
            Thresholds { warning: self.warning.threshold, critical: self.critical.threshold, forecast_hours },
            notes,
        )
    }
}

/// A threshold is a percentage of disk used: a finite number above 0 and at most 100.
pub fn parse_threshold(raw: &str) -> Result<f64, &'static str> {
    let value: f64 = raw.trim().parse().map_err(|_| "not a number")?;
    if !value.is_finite() {
        return Err("not a finite number");
    }
    if value <= 0.0 || value > 100.0 {
        return Err("outside (0, 100]");
    }
    Ok(value)
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Thresholds {
    pub warning: f64,
    pub critical: f64,
    /// The forecast alarm's horizon in hours; `None`: no forecast alarm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_hours: Option<f64>,
}

impl Thresholds {
    /// Percent used for the pair; hours (0 when off) for the forecast.
    pub fn get(&self, severity: Severity) -> f64 {
        match severity {
            Severity::Warning => self.warning,
            Severity::Critical => self.critical,
            Severity::Forecast => self.forecast_hours.unwrap_or(0.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum ScopeDecision {
    /// In scope; `notes` explain any override tag that was ignored.
    In {
        thresholds: Thresholds,
        notes: Vec<String>,
    },
    Out(OutOfScope),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum OutOfScope {
    NoScopeTag { key: String },
    ScopeTagValue { key: String, value: String },
    OptedOut { value: String },
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoScopeTag { key } => write!(f, "out of scope: no {key} tag"),
            Self::ScopeTagValue { key, value } => write!(f, "out of scope: {key}={value}"),
            Self::OptedOut { value } => write!(f, "opted out: {OPT_OUT_TAG}={value}"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::InstanceId;
    use crate::instance::InstanceState;

    pub fn policy() -> Policy {
        Policy {
            scope_tag_key: "Environment".into(),
            scope_tag_values: ["production".to_string()].into(),
            warning: SeverityPolicy {
                threshold: 60.0,
                topic: TopicArn::parse("arn:aws:sns:eu-west-1:123456789012:disk-warning").unwrap(),
            },
            critical: SeverityPolicy {
                threshold: 80.0,
                topic: TopicArn::parse("arn:aws:sns:eu-west-1:123456789012:disk-critical").unwrap(),
            },
            forecast: ForecastPolicy::OFF,
            linux: MetricProfile::cwagent(None),
            windows: MetricProfile::windows(None),
            statistic: Statistic::Average,
            period_seconds: 300,
            evaluation_periods: 2,
            treat_missing_data: MissingData::Missing,
            naming: Naming::new("ec2-disk-").unwrap(),
            alarm_tags: Vec::new(),
        }
    }

    pub fn instance(tags: &[(&str, &str)]) -> InstanceFacts {
        InstanceFacts {
            id: InstanceId::parse("i-0123456789abcdef0").unwrap(),
            state: InstanceState::Running,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            platform: Platform::Linux,
            launch_time: None,
            state_since: None,
            group: None,
            series: None,
        }
    }

    fn thresholds(decision: &ScopeDecision) -> Option<(f64, f64, usize)> {
        match decision {
            ScopeDecision::In { thresholds, notes } => {
                Some((thresholds.warning, thresholds.critical, notes.len()))
            }
            ScopeDecision::Out(_) => None,
        }
    }

    #[test]
    fn scope_decisions() {
        let p = policy();
        // (behaviour, tags, Some((warning, critical, notes)) when in scope, reason when out)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<(f64, f64, usize)>, Option<&'a str>);
        let cases: &[Case] = &[
            ("production tag is in scope", &[("Environment", "production")], Some((60.0, 80.0, 0)), None),
            (
                "staging is out",
                &[("Environment", "staging")],
                None,
                Some("out of scope: Environment=staging"),
            ),
            ("untagged is out", &[], None, Some("out of scope: no Environment tag")),
            (
                "values are case-sensitive",
                &[("Environment", "Production")],
                None,
                Some("out of scope: Environment=Production"),
            ),
            (
                "tag keys are case-sensitive",
                &[("environment", "production")],
                None,
                Some("out of scope: no Environment tag"),
            ),
            (
                "opt-out wins over scope",
                &[("Environment", "production"), (OPT_OUT_TAG, "true")],
                None,
                Some("opted out: disk-alarms:opt-out=true"),
            ),
            (
                "opt-out accepts YES",
                &[("Environment", "production"), (OPT_OUT_TAG, "YES")],
                None,
                Some("opted out: disk-alarms:opt-out=YES"),
            ),
            (
                "unknown opt-out value keeps the instance protected, with a note",
                &[("Environment", "production"), (OPT_OUT_TAG, "maybe")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "valid overrides apply",
                &[
                    ("Environment", "production"),
                    (WARNING_THRESHOLD_TAG, "70"),
                    (CRITICAL_THRESHOLD_TAG, " 90.5 "),
                ],
                Some((70.0, 90.5, 0)),
                None,
            ),
            (
                "non-numeric override is ignored",
                &[("Environment", "production"), (WARNING_THRESHOLD_TAG, "high")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "override above 100 is ignored",
                &[("Environment", "production"), (CRITICAL_THRESHOLD_TAG, "101")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "zero is ignored",
                &[("Environment", "production"), (WARNING_THRESHOLD_TAG, "0")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "negative is ignored",
                &[("Environment", "production"), (WARNING_THRESHOLD_TAG, "-5")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "NaN is ignored",
                &[("Environment", "production"), (WARNING_THRESHOLD_TAG, "NaN")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "inf is ignored",
                &[("Environment", "production"), (CRITICAL_THRESHOLD_TAG, "inf")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "an ARN in an override tag is just not a number",
                &[("Environment", "production"), (CRITICAL_THRESHOLD_TAG, "arn:aws:sns:eu-west-1:1:evil")],
                Some((60.0, 80.0, 1)),
                None,
            ),
            (
                "warning at or above critical drops both overrides",
                &[("Environment", "production"), (WARNING_THRESHOLD_TAG, "85")],
                Some((60.0, 80.0, 1)),
                None,
            ),
        ];
        for (name, tags, expected, reason) in cases {
            let decision = p.scope(&instance(tags));
            assert_eq!(thresholds(&decision), *expected, "{name}");
            if let (ScopeDecision::Out(out), Some(reason)) = (&decision, reason) {
                assert_eq!(out.to_string(), *reason, "{name}");
            }
        }
    }

    #[test]
    fn several_scope_values() {
        let mut p = policy();
        p.scope_tag_values = ["production".to_string(), "prod".to_string()].into();
        assert!(matches!(p.scope(&instance(&[("Environment", "prod")])), ScopeDecision::In { .. }));
    }
}
