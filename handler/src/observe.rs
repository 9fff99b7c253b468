//! Observe: what the passes read before deciding. Reading never writes.

use std::collections::{BTreeMap, HashMap};

use reconciler_core::{
    settle, AlarmConfig, AutoScalingGroup, InstanceFacts, InstanceId, InstanceState, MetricSeries,
    ObservedAlarm, Platform, Settlement, Subject, UnixTime,
};
use tracing::{info_span, warn, Instrument};

use crate::event::Target;
use crate::ports::{AlarmStore, Inventory, ObservedMuteRule, PortError};
use crate::reconcile::{Reconciler, FOLLOW_UP_PER_INSTANCE_LISTINGS};
use crate::report::Failure;

/// What a pass read, as one value: the instances (settled against the
/// events' claims, with their groups and published series where the policy
/// needs them), the owned alarms, and whatever a pass asked for besides.
/// Read failures are part of it: each pass decides what a missing piece means.
#[derive(Debug, Default)]
pub struct Observation {
    pub subjects: Vec<Subject>,
    pub alarms: Vec<ObservedAlarm>,
    /// The series listed by instance for `explain`, whatever the instance's scope.
    pub series: Vec<MetricSeries>,
    /// The instance's mute rules, when asked for (`explain`).
    pub mutes: Option<Result<Vec<ObservedMuteRule>, PortError>>,
    /// What could not be read or settled, by instance where it is known.
    pub failures: Vec<Failure>,
}

impl<I: Inventory, A: AlarmStore> Reconciler<I, A> {
    /// The event path's reads: the named instances, each settled against
    /// its event's claim, and the owned alarms and series of each. An
    /// instance whose reads fail is left out, with its failures: deciding
    /// without all of them could delete the alarms of a filesystem that is
    /// still there.
    pub(crate) async fn observe_targets(&self, targets: &[Target], now: UnixTime) -> Observation {
        let mut seen = Observation::default();
        let ids: Vec<InstanceId> = targets.iter().map(|t| t.instance.clone()).collect();
        let facts = match self.observe_instances(&ids).await {
            Ok(facts) => facts,
            Err(error) => {
                seen.failures = ids.iter().map(|id| Failure::from_port(Some(id), None, &error)).collect();
                return seen;
            }
        };
        let mut facts: HashMap<InstanceId, _> = facts.into_iter().map(|f| (f.id.clone(), f)).collect();
        for target in targets {
            let id = &target.instance;
            let window = self.config.consistency_window_seconds;
            let subject = match settle(id, target.claim, facts.remove(id), now, window) {
                Settlement::Settled(subject) => subject,
                Settlement::NotSettled { reason } => {
                    warn!(instance = %id, %reason, "instance state not settled; will be retried");
                    seen.failures.push(Failure {
                        instance: Some(id.clone()),
                        alarm: None,
                        error: format!("state not settled: {reason}"),
                        retryable: true,
                    });
                    continue;
                }
            };
            let naming = &self.config.policy.naming;
            let (own_prefix, provisional_prefix) =
                (naming.instance_prefix(id), naming.provisional_instance_prefix(id));
            // One span per instance: its reads (and the SDK's retries) log under its id.
            let span = info_span!("instance", instance = %id);
            let (filesystem_alarms, provisional_alarms, subject) = async {
                tokio::join!(
                    self.alarms.alarms_with_prefix(&own_prefix),
                    self.alarms.alarms_with_prefix(&provisional_prefix),
                    self.with_series(subject),
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
                    for error in errors.iter().flatten() {
                        seen.failures.push(Failure::from_port(Some(id), None, error));
                    }
                }
            }
        }
        seen
    }

    /// The sweep's reads: every instance, every alarm under the owned prefix
    /// and, in one account-wide listing (pages of 500) instead of a call per
    /// instance, every published series; then the groups the policy needs.
    pub(crate) async fn observe_account(&self) -> Observation {
        let mut seen = Observation::default();
        let policy = &self.config.policy;
        let (linux, windows) = (&policy.metric, &policy.windows);
        let (instances, alarms, linux_series, windows_series) = tokio::join!(
            self.inventory.all_instances(),
            self.alarms.alarms_with_prefix(policy.naming.prefix()),
            self.alarms.published_series(&linux.namespace, &linux.metric_name, None),
            self.alarms.published_series(&windows.namespace, &windows.metric_name, None),
        );
        let (mut instances, alarms, linux_series, windows_series) =
            match (instances, alarms, linux_series, windows_series) {
                (Ok(instances), Ok(alarms), Ok(linux), Ok(windows)) => (instances, alarms, linux, windows),
                (instances, alarms, linux, windows) => {
                    let errors = [instances.err(), alarms.err(), linux.err(), windows.err()];
                    for error in errors.into_iter().flatten() {
                        seen.failures.push(Failure::from_port(None, None, &error));
                    }
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
        if let Err(error) = self.attach_groups(&mut instances).await {
            seen.failures.push(Failure::from_port(None, None, &error));
            return seen;
        }
        seen.subjects = instances.into_iter().map(Subject::Present).collect();
        seen.alarms = alarms;
        seen
    }

    /// Everything `explain` shows of one instance: its facts with its group,
    /// its owned alarms, the series it publishes whatever its scope, and its
    /// mute rules (a failure to list those is shown, not fatal).
    pub async fn observe_one(&self, id: &InstanceId) -> Result<Observation, PortError> {
        let policy = &self.config.policy;
        let mut facts = self.observe_instances(std::slice::from_ref(id)).await?.into_iter().next();
        let mut alarms = self.alarms.alarms_with_prefix(&policy.naming.instance_prefix(id)).await?;
        alarms.extend(self.alarms.alarms_with_prefix(&policy.naming.provisional_instance_prefix(id)).await?);
        let metric = policy.profile(facts.as_ref().map(|f| f.platform).unwrap_or_default());
        // Without them the desired alarms would be the provisional pair: an explanation that misleads.
        let series = self.alarms.published_series(&metric.namespace, &metric.metric_name, Some(id)).await?;
        if let Some(facts) = &mut facts {
            facts.series = Some(series.clone());
        }
        // Rules are named `<prefix>mute-<instance>-<event hash>`.
        let mute_prefix = format!("{}{id}-", reconciler_core::maintenance::mute_rule_prefix(policy));
        let mutes = self.alarms.mute_rules(&mute_prefix, None).await;
        Ok(Observation {
            subjects: vec![facts.map_or(Subject::Gone { id: id.clone() }, Subject::Present)],
            alarms,
            series,
            mutes: Some(mutes),
            failures: Vec::new(),
        })
    }

    /// Every mute rule under this deployment's prefix (`ListAlarmMuteRules`).
    pub(crate) async fn owned_mute_rules(&self) -> Result<Vec<ObservedMuteRule>, PortError> {
        let prefix = reconciler_core::maintenance::mute_rule_prefix(&self.config.policy);
        self.alarms.mute_rules(&prefix, None).await
    }

    /// Lists the instance's published disk series when the policy gives it
    /// alarms; the others need none (their alarms, if any, are deleted).
    pub(crate) async fn with_series(&self, mut subject: Subject) -> Result<Subject, PortError> {
        let policy = &self.config.policy;
        if let Subject::Present(facts) = &mut subject {
            let in_scope = matches!(policy.scope(facts), reconciler_core::ScopeDecision::In { .. });
            if facts.state == InstanceState::Running && in_scope {
                let metric = policy.profile(facts.platform);
                let series = self
                    .alarms
                    .published_series(&metric.namespace, &metric.metric_name, Some(&facts.id))
                    .await?;
                facts.series = Some(series);
            }
        }
        Ok(subject)
    }

    /// The instances that own a provisional alarm, each once, with the
    /// platform whose metric the alarm watches.
    pub(crate) async fn provisional_instances(&self) -> Result<Vec<(InstanceId, Platform)>, PortError> {
        let policy = &self.config.policy;
        let naming = &policy.naming;
        let provisional = self.alarms.alarms_with_prefix(&naming.provisional_prefix()).await?;
        let platform_of = |config: &AlarmConfig| {
            let windows = &policy.windows;
            if config.namespace == windows.namespace && config.metric_name == windows.metric_name {
                Platform::Windows
            } else {
                Platform::Linux
            }
        };
        let mut instances: Vec<(InstanceId, Platform)> = provisional
            .iter()
            .filter(|a| a.config.has_ownership_marker())
            .filter_map(|a| naming.parse(&a.name).map(|(id, _)| (id, platform_of(&a.config))))
            .collect();
        instances.sort();
        instances.dedup_by(|a, b| a.0 == b.0);
        Ok(instances)
    }

    /// The published series of each of `instances`, of its platform's
    /// metric: one listing each, or one account-wide listing per platform
    /// when that is fewer calls.
    pub(crate) async fn series_of(
        &self,
        instances: &[(InstanceId, Platform)],
    ) -> Result<HashMap<String, Vec<MetricSeries>>, PortError> {
        let policy = &self.config.policy;
        let mut by_instance = HashMap::new();
        if instances.len() > FOLLOW_UP_PER_INSTANCE_LISTINGS {
            for platform in [Platform::Linux, Platform::Windows] {
                let mut on_platform = instances.iter().filter(|(_, p)| *p == platform).peekable();
                if on_platform.peek().is_none() {
                    continue;
                }
                let metric = policy.profile(platform);
                let listed =
                    self.alarms.published_series(&metric.namespace, &metric.metric_name, None).await?;
                let mut listed = series_by_instance(listed);
                for (id, _) in on_platform {
                    if let Some(series) = listed.remove(id.as_str()) {
                        by_instance.insert(id.to_string(), series);
                    }
                }
            }
            return Ok(by_instance);
        }
        for (id, platform) in instances {
            let metric = policy.profile(*platform);
            let series =
                self.alarms.published_series(&metric.namespace, &metric.metric_name, Some(id)).await?;
            by_instance.insert(id.to_string(), series);
        }
        Ok(by_instance)
    }

    /// Reads instances and attaches the Auto Scaling groups the policy needs.
    pub(crate) async fn observe_instances(
        &self,
        ids: &[InstanceId],
    ) -> Result<Vec<InstanceFacts>, PortError> {
        let mut facts = self.inventory.describe_instances(ids).await?;
        self.attach_groups(&mut facts).await?;
        Ok(facts)
    }

    /// Attaches its Auto Scaling group, with the group's tags, to each running
    /// instance whose alarms depend on it: one without the scope tag (the
    /// instance's own tags take precedence, so a tagged instance needs no
    /// lookup), or every one when alarms carry the group dimension. Membership
    /// comes from the `aws:autoscaling:groupName` tag, or, without it, from
    /// `DescribeAutoScalingInstances` in batches of 50.
    pub(crate) async fn attach_groups(&self, facts: &mut [InstanceFacts]) -> Result<(), PortError> {
        let policy = &self.config.policy;
        let needs_group = |f: &InstanceFacts| {
            // A pending instance may settle as running (a `running` event ahead of the API).
            matches!(f.state, InstanceState::Running | InstanceState::Pending)
                && (policy.metric.group_dimension || !f.tags.contains_key(&policy.scope_tag_key))
        };
        let mut membership: HashMap<InstanceId, String> = facts
            .iter()
            .filter(|f| needs_group(f))
            .filter_map(|f| Some((f.id.clone(), f.group_name_tag()?.to_owned())))
            .collect();
        let unknown: Vec<InstanceId> = facts
            .iter()
            .filter(|f| needs_group(f) && f.group_name_tag().is_none())
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

/// Published series grouped by their `InstanceId` dimension; series without one are left out.
pub(crate) fn series_by_instance(series: Vec<MetricSeries>) -> HashMap<String, Vec<MetricSeries>> {
    let mut by_instance: HashMap<String, Vec<MetricSeries>> = HashMap::new();
    for s in series {
        if let Some(instance) = s.instance() {
            by_instance.entry(instance.to_owned()).or_default().push(s);
        }
    }
    by_instance
}
