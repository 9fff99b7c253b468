//! What the reconciler knows about one EC2 instance.

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::InstanceId;
use crate::platform::Platform;
use crate::series::MetricSeries;
pub use crate::unix_time::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    /// Parses EC2's state names (`running`, `shutting-down`, ...).
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
        }
    }

    /// `shutting-down` and `terminated` never turn back into anything else.
    pub fn is_final(self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated)
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tag AWS puts on every instance an Auto Scaling group launches.
pub const AUTOSCALING_GROUP_TAG: &str = "aws:autoscaling:groupName";

/// An instance as `DescribeInstances` reported it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstanceFacts {
    pub id: InstanceId,
    pub state: InstanceState,
    pub tags: BTreeMap<String, String>,
    pub platform: Platform,
    pub launch_time: Option<UnixTime>,
    /// When the instance entered its current state, where EC2 says: a
    /// user-initiated stop or termination carries its time in
    /// `StateTransitionReason` (see [`user_initiated_time`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_since: Option<UnixTime>,
    /// The Auto Scaling group the instance belongs to, when it was looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<AutoScalingGroup>,
    /// The series of its platform's disk metric the instance published
    /// recently, when they were listed; `None` when they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<MetricSeries>>,
}

/// An Auto Scaling group and its own tags (which do not always reach the
/// instances: a tag without `PropagateAtLaunch`, or one added later).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AutoScalingGroup {
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

/// Where a tag the policy reads came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSource {
    Instance,
    Group,
}

impl InstanceFacts {
    /// A tag the policy reads: the instance's own value wins; without one, the
    /// value on its Auto Scaling group applies.
    pub fn policy_tag(&self, key: &str) -> Option<(&str, TagSource)> {
        if let Some(value) = self.tags.get(key) {
            return Some((value, TagSource::Instance));
        }
        let group = self.group.as_ref()?;
        group.tags.get(key).map(|value| (value.as_str(), TagSource::Group))
    }

    /// The group named by the instance's `aws:autoscaling:groupName` tag.
    pub fn group_name_tag(&self) -> Option<&str> {
        self.tags.get(AUTOSCALING_GROUP_TAG).map(String::as_str)
    }

    pub fn name(&self) -> Option<&str> {
        self.tags.get("Name").map(String::as_str)
    }
}

/// The time in EC2's `StateTransitionReason` of a user-initiated change:
/// `User initiated (2026-11-29 18:02:11 GMT)` (AWS) or `... UTC)`. Other
/// reasons (`Server.ScheduledStop`, a spot interruption) carry no time.
pub fn user_initiated_time(reason: &str) -> Option<UnixTime> {
    let inner = reason.strip_prefix("User initiated (")?.strip_suffix(')')?;
    let stamp = inner.strip_suffix(" GMT").or_else(|| inner.strip_suffix(" UTC"))?;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = time::PrimitiveDateTime::parse(stamp, &format).ok()?;
    Some(UnixTime(at.assume_utc().unix_timestamp()))
}

/// One instance the reconciler is deciding about: either what the API says of
/// it, or the fact that the API no longer knows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Subject {
    Present(InstanceFacts),
    Gone { id: InstanceId },
}

impl Subject {
    pub fn id(&self) -> &InstanceId {
        match self {
            Self::Present(facts) => &facts.id,
            Self::Gone { id } => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_initiated_times() {
        let cases = [
            ("User initiated (2026-11-29 18:02:11 GMT)", Some("2026-11-29T18:02:11Z")),
            ("User initiated (2026-11-29 18:02:11 UTC)", Some("2026-11-29T18:02:11Z")),
            ("User initiated", None),
            ("User initiated (2026-11-29 18:02:11)", None),
            ("User initiated (2026-13-29 18:02:11 GMT)", None),
            ("Server.ScheduledStop", None),
            ("Service initiated (2026-11-29 18:02:11 GMT)", None),
            ("", None),
        ];
        for (reason, expected) in cases {
            let parsed = user_initiated_time(reason).map(|t| t.to_string());
            assert_eq!(parsed.as_deref(), expected, "{reason:?}");
        }
    }
}
