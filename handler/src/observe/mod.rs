//! Observe: the `Observer` holds the read ports only and returns what a pass
//! needs as one [`Observation`]. What to read is decided by
//! `reconciler_core::pass` (series, groups, follow-up readiness, the alarms
//! whose tags are read); the observer only reads it.

use std::collections::{BTreeMap, HashMap};

use reconciler_core::pass::{alarms_to_check_tags, instance_reads, needs_group};
use reconciler_core::series::series_by_instance;
use reconciler_core::{
    settle, AlarmName, AlarmTag, AutoScalingGroup, InstanceFacts, InstanceId, MetricSeries, ObservedAlarm,
    Platform, Settlement, Subject, UnixTime,
};
use tracing::{info_span, warn, Instrument};

mod follow_up;
mod mutes;

pub use follow_up::{FollowUpProbe, FOLLOW_UP_PER_INSTANCE_LISTINGS};
pub use mutes::MuteRulesObserved;

use crate::config::Config;
use crate::event::Target;
use crate::ports::{CloudWatchReads, Inventory, MuteRuleRead, ObservedMuteRule, PortError};

/// The read ports of one account and Region.
pub struct Observer<I, C> {
    pub inventory: I,
    /// CloudWatch: alarms, published series, mute rules and alarm tags.
    pub cloudwatch: C,
}

/// What a pass read, as one value: the instances (settled against the
/// events' claims, with their groups and published series where the policy
/// needs them), the owned alarms, and whatever the pass asked for besides.
/// Read failures are part of it, typed: each pass decides what a missing
/// piece means.
#[derive(Debug, Default)]
pub struct Observation {
    pub subjects: Vec<Subject>,
    pub alarms: Vec<ObservedAlarm>,
    /// The series listed by instance for `explain`, whatever the instance's scope.
    pub series: Vec<MetricSeries>,
    /// Mute rules of ours, when the pass asked for them.
    pub mute_rules: Option<Result<Vec<ObservedMuteRule>, PortError>>,
    /// Those of them in force, read in full, when the pass asked for them.
    pub mute_rule_reads: Vec<MuteRuleRead>,
    /// Rules that could not be read in full: they are left as they are.
    pub mute_rule_failures: Vec<ReadFailure>,
    /// The tags of the owned alarms the policy wants, when the pass asked for them.
    pub alarm_tags: Option<BTreeMap<AlarmName, Vec<AlarmTag>>>,
    /// Tag reads that failed: those alarms are left as they are.
    pub alarm_tag_failures: Vec<ReadFailure>,
    /// What could not be read or settled, by instance where it is known. An
    /// instance among them is not among `subjects`.
    pub failures: Vec<ReadFailure>,
}

/// A read that failed, and of what.
#[derive(Debug, Clone)]
pub struct ReadFailure {
    pub instance: Option<InstanceId>,
    pub alarm: Option<String>,
    pub error: ReadError,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Port(#[from] PortError),
    /// The event and the EC2 API disagree, and the API may not have caught up yet.
    #[error("state not settled: {reason}")]
    NotSettled { reason: String },
    #[error("DescribeAlarms gave no AlarmArn")]
    NoAlarmArn,
}

impl ReadError {
    pub fn retryable(&self) -> bool {
        match self {
            Self::Port(error) => error.retryable(),
            Self::NotSettled { .. } => true,
            Self::NoAlarmArn => false,
        }
    }
}

impl ReadFailure {
    fn port(instance: Option<&InstanceId>, error: PortError) -> Self {
        Self { instance: instance.cloned(), alarm: None, error: ReadError::Port(error) }
    }
}

/// What the sweep's observation includes besides instances, alarms and series.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountReads {
    /// Our mute rules (expired ones are removed; the fleet view counts active ones).
    pub mute_rules: bool,
    /// Also read in full every rule of ours in force at this time (the
    /// sweep repairs them), one `GetAlarmMuteRule` each.
    pub mute_rules_in_force_at: Option<UnixTime>,
    /// The tags of every owned alarm the policy wants (`sweep --retag`).
    pub alarm_tags: bool,
}

impl<I: Inventory, C: CloudWatchReads> Observer<I, C> {
    pub fn new(inventory: I, cloudwatch: C) -> Self {
        Self { inventory, cloudwatch }
    }

    /// The event path's reads: the named instances, each settled against
    /// its event's claim, and the owned alarms and series of each. An
    /// instance whose reads fail is left out, with its failures: deciding
    /// without all of them could delete the alarms of a filesystem that is
    /// still there.
    pub async fn targets(&self, config: &Config, targets: &[Target], now: UnixTime) -> Observation {
        let mut seen = Observation::default();
        let ids: Vec<InstanceId> = targets.iter().map(|t| t.instance.clone()).collect();
        let facts = match self.instances(config, &ids).await {
            Ok(facts) => facts,
            Err(error) => {
                seen.failures = ids.iter().map(|id| ReadFailure::port(Some(id), error.clone())).collect();
                return seen;
            }
        };
        let mut facts: HashMap<InstanceId, _> = facts.into_iter().map(|f| (f.id.clone(), f)).collect();
        for target in targets {
            let id = &target.instance;
            let window = config.consistency_window_seconds;
            let subject = match settle(id, target.claim, facts.remove(id), now, window) {
                Settlement::Settled(subject) => subject,
                Settlement::NotSettled { reason } => {
                    warn!(instance = %id, %reason, "instance state not settled; will be retried");
                    let error = ReadError::NotSettled { reason };
                    seen.failures.push(ReadFailure { instance: Some(id.clone()), alarm: None, error });
                    continue;
                }
            };
            let naming = &config.policy.naming;
            let (own_prefix, provisional_prefix) =
                (naming.instance_prefix(id), naming.provisional_instance_prefix(id));
            // One span per instance: its reads (and the SDK's retries) log under its id.
            let span = info_span!("instance", instance = %id);
            let (filesystem_alarms, provisional_alarms, subject) = async {
                tokio::join!(
                    self.cloudwatch.alarms_with_prefix(&own_prefix),
                    self.cloudwatch.alarms_with_prefix(&provisional_prefix),
                    self.with_series(config, subject),
                )
            }
            .instrument(span)
            .await;
            match (filesystem_alarms, provisional_alarms, subject) {
                (Ok(filesystem_alarms), Ok(provisional_alarms), Ok(subject)) => {
                    seen.alarms.extend(filesystem_alarms);
                    seen.alarms.extend(provisional_alarms);
                    seen.subjects.push(subject);
                }
                (filesystem_alarms, provisional_alarms, subject) => {
                    let errors = [filesystem_alarms.err(), provisional_alarms.err(), subject.err()];
                    for error in errors.into_iter().flatten() {
                        seen.failures.push(ReadFailure::port(Some(id), error));
                    }
                }
            }
        }
        seen
    }

    /// The sweep's reads: every instance, every alarm under the owned prefix
    /// and, in one account-wide listing (pages of 500) instead of a call per
    /// instance, every published series; then the groups the policy needs,
    /// and what `reads` asks for besides. The listings run concurrently.
    pub async fn account(&self, config: &Config, reads: AccountReads) -> Observation {
        self.account_from(config, reads, self.inventory.all_instances()).await
    }

    /// [`Self::account`] with the instances from `instances` (already read,
    /// or being read), listed concurrently with the rest.
    pub async fn account_from(
        &self,
        config: &Config,
        reads: AccountReads,
        instances: impl std::future::Future<Output = Result<Vec<InstanceFacts>, PortError>>,
    ) -> Observation {
        let mut seen = Observation::default();
        let policy = &config.policy;
        let (linux, windows) = (&policy.linux, &policy.windows);
        let (instances, alarms, linux_series, windows_series, mute_rules) = tokio::join!(
            instances,
            self.cloudwatch.alarms_with_prefix(policy.naming.prefix()),
            self.cloudwatch.published_series(&linux.namespace, &linux.metric_name, None),
            self.cloudwatch.published_series(&windows.namespace, &windows.metric_name, None),
            async {
                match reads.mute_rules {
                    true => Some(self.owned_mute_rules(config).await),
                    false => None,
                }
            },
        );
        if let (Some(now), Some(Ok(listed))) = (reads.mute_rules_in_force_at, &mute_rules) {
            (seen.mute_rule_reads, seen.mute_rule_failures) =
                self.read_mute_rules(config, listed, None, now).await;
        }
        seen.mute_rules = mute_rules;
        let (mut instances, alarms, linux_series, windows_series) =
            match (instances, alarms, linux_series, windows_series) {
                (Ok(instances), Ok(alarms), Ok(linux), Ok(windows)) => (instances, alarms, linux, windows),
                (instances, alarms, linux, windows) => {
                    let errors = [instances.err(), alarms.err(), linux.err(), windows.err()];
                    seen.failures.extend(errors.into_iter().flatten().map(|e| ReadFailure::port(None, e)));
                    return seen;
                }
            };
        let (mut linux_series, mut windows_series) =
            (series_by_instance(linux_series), series_by_instance(windows_series));
        for facts in &mut instances {
            let by_instance = match facts.platform {
                Platform::Linux => &mut linux_series,
                Platform::Windows => &mut windows_series,
            };
            facts.series = Some(by_instance.remove(facts.id.as_str()).unwrap_or_default());
        }
        if let Err(error) = self.attach_groups(config, &mut instances).await {
            seen.failures.push(ReadFailure::port(None, error));
            return seen;
        }
        seen.subjects = instances.into_iter().map(Subject::Present).collect();
        seen.alarms = alarms;
        if reads.alarm_tags {
            self.read_alarm_tags(config, &mut seen).await;
        }
        seen
    }

    /// The tags of the owned alarms the policy wants, one call each.
    async fn read_alarm_tags(&self, config: &Config, seen: &mut Observation) {
        let mut tags = BTreeMap::new();
        for (instance, alarm) in alarms_to_check_tags(&config.policy, &seen.subjects, &seen.alarms) {
            let failure = |error| ReadFailure { instance: Some(instance.clone()), alarm: None, error };
            let Some(arn) = alarm.arn.as_deref() else {
                let mut failure = failure(ReadError::NoAlarmArn);
                failure.alarm = Some(alarm.name.to_string());
                seen.alarm_tag_failures.push(failure);
                continue;
            };
            match self.cloudwatch.alarm_tags(arn).await {
                Ok(current) => {
                    tags.insert(alarm.name.clone(), current);
                }
                Err(error) => {
                    let mut failure = failure(ReadError::Port(error));
                    failure.alarm = Some(arn.to_owned());
                    seen.alarm_tag_failures.push(failure);
                }
            }
        }
        seen.alarm_tags = Some(tags);
    }

    /// Everything `explain` shows of one instance: its facts with its group,
    /// its owned alarms, the series it publishes whatever its scope, and its
    /// mute rules (a failure to list those is shown, not fatal).
    pub async fn one(
        &self,
        config: &Config,
        id: &InstanceId,
        now: UnixTime,
    ) -> Result<Observation, PortError> {
        let policy = &config.policy;
        let mut facts = self.instances(config, std::slice::from_ref(id)).await?.into_iter().next();
        let mut alarms = self.cloudwatch.alarms_with_prefix(&policy.naming.instance_prefix(id)).await?;
        let provisional_prefix = policy.naming.provisional_instance_prefix(id);
        alarms.extend(self.cloudwatch.alarms_with_prefix(&provisional_prefix).await?);
        let metric = policy.profile(facts.as_ref().map(|f| f.platform).unwrap_or_default());
        // Without them the desired alarms would be the provisional pair: an explanation that misleads.
        let series =
            self.cloudwatch.published_series(&metric.namespace, &metric.metric_name, Some(id)).await?;
        if let Some(facts) = &mut facts {
            facts.series = Some(series.clone());
        }
        // Rules are named `<prefix>mute-<instance>-<event hash>`.
        let mute_prefix = format!("{}{id}-", reconciler_core::maintenance::mute_rule_prefix(policy));
        let mute_rules = self.cloudwatch.mute_rules(&mute_prefix, None).await;
        let (mute_rule_reads, mute_rule_failures) = match &mute_rules {
            Ok(listed) => self.read_mute_rules(config, listed, Some(std::slice::from_ref(id)), now).await,
            Err(_) => Default::default(),
        };
        Ok(Observation {
            subjects: vec![facts.map_or(Subject::Gone { id: id.clone() }, Subject::Present)],
            alarms,
            series,
            mute_rules: Some(mute_rules),
            mute_rule_reads,
            mute_rule_failures,
            ..Observation::default()
        })
    }

    /// Lists the instance's published disk series when the core says it needs them.
    async fn with_series(&self, config: &Config, mut subject: Subject) -> Result<Subject, PortError> {
        let policy = &config.policy;
        if let Subject::Present(facts) = &mut subject {
            if instance_reads(policy, facts).series {
                let metric = policy.profile(facts.platform);
                let series = self
                    .cloudwatch
                    .published_series(&metric.namespace, &metric.metric_name, Some(&facts.id))
                    .await?;
                facts.series = Some(series);
            }
        }
        Ok(subject)
    }

    /// The instances among `ids` the API knows, with the Auto Scaling groups the policy needs.
    pub async fn instances(
        &self,
        config: &Config,
        ids: &[InstanceId],
    ) -> Result<Vec<InstanceFacts>, PortError> {
        let mut facts = self.inventory.describe_instances(ids).await?;
        self.attach_groups(config, &mut facts).await?;
        Ok(facts)
    }

    /// Attaches its Auto Scaling group, with the group's tags, to each
    /// instance the core says needs it. Membership comes from the
    /// `aws:autoscaling:groupName` tag, or, without it, from
    /// `DescribeAutoScalingInstances` in batches of 50.
    async fn attach_groups(&self, config: &Config, facts: &mut [InstanceFacts]) -> Result<(), PortError> {
        let policy = &config.policy;
        let mut membership: HashMap<InstanceId, String> = facts
            .iter()
            .filter(|f| needs_group(policy, f))
            .filter_map(|f| Some((f.id.clone(), f.group_name_tag()?.to_owned())))
            .collect();
        let unknown: Vec<InstanceId> = facts
            .iter()
            .filter(|f| needs_group(policy, f) && f.group_name_tag().is_none())
            .map(|f| f.id.clone())
            .collect();
        if !unknown.is_empty() {
            membership.extend(self.inventory.groups_of(&unknown).await?);
        }
        if membership.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = membership.values().cloned().collect();
        names.sort();
        names.dedup();
        let groups: HashMap<String, AutoScalingGroup> =
            self.inventory.groups(&names).await?.into_iter().map(|g| (g.name.clone(), g)).collect();
        for f in facts.iter_mut() {
            if let Some(name) = membership.get(&f.id) {
                // A group deleted since the lookup still names the dimension; it has no tags to lend.
                let group = groups
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| AutoScalingGroup { name: name.clone(), tags: BTreeMap::new() });
                f.group = Some(group);
            }
        }
        Ok(())
    }
}
