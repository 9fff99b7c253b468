//! Auto Scaling group lookups for [`super::Ec2Inventory`].

use aws_sdk_autoscaling::types::AutoScalingGroup as SdkGroup;
use reconciler_core::{AutoScalingGroup, InstanceId};
use tracing::warn;

use super::port_error;
use crate::ports::{ApiCalls, PortError, MAX_GROUP_LOOKUP_BATCH};

const DESCRIBE_INSTANCES: &str = "DescribeAutoScalingInstances";
const DESCRIBE_GROUPS: &str = "DescribeAutoScalingGroups";
/// `DescribeAutoScalingInstances` returns at most 50 records per page.
const INSTANCES_PAGE_SIZE: i32 = 50;
/// `DescribeAutoScalingGroups` returns at most 100 records per page.
const GROUPS_PAGE_SIZE: i32 = 100;
/// `DescribeAutoScalingGroups` takes up to 50 names per call by default.
const MAX_GROUP_NAMES: usize = 50;

/// The group of each instance among `ids` that belongs to one. Ids that are
/// not in a group (or do not exist) are left out.
pub(super) async fn groups_of(
    client: &aws_sdk_autoscaling::Client,
    calls: &ApiCalls,
    ids: &[InstanceId],
) -> Result<Vec<(InstanceId, String)>, PortError> {
    let mut groups = Vec::new();
    // No ids, no call: without instance ids the API describes every instance in every group.
    for chunk in ids.chunks(MAX_GROUP_LOOKUP_BATCH) {
        let mut pages = client
            .describe_auto_scaling_instances()
            .set_instance_ids(Some(chunk.iter().map(|id| id.to_string()).collect()))
            .max_records(INSTANCES_PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls.begin(DESCRIBE_INSTANCES).await;
            let page = page.map_err(|e| port_error(DESCRIBE_INSTANCES, e))?;
            groups.extend(page.auto_scaling_instances().iter().filter_map(|details| {
                let group = details.auto_scaling_group_name().filter(|name| !name.is_empty())?;
                let id = InstanceId::parse(details.instance_id().unwrap_or_default())
                    .inspect_err(|error| warn!(%error, "Auto Scaling instance skipped"))
                    .ok()?;
                Some((id, group.to_owned()))
            }));
        }
    }
    Ok(groups)
}

/// The named groups that exist, with their tags. Names of groups that do not
/// exist are left out.
pub(super) async fn groups(
    client: &aws_sdk_autoscaling::Client,
    calls: &ApiCalls,
    names: &[String],
) -> Result<Vec<AutoScalingGroup>, PortError> {
    let mut groups = Vec::new();
    // No names, no call: without names the API describes every group in the account.
    for chunk in names.chunks(MAX_GROUP_NAMES) {
        let mut pages = client
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(chunk.to_vec()))
            .include_instances(false)
            .max_records(GROUPS_PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            calls.begin(DESCRIBE_GROUPS).await;
            let page = page.map_err(|e| port_error(DESCRIBE_GROUPS, e))?;
            groups.extend(page.auto_scaling_groups().iter().filter_map(convert));
        }
    }
    Ok(groups)
}

fn convert(group: &SdkGroup) -> Option<AutoScalingGroup> {
    let name = group.auto_scaling_group_name().filter(|name| !name.is_empty())?;
    let tags = group
        .tags()
        .iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value().unwrap_or_default().to_owned())))
        .collect();
    Some(AutoScalingGroup { name: name.to_owned(), tags })
}
