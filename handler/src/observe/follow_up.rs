//! The follow-up pass's first look, before it observes the instances that
//! are ready as the event path does.

use std::collections::HashMap;

use reconciler_core::pass::{
    follow_up_ready, instance_reads, provisional_instances, publishes_unwatched_series, recently_started,
};
use reconciler_core::series::series_by_instance;
use reconciler_core::{InstanceFacts, InstanceId, MetricSeries, Platform, UnixTime};

use super::Observer;
use crate::config::Config;
use crate::ports::{CloudWatchReads, Inventory, PortError};

/// The follow-up pass's first look: the instances on their provisional pair,
/// split by whether they now publish a series the filter watches, and the
/// recently started instances that publish a filesystem without alarms.
#[derive(Debug, Default)]
pub struct FollowUpProbe {
    pub ready: Vec<InstanceId>,
    pub waiting: Vec<InstanceId>,
    /// Started within `RECENT_START_MINUTES`, with alarms, and publishing a
    /// watched filesystem (mounted after the first look) that has none yet.
    pub late_mounts: Vec<InstanceId>,
    /// How many instances started within `RECENT_START_MINUTES` were looked at again.
    pub recent: usize,
}

/// Up to this many provisional instances, the follow-up pass lists each one's
/// series (one `ListMetrics` call each); above it, one account-wide listing is cheaper.
pub const FOLLOW_UP_PER_INSTANCE_LISTINGS: usize = 25;

impl<I: Inventory, C: CloudWatchReads> Observer<I, C> {
    /// The follow-up pass's first look: the provisional alarms (their own
    /// name prefix), the instances started recently, the series of both
    /// (one listing each, or one account-wide listing per platform when that
    /// is fewer calls) and the alarms of each recent one.
    pub async fn follow_up_probe(&self, config: &Config, now: UnixTime) -> Result<FollowUpProbe, PortError> {
        let policy = &config.policy;
        let provisional = self.cloudwatch.alarms_with_prefix(&policy.naming.provisional_prefix()).await?;
        let instances = provisional_instances(policy, &provisional);
        let recent = self.recent_starts(config, &instances, now).await?;
        // One set of listings for both kinds of instance.
        let mut keys = instances.clone();
        keys.extend(recent.iter().map(|f| (f.id.clone(), f.platform)));
        let mut by_instance = self.series_of(config, &keys).await?;
        let mut probe = FollowUpProbe { recent: recent.len(), ..FollowUpProbe::default() };
        for (id, platform) in instances {
            match follow_up_ready(policy, platform, by_instance.get(id.as_str()).map(Vec::as_slice)) {
                true => probe.ready.push(id),
                false => probe.waiting.push(id),
            }
        }
        for mut facts in recent {
            facts.series = Some(by_instance.remove(facts.id.as_str()).unwrap_or_default());
            let alarms =
                self.cloudwatch.alarms_with_prefix(&policy.naming.instance_prefix(&facts.id)).await?;
            if publishes_unwatched_series(policy, &facts, &alarms) {
                probe.late_mounts.push(facts.id);
            }
        }
        Ok(probe)
    }

    /// The running, in-scope instances that started within
    /// `RECENT_START_MINUTES`, other than those on their provisional pair:
    /// one `DescribeInstances` page per 1 000 instances (`LaunchTime` is
    /// filtered here: not every emulator knows the `launch-time` filter),
    /// and the groups of those that need one.
    async fn recent_starts(
        &self,
        config: &Config,
        provisional: &[(InstanceId, Platform)],
        now: UnixTime,
    ) -> Result<Vec<InstanceFacts>, PortError> {
        let all = self.inventory.all_instances().await?;
        let mut recent: Vec<InstanceFacts> = recently_started(&all, now, config.recent_start_seconds)
            .into_iter()
            .filter(|f| !provisional.iter().any(|(id, _)| *id == f.id))
            .cloned()
            .collect();
        self.attach_groups(config, &mut recent).await?;
        recent.retain(|f| instance_reads(&config.policy, f).series);
        Ok(recent)
    }

    async fn series_of(
        &self,
        config: &Config,
        instances: &[(InstanceId, Platform)],
    ) -> Result<HashMap<String, Vec<MetricSeries>>, PortError> {
        let policy = &config.policy;
        let mut by_instance = HashMap::new();
        if instances.len() > FOLLOW_UP_PER_INSTANCE_LISTINGS {
            for platform in [Platform::Linux, Platform::Windows] {
                let mut on_platform = instances.iter().filter(|(_, p)| *p == platform).peekable();
                if on_platform.peek().is_none() {
                    continue;
                }
                let metric = policy.profile(platform);
                let listed =
                    self.cloudwatch.published_series(&metric.namespace, &metric.metric_name, None).await?;
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
                self.cloudwatch.published_series(&metric.namespace, &metric.metric_name, Some(id)).await?;
            by_instance.insert(id.to_string(), series);
        }
        Ok(by_instance)
    }
}
