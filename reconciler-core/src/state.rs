//! An alarm's state, as `DescribeAlarms` returns it with every alarm.

use std::fmt;

use crate::unix_time::UnixTime;

/// `StateValue`: what the alarm concluded from its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateValue {
    Ok,
    Alarm,
    /// Not enough data points to decide: on AWS a new alarm starts here, and
    /// an alarm whose series is not published stays here for ever.
    InsufficientData,
}

impl StateValue {
    /// CloudWatch's names (`OK`, `ALARM`, `INSUFFICIENT_DATA`); `None` for any other.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "OK" => Self::Ok,
            "ALARM" => Self::Alarm,
            "INSUFFICIENT_DATA" => Self::InsufficientData,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for StateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for StateValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An alarm's state and since when it has been in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct AlarmState {
    pub value: StateValue,
    pub since: UnixTime,
}

impl AlarmState {
    pub fn new(value: StateValue, since: UnixTime) -> Self {
        Self { value, since }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_values_read_and_write_cloudwatchs_names() {
        for value in [StateValue::Ok, StateValue::Alarm, StateValue::InsufficientData] {
            assert_eq!(StateValue::parse(value.as_str()), Some(value));
        }
        assert_eq!(StateValue::parse("ok"), None);
        assert_eq!(StateValue::parse(""), None);
    }
}
