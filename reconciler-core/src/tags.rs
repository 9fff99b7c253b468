//! Tags on the alarms the reconciler creates: the four it always sets and
//! the ones an operator adds (`ALARM_TAGS`), checked against AWS's tag rules
//! before any call, so a bad value stops the deployment instead of every write.

/// `ManagedBy` names the product on every alarm it creates.
pub const MANAGED_BY: &str = "ec2-disk-alarms";
/// The keys the reconciler sets itself; `ALARM_TAGS` may not use them.
pub const MANAGED_TAG_KEYS: [&str; 4] = ["ManagedBy", "InstanceId", "Severity", "Filesystem"];
/// CloudWatch allows 50 tags per alarm.
pub const MAX_TAGS: usize = 50;
const MAX_KEY_LEN: usize = 128;
const MAX_VALUE_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct AlarmTag {
    pub key: String,
    pub value: String,
}

impl AlarmTag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: value.into() }
    }
}

/// Parses `key=value,key=value` (`none` for no tags). Keys are 1 to 128
/// characters, values up to 256, both of letters, digits, spaces and
/// `_ . : / = + - @`; no key starts with `aws:`, none repeats or is one the
/// reconciler sets, and with those four there are at most 50.
pub fn parse_alarm_tags(raw: &str) -> Result<Vec<AlarmTag>, String> {
    if raw.trim() == "none" {
        return Ok(Vec::new());
    }
    let mut tags: Vec<AlarmTag> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not key=value"));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || key.chars().count() > MAX_KEY_LEN {
            return Err(format!("key {key:?} must be 1 to {MAX_KEY_LEN} characters"));
        }
        if value.chars().count() > MAX_VALUE_LEN {
            return Err(format!("the value of {key} is longer than {MAX_VALUE_LEN} characters"));
        }
        if let Some(bad) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
            return Err(format!(
                "{pair:?} has {bad:?}: tags allow letters, digits, spaces and _ . : / = + - @"
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(format!("key {key:?}: the aws: prefix is reserved for AWS"));
        }
        if MANAGED_TAG_KEYS.contains(&key) {
            return Err(format!("key {key:?} is set by the reconciler on every alarm"));
        }
        if tags.iter().any(|t| t.key == key) {
            return Err(format!("key {key:?} is given twice"));
        }
        tags.push(AlarmTag::new(key, value));
    }
    if tags.len() + MANAGED_TAG_KEYS.len() > MAX_TAGS {
        return Err(format!(
            "{} tags and the {} the reconciler sets are more than CloudWatch's {MAX_TAGS} per alarm",
            tags.len(),
            MANAGED_TAG_KEYS.len()
        ));
    }
    Ok(tags)
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_tags() {
        let parsed =
            parse_alarm_tags(" team = platform ,cost-center=cc-42, note=a=b ,owner:email=sre@example.com")
                .unwrap();
        let pairs: Vec<(&str, &str)> = parsed.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
        assert_eq!(
            pairs,
            vec![
                ("team", "platform"),
                ("cost-center", "cc-42"),
                ("note", "a=b"),
                ("owner:email", "sre@example.com")
            ]
        );
        assert_eq!(parse_alarm_tags("none").unwrap(), vec![]);
        assert_eq!(parse_alarm_tags("empty=").unwrap(), vec![AlarmTag::new("empty", "")]);
        assert_eq!(parse_alarm_tags("équipe=données").unwrap(), vec![AlarmTag::new("équipe", "données")]);
        let most: Vec<String> = (0..46).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_alarm_tags(&most.join(",")).unwrap().len(), 46);
    }

    #[test]
    fn invalid_tags_are_refused_with_the_reason() {
        let long_key = format!("{}=v", "k".repeat(129));
        let long_value = format!("k={}", "v".repeat(257));
        let too_many: Vec<String> = (0..47).map(|i| format!("k{i}=v")).collect();
        let too_many = too_many.join(",");
        let cases: &[(&str, &str)] = &[
            ("team", "not key=value"),
            ("=x", "must be 1 to 128"),
            (&long_key, "must be 1 to 128"),
            (&long_value, "longer than 256"),
            ("aws:cost=1", "reserved for AWS"),
            ("AWS:cost=1", "reserved for AWS"),
            ("ManagedBy=me", "set by the reconciler"),
            ("Severity=low", "set by the reconciler"),
            ("team=a,team=b", "given twice"),
            ("team=a;b", "';'"),
            ("team=<script>", "'<'"),
            ("team=a\tb", "'\\t'"),
            (&too_many, "more than CloudWatch's 50"),
        ];
        for (raw, expected) in cases {
            let error = parse_alarm_tags(raw).expect_err(raw);
            assert!(error.contains(expected), "{raw:?}: {error}");
        }
    }
}
