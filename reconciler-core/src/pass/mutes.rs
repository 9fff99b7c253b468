//! Mute rules that hold between writes: a rule of ours names exactly its
//! instance's current alarms, in as many rules as the 100-name limit needs.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::PassInput;
use crate::desired::{desired_alarms, Desire};
use crate::ids::{AlarmName, InstanceId};
use crate::instance::Subject;
use crate::mute_rules::{parse_rule_part, rule_parts, MuteRule, MuteRuleRead, RulePart, MAX_MUTE_TARGETS};
use crate::plan::{MuteChange, Plan, Precondition};
use crate::policy::Policy;

/// The instances whose mute rules a pass reads in full before it plans:
/// those whose alarm names the pass changes and that already have owned
/// alarms (a rule of ours can only name alarms that existed when it was written).
pub fn instances_to_review_mutes(policy: &Policy, input: &PassInput<'_>) -> Vec<InstanceId> {
    let mut owned: HashMap<&str, Vec<&AlarmName>> = HashMap::new();
    for alarm in input.alarms.iter().filter(|a| a.config.has_ownership_marker()) {
        if let Some(parts) = policy.naming.split(&alarm.name) {
            owned.entry(parts.instance).or_default().push(&alarm.name);
        }
    }
    let mut review = Vec::new();
    for subject in input.subjects {
        let Some(mut names) = owned.remove(subject.id().as_str()) else { continue };
        names.sort();
        let mut wanted: Vec<AlarmName> = match desired_alarms(policy, subject) {
            Desire::Alarms { alarms, .. } => alarms.into_iter().map(|a| a.name).collect(),
            Desire::None { .. } => Vec::new(),
        };
        wanted.sort();
        if !names.iter().copied().eq(wanted.iter()) {
            review.push(subject.id().clone());
        }
    }
    review
}

/// The listed rules of ours a pass reads in full (`GetAlarmMuteRule`):
/// every one still in force (scheduled or active) of `instances`, or of
/// every instance when `instances` is `None` (the sweep).
pub fn mute_rules_to_read(
    policy: &Policy,
    listed: &[crate::mute_rules::ObservedMuteRule],
    instances: Option<&[InstanceId]>,
    now: crate::instance::UnixTime,
) -> Vec<String> {
    listed
        .iter()
        .filter(|rule| !rule.has_expired(now))
        .filter(|rule| match (parse_rule_part(policy, &rule.name), instances) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(part), Some(instances)) => instances.contains(&part.instance),
        })
        .map(|rule| rule.name.clone())
        .collect()
}

/// Puts the parts of a maintenance rule and deletes the listed parts it no
/// longer needs. Returns the rule's stem, which the review then leaves alone.
pub(super) fn put_rule(
    policy: &Policy,
    plan: &mut Plan,
    input: &PassInput<'_>,
    rule: MuteRule,
    reason: &str,
) -> String {
    let parts = rule_parts(&rule);
    let count = parts.len();
    for (index, part) in parts.into_iter().enumerate() {
        let reason = match count {
            1 => reason.to_owned(),
            n => format!("{reason} (rule {} of {n}: at most {MAX_MUTE_TARGETS} alarms to a rule)", index + 1),
        };
        plan.mutes.push(MuteChange::Put {
            rule: part,
            reason,
            precondition: Some(Precondition::InstanceWritesSucceeded),
        });
    }
    for (name, part) in listed_parts(policy, input, &rule.name) {
        if part >= count {
            let reason = "no longer needed: the instance's alarms fit in fewer rules".to_owned();
            plan.mutes.push(MuteChange::Delete { rule: name, instance: rule.instance.clone(), reason });
        }
    }
    rule.name
}

/// Deletes a maintenance rule and every listed part of it.
pub(super) fn delete_rule(
    policy: &Policy,
    plan: &mut Plan,
    input: &PassInput<'_>,
    base: &str,
    instance: &InstanceId,
    reason: &str,
) {
    let mut names: Vec<String> = vec![base.to_owned()];
    names.extend(
        listed_parts(policy, input, base).into_iter().filter(|(_, part)| *part > 0).map(|(name, _)| name),
    );
    for rule in names {
        plan.mutes.push(MuteChange::Delete { rule, instance: instance.clone(), reason: reason.to_owned() });
    }
}

/// The listed rules that are parts of `base`, with their part numbers.
fn listed_parts(policy: &Policy, input: &PassInput<'_>, base: &str) -> Vec<(String, usize)> {
    let Some(seen) = input.mute_rules else { return Vec::new() };
    seen.listed
        .iter()
        .filter_map(|rule| {
            let parsed = parse_rule_part(policy, &rule.name)?;
            (parsed.base == base).then(|| (rule.name.clone(), parsed.part))
        })
        .collect()
}

/// Rewrites the rules read in full so that each names exactly its
/// instance's current alarms, and deletes those whose instance has none.
/// Rules whose stem is in `handled` were just written by the pass itself.
pub(super) fn review_rules(
    policy: &Policy,
    input: &PassInput<'_>,
    handled: &HashSet<String>,
    plan: &mut Plan,
) {
    let Some(seen) = input.mute_rules else { return };
    let read: HashMap<&str, &MuteRuleRead> = seen.read.iter().map(|r| (r.name.as_str(), r)).collect();
    // The rules read in full, with every listed part of theirs, by stem.
    let mut groups: BTreeMap<String, (InstanceId, Vec<(usize, String)>)> = BTreeMap::new();
    for rule in seen.listed.iter().filter(|r| !r.has_expired(input.now)) {
        let Some(RulePart { instance, base, part }) = parse_rule_part(policy, &rule.name) else { continue };
        groups.entry(base).or_insert_with(|| (instance, Vec::new())).1.push((part, rule.name.clone()));
    }
    groups.retain(|base, (_, parts)| {
        !handled.contains(base) && parts.iter().any(|(_, name)| read.contains_key(name.as_str()))
    });
    let subjects: HashMap<&InstanceId, &Subject> = input.subjects.iter().map(|s| (s.id(), s)).collect();
    for (base, (instance, mut parts)) in groups {
        parts.sort();
        let wanted = match subjects.get(&instance) {
            Some(subject) => match desired_alarms(policy, subject) {
                Desire::Alarms { alarms, .. } => Ok(alarms.into_iter().map(|a| a.name).collect::<Vec<_>>()),
                Desire::None { reason } => Err(format!("its instance has no alarms now ({reason})")),
            },
            None if input.whole_account => Err("its instance no longer exists".to_owned()),
            None => continue,
        };
        let wanted = match wanted {
            Ok(wanted) => wanted,
            Err(reason) => {
                for (_, rule) in parts {
                    plan.mutes.push(MuteChange::Delete {
                        rule,
                        instance: instance.clone(),
                        reason: reason.clone(),
                    });
                }
                continue;
            }
        };
        // The window and description of the rules as written: the first part read.
        let Some(template) = parts.iter().find_map(|(_, name)| read.get(name.as_str())) else { continue };
        let Some(window) = template.window else {
            plan.notes.push((
                instance,
                format!("mute rule {} has a schedule this product does not write; left alone", template.name),
            ));
            continue;
        };
        let rule = MuteRule {
            name: base.clone(),
            instance: instance.clone(),
            alarms: wanted,
            window,
            description: template.description.clone(),
        };
        let new_parts = rule_parts(&rule);
        for part in &new_parts {
            let index = parts.iter().position(|(_, name)| *name == part.name);
            let current = index.and_then(|i| read.get(parts[i].1.as_str()));
            let mut names = current.map(|r| r.alarms.clone()).unwrap_or_default();
            names.sort();
            let mut wanted = part.alarms.clone();
            wanted.sort();
            if current.is_some() && names == wanted {
                continue;
            }
            let reason = match current {
                Some(_) => "rewritten to name exactly the instance's current alarms",
                None => "added: the instance's current alarms need one more rule",
            };
            plan.mutes.push(MuteChange::Put {
                rule: part.clone(),
                reason: reason.to_owned(),
                precondition: Some(Precondition::InstanceWritesSucceeded),
            });
        }
        for (part, rule) in parts {
            if part >= new_parts.len() {
                let reason = "no longer needed: the instance's alarms fit in fewer rules".to_owned();
                plan.mutes.push(MuteChange::Delete { rule, instance: instance.clone(), reason });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::{Dimension, ObservedAlarm};
    use crate::instance::{InstanceState, UnixTime};
    use crate::maintenance::{HealthStatus, MaintenanceNotice, MaintenanceSettings};
    use crate::mute_rules::{mute_rule_name, MuteRuleStatus, MuteWindow, ObservedMuteRule};
    use crate::pass::{plan, MuteRulesSeen};
    use crate::policy::tests::{instance, policy};
    use crate::series::MetricSeries;

    const NOW: i64 = 1_795_000_000 - 1_795_000_000 % 60;
    const ARN: &str = "arn:aws:health:eu-west-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/x";

    /// A running production instance publishing `filesystems` mounts (`/m0`, `/m1`, …).
    fn with_filesystems(filesystems: usize) -> Subject {
        let mut facts = instance(&[("Environment", "production")]);
        let series = (0..filesystems).map(|n| {
            MetricSeries::new(vec![
                Dimension::new("InstanceId", facts.id.as_str()),
                Dimension::new("path", format!("/m{n}")),
                Dimension::new("device", "nvme1n1"),
                Dimension::new("fstype", "xfs"),
            ])
        });
        facts.series = Some(series.collect());
        Subject::Present(facts)
    }

    fn existing(subject: &Subject) -> Vec<ObservedAlarm> {
        match desired_alarms(&policy(), subject) {
            Desire::Alarms { alarms, .. } => alarms
                .into_iter()
                .map(|a| ObservedAlarm { name: a.name, config: a.config, arn: None, state: None })
                .collect(),
            Desire::None { .. } => Vec::new(),
        }
    }

    fn notice() -> MaintenanceNotice {
        MaintenanceNotice {
            event_arn: ARN.into(),
            event_type: "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED".into(),
            status: Some(HealthStatus::Upcoming),
            start: UnixTime(NOW + 86_400),
            end: Some(UnixTime(NOW + 90_000)),
            instances: vec![InstanceId::parse("i-0123456789abcdef0").unwrap()],
        }
    }

    fn listed(name: &str) -> ObservedMuteRule {
        ObservedMuteRule {
            name: name.to_owned(),
            status: MuteRuleStatus::Scheduled,
            expires: Some(UnixTime(NOW + 90_000)),
        }
    }

    fn window() -> MuteWindow {
        MuteWindow { start: UnixTime(NOW + 86_400), end: UnixTime(NOW + 90_000) }
    }

    fn summary(plan: &Plan) -> Vec<(String, String, usize)> {
        plan.mutes
            .iter()
            .map(|change| match change {
                MuteChange::Put { rule, .. } => ("put".into(), rule.name.clone(), rule.alarms.len()),
                MuteChange::Delete { rule, .. } => ("delete".into(), rule.clone(), 0),
            })
            .collect()
    }

    #[test]
    fn an_instance_with_more_alarms_than_a_rule_may_name_gets_several_rules() {
        let p = policy();
        let base = mute_rule_name(&p, ARN, &InstanceId::parse("i-0123456789abcdef0").unwrap());
        let subject = with_filesystems(60);
        let alarms = existing(&subject);
        assert_eq!(alarms.len(), 120);
        let notice = notice();
        let settings = MaintenanceSettings::default();
        let subjects = [subject];
        let input = PassInput {
            maintenance: Some((&notice, &settings)),
            ..PassInput::new(&subjects, &alarms, UnixTime(NOW))
        };
        let first = plan(&p, &input);
        assert!(first.changes.is_empty(), "the alarms exist");
        assert!(!first.is_empty(), "mute changes alone are something to write");
        assert_eq!(
            summary(&first),
            [("put".into(), base.clone(), 100), ("put".into(), format!("{base}-2"), 20)]
        );
        let named: HashSet<&AlarmName> = first
            .mutes
            .iter()
            .flat_map(|c| match c {
                MuteChange::Put { rule, .. } => rule.alarms.iter(),
                MuteChange::Delete { .. } => [].iter(),
            })
            .collect();
        assert_eq!(named.len(), 120, "every alarm muted once");

        // Fewer filesystems: one rule is enough, and the second goes.
        let smaller = [with_filesystems(30)];
        let fewer = existing(&smaller[0]);
        let rules = [listed(&base), listed(&format!("{base}-2"))];
        let input = PassInput {
            maintenance: Some((&notice, &settings)),
            mute_rules: Some(MuteRulesSeen { listed: &rules, read: &[] }),
            ..PassInput::new(&smaller, &fewer, UnixTime(NOW))
        };
        assert_eq!(
            summary(&plan(&p, &input)),
            [("put".into(), base.clone(), 60), ("delete".into(), format!("{base}-2"), 0)]
        );
    }

    #[test]
    fn a_rule_is_rewritten_to_name_the_current_alarms_and_removed_with_them() {
        let p = policy();
        let id = InstanceId::parse("i-0123456789abcdef0").unwrap();
        let base = mute_rule_name(&p, ARN, &id);
        let provisional = with_filesystems(0);
        let rule_read = |alarms: Vec<AlarmName>| MuteRuleRead {
            name: base.clone(),
            alarms,
            window: Some(window()),
            description: "Mutes the disk alarms".into(),
        };
        let old_names: Vec<AlarmName> = existing(&provisional).into_iter().map(|a| a.name).collect();
        let rules = [listed(&base)];
        let reads = [rule_read(old_names.clone())];
        let seen = Some(MuteRulesSeen { listed: &rules, read: &reads });

        // The follow-up replaced the provisional pair with the / and /m1 pairs.
        let now_publishing = [with_filesystems(2)];
        let observed = existing(&provisional);
        let input =
            PassInput { mute_rules: seen, ..PassInput::new(&now_publishing, &observed, UnixTime(NOW)) };
        assert_eq!(instances_to_review_mutes(&p, &input), std::slice::from_ref(&id));
        let result = plan(&p, &input);
        assert_eq!(summary(&result)[..], [("put".to_owned(), base.clone(), 4)]);
        let MuteChange::Put { rule, precondition, .. } = &result.mutes[0] else { unreachable!() };
        assert_eq!((rule.window, *precondition), (window(), Some(Precondition::InstanceWritesSucceeded)));
        assert!(rule.alarms.iter().all(|a| !old_names.contains(a)), "no name of the old pair");

        // Already right: nothing to write.
        let current: Vec<AlarmName> = existing(&now_publishing[0]).into_iter().map(|a| a.name).collect();
        let reads = [rule_read(current)];
        let observed = existing(&now_publishing[0]);
        let seen = Some(MuteRulesSeen { listed: &rules, read: &reads });
        let input =
            PassInput { mute_rules: seen, ..PassInput::new(&now_publishing, &observed, UnixTime(NOW)) };
        assert!(instances_to_review_mutes(&p, &input).is_empty());
        assert!(plan(&p, &input).mutes.is_empty());

        // Stopped: its alarms go, and so does the rule naming them.
        let Subject::Present(mut facts) = now_publishing[0].clone() else { unreachable!() };
        facts.state = InstanceState::Stopped;
        let stopped = [Subject::Present(facts)];
        let input = PassInput { mute_rules: seen, ..PassInput::new(&stopped, &observed, UnixTime(NOW)) };
        assert_eq!(summary(&plan(&p, &input)), [("delete".to_owned(), base.clone(), 0)]);

        // The sweep sees every instance: a rule of an instance that is gone goes.
        let input = PassInput {
            mute_rules: seen,
            whole_account: true,
            ..PassInput::new(&[], &observed, UnixTime(NOW))
        };
        assert_eq!(summary(&plan(&p, &input)), [("delete".to_owned(), base.clone(), 0)]);
        // An event pass about other instances leaves it alone.
        let input = PassInput { mute_rules: seen, ..PassInput::new(&[], &observed, UnixTime(NOW)) };
        assert!(plan(&p, &input).mutes.is_empty());
    }

    #[test]
    fn only_rules_in_force_of_the_instances_under_review_are_read() {
        let p = policy();
        let a = InstanceId::parse("i-0123456789abcdef0").unwrap();
        let b = InstanceId::parse("i-0fedcba9876543210").unwrap();
        let (rule_a, rule_b) = (mute_rule_name(&p, ARN, &a), mute_rule_name(&p, ARN, &b));
        let mut expired = listed(&format!("{rule_a}-2"));
        expired.status = MuteRuleStatus::Expired;
        let rules = [listed(&rule_a), listed(&rule_b), expired, listed("someone-elses-rule")];
        let in_force = mute_rules_to_read(&p, &rules, Some(std::slice::from_ref(&a)), UnixTime(NOW));
        assert_eq!(in_force, std::slice::from_ref(&rule_a));
        assert_eq!(mute_rules_to_read(&p, &rules, None, UnixTime(NOW)), [rule_a, rule_b]);
    }

    #[test]
    fn rule_parts_are_named_after_the_first_rule() {
        let p = policy();
        let a = InstanceId::parse("i-0123456789abcdef0").unwrap();
        let base = mute_rule_name(&p, ARN, &a);
        for (name, expected) in [
            (base.clone(), Some(0)),
            (format!("{base}-2"), Some(1)),
            (format!("{base}-12"), Some(11)),
            (format!("{base}-1"), None),
            (format!("{base}-02"), None),
            (format!("{base}-x"), None),
            ("ec2-disk-mute-i-0123456789abcdef0".to_owned(), None),
        ] {
            let parsed = parse_rule_part(&p, &name);
            assert_eq!(parsed.as_ref().map(|r| r.part), expected, "{name}");
            if let Some(parsed) = parsed {
                assert_eq!((parsed.instance, parsed.base.as_str()), (a.clone(), base.as_str()));
            }
        }
    }
}
