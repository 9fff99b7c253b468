//! Identifiers that crossed a validation boundary.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl std::error::Error for IdError {}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.value.chars().take(80).collect();
        write!(f, "invalid {} {:?}: expected {}", self.kind, shown, self.expected)
    }
}

/// An EC2 instance id: `i-` followed by 8 or 17 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct InstanceId(String);

impl InstanceId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if Self::is_valid(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError {
                kind: "instance id",
                value: value.to_owned(),
                expected: "i- followed by 8 or 17 lowercase hex digits",
            })
        }
    }

    pub fn is_valid(value: &str) -> bool {
        let hex = value.strip_prefix("i-").unwrap_or("");
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A CloudWatch alarm name (1 to 255 characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AlarmName(String);

impl AlarmName {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        Self::from_string(value.to_owned())
    }

    pub fn from_string(value: String) -> Result<Self, IdError> {
        if (1..=255).contains(&value.chars().count()) {
            Ok(Self(value))
        } else {
            Err(IdError { kind: "alarm name", value, expected: "1 to 255 characters" })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlarmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An SNS topic ARN: `arn:<partition>:sns:<region>:<account>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct TopicArn(String);

impl TopicArn {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = value.split(':').collect();
        let valid = parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == "sns"
            && parts[3..].iter().all(|p| !p.is_empty());
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError {
                kind: "SNS topic ARN",
                value: value.to_owned(),
                expected: "arn:aws:sns:<region>:<account>:<topic>",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids() {
        for (value, ok) in [
            ("i-0123456789abcdef0", true),
            ("i-1234abcd", true),
            ("i-0123456789ABCDEF0", false),
            ("i-123", false),
            ("i-0123456789abcdef0 ", false),
            ("", false),
            ("0123456789abcdef0", false),
            ("i-../../etc", false),
        ] {
            assert_eq!(InstanceId::parse(value).is_ok(), ok, "{value:?}");
        }
    }

    #[test]
    fn topic_arns() {
        assert!(TopicArn::parse("arn:aws:sns:eu-west-1:123456789012:disk-warning").is_ok());
        assert!(TopicArn::parse("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t").is_ok());
        assert!(TopicArn::parse("arn:aws:sqs:eu-west-1:123456789012:q").is_err());
        assert!(TopicArn::parse("disk-warning").is_err());
        assert!(TopicArn::parse("arn:aws:sns:eu-west-1::t").is_err());
    }

    #[test]
    fn alarm_names_are_bounded() {
        assert!(AlarmName::parse("").is_err());
        assert!(AlarmName::parse(&"x".repeat(255)).is_ok());
        assert!(AlarmName::parse(&"x".repeat(256)).is_err());
    }
}
