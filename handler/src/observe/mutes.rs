//! Our mute rules: listed under the deployment's prefix, and those in
//! force read in full where the core says a pass needs them.

use reconciler_core::pass::mute_rules_to_read;
use reconciler_core::{InstanceId, UnixTime};

use super::{Observer, ReadError, ReadFailure};
use crate::config::Config;
use crate::ports::{CloudWatchReads, Inventory, MuteRuleRead, ObservedMuteRule, PortError};

/// Our mute rules as a pass read them.
#[derive(Debug, Default)]
pub struct MuteRulesObserved {
    pub listed: Vec<ObservedMuteRule>,
    pub read: Vec<MuteRuleRead>,
    /// Rules that could not be read in full: they are left as they are.
    pub failures: Vec<ReadFailure>,
}

impl<I: Inventory, C: CloudWatchReads> Observer<I, C> {
    /// Every mute rule under this deployment's prefix (`ListAlarmMuteRules`).
    pub async fn owned_mute_rules(&self, config: &Config) -> Result<Vec<ObservedMuteRule>, PortError> {
        let prefix = reconciler_core::maintenance::mute_rule_prefix(&config.policy);
        self.cloudwatch.mute_rules(&prefix, None).await
    }

    /// Our rules, and those in force of `instances` read in full.
    pub async fn review_mute_rules(
        &self,
        config: &Config,
        instances: &[InstanceId],
        now: UnixTime,
    ) -> Result<MuteRulesObserved, PortError> {
        let listed = self.owned_mute_rules(config).await?;
        let (read, failures) = self.read_mute_rules(config, &listed, Some(instances), now).await;
        Ok(MuteRulesObserved { listed, read, failures })
    }

    /// The rules among `listed` that [`mute_rules_to_read`] picks, one
    /// `GetAlarmMuteRule` each. A rule deleted since the listing is left out.
    pub(super) async fn read_mute_rules(
        &self,
        config: &Config,
        listed: &[ObservedMuteRule],
        instances: Option<&[InstanceId]>,
        now: UnixTime,
    ) -> (Vec<MuteRuleRead>, Vec<ReadFailure>) {
        let (mut read, mut failures) = (Vec::new(), Vec::new());
        for name in mute_rules_to_read(&config.policy, listed, instances, now) {
            match self.cloudwatch.mute_rule(&name).await {
                Ok(Some(rule)) => read.push(rule),
                Ok(None) => {}
                Err(error) => failures.push(ReadFailure {
                    instance: None,
                    alarm: Some(name),
                    error: ReadError::Port(error),
                }),
            }
        }
        (read, failures)
    }
}
