//! Alarm configuration, names and the ownership marker.

use std::fmt;

use crate::ids::{AlarmName, InstanceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 2] = [Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
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
    pub statistic: String,
    pub period_seconds: i32,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: f64,
    pub comparison_operator: String,
    pub treat_missing_data: String,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
}

impl AlarmConfig {
    /// Sorts the set-like fields so that two configurations that CloudWatch
    /// would treat as equal also compare equal here.
    pub fn normalized(mut self) -> Self {
        self.dimensions.sort();
        self.alarm_actions.sort();
        self.ok_actions.sort();
        self.insufficient_data_actions.sort();
        self
    }

    pub fn is_normalized(&self) -> bool {
        self.dimensions.is_sorted()
            && self.alarm_actions.is_sorted()
            && self.ok_actions.is_sorted()
            && self.insufficient_data_actions.is_sorted()
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
}

/// Owned alarm names are `<prefix><instance-id>-<severity>`: deterministic, so
/// a duplicate event finds the alarm it created before, and free of any
/// configuration value, so changing a threshold updates the alarm in place
/// instead of leaving the old one behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    prefix: String,
}

/// The longest prefix that still leaves room for a 19-character instance id
/// and `-critical` within CloudWatch's 255-character alarm names.
pub const MAX_PREFIX_LEN: usize = 255 - 19 - 1 - 8;

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

    pub fn alarm_name(&self, instance: &InstanceId, severity: Severity) -> AlarmName {
        AlarmName::from_string(format!("{}{instance}-{severity}", self.prefix))
            .expect("prefix length is bounded by Naming::new")
    }

    /// The name prefix shared by all alarms of one instance; the trailing dash
    /// keeps `i-1234abcd` from matching `i-1234abcd0...`.
    pub fn instance_prefix(&self, instance: &InstanceId) -> String {
        format!("{}{instance}-", self.prefix)
    }

    /// The instance and severity a name was generated for, if it was generated
    /// by [`Naming::alarm_name`] with this prefix.
    pub fn parse(&self, name: &AlarmName) -> Option<(InstanceId, Severity)> {
        let (instance, severity) = self.split(name)?;
        Some((InstanceId::parse(instance).ok()?, severity))
    }

    /// [`Naming::parse`] without copying the instance id out of the name.
    pub fn split<'a>(&self, name: &'a AlarmName) -> Option<(&'a str, Severity)> {
        let rest = name.as_str().strip_prefix(&self.prefix)?;
        let (instance, severity) = rest.rsplit_once('-')?;
        let severity = Severity::ALL.into_iter().find(|s| s.as_str() == severity)?;
        InstanceId::is_valid(instance).then_some((instance, severity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> InstanceId {
        InstanceId::parse(s).unwrap()
    }

    #[test]
    fn names_round_trip() {
        let naming = Naming::new("ec2-disk-").unwrap();
        for severity in Severity::ALL {
            let name = naming.alarm_name(&id("i-0123456789abcdef0"), severity);
            assert_eq!(naming.parse(&name), Some((id("i-0123456789abcdef0"), severity)));
        }
        assert_eq!(
            naming.alarm_name(&id("i-1234abcd"), Severity::Critical).as_str(),
            "ec2-disk-i-1234abcd-critical"
        );
    }

    #[test]
    fn foreign_names_do_not_parse() {
        let naming = Naming::new("ec2-disk-").unwrap();
        for name in [
            "ec2-disk-i-1234abcd-warn",
            "ec2-disk-i-1234abcd",
            "other-i-1234abcd-warning",
            "ec2-disk-i-1234abcd-warning-copy",
            "ec2-disk-web-server-warning",
            "EC2-DISK-i-1234abcd-warning",
        ] {
            assert_eq!(naming.parse(&AlarmName::parse(name).unwrap()), None, "{name}");
        }
    }

    #[test]
    fn prefix_is_validated() {
        assert!(Naming::new("").is_err());
        assert!(Naming::new("a*").is_err());
        assert!(Naming::new(&"p".repeat(MAX_PREFIX_LEN)).is_ok());
        assert!(Naming::new(&"p".repeat(MAX_PREFIX_LEN + 1)).is_err());
        let longest = Naming::new(&"p".repeat(MAX_PREFIX_LEN)).unwrap();
        let name = longest.alarm_name(&id("i-0123456789abcdef0"), Severity::Critical);
        assert_eq!(name.as_str().len(), 255);
    }
}
