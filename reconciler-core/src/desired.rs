//! The alarms one instance should have.

use std::fmt::{self, Write as _};

use crate::alarm::{AlarmConfig, Dimension, Severity, OWNERSHIP_MARKER};
use crate::ids::{AlarmName, InstanceId};
use crate::instance::{InstanceFacts, InstanceState, Subject};
use crate::policy::{OutOfScope, Policy, ScopeDecision};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DesiredAlarm {
    pub name: AlarmName,
    pub instance: InstanceId,
    pub severity: Severity,
    pub config: AlarmConfig,
}

/// What one instance should have: its alarms, or the reason it should have none.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "desire", rename_all = "kebab-case")]
pub enum Desire {
    Alarms { alarms: Vec<DesiredAlarm>, notes: Vec<String> },
    None { reason: NoAlarmsReason },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum NoAlarmsReason {
    /// The API no longer knows the instance.
    Gone,
    NotRunning {
        state: InstanceState,
    },
    OutOfScope(OutOfScope),
}

impl fmt::Display for NoAlarmsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gone => f.write_str("instance no longer exists"),
            Self::NotRunning { state } => write!(f, "instance {state}"),
            Self::OutOfScope(why) => write!(f, "{why}"),
        }
    }
}

/// Alarms exist only for running, in-scope instances. A `pending` instance
/// gets its alarms with the `running` event that follows.
pub fn desired_alarms(policy: &Policy, subject: &Subject) -> Desire {
    let facts = match subject {
        Subject::Gone { .. } => return Desire::None { reason: NoAlarmsReason::Gone },
        Subject::Present(facts) => facts,
    };
    if facts.state != InstanceState::Running {
        return Desire::None { reason: NoAlarmsReason::NotRunning { state: facts.state } };
    }
    match policy.scope(facts) {
        ScopeDecision::Out(why) => Desire::None { reason: NoAlarmsReason::OutOfScope(why) },
        ScopeDecision::In { thresholds, notes } => Desire::Alarms {
            alarms: Severity::ALL
                .into_iter()
                .map(|severity| DesiredAlarm {
                    name: policy.naming.alarm_name(&facts.id, severity),
                    instance: facts.id.clone(),
                    severity,
                    config: alarm_config(policy, facts, severity, thresholds.get(severity)),
                })
                .collect(),
            notes,
        },
    }
}

fn alarm_config(policy: &Policy, facts: &InstanceFacts, severity: Severity, threshold: f64) -> AlarmConfig {
    let topic = policy.severity(severity).topic.as_str().to_owned();
    let mut dimensions = vec![Dimension::new("InstanceId", facts.id.as_str())];
    dimensions.extend(policy.metric.dimensions.iter().cloned());
    if let (true, Some(group)) = (policy.metric.group_dimension, &facts.group) {
        dimensions.push(Dimension::new("AutoScalingGroupName", &group.name));
    }
    AlarmConfig {
        description: description(policy, facts, severity, threshold),
        namespace: policy.metric.namespace.clone(),
        metric_name: policy.metric.metric_name.clone(),
        dimensions,
        statistic: policy.statistic.clone(),
        period_seconds: policy.period_seconds,
        evaluation_periods: policy.evaluation_periods,
        datapoints_to_alarm: None,
        threshold,
        comparison_operator: "GreaterThanOrEqualToThreshold".into(),
        treat_missing_data: policy.treat_missing_data.clone(),
        actions_enabled: true,
        alarm_actions: vec![topic.clone()],
        ok_actions: vec![topic],
        insufficient_data_actions: Vec::new(),
    }
    .normalized()
}

/// Written for the person who receives the page at 3 a.m.
fn description(policy: &Policy, facts: &InstanceFacts, severity: Severity, threshold: f64) -> String {
    let filesystem = policy.metric.dimensions.iter().find(|d| d.name == "path" || d.name == "MountPath");
    let minutes = i64::from(policy.period_seconds) * i64::from(policy.evaluation_periods) / 60;
    let action = match severity {
        Severity::Warning => "Plan clean-up or growth of the volume within the day.",
        Severity::Critical => {
            "Act now: the filesystem is close to full and services on it will fail when it is."
        }
    };
    // Built piece by piece: a sweep writes 20 000 of these, and `format!`
    // costs a large share of planning time.
    let mut text = String::with_capacity(768);
    text.push_str(severity.as_str());
    text.push_str(": ");
    match filesystem {
        Some(d) => {
            text.push_str("filesystem ");
            text.push_str(&d.value);
        }
        None => text.push_str("the monitored filesystem"),
    }
    text.push_str(" on ");
    text.push_str(facts.id.as_str());
    if let Some(name) = facts.name() {
        text.push_str(" (");
        text.extend(name.chars().filter(|c| !c.is_control()).take(100));
        text.push(')');
    }
    let _ = write!(text, " has been at least {threshold}% full for {minutes} minutes. ");
    text.push_str(action);
    text.push_str(
        " Check with `df -h` and `du -xh --max-depth=2 /`; free space (old logs, caches, \
         core dumps) or grow the EBS volume and the filesystem. Hand edits to this alarm are reverted.\n",
    );
    text.push_str(OWNERSHIP_MARKER);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{instance, policy};
    use crate::policy::MetricProfile;

    fn alarms(desire: Desire) -> Vec<DesiredAlarm> {
        match desire {
            Desire::Alarms { alarms, .. } => alarms,
            Desire::None { reason } => panic!("expected alarms, got none: {reason}"),
        }
    }

    #[test]
    fn running_in_scope_instance_gets_warning_and_critical() {
        let p = policy();
        let mut facts = instance(&[("Environment", "production"), ("Name", "web-1")]);
        facts.state = InstanceState::Running;
        let alarms = alarms(desired_alarms(&p, &Subject::Present(facts)));
        assert_eq!(alarms.len(), 2);
        let (warning, critical) = (&alarms[0], &alarms[1]);
        assert_eq!(warning.name.as_str(), "ec2-disk-i-0123456789abcdef0-warning");
        assert_eq!(warning.config.threshold, 60.0);
        assert_eq!(warning.config.alarm_actions, vec![p.warning.topic.to_string()]);
        assert_eq!(warning.config.ok_actions, vec![p.warning.topic.to_string()]);
        assert_eq!(critical.name.as_str(), "ec2-disk-i-0123456789abcdef0-critical");
        assert_eq!(critical.config.threshold, 80.0);
        assert_eq!(critical.config.alarm_actions, vec![p.critical.topic.to_string()]);
        for alarm in &alarms {
            let c = &alarm.config;
            assert_eq!((c.namespace.as_str(), c.metric_name.as_str()), ("CWAgent", "disk_used_percent"));
            assert_eq!(
                c.dimensions,
                vec![
                    Dimension::new("InstanceId", "i-0123456789abcdef0"),
                    Dimension::new("fstype", "xfs"),
                    Dimension::new("path", "/"),
                ]
            );
            assert_eq!(c.comparison_operator, "GreaterThanOrEqualToThreshold");
            assert_eq!((c.statistic.as_str(), c.period_seconds, c.evaluation_periods), ("Average", 300, 2));
            assert_eq!(c.treat_missing_data, "missing");
            assert!(c.actions_enabled);
            assert!(c.has_ownership_marker());
            assert!(c.description.contains("i-0123456789abcdef0 (web-1)"), "{}", c.description);
            assert!(c.description.contains("filesystem /"));
            assert!(c.description.contains("10 minutes"));
            assert!(c.description.len() <= 1024);
        }
    }

    #[test]
    fn legacy_profile_watches_the_monitoring_scripts_metric() {
        let mut p = policy();
        p.metric = MetricProfile::legacy(None);
        let alarms =
            alarms(desired_alarms(&p, &Subject::Present(instance(&[("Environment", "production")]))));
        let c = &alarms[0].config;
        assert_eq!((c.namespace.as_str(), c.metric_name.as_str()), ("System/Linux", "DiskSpaceUtilization"));
        assert_eq!(
            c.dimensions,
            vec![
                Dimension::new("Filesystem", "/dev/xvda1"),
                Dimension::new("InstanceId", "i-0123456789abcdef0"),
                Dimension::new("MountPath", "/"),
            ]
        );
    }

    #[test]
    fn overrides_change_thresholds_but_never_actions() {
        let p = policy();
        let facts = instance(&[
            ("Environment", "production"),
            ("disk-alarms:warning-threshold", "70"),
            ("disk-alarms:alarm-actions", "arn:aws:sns:eu-west-1:1:attacker"),
        ]);
        let alarms = alarms(desired_alarms(&p, &Subject::Present(facts)));
        assert_eq!(alarms[0].config.threshold, 70.0);
        assert_eq!(alarms[0].config.alarm_actions, vec![p.warning.topic.to_string()]);
        assert_eq!(alarms[1].config.alarm_actions, vec![p.critical.topic.to_string()]);
    }

    #[test]
    fn no_alarms_unless_running_and_in_scope() {
        let p = policy();
        let cases = [
            (InstanceState::Pending, "production", "instance pending"),
            (InstanceState::Stopping, "production", "instance stopping"),
            (InstanceState::Stopped, "production", "instance stopped"),
            (InstanceState::ShuttingDown, "production", "instance shutting-down"),
            (InstanceState::Terminated, "production", "instance terminated"),
            (InstanceState::Running, "staging", "out of scope: Environment=staging"),
        ];
        for (state, env, reason) in cases {
            let mut facts = instance(&[("Environment", env)]);
            facts.state = state;
            match desired_alarms(&p, &Subject::Present(facts)) {
                Desire::None { reason: why } => assert_eq!(why.to_string(), reason),
                Desire::Alarms { .. } => panic!("{state} {env} should have no alarms"),
            }
        }
        let gone = Subject::Gone { id: InstanceId::parse("i-1234abcd").unwrap() };
        assert_eq!(desired_alarms(&p, &gone), Desire::None { reason: NoAlarmsReason::Gone });
    }

    #[test]
    fn hostile_name_tag_is_bounded_in_description() {
        let p = policy();
        let long = format!("web\n{}", "x".repeat(5000));
        let facts = instance(&[("Environment", "production"), ("Name", &long)]);
        let alarms = alarms(desired_alarms(&p, &Subject::Present(facts)));
        assert!(alarms[0].config.description.len() <= 1024);
        assert!(!alarms[0].config.description.contains("web\nx"));
    }
}
