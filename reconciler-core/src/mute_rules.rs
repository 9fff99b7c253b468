//! Mute rules of ours: their names, their windows, how CloudWatch reports
//! them, and how one instance's rule is split when it has more alarms than a
//! rule may name.

use std::fmt;

use crate::hash::fnv1a;
use crate::ids::{AlarmName, InstanceId};
use crate::instance::UnixTime;
use crate::policy::Policy;

/// `MuteTargets.AlarmNames` takes at most 100 names per rule.
pub const MAX_MUTE_TARGETS: usize = 100;

/// A mute window in whole minutes: schedules are written to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MuteWindow {
    pub start: UnixTime,
    pub end: UnixTime,
}

impl MuteWindow {
    pub fn minutes(&self) -> i64 {
        (self.end.0 - self.start.0) / 60
    }

    /// The one-time schedule, `at(yyyy-MM-ddThh:mm)` in UTC.
    pub fn schedule_expression(&self) -> String {
        format!("at({})", utc_minute(self.start))
    }

    /// The mute's length as an ISO 8601 duration (`PT2H40M`, `P1DT30M`).
    pub fn duration(&self) -> String {
        let minutes = self.minutes();
        let (days, hours, minutes) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
        let mut text = String::from("P");
        if days > 0 {
            text.push_str(&format!("{days}D"));
        }
        if hours > 0 || minutes > 0 {
            text.push('T');
            if hours > 0 {
                text.push_str(&format!("{hours}H"));
            }
            if minutes > 0 {
                text.push_str(&format!("{minutes}M"));
            }
        }
        text
    }
}

impl fmt::Display for MuteWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {} UTC", utc_minute(self.start), utc_minute(self.end))
    }
}

/// `yyyy-MM-ddThh:mm` in UTC.
pub fn utc_minute(at: UnixTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(at.0)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{}", at.0))
}

/// The mute rule for one instance and one maintenance event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MuteRule {
    pub name: String,
    pub instance: InstanceId,
    pub alarms: Vec<AlarmName>,
    pub window: MuteWindow,
    pub description: String,
}

/// A rule of ours as `GetAlarmMuteRule` returns it: what it names, and its
/// window as written (`None` when the schedule is not one this product writes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MuteRuleRead {
    pub name: String,
    pub alarms: Vec<AlarmName>,
    pub window: Option<MuteWindow>,
    pub description: String,
}

/// `rule` as the rules CloudWatch accepts: its alarms in their order, at
/// most [`MAX_MUTE_TARGETS`] to a rule, named [`rule_part_name`] after it.
pub fn rule_parts(rule: &MuteRule) -> Vec<MuteRule> {
    let mut seen = std::collections::HashSet::new();
    let alarms: Vec<AlarmName> = rule.alarms.iter().filter(|a| seen.insert(*a)).cloned().collect();
    alarms
        .chunks(MAX_MUTE_TARGETS)
        .enumerate()
        .map(|(part, names)| MuteRule {
            name: rule_part_name(&rule.name, part),
            alarms: names.to_vec(),
            ..rule.clone()
        })
        .collect()
}

/// The start of a one-time schedule this product writes, `at(yyyy-MM-ddThh:mm)` in UTC.
pub fn parse_schedule_start(expression: &str) -> Option<UnixTime> {
    let inner = expression.trim().strip_prefix("at(")?.strip_suffix(')')?;
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let at = time::PrimitiveDateTime::parse(inner, &format).ok()?;
    Some(UnixTime(at.assume_utc().unix_timestamp()))
}

/// The rule name for an instance and a Health event: the alarm name prefix,
/// `mute-`, the instance and a hash of the event ARN. Every page and every
/// update of an event names the same rule.
pub fn mute_rule_name(policy: &Policy, event_arn: &str, instance: &InstanceId) -> String {
    format!("{}{}{instance}-{:016x}", policy.naming.prefix(), MUTE_RULE_INFIX, fnv1a(event_arn.as_bytes()))
}

/// Between the alarm name prefix and the instance in every rule name.
pub const MUTE_RULE_INFIX: &str = "mute-";

/// The name prefix shared by every mute rule this product writes.
pub fn mute_rule_prefix(policy: &Policy) -> String {
    format!("{}{MUTE_RULE_INFIX}", policy.naming.prefix())
}

/// The instance a rule name was generated for by [`mute_rule_name`] (or
/// [`rule_part_name`]) with this policy's prefix; `None` for any other name.
pub fn parse_mute_rule_name(policy: &Policy, name: &str) -> Option<InstanceId> {
    parse_rule_part(policy, name).map(|part| part.instance)
}

/// One rule of the rules an instance gets for one Health event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulePart {
    pub instance: InstanceId,
    /// The first rule's name, shared by the parts as their stem.
    pub base: String,
    /// 0 for the first rule, which carries no suffix.
    pub part: usize,
}

/// The name of part `part` of the rules named `base`: `base` itself, then
/// `base-2`, `base-3`, … A rule names at most [`MAX_MUTE_TARGETS`] alarms.
pub fn rule_part_name(base: &str, part: usize) -> String {
    match part {
        0 => base.to_owned(),
        n => format!("{base}-{}", n + 1),
    }
}

/// A rule name of ours, split into its instance, stem and part.
pub fn parse_rule_part(policy: &Policy, name: &str) -> Option<RulePart> {
    let rest = name.strip_prefix(policy.naming.prefix())?.strip_prefix(MUTE_RULE_INFIX)?;
    let is_hash =
        |h: &str| h.len() == 16 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let (stem, part) = match rest.rsplit_once('-') {
        Some((stem, n)) if !is_hash(n) => {
            let n: usize = n.parse().ok().filter(|n: &usize| *n >= 2)?;
            (stem, n - 1)
        }
        _ => (rest, 0),
    };
    let (instance, hash) = stem.rsplit_once('-')?;
    if !is_hash(hash) {
        return None;
    }
    let instance = InstanceId::parse(instance).ok()?;
    let base = format!("{}{stem}", &name[..name.len() - rest.len()]);
    // Only the canonical spelling of a part (`-2`, never `-02`) is ours.
    (rule_part_name(&base, part) == name).then_some(RulePart { instance, base, part })
}

/// A mute rule as `ListAlarmMuteRules` summarises it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObservedMuteRule {
    pub name: String,
    pub status: MuteRuleStatus,
    pub expires: Option<UnixTime>,
}

/// A mute rule's status, as CloudWatch reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MuteRuleStatus {
    Scheduled,
    Active,
    Expired,
    /// A status this release does not know, or none: judged by the expiry alone.
    Unknown(String),
}

impl MuteRuleStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "SCHEDULED" => Self::Scheduled,
            "ACTIVE" => Self::Active,
            "EXPIRED" => Self::Expired,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Active => "ACTIVE",
            Self::Expired => "EXPIRED",
            Self::Unknown(other) => other,
        }
    }
}

impl fmt::Display for MuteRuleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ObservedMuteRule {
    pub fn has_expired(&self, now: UnixTime) -> bool {
        self.status == MuteRuleStatus::Expired || self.expires.is_some_and(|t| t <= now)
    }
}
