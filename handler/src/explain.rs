//! `alarmctl explain`: everything the reconciler would look at and decide
//! for one instance, through the `Observer` alone and the core's plan,
//! writing nothing. The `render` module prints it.

use reconciler_core::{
    desired_alarms, plan, silent_alarms, ClassifiedSeries, Desire, InstanceFacts, InstanceId, MuteRulesSeen,
    ObservedAlarm, PassInput, Plan, ScopeDecision, SilenceReason, Subject, UnixTime,
};
use serde::Serialize;

use crate::config::Config;
use crate::observe::Observer;
use crate::ports::{CloudWatchReads, Inventory, ObservedMuteRule, PortError};

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub instance: InstanceId,
    /// `None` when the EC2 API does not know the instance.
    pub facts: Option<InstanceFacts>,
    pub scope: Option<ScopeDecision>,
    pub desired: Desire,
    /// The instance's published disk series and what happens to each.
    pub series: Vec<ClassifiedSeries>,
    pub actual: Vec<ActualAlarm>,
    /// What a pass over this instance would change.
    pub plan: Plan,
    /// Maintenance mute rules for the instance's alarms, or why they could not be listed.
    pub mutes: Result<Vec<ObservedMuteRule>, String>,
}

#[derive(Debug, Serialize)]
pub struct ActualAlarm {
    pub owned: bool,
    /// Set when the alarm is silent: the likely cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silent: Option<SilenceReason>,
    #[serde(flatten)]
    pub alarm: ObservedAlarm,
}

/// Observes one instance and plans it, without applying anything.
pub async fn explain<I: Inventory, C: CloudWatchReads>(
    config: &Config,
    observer: &Observer<I, C>,
    id: &InstanceId,
    now: UnixTime,
) -> Result<Explanation, PortError> {
    let policy = &config.policy;
    let seen = observer.one(config, id, now).await?;
    let subject = seen.subjects.into_iter().next().unwrap_or(Subject::Gone { id: id.clone() });
    let facts = match &subject {
        Subject::Present(facts) => Some(facts.clone()),
        Subject::Gone { .. } => None,
    };
    let platform = facts.as_ref().map(|f| f.platform).unwrap_or_default();
    let series = policy.profile(platform).series_verdicts(&seen.series);
    let observed = seen.alarms;
    let subjects = std::slice::from_ref(&subject);
    let listed = seen.mute_rules.as_ref().and_then(|rules| rules.as_ref().ok());
    let input = PassInput {
        mute_rules: listed.map(|listed| MuteRulesSeen { listed, read: &seen.mute_rule_reads }),
        ..PassInput::new(subjects, &observed, now)
    };
    let plan = plan(policy, &input);
    let silent = silent_alarms(policy, subjects, &observed, now, config.silent_after_seconds);
    Ok(Explanation {
        instance: id.clone(),
        scope: facts.as_ref().map(|f| policy.scope(f)),
        desired: desired_alarms(policy, &subject),
        series,
        actual: observed
            .into_iter()
            .map(|alarm| ActualAlarm {
                owned: policy.naming.parse(&alarm.name).is_some() && alarm.config.has_ownership_marker(),
                silent: silent.iter().find(|s| s.alarm == alarm.name).map(|s| s.reason),
                alarm,
            })
            .collect(),
        facts,
        plan,
        mutes: seen.mute_rules.unwrap_or(Ok(Vec::new())).map_err(|e| e.to_string()),
    })
}
