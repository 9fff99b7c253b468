use std::collections::BTreeMap;

use aws_sdk_ec2::operation::describe_instances::builders::DescribeInstancesFluentBuilder;
use aws_sdk_ec2::types::{Filter, Instance};
use reconciler_core::{
    user_initiated_time, AutoScalingGroup, InstanceFacts, InstanceId, InstanceState, Platform, UnixTime,
};
use tracing::warn;

use super::{autoscaling, port_error};
use crate::ports::{ApiCalls, Inventory, PortError};

const OPERATION: &str = "DescribeInstances";
/// EC2 accepts at most 200 values per filter.
const MAX_FILTER_VALUES: usize = 200;
const PAGE_SIZE: i32 = 1000;

/// EC2 instances and their Auto Scaling groups.
#[derive(Debug, Clone)]
pub struct Ec2Inventory {
    client: aws_sdk_ec2::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    calls: ApiCalls,
}

impl Ec2Inventory {
    pub fn new(
        client: aws_sdk_ec2::Client,
        autoscaling: aws_sdk_autoscaling::Client,
        calls: ApiCalls,
    ) -> Self {
        Self { client, autoscaling, calls }
    }

    async fn all_pages(
        &self,
        request: DescribeInstancesFluentBuilder,
    ) -> Result<Vec<InstanceFacts>, PortError> {
        let mut pages = request.max_results(PAGE_SIZE).into_paginator().send();
        let mut facts = Vec::new();
        while let Some(page) = pages.next().await {
            self.calls.begin(OPERATION).await;
            let page = page.map_err(|e| port_error(OPERATION, e))?;
            facts.extend(page.reservations().iter().flat_map(|r| r.instances()).filter_map(convert));
        }
        Ok(facts)
    }
}

impl Inventory for Ec2Inventory {
    async fn describe_instances(&self, ids: &[InstanceId]) -> Result<Vec<InstanceFacts>, PortError> {
        let mut facts = Vec::new();
        for chunk in ids.chunks(MAX_FILTER_VALUES) {
            // A filter, unlike `InstanceIds`, leaves unknown ids out instead of
            // failing the whole call with InvalidInstanceID.NotFound.
            let filter = Filter::builder()
                .name("instance-id")
                .set_values(Some(chunk.iter().map(|id| id.to_string()).collect()))
                .build();
            let request = self.client.describe_instances().filters(filter);
            facts.extend(self.all_pages(request).await?);
        }
        Ok(facts)
    }

    async fn all_instances(&self) -> Result<Vec<InstanceFacts>, PortError> {
        self.all_pages(self.client.describe_instances()).await
    }

    async fn groups_of(&self, ids: &[InstanceId]) -> Result<Vec<(InstanceId, String)>, PortError> {
        autoscaling::groups_of(&self.autoscaling, &self.calls, ids).await
    }

    async fn groups(&self, names: &[String]) -> Result<Vec<AutoScalingGroup>, PortError> {
        autoscaling::groups(&self.autoscaling, &self.calls, names).await
    }
}

fn convert(instance: &Instance) -> Option<InstanceFacts> {
    let raw_id = instance.instance_id().unwrap_or_default();
    let id = InstanceId::parse(raw_id).inspect_err(|error| warn!(%error, "instance skipped")).ok()?;
    let raw_state = instance.state().and_then(|s| s.name()).map_or("", |name| name.as_str());
    let Some(state) = InstanceState::parse(raw_state) else {
        warn!(instance = %id, state = raw_state, "instance with unknown state skipped");
        return None;
    };
    let tags: BTreeMap<String, String> = instance
        .tags()
        .iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned())))
        .collect();
    Some(InstanceFacts {
        id,
        state,
        tags,
        // `Platform` is `windows` for Windows instances and absent otherwise;
        // the SDK's enum spells its one value `Windows`, the API `windows`.
        platform: match instance.platform() {
            Some(p) if p.as_str().eq_ignore_ascii_case("windows") => Platform::Windows,
            _ => Platform::Linux,
        },
        launch_time: instance.launch_time().map(|t| UnixTime(t.secs())),
        // Only a stop or termination is dated; a running instance's reason is
        // empty, or stale from before its last start.
        state_since: match state {
            InstanceState::Pending | InstanceState::Running => None,
            _ => instance.state_transition_reason().and_then(user_initiated_time),
        },
        group: None,
        series: None,
    })
}
