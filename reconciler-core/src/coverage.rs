//! How well the owned alarms protect the running, in-scope instances: the
//! audit's view of one account and Region, next to the plan that would fix it.

use std::collections::{HashMap, HashSet};

use crate::alarm::{ObservedAlarm, Severity};
use crate::desired::{desired_alarms, Desire};
use crate::ids::AlarmName;
use crate::instance::{InstanceState, Subject, UnixTime};
use crate::maintenance::{parse_mute_rule_name, MuteRuleStatus, ObservedMuteRule};
use crate::policy::Policy;

/// The protection of one running, in-scope instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// Every watched series has its warning and critical alarm (whether or
    /// not their configuration drifted).
    Covered,
    /// On the provisional pair: no discovered pair yet, or not all of them.
    Provisional,
    /// Some of its alarms, but neither all of them nor the provisional pair.
    Partial,
    /// No owned alarm at all.
    Unprotected,
}

/// Classifies one instance from the names of its desired alarms (`provisional`:
/// they are the provisional pair), its provisional pair's names, and the
/// names of the owned alarms observed for it.
pub fn judge(
    desired: &[&AlarmName],
    provisional: bool,
    provisional_pair: [&AlarmName; 2],
    owned: &HashSet<&AlarmName>,
) -> Coverage {
    if owned.is_empty() {
        Coverage::Unprotected
    } else if !provisional && desired.iter().all(|name| owned.contains(name)) {
        Coverage::Covered
    } else if provisional_pair.iter().all(|name| owned.contains(name)) {
        Coverage::Provisional
    } else {
        Coverage::Partial
    }
}

/// The counts of [`coverage`]; `covered + provisional + partial + unprotected = in_scope_running`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoverageCounts {
    pub instances_running: usize,
    pub in_scope_running: usize,
    pub covered: usize,
    pub provisional: usize,
    pub partial: usize,
    pub unprotected: usize,
}

impl CoverageCounts {
    /// Adds `other`'s counts: the counts of two sets of instances together.
    pub fn add_counts(&mut self, other: &Self) {
        let Self { instances_running, in_scope_running, covered, provisional, partial, unprotected } = other;
        self.instances_running += instances_running;
        self.in_scope_running += in_scope_running;
        self.covered += covered;
        self.provisional += provisional;
        self.partial += partial;
        self.unprotected += unprotected;
    }

    fn add(&mut self, coverage: Coverage) {
        match coverage {
            Coverage::Covered => self.covered += 1,
            Coverage::Provisional => self.provisional += 1,
            Coverage::Partial => self.partial += 1,
            Coverage::Unprotected => self.unprotected += 1,
        }
    }
}

/// Counts the running instances among `subjects`, and classifies each
/// running, in-scope one by the owned alarms among `observed` (name of that
/// instance and the ownership marker; an unowned alarm protects nothing we
/// answer for).
pub fn coverage(policy: &Policy, subjects: &[Subject], observed: &[ObservedAlarm]) -> CoverageCounts {
    let mut owned: HashMap<&str, HashSet<&AlarmName>> = HashMap::new();
    for alarm in observed.iter().filter(|a| a.config.has_ownership_marker()) {
        if let Some(parts) = policy.naming.split(&alarm.name) {
            owned.entry(parts.instance).or_default().insert(&alarm.name);
        }
    }
    let mut counts = CoverageCounts::default();
    let mut seen = HashSet::new();
    let none = HashSet::new();
    for subject in subjects {
        let Subject::Present(facts) = subject else { continue };
        if facts.state != InstanceState::Running || !seen.insert(&facts.id) {
            continue;
        }
        counts.instances_running += 1;
        let Desire::Alarms { alarms, provisional, .. } = desired_alarms(policy, subject) else { continue };
        counts.in_scope_running += 1;
        let desired: Vec<&AlarmName> = alarms.iter().map(|a| &a.name).collect();
        let [warning, critical] = Severity::PAIR.map(|s| policy.naming.provisional_alarm_name(&facts.id, s));
        let owned = owned.get(facts.id.as_str()).unwrap_or(&none);
        counts.add(judge(&desired, provisional, [&warning, &critical], owned));
    }
    counts
}

/// Mute rules of ours (names of exactly the shape this policy writes) whose
/// window is on at `now`.
pub fn active_mutes(policy: &Policy, rules: &[ObservedMuteRule], now: UnixTime) -> usize {
    rules
        .iter()
        .filter(|rule| rule.status == MuteRuleStatus::Active && !rule.has_expired(now))
        .filter(|rule| parse_mute_rule_name(policy, &rule.name).is_some())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> AlarmName {
        AlarmName::parse(text).unwrap()
    }

    /// (case, desired, provisional, owned, expected)
    type Case<'a> = (&'a str, &'a [&'a AlarmName], bool, &'a [&'a AlarmName], Coverage);

    #[test]
    fn each_instance_is_classified_by_the_alarms_it_has() {
        let [root_w, root_c, data_w, data_c, prov_w, prov_c, gone_w] = [
            "root-warning",
            "root-critical",
            "data-warning",
            "data-critical",
            "provisional-warning",
            "provisional-critical",
            "gone-warning",
        ]
        .map(name);
        let discovered = [&root_w, &root_c, &data_w, &data_c];
        let pair = [&prov_w, &prov_c];
        #[rustfmt::skip]
        let cases: [Case<'_>; 10] = [
            ("every discovered pair", &discovered, false, &discovered, Coverage::Covered),
            ("every pair, and the provisional pair not yet retired", &discovered, false, &[&root_w, &root_c, &data_w, &data_c, &prov_w], Coverage::Covered),
            ("every pair, and a pair of a series gone", &discovered, false, &[&root_w, &root_c, &data_w, &data_c, &gone_w], Coverage::Covered),
            ("no alarm at all", &discovered, false, &[], Coverage::Unprotected),
            ("no alarm, not publishing yet", &pair, true, &[], Coverage::Unprotected),
            ("not publishing yet, on its pair", &pair, true, &pair, Coverage::Provisional),
            ("publishing, still on the provisional pair", &discovered, false, &pair, Coverage::Provisional),
            ("one pair of two, and the provisional pair", &discovered, false, &[&root_w, &root_c, &prov_w, &prov_c], Coverage::Provisional),
            ("one pair of two", &discovered, false, &[&root_w, &root_c], Coverage::Partial),
            ("half the provisional pair", &pair, true, &[&prov_c], Coverage::Partial),
        ];
        for (case, desired, provisional, owned, expected) in cases {
            let owned: HashSet<&AlarmName> = owned.iter().copied().collect();
            assert_eq!(judge(desired, provisional, pair, &owned), expected, "{case}");
        }
    }

    #[test]
    fn only_the_alarms_of_stale_series_protect_nothing_complete() {
        let [old_w, prov_w, prov_c, root_w, root_c] =
            ["old-warning", "provisional-warning", "provisional-critical", "root-warning", "root-critical"]
                .map(name);
        let owned: HashSet<&AlarmName> = [&old_w].into_iter().collect();
        assert_eq!(judge(&[&root_w, &root_c], false, [&prov_w, &prov_c], &owned), Coverage::Partial);
    }

    #[test]
    fn an_account_is_counted_by_instance_and_only_owned_alarms_protect() {
        use crate::ids::InstanceId;
        use crate::policy::tests::{instance, policy};
        let policy = policy();
        let subject = |id: &str, env: &str, state: InstanceState| {
            let mut facts = instance(&[("Environment", env)]);
            facts.id = InstanceId::parse(id).unwrap();
            facts.state = state;
            Subject::Present(facts)
        };
        let (covered, bare, hand_made) =
            ("i-0000000000000000a", "i-0000000000000000b", "i-0000000000000000c");
        let subjects = [
            subject(covered, "production", InstanceState::Running),
            subject(bare, "production", InstanceState::Running),
            subject(hand_made, "production", InstanceState::Running),
            subject("i-0000000000000000d", "staging", InstanceState::Running),
            subject("i-0000000000000000e", "production", InstanceState::Stopped),
            Subject::Gone { id: InstanceId::parse("i-0000000000000000f").unwrap() },
        ];
        let mut observed: Vec<ObservedAlarm> = Vec::new();
        for (i, s) in subjects.iter().enumerate().take(3) {
            if let Desire::Alarms { alarms, .. } = desired_alarms(&policy, s) {
                for alarm in alarms.into_iter().filter(|_| i != 1) {
                    let mut config = alarm.config;
                    if i == 2 {
                        config.description = "made by hand".into();
                    }
                    observed.push(ObservedAlarm { name: alarm.name, config, arn: None, state: None });
                }
            }
        }
        let counts = coverage(&policy, &subjects, &observed);
        // Instances without a published series are on the provisional pair when they have it.
        let expected = CoverageCounts {
            instances_running: 4,
            in_scope_running: 3,
            covered: 0,
            provisional: 1,
            partial: 0,
            unprotected: 2,
        };
        assert_eq!(counts, expected);
    }

    #[test]
    fn only_our_active_mutes_count() {
        use crate::policy::tests::policy;
        let policy = policy();
        let ours = format!("{}i-0123456789abcdef0-{:016x}", crate::maintenance::mute_rule_prefix(&policy), 7);
        let rule = |name: &str, status: &str, expires: i64| ObservedMuteRule {
            name: name.to_owned(),
            status: MuteRuleStatus::parse(status),
            expires: Some(UnixTime(expires)),
        };
        let rules = [
            rule(&ours, "ACTIVE", 2_000),
            rule(&ours, "SCHEDULED", 2_000),
            rule(&ours, "ACTIVE", 500),
            rule("someone-elses-rule", "ACTIVE", 2_000),
        ];
        assert_eq!(active_mutes(&policy, &rules, UnixTime(1_000)), 1);
    }
}
