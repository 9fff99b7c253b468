//! AWS Health scheduled maintenance: which alarms to mute, and for how long.
//!
//! A maintenance window becomes one CloudWatch alarm mute rule per instance,
//! with a one-time schedule and an expiry date. The mute starts and ends on
//! AWS's side, so the alarms come back even if this function is broken by
//! then, and the alarms keep evaluating while muted. The rule's name is
//! derived from the Health event and the instance, so a repeated or updated
//! event overwrites the same rule instead of adding another.

use std::fmt;

use crate::desired::{desired_alarms, Desire, NoAlarmsReason};
use crate::ids::InstanceId;
use crate::instance::{Subject, UnixTime};
pub use crate::mute_rules::{
    mute_rule_name, mute_rule_prefix, parse_mute_rule_name, utc_minute, MuteRule, MuteRuleStatus, MuteWindow,
    ObservedMuteRule, MUTE_RULE_INFIX,
};
use crate::policy::Policy;
use crate::OWNERSHIP_MARKER;

/// Status of a Health event (`statusCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Upcoming,
    Open,
    Closed,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upcoming => "upcoming",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One page of an EC2 scheduled-change Health event, as decoded from the
/// event. Pages of the same event share `event_arn` and are handled
/// independently: each names its own instances.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceNotice {
    pub event_arn: String,
    pub event_type: String,
    /// `statusCode`; older captured events lack it (see [`MaintenanceNotice::status_at`]).
    pub status: Option<HealthStatus>,
    pub start: UnixTime,
    pub end: Option<UnixTime>,
    pub instances: Vec<InstanceId>,
}

impl MaintenanceNotice {
    /// The event's status, or, for an event without `statusCode`, the one its
    /// times give at `now`: before the start upcoming, inside the window open,
    /// after the end closed. A window without an end lasts the default duration.
    pub fn status_at(&self, settings: &MaintenanceSettings, now: UnixTime) -> HealthStatus {
        if let Some(status) = self.status {
            return status;
        }
        let end =
            self.end.map_or(self.start.0.saturating_add(settings.default_duration_seconds), |end| end.0);
        if now < self.start {
            HealthStatus::Upcoming
        } else if now.0 < end {
            HealthStatus::Open
        } else {
            HealthStatus::Closed
        }
    }
}

/// How a maintenance window turns into a mute window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceSettings {
    /// The mute starts this long before the announced start.
    pub lead_seconds: i64,
    /// The mute lasts this long after the announced end.
    pub margin_seconds: i64,
    /// How long maintenance is assumed to last when the event has no end.
    pub default_duration_seconds: i64,
    /// No mute is longer than this, whatever the event says: a mute that
    /// outlives the maintenance hides a disk that is really filling up.
    pub max_mute_seconds: i64,
}

/// CloudWatch accepts mute durations up to 15 days.
pub const MAX_MUTE_SECONDS: i64 = 15 * 86_400;

impl Default for MaintenanceSettings {
    fn default() -> Self {
        Self {
            lead_seconds: 10 * 60,
            margin_seconds: 30 * 60,
            default_duration_seconds: 2 * 3600,
            max_mute_seconds: 48 * 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum MaintenanceAction {
    /// Create or overwrite the rule.
    Mute { rule: MuteRule, reason: String, notes: Vec<String> },
    /// Delete the rule if it exists.
    Unmute { rule: String, instance: InstanceId, reason: String },
    /// Nothing to do for this instance.
    Skip { instance: InstanceId, reason: String },
}

impl MaintenanceAction {
    pub fn instance(&self) -> &InstanceId {
        match self {
            Self::Mute { rule, .. } => &rule.instance,
            Self::Unmute { instance, .. } | Self::Skip { instance, .. } => instance,
        }
    }
}

/// Expired mute rules mute nothing, but they pile up: the sweep removes
/// them. Only rules of ours are touched: names of exactly the shape
/// [`mute_rule_name`] writes under this policy's prefix.
pub fn expired_mute_rules(
    policy: &Policy,
    rules: &[ObservedMuteRule],
    now: UnixTime,
) -> Vec<MaintenanceAction> {
    rules
        .iter()
        .filter(|rule| rule.has_expired(now))
        .filter_map(|rule| {
            let instance = parse_mute_rule_name(policy, &rule.name)?;
            Some(MaintenanceAction::Unmute {
                rule: rule.name.clone(),
                instance,
                reason: "mute rule expired".into(),
            })
        })
        .collect()
}

/// The mute window for an event, and remarks where the event's times were not used as given.
pub fn mute_window(
    settings: &MaintenanceSettings,
    start: UnixTime,
    end: Option<UnixTime>,
    now: UnixTime,
) -> (MuteWindow, Vec<String>) {
    let mut notes = Vec::new();
    let announced_end = match end {
        Some(end) if end > start => end.0,
        Some(_) => {
            notes.push(format!(
                "the event ends before it starts; assuming {} minutes of maintenance",
                settings.default_duration_seconds / 60
            ));
            start.0.saturating_add(settings.default_duration_seconds)
        }
        None => start.0.saturating_add(settings.default_duration_seconds),
    };
    let from = start.0.saturating_sub(settings.lead_seconds);
    let mut until = announced_end.saturating_add(settings.margin_seconds);
    if until.saturating_sub(from) > settings.max_mute_seconds {
        until = from.saturating_add(settings.max_mute_seconds);
        notes.push(format!(
            "the maintenance window is longer than the longest mute ({} hours); the mute ends at {}",
            settings.max_mute_seconds / 3600,
            utc_minute(UnixTime(until))
        ));
    }
    // A one-time schedule in the past would never fire: an event that has
    // already begun is muted from the next minute on.
    let from = floor_minute(from).max(ceil_minute(now.0));
    let until = ceil_minute(until);
    (MuteWindow { start: UnixTime(from), end: UnixTime(until.max(from)) }, notes)
}

fn floor_minute(t: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(60))
}

fn ceil_minute(t: i64) -> i64 {
    floor_minute(t.saturating_add(59))
}

/// What to do for each instance a maintenance notice names. `subjects` are
/// what the EC2 API said of those instances.
pub fn plan_maintenance(
    policy: &Policy,
    settings: &MaintenanceSettings,
    notice: &MaintenanceNotice,
    subjects: &[Subject],
    now: UnixTime,
) -> Vec<MaintenanceAction> {
    let (window, notes) = mute_window(settings, notice.start, notice.end, now);
    let mut seen = std::collections::HashSet::new();
    let mut actions = Vec::new();
    for subject in subjects {
        let instance = subject.id();
        if !seen.insert(instance) {
            continue;
        }
        let rule = mute_rule_name(policy, &notice.event_arn, instance);
        let unmute = |reason: &str| MaintenanceAction::Unmute {
            rule: rule.clone(),
            instance: instance.clone(),
            reason: reason.to_owned(),
        };
        if notice.status_at(settings, now) == HealthStatus::Closed {
            actions.push(unmute("maintenance event closed"));
            continue;
        }
        if window.minutes() < 1 {
            actions.push(unmute("maintenance window is over"));
            continue;
        }
        match desired_alarms(policy, subject) {
            Desire::Alarms { alarms, .. } => actions.push(MaintenanceAction::Mute {
                reason: format!("{} for {window}", notice.event_type),
                rule: MuteRule {
                    description: rule_description(notice, instance),
                    name: rule,
                    instance: instance.clone(),
                    alarms: alarms.into_iter().map(|a| a.name).collect(),
                    window,
                },
                notes: notes.clone(),
            }),
            // A rule may only name existing alarms, and an instance without
            // alarms has nothing to mute; the rule of an instance that has
            // left scope expires by itself.
            Desire::None { reason } => actions.push(MaintenanceAction::Skip {
                instance: instance.clone(),
                reason: match reason {
                    NoAlarmsReason::OutOfScope(why) => format!("no alarms to mute: {why}"),
                    other => format!("no alarms to mute: {other}"),
                },
            }),
        }
    }
    actions
}

fn rule_description(notice: &MaintenanceNotice, instance: &InstanceId) -> String {
    let event: String = notice.event_arn.chars().filter(|c| !c.is_control()).take(300).collect();
    let kind: String = notice.event_type.chars().filter(|c| !c.is_control()).take(100).collect();
    format!(
        "Mutes the disk alarms of {instance} during AWS scheduled maintenance {kind} ({event}).\n{OWNERSHIP_MARKER}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AlarmName;
    use crate::instance::InstanceState;
    use crate::policy::tests::{instance, policy};

    const NOW: i64 = 1_795_000_000 - 1_795_000_000 % 60;
    const ARN: &str = "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED_1";

    fn notice(status: HealthStatus, start: i64, end: Option<i64>) -> MaintenanceNotice {
        let status = Some(status);
        MaintenanceNotice {
            event_arn: ARN.into(),
            event_type: "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED".into(),
            status,
            start: UnixTime(start),
            end: end.map(UnixTime),
            instances: vec![InstanceId::parse("i-0123456789abcdef0").unwrap()],
        }
    }

    fn production() -> Subject {
        Subject::Present(instance(&[("Environment", "production")]))
    }

    #[test]
    fn upcoming_maintenance_mutes_both_alarms_for_the_padded_window() {
        let start = NOW + 14 * 86_400;
        let actions = plan_maintenance(
            &policy(),
            &MaintenanceSettings::default(),
            &notice(HealthStatus::Upcoming, start, Some(start + 3600)),
            &[production()],
            UnixTime(NOW),
        );
        let [MaintenanceAction::Mute { rule, notes, .. }] = actions.as_slice() else { panic!("{actions:?}") };
        assert!(notes.is_empty());
        assert_eq!(rule.window, MuteWindow { start: UnixTime(start - 600), end: UnixTime(start + 5400) });
        assert_eq!(rule.window.duration(), "PT1H40M");
        let names: Vec<&str> = rule.alarms.iter().map(AlarmName::as_str).collect();
        assert_eq!(
            names,
            [
                "ec2-disk-provisional-i-0123456789abcdef0-warning",
                "ec2-disk-provisional-i-0123456789abcdef0-critical"
            ]
        );
        assert!(rule.name.starts_with("ec2-disk-mute-i-0123456789abcdef0-"), "{}", rule.name);
        assert!(rule.description.contains(OWNERSHIP_MARKER));
    }

    #[test]
    fn a_missing_status_is_derived_from_the_times() {
        let settings = MaintenanceSettings::default();
        let (start, end) = (NOW + 3600, NOW + 7200);
        let cases = [
            ("before the start", NOW, Some(end), HealthStatus::Upcoming),
            ("at the start", start, Some(end), HealthStatus::Open),
            ("inside the window", start + 60, Some(end), HealthStatus::Open),
            ("at the end", end, Some(end), HealthStatus::Closed),
            ("after the end", end + 1, Some(end), HealthStatus::Closed),
            ("no end, inside the default duration", start + 3600, None, HealthStatus::Open),
            ("no end, after the default duration", start + 2 * 3600, None, HealthStatus::Closed),
        ];
        for (name, now, end, expected) in cases {
            let mut event = notice(HealthStatus::Open, start, end);
            event.status = None;
            assert_eq!(event.status_at(&settings, UnixTime(now)), expected, "{name}");
        }
        // A status the event gives is never second-guessed.
        let closed_early = notice(HealthStatus::Closed, start, Some(end));
        assert_eq!(closed_early.status_at(&settings, UnixTime(NOW)), HealthStatus::Closed);
    }

    #[test]
    fn without_a_status_upcoming_maintenance_is_muted_and_past_maintenance_unmuted() {
        let settings = MaintenanceSettings::default();
        let start = NOW + 14 * 86_400;
        let mut event = notice(HealthStatus::Upcoming, start, Some(start + 3600));
        event.status = None;
        let actions = plan_maintenance(&policy(), &settings, &event, &[production()], UnixTime(NOW));
        assert!(matches!(actions.as_slice(), [MaintenanceAction::Mute { .. }]), "{actions:?}");
        let later = UnixTime(start + 7200);
        let actions = plan_maintenance(&policy(), &settings, &event, &[production()], later);
        assert!(matches!(actions.as_slice(), [MaintenanceAction::Unmute { .. }]), "{actions:?}");
    }

    #[test]
    fn only_our_expired_rules_are_removed() {
        let p = policy();
        let a = InstanceId::parse("i-0123456789abcdef0").unwrap();
        let ours = mute_rule_name(&p, ARN, &a);
        let rule = |name: &str, status: &str, expires: Option<i64>| ObservedMuteRule {
            name: name.to_owned(),
            status: MuteRuleStatus::parse(status),
            expires: expires.map(UnixTime),
        };
        let cases = [
            ("ours, past its expiry", rule(&ours, "ACTIVE", Some(NOW - 60)), true),
            ("ours, expiring now", rule(&ours, "ACTIVE", Some(NOW)), true),
            ("ours, said to be expired", rule(&ours, "EXPIRED", None), true),
            ("ours, still scheduled", rule(&ours, "SCHEDULED", Some(NOW + 60)), false),
            ("ours, no expiry", rule(&ours, "ACTIVE", None), false),
            ("a person's, expired", rule("ec2-disk-mute-mine", "EXPIRED", Some(NOW - 60)), false),
            ("under another prefix, expired", rule(&format!("x{ours}"), "EXPIRED", None), false),
        ];
        for (name, observed, removed) in cases {
            let actions = expired_mute_rules(&p, std::slice::from_ref(&observed), UnixTime(NOW));
            match actions.as_slice() {
                [] => assert!(!removed, "{name}"),
                [MaintenanceAction::Unmute { rule, instance, reason }] => {
                    assert!(removed, "{name}");
                    assert_eq!((rule, instance, reason.as_str()), (&ours, &a, "mute rule expired"), "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn schedule_is_written_to_the_minute_in_utc() {
        // 2026-12-05T14:00:00Z
        let window =
            MuteWindow { start: UnixTime(1_796_479_200), end: UnixTime(1_796_479_200 + 86_400 + 1800) };
        assert_eq!(window.schedule_expression(), "at(2026-12-05T14:00)");
        assert_eq!(window.duration(), "P1DT30M");
        let two_days = MuteWindow { start: UnixTime(0), end: UnixTime(2 * 86_400) };
        assert_eq!(two_days.duration(), "P2D");
    }

    #[test]
    fn the_rule_name_depends_on_event_and_instance_only() {
        let p = policy();
        let a = InstanceId::parse("i-0123456789abcdef0").unwrap();
        let b = InstanceId::parse("i-0123456789abcdef1").unwrap();
        assert_eq!(mute_rule_name(&p, ARN, &a), mute_rule_name(&p, ARN, &a));
        assert_ne!(mute_rule_name(&p, ARN, &a), mute_rule_name(&p, ARN, &b));
        assert_ne!(mute_rule_name(&p, ARN, &a), mute_rule_name(&p, &format!("{ARN}2"), &a));
        assert_eq!(parse_mute_rule_name(&p, &mute_rule_name(&p, ARN, &a)), Some(a.clone()));
        for foreign in [
            "ec2-disk-mute-i-0123456789abcdef0",
            "ec2-disk-mute-web-0123456789abcdef",
            "other-mute-i-1234abcd-0123456789abcdef",
        ] {
            assert_eq!(parse_mute_rule_name(&p, foreign), None, "{foreign}");
        }
    }

    #[test]
    fn updated_times_keep_the_rule_and_change_the_window() {
        let p = policy();
        let settings = MaintenanceSettings::default();
        let start = NOW + 86_400;
        let first = plan_maintenance(
            &p,
            &settings,
            &notice(HealthStatus::Upcoming, start, Some(start + 3600)),
            &[production()],
            UnixTime(NOW),
        );
        let moved = plan_maintenance(
            &p,
            &settings,
            &notice(HealthStatus::Upcoming, start + 7200, Some(start + 10_800)),
            &[production()],
            UnixTime(NOW),
        );
        match (&first[0], &moved[0]) {
            (MaintenanceAction::Mute { rule: a, .. }, MaintenanceAction::Mute { rule: b, .. }) => {
                assert_eq!(a.name, b.name);
                assert_eq!(b.window.start, UnixTime(start + 7200 - 600));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn windows_without_end_or_with_absurd_times_stay_bounded() {
        let s = MaintenanceSettings::default();
        let start = NOW + 3600;
        let (no_end, notes) = mute_window(&s, UnixTime(start), None, UnixTime(NOW));
        assert_eq!((no_end.start.0, no_end.end.0), (start - 600, start + 7200 + 1800));
        assert!(notes.is_empty());

        let (backwards, notes) = mute_window(&s, UnixTime(start), Some(UnixTime(start - 60)), UnixTime(NOW));
        assert_eq!(backwards, no_end);
        assert_eq!(notes.len(), 1);

        let (years, notes) =
            mute_window(&s, UnixTime(start), Some(UnixTime(start + 3 * 365 * 86_400)), UnixTime(NOW));
        assert_eq!(years.end.0 - years.start.0, s.max_mute_seconds);
        assert_eq!(notes.len(), 1);

        let (extreme, _) = mute_window(&s, UnixTime(i64::MIN), Some(UnixTime(i64::MAX)), UnixTime(NOW));
        assert!(extreme.end.0 - extreme.start.0 <= s.max_mute_seconds);
    }

    #[test]
    fn a_window_that_has_begun_is_muted_from_the_next_minute() {
        let s = MaintenanceSettings::default();
        let now = NOW + 30;
        let (window, _) = mute_window(&s, UnixTime(NOW - 3600), Some(UnixTime(NOW + 3600)), UnixTime(now));
        assert_eq!(window.start, UnixTime(NOW + 60));
        assert_eq!(window.end, UnixTime(NOW + 3600 + 1800));
    }

    #[test]
    fn closed_over_out_of_scope_and_stopped_instances_are_not_muted() {
        let p = policy();
        let s = MaintenanceSettings::default();
        let closed = plan_maintenance(
            &p,
            &s,
            &notice(HealthStatus::Closed, NOW, Some(NOW + 3600)),
            &[production()],
            UnixTime(NOW),
        );
        assert!(
            matches!(&closed[0], MaintenanceAction::Unmute { reason, .. } if reason == "maintenance event closed")
        );

        let over = plan_maintenance(
            &p,
            &s,
            &notice(HealthStatus::Open, NOW - 7200, Some(NOW - 3600)),
            &[production()],
            UnixTime(NOW),
        );
        assert!(
            matches!(&over[0], MaintenanceAction::Unmute { reason, .. } if reason == "maintenance window is over")
        );

        let mut stopped = instance(&[("Environment", "production")]);
        stopped.state = InstanceState::Stopped;
        let staging = Subject::Present(instance(&[("Environment", "staging")]));
        for subject in [staging, Subject::Present(stopped)] {
            let actions = plan_maintenance(
                &p,
                &s,
                &notice(HealthStatus::Upcoming, NOW + 3600, None),
                &[subject],
                UnixTime(NOW),
            );
            assert!(matches!(&actions[0], MaintenanceAction::Skip { .. }), "{actions:?}");
        }
    }
}
