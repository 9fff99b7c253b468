//! Silent alarms: owned alarms of running, in-scope instances that have had
//! no data for too long. Such an alarm exists, so the instance looks
//! protected, but it can never fire. Found from what `DescribeAlarms`
//! already returns (the alarm's state and since when) and the series the
//! observation listed: no extra read.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::alarm::{AlarmConfig, NameKind, ObservedAlarm};
use crate::ids::{AlarmName, InstanceId};
use crate::instance::{InstanceFacts, InstanceState, Subject, UnixTime};
use crate::policy::{Policy, ScopeDecision};
use crate::series::MetricSeries;
use crate::state::StateValue;

/// The likely cause of an alarm's silence, read from the instance's
/// published series (the last three hours of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SilenceReason {
    /// The instance published no series of its platform's metric: the agent
    /// stopped, or is not installed.
    NoSeries,
    /// The instance publishes series, but none with exactly the alarm's
    /// dimensions: the agent's dimensions changed, or the only series it
    /// publishes are filtered out.
    DimensionsDiffer,
    /// A provisional alarm of an instance that published nothing yet.
    NeverPublished,
    /// A series with exactly the alarm's dimensions was listed, yet the alarm
    /// has no data: the agent stopped within the last three hours.
    NoRecentData,
    /// The instance's series were not listed, so the cause is not known.
    SeriesNotListed,
}

impl SilenceReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSeries => "no series published in the last 3 hours",
            Self::DimensionsDiffer => "the alarm's dimensions differ from every published series",
            Self::NeverPublished => "the agent never published",
            Self::NoRecentData => {
                "its series was published in the last 3 hours but sends no data now (the agent stopped recently)"
            }
            Self::SeriesNotListed => "the instance's series were not listed",
        }
    }
}

impl fmt::Display for SilenceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for SilenceReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One silent alarm; `since` is when it entered `INSUFFICIENT_DATA`, as
/// CloudWatch says (RFC 3339 in the output).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SilentAlarm {
    pub instance: InstanceId,
    pub alarm: AlarmName,
    #[serde(serialize_with = "rfc3339")]
    pub since: UnixTime,
    pub reason: SilenceReason,
}

fn rfc3339<S: serde::Serializer>(time: &UnixTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(time)
}

/// The silent alarms among `alarms`, in the order of `subjects`, then by name.
///
/// An alarm is silent when it is owned (name and marker), belongs to a
/// running, in-scope instance among `subjects`, and has been in
/// `INSUFFICIENT_DATA` for `after_seconds` or longer at `now`. For a
/// provisional alarm the time counts from the instance's launch when that
/// is earlier: the agent has had since then to publish, so a pair created
/// for an instance that has been running for days is silent at once. An
/// alarm whose state is not known is not judged, nor a forecast alarm
/// younger than its three hourly points.
pub fn silent_alarms(
    policy: &Policy,
    subjects: &[Subject],
    alarms: &[ObservedAlarm],
    now: UnixTime,
    after_seconds: i64,
) -> Vec<SilentAlarm> {
    let mut by_instance: HashMap<&str, Vec<(&ObservedAlarm, bool)>> = HashMap::new();
    for alarm in alarms.iter().filter(|a| a.config.has_ownership_marker()) {
        if let Some(parts) = policy.naming.split(&alarm.name) {
            let provisional = parts.kind == NameKind::Provisional;
            by_instance.entry(parts.instance).or_default().push((alarm, provisional));
        }
    }
    let mut silent = Vec::new();
    let mut seen = HashSet::new();
    for subject in subjects {
        let Subject::Present(facts) = subject else { continue };
        if !is_watched(policy, facts) || !seen.insert(&facts.id) {
            continue;
        }
        let Some(owned) = by_instance.get_mut(facts.id.as_str()) else { continue };
        owned.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        owned.dedup_by(|a, b| a.0.name == b.0.name);
        for (alarm, provisional) in owned.iter() {
            let Some(state) = alarm.state.filter(|s| s.value == StateValue::InsufficientData) else {
                continue;
            };
            let clock = match (provisional, facts.launch_time) {
                (true, Some(launch)) => launch.min(state.since),
                _ => state.since,
            };
            if now.0.saturating_sub(clock.0) < after_seconds.max(first_value_seconds(&alarm.config)) {
                continue;
            }
            let reason = likely_cause(*provisional, alarm, facts.series.as_deref());
            silent.push(SilentAlarm {
                instance: facts.id.clone(),
                alarm: alarm.name.clone(),
                since: state.since,
                reason,
            });
        }
    }
    silent
}

/// How long a new alarm needs before it can leave `INSUFFICIENT_DATA` at all.
/// Only a metric-math alarm waits: the forecast's `RATE` has no value before
/// its second hourly point, and it is judged on three. A static alarm is
/// judged by `after_seconds` alone.
fn first_value_seconds(config: &AlarmConfig) -> i64 {
    match config.math {
        Some(_) => i64::from(config.period_seconds) * i64::from(config.evaluation_periods),
        None => 0,
    }
}

/// Running and in scope: the instances whose alarms are meant to protect them.
fn is_watched(policy: &Policy, facts: &InstanceFacts) -> bool {
    facts.state == InstanceState::Running && matches!(policy.scope(facts), ScopeDecision::In { .. })
}

fn likely_cause(provisional: bool, alarm: &ObservedAlarm, series: Option<&[MetricSeries]>) -> SilenceReason {
    let Some(series) = series else { return SilenceReason::SeriesNotListed };
    let mut dimensions = alarm.config.dimensions.clone();
    dimensions.sort();
    if series.is_empty() {
        if provisional {
            SilenceReason::NeverPublished
        } else {
            SilenceReason::NoSeries
        }
    } else if series.iter().any(|s| s.dimensions() == dimensions.as_slice()) {
        SilenceReason::NoRecentData
    } else {
        SilenceReason::DimensionsDiffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::Dimension;
    use crate::desired::{desired_alarms, Desire};
    use crate::policy::tests::{instance, policy};
    use crate::state::AlarmState;

    const NOW: i64 = 1_795_168_800;
    const HOUR: i64 = 3600;

    fn root(device: bool) -> MetricSeries {
        let mut dimensions = vec![
            Dimension::new("InstanceId", "i-0123456789abcdef0"),
            Dimension::new("path", "/"),
            Dimension::new("fstype", "xfs"),
        ];
        if device {
            dimensions.push(Dimension::new("device", "nvme0n1p1"));
        }
        MetricSeries::new(dimensions)
    }

    fn tmpfs() -> MetricSeries {
        MetricSeries::new(vec![
            Dimension::new("InstanceId", "i-0123456789abcdef0"),
            Dimension::new("path", "/run"),
            Dimension::new("fstype", "tmpfs"),
        ])
    }

    /// What a case changes of a running, in-scope instance that publishes its
    /// root series and has its pair, both alarms in `INSUFFICIENT_DATA` for 2 hours.
    #[derive(Clone)]
    struct Case {
        name: &'static str,
        /// The series the alarms were made for; `None`: the provisional pair.
        alarms_for: Option<MetricSeries>,
        /// What the instance publishes now; `None`: not listed.
        published: Option<Vec<MetricSeries>>,
        state: Option<(StateValue, i64)>,
        launched_hours_ago: Option<i64>,
        tags: &'static [(&'static str, &'static str)],
        running: bool,
        marker: bool,
        expected: Option<SilenceReason>,
    }

    const BASE: Case = Case {
        name: "",
        alarms_for: None,
        published: None,
        state: Some((StateValue::InsufficientData, 2 * HOUR)),
        launched_hours_ago: None,
        tags: &[("Environment", "production")],
        running: true,
        marker: true,
        expected: None,
    };

    fn run(case: &Case, after_seconds: i64) -> Vec<SilentAlarm> {
        let policy = policy();
        let mut facts = instance(case.tags);
        facts.launch_time = case.launched_hours_ago.map(|h| UnixTime(NOW - h * HOUR));
        let Desire::Alarms { alarms, .. } =
            desired_alarms(&policy, &Subject::Present(instance(&[("Environment", "production")])))
        else {
            unreachable!()
        };
        let alarms = match &case.alarms_for {
            None => alarms,
            Some(series) => {
                let mut made = instance(&[("Environment", "production")]);
                made.series = Some(vec![series.clone()]);
                let Desire::Alarms { alarms, .. } = desired_alarms(&policy, &Subject::Present(made)) else {
                    unreachable!()
                };
                alarms
            }
        };
        let observed: Vec<ObservedAlarm> = alarms
            .into_iter()
            .map(|alarm| {
                let mut config = alarm.config;
                if !case.marker {
                    config.description = "made by hand".into();
                }
                ObservedAlarm {
                    name: alarm.name,
                    config,
                    arn: None,
                    state: case.state.map(|(value, ago)| AlarmState::new(value, UnixTime(NOW - ago))),
                }
            })
            .collect();
        facts.series = case.published.clone();
        facts.state = if case.running { InstanceState::Running } else { InstanceState::Stopped };
        silent_alarms(&policy, &[Subject::Present(facts)], &observed, UnixTime(NOW), after_seconds)
    }

    #[test]
    fn silent_alarms_and_their_likely_causes() {
        let published = Some(vec![root(false)]);
        #[rustfmt::skip]
        let cases = [
            Case { name: "a pair whose series is listed but sends no data", alarms_for: Some(root(false)), published: published.clone(), expected: Some(SilenceReason::NoRecentData), ..BASE },
            Case { name: "a pair of an instance that publishes nothing now", alarms_for: Some(root(false)), published: Some(vec![]), expected: Some(SilenceReason::NoSeries), ..BASE },
            Case { name: "a pair whose dimensions the agent no longer publishes (drop_device)", alarms_for: Some(root(true)), published: published.clone(), expected: Some(SilenceReason::DimensionsDiffer), ..BASE },
            Case { name: "a pair whose series were not listed", alarms_for: Some(root(false)), published: None, expected: Some(SilenceReason::SeriesNotListed), ..BASE },
            Case { name: "the provisional pair of an instance that never published", published: Some(vec![]), expected: Some(SilenceReason::NeverPublished), ..BASE },
            Case { name: "the provisional pair of an instance that publishes only filtered series", published: Some(vec![tmpfs()]), expected: Some(SilenceReason::DimensionsDiffer), ..BASE },
            Case { name: "a new provisional pair of an instance running for days", published: Some(vec![]), state: Some((StateValue::InsufficientData, 60)), launched_hours_ago: Some(72), expected: Some(SilenceReason::NeverPublished), ..BASE },
            Case { name: "a new provisional pair of a new instance", published: Some(vec![]), state: Some((StateValue::InsufficientData, 60)), launched_hours_ago: Some(0), ..BASE },
            Case { name: "a new pair of an instance running for days: its own time counts", alarms_for: Some(root(false)), published: published.clone(), state: Some((StateValue::InsufficientData, 60)), launched_hours_ago: Some(72), ..BASE },
            Case { name: "no data for less than the threshold", alarms_for: Some(root(false)), published: published.clone(), state: Some((StateValue::InsufficientData, HOUR - 1)), ..BASE },
            Case { name: "no data for exactly the threshold", alarms_for: Some(root(false)), published: published.clone(), state: Some((StateValue::InsufficientData, HOUR)), expected: Some(SilenceReason::NoRecentData), ..BASE },
            Case { name: "OK for hours", alarms_for: Some(root(false)), published: published.clone(), state: Some((StateValue::Ok, 5 * HOUR)), ..BASE },
            Case { name: "in ALARM for hours", alarms_for: Some(root(false)), published: published.clone(), state: Some((StateValue::Alarm, 5 * HOUR)), ..BASE },
            Case { name: "state not known", alarms_for: Some(root(false)), published: published.clone(), state: None, ..BASE },
            Case { name: "a stopped instance", alarms_for: Some(root(false)), published: published.clone(), running: false, ..BASE },
            Case { name: "an out-of-scope instance", alarms_for: Some(root(false)), published: published.clone(), tags: &[("Environment", "staging")], ..BASE },
            Case { name: "an opted-out instance", published: Some(vec![]), tags: &[("Environment", "production"), ("disk-alarms:opt-out", "true")], ..BASE },
            Case { name: "alarms without the ownership marker", alarms_for: Some(root(false)), published: published.clone(), marker: false, ..BASE },
        ];
        for case in &cases {
            let silent = run(case, HOUR);
            let reasons: Vec<SilenceReason> = silent.iter().map(|s| s.reason).collect();
            let expected: Vec<SilenceReason> = case.expected.into_iter().flat_map(|r| [r, r]).collect();
            assert_eq!(reasons, expected, "{}", case.name);
            for s in &silent {
                assert_eq!(
                    s.since,
                    UnixTime(NOW - case.state.unwrap().1),
                    "{}: since is the state's time",
                    case.name
                );
            }
        }
    }

    #[test]
    fn a_zero_threshold_makes_any_insufficient_data_silent_at_once() {
        let case = Case {
            alarms_for: Some(root(false)),
            published: Some(vec![root(false)]),
            state: Some((StateValue::InsufficientData, 0)),
            ..BASE
        };
        assert_eq!(run(&case, 0).len(), 2);
        assert_eq!(run(&case, 1).len(), 0);
    }

    #[test]
    fn a_silent_alarm_serializes_with_its_time_and_cause_as_text() {
        let case = Case { published: Some(vec![]), ..BASE };
        let silent = run(&case, HOUR);
        let json = serde_json::to_value(&silent[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "instance": "i-0123456789abcdef0",
                "alarm": "ec2-disk-provisional-i-0123456789abcdef0-critical",
                "since": "2026-11-20T08:00:00Z",
                "reason": "the agent never published",
            })
        );
    }

    #[test]
    fn a_forecast_alarm_is_judged_only_after_its_three_hourly_points() {
        let mut policy = policy();
        policy.forecast.hours = Some(24.0);
        let mut facts = instance(&[("Environment", "production")]);
        facts.series = Some(vec![root(false)]);
        let Desire::Alarms { alarms, .. } = desired_alarms(&policy, &Subject::Present(facts.clone())) else {
            unreachable!()
        };
        let observed = |ago: i64| -> Vec<ObservedAlarm> {
            alarms
                .iter()
                .map(|alarm| ObservedAlarm {
                    name: alarm.name.clone(),
                    config: alarm.config.clone(),
                    arn: None,
                    state: Some(AlarmState::new(StateValue::InsufficientData, UnixTime(NOW - ago))),
                })
                .collect()
        };
        let silent = |ago: i64| -> Vec<String> {
            let found =
                silent_alarms(&policy, &[Subject::Present(facts.clone())], &observed(ago), UnixTime(NOW), 0);
            found.into_iter().map(|s| s.alarm.as_str().rsplit('-').next().unwrap().to_owned()).collect()
        };
        assert_eq!(silent(2 * HOUR), ["critical", "warning"], "two hours: too early for the forecast");
        assert_eq!(silent(3 * HOUR), ["critical", "forecast", "warning"]);
    }
}
