//! What the reconciler knows about one EC2 instance.

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::InstanceId;

/// Seconds since the Unix epoch. The core never reads the clock: callers pass
/// times in, so every decision is reproducible in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

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

/// An instance as `DescribeInstances` reported it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstanceFacts {
    pub id: InstanceId,
    pub state: InstanceState,
    pub tags: BTreeMap<String, String>,
    pub launch_time: Option<UnixTime>,
}

impl InstanceFacts {
    pub fn name(&self) -> Option<&str> {
        self.tags.get("Name").map(String::as_str)
    }
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
