//! The ports on the in-memory account: AWS's page sizes, quotas and
//! partial failures, over the state in [`super::State`].

use reconciler_core::{
    AlarmName, AlarmTag, AutoScalingGroup, DesiredAlarm, InstanceFacts, InstanceId, MetricSeries, MuteRule,
    ObservedAlarm,
};

use super::{FakeCloud, ALARM_PAGE, INSTANCE_PAGE, METRIC_PAGE};
use crate::ports::{
    AlarmStore, AlarmTagWrites, AlarmTags, AlarmWrites, ErrorKind, Inventory, MetricCatalogue, MuteRuleRead,
    MuteRuleWrites, MuteRules, ObservedMuteRule, PortError, MAX_DELETE_BATCH, MAX_GROUP_LOOKUP_BATCH,
};

impl Inventory for FakeCloud {
    async fn describe_instances(&self, ids: &[InstanceId]) -> Result<Vec<InstanceFacts>, PortError> {
        self.request("DescribeInstances").await?;
        let state = self.state();
        Ok(ids.iter().filter_map(|id| state.instances.get(id).cloned()).collect())
    }

    async fn all_instances(&self) -> Result<Vec<InstanceFacts>, PortError> {
        let all: Vec<InstanceFacts> = self.state().instances.values().cloned().collect();
        for _ in 0..all.len().div_ceil(INSTANCE_PAGE).max(1) {
            self.request("DescribeInstances").await?;
        }
        Ok(all)
    }

    async fn groups_of(&self, ids: &[InstanceId]) -> Result<Vec<(InstanceId, String)>, PortError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(MAX_GROUP_LOOKUP_BATCH) {
            self.request("DescribeAutoScalingInstances").await?;
            let state = self.state();
            found.extend(chunk.iter().filter_map(|id| Some((id.clone(), state.members.get(id)?.clone()))));
        }
        Ok(found)
    }

    async fn groups(&self, names: &[String]) -> Result<Vec<AutoScalingGroup>, PortError> {
        let mut found = Vec::new();
        for chunk in names.chunks(MAX_GROUP_LOOKUP_BATCH) {
            self.request("DescribeAutoScalingGroups").await?;
            let state = self.state();
            found.extend(chunk.iter().filter_map(|name| state.groups.get(name).cloned()));
        }
        Ok(found)
    }
}

impl AlarmStore for FakeCloud {
    async fn alarms_with_prefix(&self, prefix: &str) -> Result<Vec<ObservedAlarm>, PortError> {
        let matching: Vec<ObservedAlarm> = {
            let state = self.state();
            let start = AlarmName::parse(prefix).expect("prefix is a valid name");
            state
                .alarms
                .range(start..)
                .take_while(|(name, _)| name.as_str().starts_with(prefix))
                .map(|(name, config)| ObservedAlarm {
                    name: name.clone(),
                    config: config.clone(),
                    arn: Some(super::alarm_arn(name.as_str())),
                    state: state.alarm_states.get(name).copied(),
                })
                .collect()
        };
        for _ in 0..matching.len().div_ceil(ALARM_PAGE).max(1) {
            self.request("DescribeAlarms").await?;
        }
        Ok(matching)
    }
}

impl AlarmWrites for FakeCloud {
    async fn put_alarm(&self, alarm: &DesiredAlarm, tags: &[AlarmTag]) -> Result<(), PortError> {
        self.request("PutMetricAlarm").await?;
        let mut state = self.state();
        if !state.alarms.contains_key(&alarm.name) {
            state.tags.insert(alarm.name.clone(), tags.to_vec());
        }
        state.put_alarm(alarm.name.clone(), alarm.config.clone());
        state.writes += 1;
        Ok(())
    }

    async fn delete_alarms(&self, names: &[AlarmName]) -> Result<(), PortError> {
        if names.len() > MAX_DELETE_BATCH {
            return Err(PortError::new("DeleteAlarms", ErrorKind::Refused, "more than 100 names"));
        }
        if let Err(error) = self.request("DeleteAlarms").await {
            let mut state = self.state();
            if std::mem::take(&mut state.partial_delete) {
                for name in &names[..names.len().div_ceil(2)] {
                    if state.remove_alarm(name) {
                        state.writes += 1;
                    }
                }
            }
            return Err(error);
        }
        let mut state = self.state();
        for name in names {
            if state.remove_alarm(name) {
                state.writes += 1;
            }
        }
        Ok(())
    }
}

impl MetricCatalogue for FakeCloud {
    async fn published_series(
        &self,
        namespace: &str,
        metric: &str,
        instance: Option<&InstanceId>,
    ) -> Result<Vec<MetricSeries>, PortError> {
        let found: Vec<MetricSeries> = {
            let state = self.state();
            match state.series.get(&(namespace.to_owned(), metric.to_owned())) {
                None => Vec::new(),
                Some(by_instance) => match instance {
                    Some(id) => by_instance.get(id.as_str()).cloned().unwrap_or_default(),
                    None => by_instance.values().flatten().cloned().collect(),
                },
            }
        };
        for _ in 0..found.len().div_ceil(METRIC_PAGE).max(1) {
            self.request("ListMetrics").await?;
        }
        Ok(found)
    }
}

impl MuteRules for FakeCloud {
    async fn mute_rules(
        &self,
        prefix: &str,
        alarm: Option<&AlarmName>,
    ) -> Result<Vec<ObservedMuteRule>, PortError> {
        self.request("ListAlarmMuteRules").await?;
        let state = self.state();
        let status = |rule: &MuteRule| match state.now {
            now if rule.window.end <= now => "EXPIRED",
            now if rule.window.start <= now => "ACTIVE",
            _ => "SCHEDULED",
        };
        Ok(state
            .mute_rules
            .values()
            .filter(|rule| rule.name.starts_with(prefix))
            .filter(|rule| alarm.is_none_or(|a| rule.alarms.contains(a)))
            .map(|rule| ObservedMuteRule {
                name: rule.name.clone(),
                status: reconciler_core::maintenance::MuteRuleStatus::parse(status(rule)),
                expires: Some(rule.window.end),
            })
            .collect())
    }

    async fn mute_rule(&self, name: &str) -> Result<Option<MuteRuleRead>, PortError> {
        self.request("GetAlarmMuteRule").await?;
        Ok(self.state().mute_rules.get(name).map(|rule| MuteRuleRead {
            name: rule.name.clone(),
            alarms: rule.alarms.clone(),
            window: Some(rule.window),
            description: rule.description.clone(),
        }))
    }
}

impl MuteRuleWrites for FakeCloud {
    async fn put_mute_rule(&self, rule: &MuteRule) -> Result<(), PortError> {
        self.request("PutAlarmMuteRule").await?;
        let mut state = self.state();
        // CloudWatch only accepts targets that are existing alarms.
        if rule.alarms.len() > 100 || rule.alarms.iter().any(|a| !state.alarms.contains_key(a)) {
            return Err(PortError::new(
                "PutAlarmMuteRule",
                ErrorKind::Refused,
                "ValidationException: targets",
            ));
        }
        state.mute_rules.insert(rule.name.clone(), rule.clone());
        state.writes += 1;
        Ok(())
    }

    async fn delete_mute_rule(&self, name: &str) -> Result<(), PortError> {
        self.request("DeleteAlarmMuteRule").await?;
        let mut state = self.state();
        if state.mute_rules.remove(name).is_some() {
            state.writes += 1;
        }
        Ok(())
    }
}

impl AlarmTags for FakeCloud {
    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<AlarmTag>, PortError> {
        self.request("ListTagsForResource").await?;
        let name = alarm_name_of(alarm_arn)?;
        let state = self.state();
        if !state.alarms.contains_key(&name) {
            return Err(PortError::new("ListTagsForResource", ErrorKind::Refused, "ResourceNotFound"));
        }
        Ok(state.tags.get(&name).cloned().unwrap_or_default())
    }
}

impl AlarmTagWrites for FakeCloud {
    async fn tag_alarm(&self, alarm_arn: &str, tags: &[AlarmTag]) -> Result<(), PortError> {
        self.request("TagResource").await?;
        let name = alarm_name_of(alarm_arn)?;
        let mut state = self.state();
        if !state.alarms.contains_key(&name) {
            return Err(PortError::new("TagResource", ErrorKind::Refused, "ResourceNotFound"));
        }
        let current = state.tags.entry(name).or_default();
        for tag in tags {
            match current.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value.clone(),
                None => current.push(tag.clone()),
            }
        }
        state.writes += 1;
        Ok(())
    }
}

fn alarm_name_of(alarm_arn: &str) -> Result<AlarmName, PortError> {
    alarm_arn
        .split_once(":alarm:")
        .and_then(|(_, name)| AlarmName::parse(name).ok())
        .ok_or_else(|| PortError::new("ListTagsForResource", ErrorKind::Refused, "not an alarm ARN"))
}
