//! Observe: what the passes read before deciding. Reading never writes.

use std::collections::{BTreeMap, HashMap};

use reconciler_core::{AutoScalingGroup, InstanceFacts, InstanceId, InstanceState, MetricSeries, Subject};

use crate::ports::{AlarmStore, Inventory, PortError};
use crate::reconcile::{Reconciler, FOLLOW_UP_PER_INSTANCE_LISTINGS};

impl<I: Inventory, A: AlarmStore> Reconciler<I, A> {
    /// Lists the instance's published disk series when the policy gives it
    /// alarms; the others need none (their alarms, if any, are deleted).
    pub(crate) async fn with_series(&self, mut subject: Subject) -> Result<Subject, PortError> {
        let policy = &self.config.policy;
        if let Subject::Present(facts) = &mut subject {
            let in_scope = matches!(policy.scope(facts), reconciler_core::ScopeDecision::In { .. });
            if facts.state == InstanceState::Running && in_scope {
                let metric = &policy.metric;
                let series = self
                    .alarms
                    .published_series(&metric.namespace, &metric.metric_name, Some(&facts.id))
                    .await?;
                facts.series = Some(series);
            }
        }
        Ok(subject)
    }

    /// The instances that own a provisional alarm, each once.
    pub(crate) async fn provisional_instances(&self) -> Result<Vec<InstanceId>, PortError> {
        let naming = &self.config.policy.naming;
        let provisional = self.alarms.alarms_with_prefix(&naming.provisional_prefix()).await?;
        let mut instances: Vec<InstanceId> = provisional
            .iter()
            .filter(|a| a.config.has_ownership_marker())
            .filter_map(|a| naming.parse(&a.name).map(|(id, _)| id))
            .collect();
        instances.sort();
        instances.dedup();
        Ok(instances)
    }

    /// The published series of `instances`: one listing each, or one
    /// account-wide listing when that is fewer calls.
    pub(crate) async fn series_of(&self, instances: &[InstanceId]) -> Result<Vec<MetricSeries>, PortError> {
        let metric = &self.config.policy.metric;
        if instances.len() > FOLLOW_UP_PER_INSTANCE_LISTINGS {
            return self.alarms.published_series(&metric.namespace, &metric.metric_name, None).await;
        }
        let mut series = Vec::new();
        for id in instances {
            series.extend(
                self.alarms.published_series(&metric.namespace, &metric.metric_name, Some(id)).await?,
            );
        }
        Ok(series)
    }

    /// Reads instances and attaches the Auto Scaling groups the policy needs.
    pub async fn observe_instances(&self, ids: &[InstanceId]) -> Result<Vec<InstanceFacts>, PortError> {
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
    pub async fn attach_groups(&self, facts: &mut [InstanceFacts]) -> Result<(), PortError> {
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
