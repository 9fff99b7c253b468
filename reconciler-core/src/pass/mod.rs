//! One pass, one plan: everything a pass will change, decided at once from
//! what it observed. The handler observes, calls [`plan`] once and applies
//! the result once; this module also holds the pure decisions the observer
//! and the applier need (what to read of an instance, which provisional
//! instances are ready, whether a precondition holds), so that neither of
//! them decides anything.

use std::collections::{BTreeMap, HashMap, HashSet};

mod mutes;

pub use mutes::{instances_to_review_mutes, mute_rules_to_read};

use crate::alarm::{AlarmConfig, ObservedAlarm};
use crate::desired::{desired_alarms, Desire};
use crate::ids::{AlarmName, InstanceId};
use crate::instance::{InstanceFacts, InstanceState, Subject, UnixTime};
use crate::maintenance::{
    expired_mute_rules, plan_maintenance, MaintenanceAction, MaintenanceNotice, MaintenanceSettings,
};
use crate::mute_rules::{MuteRuleRead, ObservedMuteRule};
use crate::plan::{plan_alarms, MuteChange, Plan, Precondition, TagRepair};
use crate::platform::Platform;
use crate::policy::{Policy, ScopeDecision};
use crate::series::{MetricSeries, SeriesVerdict};
use crate::tags::AlarmTag;

/// What a pass observed, and what it was started for.
#[derive(Debug, Clone, Copy)]
pub struct PassInput<'a> {
    pub subjects: &'a [Subject],
    /// The alarms read under the owned prefix (or the instances' own prefixes).
    pub alarms: &'a [ObservedAlarm],
    pub now: UnixTime,
    /// `subjects` are every instance of the account, from listings that can
    /// be minutes old by the time the deletes run (the sweep): an
    /// instance-level delete is re-checked first, a mute rule of an instance
    /// not among them is an orphan, and expired rules are removed.
    pub whole_account: bool,
    /// Mute rules of ours, when the pass read them: those read in full are
    /// made to name exactly their instance's current alarms.
    pub mute_rules: Option<MuteRulesSeen<'a>>,
    /// An AWS Health maintenance notice to mute or unmute the instances for.
    pub maintenance: Option<(&'a MaintenanceNotice, &'a MaintenanceSettings)>,
    /// The tags of owned alarms, when the pass read them (the re-tag pass):
    /// what an alarm lacks is added.
    pub alarm_tags: Option<&'a BTreeMap<AlarmName, Vec<AlarmTag>>>,
}

impl<'a> PassInput<'a> {
    /// The alarms of `subjects`, and nothing else.
    pub fn new(subjects: &'a [Subject], alarms: &'a [ObservedAlarm], now: UnixTime) -> Self {
        Self {
            subjects,
            alarms,
            now,
            whole_account: false,
            mute_rules: None,
            maintenance: None,
            alarm_tags: None,
        }
    }
}

/// Mute rules of ours as a pass read them.
#[derive(Debug, Clone, Copy)]
pub struct MuteRulesSeen<'a> {
    /// Every rule under our prefix (`ListAlarmMuteRules`).
    pub listed: &'a [ObservedMuteRule],
    /// The rules in force that [`mute_rules_to_read`] chose, read in full (`GetAlarmMuteRule`).
    pub read: &'a [MuteRuleRead],
}

/// The one plan of a pass: the alarm changes (creates, then updates, then
/// deletes), then mute-rule changes, then tag repairs, each with its
/// reason and, where something must hold just before it runs, its precondition.
pub fn plan(policy: &Policy, input: &PassInput<'_>) -> Plan {
    let mut plan = plan_alarms(policy, input.subjects, input.alarms);
    if input.whole_account {
        for change in &mut plan.changes {
            if let crate::plan::Change::Delete {
                reason: crate::plan::DeleteReason::Instance(_),
                precondition,
                ..
            } = change
            {
                *precondition = Some(Precondition::InstanceStillUnwanted);
            }
        }
    }
    let mut handled = HashSet::new();
    if let Some((notice, settings)) = input.maintenance {
        for action in plan_maintenance(policy, settings, notice, input.subjects, input.now) {
            match action {
                MaintenanceAction::Mute { rule, reason, notes } => {
                    plan.notes.extend(notes.into_iter().map(|note| (rule.instance.clone(), note)));
                    handled.insert(mutes::put_rule(policy, &mut plan, input, rule, &reason));
                }
                MaintenanceAction::Unmute { rule, instance, reason } => {
                    mutes::delete_rule(policy, &mut plan, input, &rule, &instance, &reason);
                    handled.insert(rule);
                }
                MaintenanceAction::Skip { instance, reason } => plan.notes.push((instance, reason)),
            }
        }
    }
    if let (true, Some(seen)) = (input.whole_account, input.mute_rules) {
        for action in expired_mute_rules(policy, seen.listed, input.now) {
            if let MaintenanceAction::Unmute { rule, instance, reason } = action {
                plan.mutes.push(MuteChange::Delete { rule, instance, reason });
            }
        }
    }
    mutes::review_rules(policy, input, &handled, &mut plan);
    if let Some(tags) = input.alarm_tags {
        plan.tag_repairs = tag_repairs(policy, input.subjects, input.alarms, tags);
    }
    plan
}

/// The owned alarms whose tags the re-tag pass reads: those the policy
/// still wants. The others are about to be deleted, and the missing ones are
/// created with their tags.
pub fn alarms_to_check_tags<'a>(
    policy: &Policy,
    subjects: &[Subject],
    alarms: &'a [ObservedAlarm],
) -> Vec<(InstanceId, &'a ObservedAlarm)> {
    let existing: HashMap<&AlarmName, &ObservedAlarm> =
        alarms.iter().filter(|a| a.config.has_ownership_marker()).map(|a| (&a.name, a)).collect();
    let mut wanted = Vec::new();
    for subject in subjects {
        let Desire::Alarms { alarms, .. } = desired_alarms(policy, subject) else { continue };
        for alarm in alarms {
            if let Some(observed) = existing.get(&alarm.name) {
                wanted.push((alarm.instance, *observed));
            }
        }
    }
    wanted
}

fn tag_repairs(
    policy: &Policy,
    subjects: &[Subject],
    alarms: &[ObservedAlarm],
    tags: &BTreeMap<AlarmName, Vec<AlarmTag>>,
) -> Vec<TagRepair> {
    let existing: HashMap<&AlarmName, &ObservedAlarm> = alarms.iter().map(|a| (&a.name, a)).collect();
    let mut repairs = Vec::new();
    for subject in subjects {
        let Desire::Alarms { alarms, .. } = desired_alarms(policy, subject) else { continue };
        for alarm in alarms {
            let (Some(current), Some(arn)) =
                (tags.get(&alarm.name), existing.get(&alarm.name).and_then(|a| a.arn.clone()))
            else {
                continue;
            };
            let missing: Vec<AlarmTag> =
                alarm.tags(&policy.alarm_tags).into_iter().filter(|t| !current.contains(t)).collect();
            if !missing.is_empty() {
                repairs.push(TagRepair { instance: alarm.instance, alarm: alarm.name, arn, tags: missing });
            }
        }
    }
    repairs
}

/// What the observer reads of one instance besides its facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceReads {
    /// The published series of its platform's metric: only an instance the
    /// policy gives alarms needs them (the others' alarms, if any, are deleted).
    pub series: bool,
}

/// [`InstanceReads`] of an instance as the EC2 API (and its group) describe it.
pub fn instance_reads(policy: &Policy, facts: &InstanceFacts) -> InstanceReads {
    let in_scope = matches!(policy.scope(facts), ScopeDecision::In { .. });
    InstanceReads { series: facts.state == InstanceState::Running && in_scope }
}

/// Whether the observer looks up the instance's Auto Scaling group: a
/// running (or pending: it may settle as running) instance whose alarms
/// depend on it, one without the scope tag (its own tags take precedence, so
/// a tagged instance needs no lookup), or every one when alarms carry the
/// group dimension.
pub fn needs_group(policy: &Policy, facts: &InstanceFacts) -> bool {
    matches!(facts.state, InstanceState::Running | InstanceState::Pending)
        && (policy.linux.group_dimension || !facts.tags.contains_key(&policy.scope_tag_key))
}

/// The platform a provisional alarm was made for, from the metric it watches.
pub fn provisional_platform(policy: &Policy, config: &AlarmConfig) -> Platform {
    let windows = &policy.windows;
    if config.namespace == windows.namespace && config.metric_name == windows.metric_name {
        Platform::Windows
    } else {
        Platform::Linux
    }
}

/// The instances that own a provisional alarm among `alarms`, each once,
/// with the platform whose metric the alarm watches.
pub fn provisional_instances(policy: &Policy, alarms: &[ObservedAlarm]) -> Vec<(InstanceId, Platform)> {
    let mut instances: Vec<(InstanceId, Platform)> = alarms
        .iter()
        .filter(|a| a.config.has_ownership_marker())
        .filter_map(|a| {
            let (id, _) = policy.naming.parse(&a.name)?;
            Some((id, provisional_platform(policy, &a.config)))
        })
        .collect();
    instances.sort();
    instances.dedup_by(|a, b| a.0 == b.0);
    instances
}

/// A provisional instance is ready for the follow-up pass once it publishes
/// a series the filter watches.
pub fn follow_up_ready(policy: &Policy, platform: Platform, series: Option<&[MetricSeries]>) -> bool {
    series.is_some_and(|series| {
        policy
            .profile(platform)
            .series_verdicts(series)
            .iter()
            .any(|c| matches!(c.verdict, SeriesVerdict::Watched { .. }))
    })
}

/// The running instances among `facts` that started (`LaunchTime`, which a
/// stop and start renews) at most `window_seconds` before `now`; none when
/// `window_seconds` is 0.
pub fn recently_started(facts: &[InstanceFacts], now: UnixTime, window_seconds: i64) -> Vec<&InstanceFacts> {
    if window_seconds <= 0 {
        return Vec::new();
    }
    facts
        .iter()
        .filter(|f| f.state == InstanceState::Running)
        .filter(|f| f.launch_time.is_some_and(|t| t.0 >= now.0.saturating_sub(window_seconds) && t <= now))
        .collect()
}

/// A filesystem mounted after the instance's first alarms: the instance
/// (with its series listed) publishes a watched series that has no alarm
/// among `alarms` yet. An instance still on its provisional pair is the
/// follow-up pass's other case, not this one.
pub fn publishes_unwatched_series(policy: &Policy, facts: &InstanceFacts, alarms: &[ObservedAlarm]) -> bool {
    match desired_alarms(policy, &Subject::Present(facts.clone())) {
        Desire::Alarms { alarms: desired, provisional: false, .. } => {
            desired.iter().any(|wanted| !alarms.iter().any(|a| a.name == wanted.name))
        }
        _ => false,
    }
}

/// [`Precondition::InstanceStillUnwanted`], judged on the instance as read
/// again just before the delete: it holds unless the instance now should
/// have alarms. An instance the API no longer returns has none.
pub fn instance_still_unwanted(policy: &Policy, facts: Option<&InstanceFacts>) -> bool {
    let Some(facts) = facts else { return true };
    !matches!(desired_alarms(policy, &Subject::Present(facts.clone())), Desire::Alarms { .. })
}
