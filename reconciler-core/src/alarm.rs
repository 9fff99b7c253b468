//! Alarm configuration, names and the ownership marker.

use std::fmt;

use crate::ids::{AlarmName, InstanceId};
use crate::state::AlarmState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
    /// The opt-in "fills within N hours" alarm (see `forecast`).
    Forecast,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Warning, Severity::Critical, Severity::Forecast];
    /// The two static-threshold alarms every watched series has.
    pub const PAIR: [Severity; 2] = [Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Forecast => "forecast",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

impl Dimension {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: value.into() }
    }
}

/// A CloudWatch value from a closed set. `Other` keeps what an alarm edited by
/// hand may carry (a percentile statistic, an anomaly-band operator), so the
/// diff can still name it.
macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl $name {
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

closed_set!(
    /// The statistic an alarm evaluates.
    Statistic { Average => "Average", Maximum => "Maximum", Minimum => "Minimum", Sum => "Sum", SampleCount => "SampleCount" }
);
closed_set!(
    /// How an alarm compares the statistic with its threshold.
    ComparisonOperator {
        GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
        GreaterThanThreshold => "GreaterThanThreshold",
        LessThanThreshold => "LessThanThreshold",
        LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
    }
);
impl ComparisonOperator {
    /// `>=`, `>`, `<`, `<=`, or the operator's own name when it is another one.
    pub fn symbol(&self) -> &str {
        match self {
            Self::GreaterThanOrEqualToThreshold => ">=",
            Self::GreaterThanThreshold => ">",
            Self::LessThanThreshold => "<",
            Self::LessThanOrEqualToThreshold => "<=",
            Self::Other(name) => name,
        }
    }
}

closed_set!(
    /// What an alarm makes of missing data points (`TreatMissingData`).
    MissingData { Missing => "missing", Ignore => "ignore", Breaching => "breaching", NotBreaching => "notBreaching" }
);

/// Every field of a metric alarm that the reconciler keeps true. Observed
/// alarms are converted into the same struct, so the diff compares like with
/// like. Lists (dimensions, actions) are kept sorted: CloudWatch treats them
/// as sets and does not promise to return them in the order they were given.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlarmConfig {
    pub description: String,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<Dimension>,
    pub statistic: Statistic,
    pub period_seconds: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: f64,
    pub comparison_operator: ComparisonOperator,
    pub treat_missing_data: MissingData,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    /// Set on a metric-math alarm: the fields above then describe its one
    /// metric, and the threshold is compared with the expression's value.
    pub math: Option<MetricMath>,
}

/// The metric-math part of an alarm (`PutMetricAlarm`'s `Metrics`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MetricMath {
    /// The query whose value the alarm compares with its threshold.
    pub expression: String,
    /// The id by which the expression names the alarm's metric.
    pub metric_id: String,
    /// Further metric queries (`id namespace/metric`), which only a hand edit
    /// adds; the alarm is billed for each.
    pub other_metrics: Vec<String>,
}

impl AlarmConfig {
    /// Sorts the set-like fields so that two configurations that CloudWatch
    /// would treat as equal also compare equal here.
    pub fn normalized(mut self) -> Self {
        self.dimensions.sort();
        self.alarm_actions.sort();
        self.ok_actions.sort();
        self.insufficient_data_actions.sort();
        if let Some(math) = &mut self.math {
            math.other_metrics.sort();
        }
        self
    }

    pub fn is_normalized(&self) -> bool {
        self.dimensions.is_sorted()
            && self.alarm_actions.is_sorted()
            && self.ok_actions.is_sorted()
            && self.insufficient_data_actions.is_sorted()
            && self.math.as_ref().is_none_or(|math| math.other_metrics.is_sorted())
    }

    /// The metrics CloudWatch bills this alarm for: one for an alarm on a
    /// single metric; a metric-math alarm is billed for each metric it uses
    /// (the forecast alarm uses one).
    pub fn billed_metrics(&self) -> usize {
        1 + self.math.as_ref().map_or(0, |math| math.other_metrics.len())
    }

    /// True when the description carries the marker this product writes into
    /// every alarm it creates. `DescribeAlarms` returns descriptions but not
    /// tags, so this is how ownership is read without another API call.
    pub fn has_ownership_marker(&self) -> bool {
        // The marker is written last, so the common case needs no search.
        self.description.ends_with(OWNERSHIP_MARKER) || self.description.contains(OWNERSHIP_MARKER)
    }
}

/// Written as the last line of every owned alarm's description.
pub const OWNERSHIP_MARKER: &str = "[managed-by: ec2-disk-alarms]";

/// An alarm as `DescribeAlarms` returned it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ObservedAlarm {
    pub name: AlarmName,
    pub config: AlarmConfig,
    /// What `DescribeAlarms` gives as `AlarmArn`: the tag calls need it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// `StateValue` and since when, when `DescribeAlarms` gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<AlarmState>,
}

/// Owned alarm names are deterministic, so a duplicate event finds the alarm
/// it created before, and free of any configuration value, so changing a
/// threshold updates an alarm in place instead of leaving the old one behind:
///
/// * `<prefix><instance-id>-<filesystem>-<severity>` for a filesystem the
///   instance publishes a series for (see `series::filesystem_label`), where
///   the severity is `warning`, `critical` or `forecast`;
/// * `<prefix>provisional-<instance-id>-<severity>` for the pair an instance
///   has until its first series appears. The separate prefix lets the
///   follow-up pass list exactly the provisional alarms in one call.
///
/// `<prefix><instance-id>-<severity>`, the name of earlier releases, is still
/// recognised as owned so that it can be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    prefix: String,
}

/// Between the prefix and the instance id in provisional alarm names.
pub const PROVISIONAL_INFIX: &str = "provisional-";

/// The longest filesystem label in an alarm name.
pub const MAX_LABEL_LEN: usize = 64;

/// The longest prefix that still leaves room for a 19-character instance id,
/// the longest filesystem label and `-critical` within CloudWatch's
/// 255-character alarm names (`-forecast` is as long).
pub const MAX_PREFIX_LEN: usize = 255 - 19 - 1 - MAX_LABEL_LEN - 1 - 8;

/// What an owned alarm name says about the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind<'a> {
    Filesystem(&'a str),
    Provisional,
    /// A name of a release before series discovery.
    Unlabeled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameParts<'a> {
    pub instance: &'a str,
    pub kind: NameKind<'a>,
    pub severity: Severity,
}

impl Naming {
    pub fn new(prefix: &str) -> Result<Self, String> {
        if prefix.is_empty() || prefix.chars().count() > MAX_PREFIX_LEN {
            return Err(format!("must be 1 to {MAX_PREFIX_LEN} characters"));
        }
        if prefix.chars().any(|c| c.is_control() || c == '*') {
            return Err("must not contain control characters or '*'".into());
        }
        Ok(Self { prefix: prefix.to_owned() })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `label` comes from `series::filesystem_label`, at most [`MAX_LABEL_LEN`] characters.
    pub fn filesystem_alarm_name(&self, instance: &InstanceId, label: &str, severity: Severity) -> AlarmName {
        AlarmName::from_string(format!("{}{instance}-{label}-{severity}", self.prefix))
            .expect("prefix and label lengths are bounded")
    }

    pub fn provisional_alarm_name(&self, instance: &InstanceId, severity: Severity) -> AlarmName {
        AlarmName::from_string(format!("{}{PROVISIONAL_INFIX}{instance}-{severity}", self.prefix))
            .expect("prefix length is bounded by Naming::new")
    }

    /// The name prefix shared by the filesystem alarms of one instance; the
    /// trailing dash keeps `i-1234abcd` from matching `i-1234abcd0...`.
    pub fn instance_prefix(&self, instance: &InstanceId) -> String {
        format!("{}{instance}-", self.prefix)
    }

    /// The name prefix shared by the provisional alarms of one instance.
    pub fn provisional_instance_prefix(&self, instance: &InstanceId) -> String {
        format!("{}{PROVISIONAL_INFIX}{instance}-", self.prefix)
    }

    /// The name prefix shared by every provisional alarm.
    pub fn provisional_prefix(&self) -> String {
        format!("{}{PROVISIONAL_INFIX}", self.prefix)
    }

    /// The instance and severity a name was generated for, if it has the
    /// shape of a name this prefix generates.
    pub fn parse(&self, name: &AlarmName) -> Option<(InstanceId, Severity)> {
        let parts = self.split(name)?;
        Some((InstanceId::parse(parts.instance).ok()?, parts.severity))
    }

    /// [`Naming::parse`] without copying anything out of the name.
    pub fn split<'a>(&self, name: &'a AlarmName) -> Option<NameParts<'a>> {
        let rest = name.as_str().strip_prefix(&self.prefix)?;
        let (rest, severity) = rest.rsplit_once('-')?;
        let severity = Severity::ALL.into_iter().find(|s| s.as_str() == severity)?;
        if let Some(instance) = rest.strip_prefix(PROVISIONAL_INFIX) {
            return InstanceId::is_valid(instance).then_some(NameParts {
                instance,
                kind: NameKind::Provisional,
                severity,
            });
        }
        // An instance id is `i-` and hex digits, so it ends at the next dash.
        let (instance, kind) = match rest.get(2..).and_then(|r| r.find('-')) {
            None => (rest, NameKind::Unlabeled),
            Some(at) => {
                let label = &rest[at + 3..];
                if label.is_empty() {
                    return None;
                }
                (&rest[..at + 2], NameKind::Filesystem(label))
            }
        };
        InstanceId::is_valid(instance).then_some(NameParts { instance, kind, severity })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_sets_read_and_write_cloudwatchs_names() {
        assert_eq!(Statistic::parse("Average"), Statistic::Average);
        assert_eq!(Statistic::parse("p99"), Statistic::Other("p99".into()));
        assert_eq!(Statistic::Other("p99".into()).as_str(), "p99");
        let operator = ComparisonOperator::parse("LessThanOrEqualToThreshold");
        assert_eq!(operator, ComparisonOperator::LessThanOrEqualToThreshold);
        assert_eq!(operator.to_string(), "LessThanOrEqualToThreshold");
        assert_eq!(MissingData::parse("notBreaching"), MissingData::NotBreaching);
    }

    fn id(s: &str) -> InstanceId {
        InstanceId::parse(s).unwrap()
    }

    #[test]
    fn names_round_trip() {
        let naming = Naming::new("ec2-disk-").unwrap();
        let instance = id("i-0123456789abcdef0");
        for severity in Severity::ALL {
            let name = naming.filesystem_alarm_name(&instance, "var-lib-docker", severity);
            assert_eq!(
                naming.split(&name).map(|p| (p.instance, p.kind, p.severity)),
                Some(("i-0123456789abcdef0", NameKind::Filesystem("var-lib-docker"), severity))
            );
            assert_eq!(naming.parse(&name), Some((instance.clone(), severity)));
            let provisional = naming.provisional_alarm_name(&instance, severity);
            assert_eq!(naming.split(&provisional).map(|p| p.kind), Some(NameKind::Provisional));
            assert_eq!(naming.parse(&provisional), Some((instance.clone(), severity)));
        }
        assert_eq!(
            naming.filesystem_alarm_name(&id("i-1234abcd"), "root", Severity::Critical).as_str(),
            "ec2-disk-i-1234abcd-root-critical"
        );
        assert_eq!(
            naming.provisional_alarm_name(&id("i-1234abcd"), Severity::Warning).as_str(),
            "ec2-disk-provisional-i-1234abcd-warning"
        );
        // Labels with dashes of their own, and hashed labels.
        let name = AlarmName::parse("ec2-disk-i-1234abcd-mnt-my-disk--0badcafe-warning").unwrap();
        assert_eq!(naming.split(&name).map(|p| p.kind), Some(NameKind::Filesystem("mnt-my-disk--0badcafe")));
        // Names of earlier releases are still recognised.
        let old = AlarmName::parse("ec2-disk-i-1234abcd-warning").unwrap();
        assert_eq!(
            naming.split(&old).map(|p| (p.instance, p.kind)),
            Some(("i-1234abcd", NameKind::Unlabeled))
        );
    }

    #[test]
    fn instance_prefixes_cover_only_their_instance() {
        let naming = Naming::new("ec2-disk-").unwrap();
        let instance = id("i-1234abcd");
        let own = naming.filesystem_alarm_name(&instance, "data", Severity::Warning);
        assert!(own.as_str().starts_with(&naming.instance_prefix(&instance)));
        let provisional = naming.provisional_alarm_name(&instance, Severity::Warning);
        assert!(provisional.as_str().starts_with(&naming.provisional_instance_prefix(&instance)));
        assert!(provisional.as_str().starts_with(&naming.provisional_prefix()));
        assert!(!own.as_str().starts_with(&naming.provisional_prefix()));
        let longer = naming.filesystem_alarm_name(&id("i-1234abcd00000000f"), "data", Severity::Warning);
        assert!(!longer.as_str().starts_with(&naming.instance_prefix(&instance)));
    }

    #[test]
    fn foreign_names_do_not_parse() {
        let naming = Naming::new("ec2-disk-").unwrap();
        for name in [
            "ec2-disk-i-1234abcd-warn",
            "ec2-disk-i-1234abcd",
            "other-i-1234abcd-warning",
            "ec2-disk-i-1234abcd--warning",
            "ec2-disk-web-server-warning",
            "EC2-DISK-i-1234abcd-warning",
            "ec2-disk-i-1234abcg-data-warning",
            "ec2-disk-provisional-i-1234abcd-data-warning",
            "ec2-disk-provisional-web-warning",
            "ec2-disk-mute-i-1234abcd-0123456789abcdef",
            "ec2-disk-i--warning",
        ] {
            assert_eq!(naming.split(&AlarmName::parse(name).unwrap()), None, "{name}");
        }
    }

    #[test]
    fn prefix_is_validated() {
        assert!(Naming::new("").is_err());
        assert!(Naming::new("a*").is_err());
        assert!(Naming::new(&"p".repeat(MAX_PREFIX_LEN)).is_ok());
        assert!(Naming::new(&"p".repeat(MAX_PREFIX_LEN + 1)).is_err());
        let longest = Naming::new(&"p".repeat(MAX_PREFIX_LEN)).unwrap();
        let label = "l".repeat(MAX_LABEL_LEN);
        let name = longest.filesystem_alarm_name(&id("i-0123456789abcdef0"), &label, Severity::Critical);
        assert_eq!(name.as_str().len(), 255);
        let provisional = longest.provisional_alarm_name(&id("i-0123456789abcdef0"), Severity::Critical);
        assert!(provisional.as_str().len() < 255);
    }
}
