//! The follow-up pass's first look, before it observes the instances that
//! are ready as the event path does.

use std::collections::HashMap;

use reconciler_core::pass::{follow_up_ready, provisional_instances};
use reconciler_core::series::series_by_instance;
use reconciler_core::{InstanceId, MetricSeries, Platform};

use super::Observer;
use crate::config::Config;
use crate::ports::{CloudWatchReads, Inventory, PortError};

/// The follow-up pass's first look: the instances on their provisional pair,
/// split by whether they now publish a series the filter watches.
#[derive(Debug, Default)]
pub struct FollowUpProbe {
    pub ready: Vec<InstanceId>,
    pub waiting: Vec<InstanceId>,
}

/// Up to this many provisional instances, the follow-up pass lists each one's
/// series (one `ListMetrics` call each); above it, one account-wide listing is cheaper.
pub const FOLLOW_UP_PER_INSTANCE_LISTINGS: usize = 25;

impl<I: Inventory, C: CloudWatchReads> Observer<I, C> {
    /// The follow-up pass's first look: the provisional alarms (their own
    /// name prefix) and, for their instances, the series of each one's
    /// platform: one listing each, or one account-wide listing per platform
    /// when that is fewer calls.
    pub async fn follow_up_probe(&self, config: &Config) -> Result<FollowUpProbe, PortError> {
        let policy = &config.policy;
        let provisional = self.cloudwatch.alarms_with_prefix(&policy.naming.provisional_prefix()).await?;
        let instances = provisional_instances(policy, &provisional);
        let by_instance = self.series_of(config, &instances).await?;
        let mut probe = FollowUpProbe::default();
        for (id, platform) in instances {
            match follow_up_ready(policy, platform, by_instance.get(id.as_str()).map(Vec::as_slice)) {
                true => probe.ready.push(id),
                false => probe.waiting.push(id),
            }
        }
        Ok(probe)
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
