//! The plan of a pass, as typed changes: alarms created, updated and
//! deleted, mute rules written and removed, tags repaired, each with a reason
//! that explains it and, where something must still hold just before it
//! runs, a [`Precondition`]. [`plan_alarms`] diffs the alarms; the `pass` module
//! builds the whole plan.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::alarm::{NameKind, ObservedAlarm};
use crate::desired::{desired_alarms, desired_alarms_in, Desire, DesiredAlarm, NoAlarmsReason};
use crate::diff::{diff, FieldChange};
use crate::ids::{AlarmName, InstanceId};
use crate::instance::Subject;
use crate::maintenance::MuteRule;
use crate::policy::{Policy, ScopeDecision};
use crate::tags::AlarmTag;

/// Why an owned alarm is deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum DeleteReason {
    /// Its instance should have no alarms at all.
    Instance(NoAlarmsReason),
    /// The instance keeps alarms, but not this one.
    Alarm(Retired),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Retired {
    /// A provisional alarm now that the instance's own series have alarms, or
    /// an alarm named by an earlier release.
    Superseded,
    /// The filesystem's series is no longer published (unmounted, or the
    /// agent stopped reporting it), or the filter now skips it.
    SeriesGone,
}

impl fmt::Display for DeleteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instance(reason) => reason.fmt(f),
            Self::Alarm(Retired::Superseded) => f.write_str("replaced by the instance's current alarms"),
            Self::Alarm(Retired::SeriesGone) => {
                f.write_str("its series is no longer published or is now filtered out")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Change {
    /// The alarm is missing.
    Create { alarm: DesiredAlarm },
    /// The alarm exists but differs in `differences` (never empty).
    Update { alarm: DesiredAlarm, differences: Vec<FieldChange> },
    Delete {
        name: AlarmName,
        instance: InstanceId,
        reason: DeleteReason,
        /// Checked by the applier just before the delete.
        #[serde(skip_serializing_if = "Option::is_none")]
        precondition: Option<Precondition>,
    },
}

/// What must still hold just before a change runs. The applier checks it and
/// skips the change, with a note, when it does not; it decides nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precondition {
    /// Every alarm write (create, update) of the same instance earlier in
    /// the plan succeeded: a provisional pair goes only once the alarms
    /// replacing it exist, and a mute rule may only name alarms that exist.
    InstanceWritesSucceeded,
    /// Read again just before the delete, the instance still should have no
    /// alarms: a sweep's listing can be minutes old, and an instance started
    /// since (and given its alarms by the event path) must not lose them.
    InstanceStillUnwanted,
}

/// Tags an existing owned alarm lacks (or has with another value): added
/// with `TagResource`, since CloudWatch applies tags only at creation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TagRepair {
    pub instance: InstanceId,
    pub alarm: AlarmName,
    pub arn: String,
    pub tags: Vec<AlarmTag>,
}

/// What a change does to an alarm or a mute rule, as reports and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Delete,
    Mute,
    Unmute,
    /// Tags added to an existing alarm.
    Tag,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::Tag => "tag",
        }
    }

    /// `+` adds protection or a mute, `~` changes an alarm, `-` removes one.
    pub fn symbol(self) -> char {
        match self {
            Self::Create | Self::Mute => '+',
            Self::Update | Self::Tag => '~',
            Self::Delete | Self::Unmute => '-',
        }
    }
}

/// A write to a mute rule, as one of a [`crate::Plan`]'s changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum MuteChange {
    /// `PutAlarmMuteRule`: create or overwrite the rule.
    Put { rule: MuteRule, reason: String, precondition: Option<Precondition> },
    /// `DeleteAlarmMuteRule`: a rule that does not exist is no error.
    Delete { rule: String, instance: InstanceId, reason: String },
}

impl MuteChange {
    pub fn rule_name(&self) -> &str {
        match self {
            Self::Put { rule, .. } => &rule.name,
            Self::Delete { rule, .. } => rule,
        }
    }

    pub fn instance(&self) -> &InstanceId {
        match self {
            Self::Put { rule, .. } => &rule.instance,
            Self::Delete { instance, .. } => instance,
        }
    }

    /// Explains the change; never decides it.
    pub fn reason(&self) -> &str {
        match self {
            Self::Put { reason, .. } | Self::Delete { reason, .. } => reason,
        }
    }
}

impl MuteChange {
    pub fn action(&self) -> Action {
        match self {
            Self::Put { .. } => Action::Mute,
            Self::Delete { .. } => Action::Unmute,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Change {
    pub fn alarm_name(&self) -> &AlarmName {
        match self {
            Self::Create { alarm } | Self::Update { alarm, .. } => &alarm.name,
            Self::Delete { name, .. } => name,
        }
    }

    pub fn instance(&self) -> &InstanceId {
        match self {
            Self::Create { alarm } | Self::Update { alarm, .. } => &alarm.instance,
            Self::Delete { instance, .. } => instance,
        }
    }

    pub fn action(&self) -> Action {
        match self {
            Self::Create { .. } => Action::Create,
            Self::Update { .. } => Action::Update,
            Self::Delete { .. } => Action::Delete,
        }
    }

    /// A human-readable reason; it explains the change but never decides it.
    pub fn reason(&self) -> String {
        match self {
            Self::Create { .. } => "missing".into(),
            Self::Update { differences, .. } => {
                differences.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            }
            Self::Delete { reason, .. } => reason.to_string(),
        }
    }

    fn order(&self) -> u8 {
        // An unprotected instance is the worst state, so creates go first.
        match self {
            Self::Create { .. } => 0,
            Self::Update { .. } => 1,
            Self::Delete { .. } => 2,
        }
    }
}

/// A desired alarm whose name is taken by an alarm without the ownership
/// marker. The reconciler never writes to such an alarm; a person has to
/// rename or remove it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    pub name: AlarmName,
    pub instance: InstanceId,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alarm {} exists without the ownership marker; it is left untouched and {} is not covered by it",
            self.name, self.instance
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Plan {
    /// Creates, then updates, then deletes; each in instance and name order.
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
    /// Owned alarms that already match, in the order of `subjects`.
    pub unchanged: Vec<AlarmName>,
    /// Why an instance's override tags were ignored, and similar remarks.
    pub notes: Vec<(InstanceId, String)>,
    /// How many running, in-scope instances have only the provisional pair:
    /// they have published no disk series (that passes the filter) yet.
    pub provisional: usize,
    /// Mute rules to write or delete, after the alarm changes: a rule may
    /// only name alarms that exist.
    pub mutes: Vec<MuteChange>,
    /// Tags to add to existing alarms, last (only when the pass read them).
    pub tag_repairs: Vec<TagRepair>,
    /// Instances whose tags put them in scope, running or not.
    pub instances_in_scope: usize,
    /// The owned alarms of `subjects` once the plan is applied: those
    /// unchanged, updated or created (not the deleted ones).
    pub alarms_after: usize,
    /// What CloudWatch bills them for: one metric each for the alarms this
    /// product writes (see `AlarmConfig::billed_metrics`).
    pub billed_metrics_after: usize,
}

impl Plan {
    /// The estimated monthly cost of the alarms after the plan, in US
    /// dollars, at `price` per billed alarm metric, to the cent.
    pub fn monthly_cost_usd(&self, price: f64) -> f64 {
        (self.billed_metrics_after as f64 * price * 100.0).round() / 100.0
    }
}

impl Plan {
    /// Nothing to write: no alarm, mute-rule or tag change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.mutes.is_empty() && self.tag_repairs.is_empty()
    }
}

/// Plans the changes that make the owned alarms of `subjects` what the policy
/// wants.
///
/// `observed` holds the alarms read under the owned prefix. An observed alarm
/// is owned only if its name parses as `<prefix><instance>-<severity>` *and*
/// its description carries the ownership marker; anything else is never
/// changed or deleted. Owned alarms of instances that are not among
/// `subjects` are orphans: their instance no longer exists.
pub fn plan_alarms(policy: &Policy, subjects: &[Subject], observed: &[ObservedAlarm]) -> Plan {
    // Every alarm whose name parses, owned or not, grouped by instance: a
    // desired name can only collide with an alarm of the same instance, so
    // conflicts are found in these groups of one or two without a name index.
    let mut by_instance: HashMap<&str, Vec<&ObservedAlarm>> = HashMap::new();
    for alarm in observed {
        if let Some(parts) = policy.naming.split(&alarm.name) {
            by_instance.entry(parts.instance).or_default().push(alarm);
        }
    }

    let mut result = Plan::default();
    let mut seen: HashSet<&InstanceId> = HashSet::with_capacity(subjects.len());
    for subject in subjects {
        if !seen.insert(subject.id()) {
            continue;
        }
        let named = by_instance.remove(subject.id().as_str()).unwrap_or_default();
        let owned = named.iter().copied().filter(|a| a.config.has_ownership_marker());
        let desire = match subject {
            Subject::Gone { .. } => desired_alarms(policy, subject),
            Subject::Present(facts) => {
                let scope = policy.scope(facts);
                result.instances_in_scope += usize::from(matches!(scope, ScopeDecision::In { .. }));
                desired_alarms_in(policy, facts, scope)
            }
        };
        match desire {
            Desire::Alarms { alarms, notes, provisional } => {
                result.notes.extend(notes.into_iter().map(|n| (subject.id().clone(), n)));
                result.provisional += usize::from(provisional);
                for stale in owned.filter(|a| !alarms.iter().any(|wanted| wanted.name == a.name)) {
                    let retired = match policy.naming.split(&stale.name).map(|p| p.kind) {
                        Some(NameKind::Filesystem(_)) => Retired::SeriesGone,
                        _ => Retired::Superseded,
                    };
                    result.changes.push(delete(stale, subject.id(), DeleteReason::Alarm(retired)));
                }
                for alarm in alarms {
                    let owned_after =
                        !named.iter().any(|a| a.name == alarm.name && !a.config.has_ownership_marker());
                    if owned_after {
                        result.alarms_after += 1;
                        result.billed_metrics_after += alarm.config.billed_metrics();
                    }
                    match named.iter().find(|a| a.name == alarm.name) {
                        None => result.changes.push(Change::Create { alarm }),
                        Some(existing) if !existing.config.has_ownership_marker() => {
                            result.conflicts.push(Conflict { name: alarm.name, instance: alarm.instance })
                        }
                        Some(existing) => {
                            let differences = diff(&existing.config, &alarm.config);
                            if differences.is_empty() {
                                result.unchanged.push(alarm.name);
                            } else {
                                result.changes.push(Change::Update { alarm, differences });
                            }
                        }
                    }
                }
            }
            Desire::None { reason } => {
                for alarm in owned {
                    result.changes.push(delete(alarm, subject.id(), DeleteReason::Instance(reason.clone())));
                }
            }
        }
    }
    for (instance, alarms) in by_instance {
        let instance = InstanceId::parse(instance).expect("validated by Naming::split");
        for alarm in alarms.into_iter().filter(|a| a.config.has_ownership_marker()) {
            result.changes.push(delete(alarm, &instance, DeleteReason::Instance(NoAlarmsReason::Gone)));
        }
    }

    result.changes.sort_unstable_by(|a, b| {
        (a.order(), a.instance(), a.alarm_name()).cmp(&(b.order(), b.instance(), b.alarm_name()))
    });
    result.conflicts.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    result
}

fn delete(alarm: &ObservedAlarm, instance: &InstanceId, reason: DeleteReason) -> Change {
    // A provisional pair goes only once the alarms replacing it are written.
    let precondition = matches!(reason, DeleteReason::Alarm(Retired::Superseded))
        .then_some(Precondition::InstanceWritesSucceeded);
    Change::Delete { name: alarm.name.clone(), instance: instance.clone(), reason, precondition }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{AlarmConfig, ComparisonOperator, Dimension, MissingData, Severity, Statistic};
    use crate::instance::{InstanceFacts, InstanceState};
    use crate::policy::tests::{instance, policy};
    use crate::series::MetricSeries;

    fn running(id: &str, env: &str) -> Subject {
        let mut facts: InstanceFacts = instance(&[("Environment", env)]);
        facts.id = InstanceId::parse(id).unwrap();
        Subject::Present(facts)
    }

    fn with_state(subject: Subject, state: InstanceState) -> Subject {
        match subject {
            Subject::Present(mut facts) => {
                facts.state = state;
                Subject::Present(facts)
            }
            gone => gone,
        }
    }

    /// The alarms a previous, successful reconcile of `subject` left behind.
    fn existing(subject: &Subject) -> Vec<ObservedAlarm> {
        match desired_alarms(&policy(), subject) {
            Desire::Alarms { alarms, .. } => alarms
                .into_iter()
                .map(|a| ObservedAlarm { name: a.name, config: a.config, arn: None, state: None })
                .collect(),
            Desire::None { .. } => Vec::new(),
        }
    }

    fn summary(plan: &Plan) -> Vec<String> {
        plan.changes.iter().map(|c| format!("{} {} ({})", c.action(), c.alarm_name(), c.reason())).collect()
    }

    const A: &str = "i-0000000000000000a";
    const B: &str = "i-0000000000000000b";

    #[test]
    fn missing_alarms_are_created() {
        let plan = plan_alarms(&policy(), &[running(A, "production")], &[]);
        assert_eq!(
            summary(&plan),
            [
                "create ec2-disk-provisional-i-0000000000000000a-critical (missing)",
                "create ec2-disk-provisional-i-0000000000000000a-warning (missing)"
            ]
        );
    }

    #[test]
    fn matching_alarms_need_no_change() {
        let subject = running(A, "production");
        let plan = plan_alarms(&policy(), std::slice::from_ref(&subject), &existing(&subject));
        assert!(plan.is_empty(), "{:?}", summary(&plan));
        assert_eq!(plan.unchanged.len(), 2);
    }

    #[test]
    fn order_of_lists_from_the_api_does_not_matter() {
        let subject = running(A, "production");
        let mut observed = existing(&subject);
        for alarm in &mut observed {
            alarm.config.dimensions.reverse();
        }
        assert!(plan_alarms(&policy(), &[subject], &observed).is_empty());
    }

    #[test]
    fn every_configuration_field_is_diffed() {
        type Edit = fn(&mut AlarmConfig);
        let cases: &[(&str, Edit, &str)] = &[
            ("namespace", |c| c.namespace = "Custom".into(), "namespace Custom → CWAgent"),
            ("metric", |c| c.metric_name = "mem_used_percent".into(), "metric mem_used_percent → disk_used_percent"),
            (
                "dimensions",
                |c| c.dimensions.push(Dimension::new("device", "xvda1")),
                "dimensions [InstanceId=i-0000000000000000a, device=xvda1, fstype=xfs, path=/] → [InstanceId=i-0000000000000000a, fstype=xfs, path=/]",
            ),
            ("statistic", |c| c.statistic = Statistic::Maximum, "statistic Maximum → Average"),
            ("period", |c| c.period_seconds = 60, "period 60 → 300"),
            ("evaluation periods", |c| c.evaluation_periods = 5, "evaluation periods 5 → 2"),
            ("datapoints", |c| c.datapoints_to_alarm = Some(1), "datapoints to alarm 1 → unset"),
            ("threshold", |c| c.threshold = 70.0, "threshold 70 → 60"),
            ("operator", |c| c.comparison_operator = ComparisonOperator::GreaterThanThreshold, "operator GreaterThanThreshold → GreaterThanOrEqualToThreshold"),
            ("missing data", |c| c.treat_missing_data = MissingData::Breaching, "missing data breaching → missing"),
            ("actions enabled", |c| c.actions_enabled = false, "actions enabled false → true"),
            (
                "alarm actions",
                |c| c.alarm_actions = vec!["arn:aws:sns:eu-west-1:123456789012:other".into()],
                "alarm actions [arn:aws:sns:eu-west-1:123456789012:other] → [arn:aws:sns:eu-west-1:123456789012:disk-warning]",
            ),
            ("OK actions", |c| c.ok_actions.clear(), "OK actions [] → [arn:aws:sns:eu-west-1:123456789012:disk-warning]"),
            (
                "insufficient data actions",
                |c| c.insufficient_data_actions = vec!["x".into()],
                "insufficient-data actions [x] → []",
            ),
            ("description", |c| c.description.push_str(" edited"), "description edited"),
        ];
        let subject = running(A, "production");
        for (name, edit, reason) in cases {
            let mut observed = existing(&subject);
            let warning = observed.iter_mut().find(|a| a.name.as_str().ends_with("-warning")).unwrap();
            edit(&mut warning.config);
            let plan = plan_alarms(&policy(), std::slice::from_ref(&subject), &observed);
            assert_eq!(
                summary(&plan),
                [format!("update ec2-disk-provisional-i-0000000000000000a-warning ({reason})")],
                "{name}"
            );
        }
    }

    #[test]
    fn owned_alarms_are_deleted_with_the_reason() {
        let cases = [
            (with_state(running(A, "production"), InstanceState::Stopped), "instance stopped"),
            (with_state(running(A, "production"), InstanceState::Terminated), "instance terminated"),
            (running(A, "staging"), "out of scope: Environment=staging"),
            (Subject::Gone { id: InstanceId::parse(A).unwrap() }, "instance no longer exists"),
        ];
        let previously = existing(&running(A, "production"));
        for (subject, reason) in cases {
            let plan = plan_alarms(&policy(), &[subject], &previously);
            assert_eq!(
                summary(&plan),
                [
                    format!("delete ec2-disk-provisional-{A}-critical ({reason})"),
                    format!("delete ec2-disk-provisional-{A}-warning ({reason})"),
                ]
            );
        }
    }

    #[test]
    fn owned_alarms_of_unknown_instances_are_orphans() {
        let plan = plan_alarms(&policy(), &[], &existing(&running(B, "production")));
        assert_eq!(plan.changes.len(), 2);
        assert!(plan.changes.iter().all(|c| c.reason() == "instance no longer exists"));
    }

    #[test]
    fn alarms_without_the_marker_are_never_touched() {
        let mut foreign = existing(&running(A, "production"));
        for alarm in &mut foreign {
            alarm.config.description = "created by hand".into();
            alarm.config.threshold = 95.0;
        }
        // Its instance stopped: a marked alarm would be deleted, this one is not.
        let stopped = with_state(running(A, "production"), InstanceState::Stopped);
        assert!(plan_alarms(&policy(), &[stopped], &foreign).is_empty());
        // Running: the names are taken, so they are reported, not overwritten.
        let plan = plan_alarms(&policy(), &[running(A, "production")], &foreign);
        assert!(plan.is_empty());
        assert_eq!(plan.conflicts.len(), 2);
        // An orphan without the marker stays too.
        assert!(super::plan_alarms(&policy(), &[], &foreign).is_empty());
    }

    #[test]
    fn alarms_with_other_names_are_never_touched() {
        let mut person = existing(&running(A, "production")).remove(0);
        person.name = AlarmName::parse("ec2-disk-i-0000000000000000a-warning-by-alice").unwrap();
        assert!(plan_alarms(&policy(), &[], &[person]).is_empty());
    }

    #[test]
    fn changes_are_ordered_creates_updates_deletes() {
        let mut observed = existing(&running(A, "production"));
        observed[0].config.threshold = 1.0;
        observed.extend(existing(&running(B, "production")));
        let plan = plan_alarms(
            &policy(),
            &[running(A, "production"), running("i-0000000000000000c", "production")],
            &observed,
        );
        let verbs: Vec<&str> = plan.changes.iter().map(|c| c.action().as_str()).collect();
        assert_eq!(verbs, ["create", "create", "update", "delete", "delete"]);
    }

    #[test]
    fn override_notes_reach_the_plan() {
        let mut facts =
            instance(&[("Environment", "production"), ("disk-alarms:critical-threshold", "lots")]);
        facts.id = InstanceId::parse(A).unwrap();
        let plan = plan_alarms(&policy(), &[Subject::Present(facts)], &[]);
        assert_eq!(plan.notes.len(), 1);
        assert!(plan.notes[0].1.contains("not a number"), "{:?}", plan.notes);
    }

    fn publishing(subject: Subject, paths: &[&str]) -> Subject {
        let Subject::Present(mut facts) = subject else { return subject };
        let series = paths.iter().map(|path| {
            MetricSeries::new(vec![
                Dimension::new("InstanceId", facts.id.as_str()),
                Dimension::new("path", *path),
                Dimension::new("device", "nvme0n1p1"),
                Dimension::new("fstype", "xfs"),
            ])
        });
        facts.series = Some(series.collect());
        Subject::Present(facts)
    }

    #[test]
    fn the_provisional_pair_is_replaced_once_series_appear() {
        let before = running(A, "production");
        let observed = existing(&before);
        assert_eq!(plan_alarms(&policy(), std::slice::from_ref(&before), &observed).provisional, 1);
        let after = publishing(running(A, "production"), &["/", "/data"]);
        let plan = plan_alarms(&policy(), &[after], &observed);
        assert_eq!(plan.provisional, 0);
        assert_eq!(
            summary(&plan),
            [
                format!("create ec2-disk-{A}-data-critical (missing)"),
                format!("create ec2-disk-{A}-data-warning (missing)"),
                format!("create ec2-disk-{A}-root-critical (missing)"),
                format!("create ec2-disk-{A}-root-warning (missing)"),
                format!(
                    "delete ec2-disk-provisional-{A}-critical (replaced by the instance's current alarms)"
                ),
                format!(
                    "delete ec2-disk-provisional-{A}-warning (replaced by the instance's current alarms)"
                ),
            ]
        );
    }

    #[test]
    fn a_filesystem_whose_series_vanished_loses_its_pair() {
        let observed = existing(&publishing(running(A, "production"), &["/", "/data"]));
        let plan = plan_alarms(&policy(), &[publishing(running(A, "production"), &["/"])], &observed);
        assert_eq!(
            summary(&plan),
            [
                format!("delete ec2-disk-{A}-data-critical (its series is no longer published or is now filtered out)"),
                format!("delete ec2-disk-{A}-data-warning (its series is no longer published or is now filtered out)"),
            ]
        );
        assert!(plan
            .changes
            .iter()
            .all(|c| matches!(c, Change::Delete { reason: DeleteReason::Alarm(Retired::SeriesGone), .. })));
        assert_eq!(plan.unchanged.len(), 2);
    }

    #[test]
    fn an_instance_whose_series_all_vanished_falls_back_to_the_provisional_pair() {
        let observed = existing(&publishing(running(A, "production"), &["/"]));
        let plan = plan_alarms(&policy(), &[publishing(running(A, "production"), &[])], &observed);
        let verbs: Vec<&str> = plan.changes.iter().map(|c| c.action().as_str()).collect();
        assert_eq!(verbs, ["create", "create", "delete", "delete"]);
        assert_eq!(plan.provisional, 1);
    }

    #[test]
    fn names_of_earlier_releases_are_replaced_not_left_behind() {
        let mut observed = existing(&running(A, "production"));
        for alarm in &mut observed {
            let renamed = alarm.name.as_str().replace("provisional-", "");
            alarm.name = AlarmName::parse(&renamed).unwrap();
        }
        let plan = plan_alarms(&policy(), &[publishing(running(A, "production"), &["/"])], &observed);
        assert_eq!(
            summary(&plan)[2..],
            [
                format!("delete ec2-disk-{A}-critical (replaced by the instance's current alarms)"),
                format!("delete ec2-disk-{A}-warning (replaced by the instance's current alarms)"),
            ]
        );
        // And when the instance has gone, they are orphans like any other owned alarm.
        assert_eq!(super::plan_alarms(&policy(), &[], &observed).changes.len(), 2);
    }

    #[test]
    fn severity_and_filesystem_are_part_of_the_name() {
        let p = policy();
        let id = InstanceId::parse(A).unwrap();
        let names = [
            p.naming.provisional_alarm_name(&id, Severity::Warning),
            p.naming.provisional_alarm_name(&id, Severity::Critical),
            p.naming.filesystem_alarm_name(&id, "root", Severity::Warning),
            p.naming.filesystem_alarm_name(&id, "data", Severity::Warning),
        ];
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn the_plan_counts_the_owned_alarms_after_it_and_what_they_cost() {
        let p = policy();
        let (a, b) = (running(A, "production"), running(B, "production"));
        // A has its pair; B has none, and one of its names is taken by a person's alarm.
        let mut observed = existing(&a);
        let mut foreign = existing(&b).remove(0);
        foreign.config.description = "Alice's alarm".into();
        observed.push(foreign);
        observed.extend(existing(&running("i-0000000000000000c", "production")));
        let plan = plan_alarms(&p, &[a, b], &observed);
        // A's two, and B's one that can be created; the orphan pair of c is deleted.
        assert_eq!((plan.alarms_after, plan.billed_metrics_after), (3, 3));
        assert_eq!(plan.monthly_cost_usd(0.10), 0.30);
        assert_eq!(plan.monthly_cost_usd(0.0), 0.0);
    }
}
