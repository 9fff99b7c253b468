//! The AWS adapters against real SDK clients whose responses come from
//! `aws-smithy-mocks` rules: request shapes, pagination, batching, error
//! classification and the SDK's own retries. Nothing leaves the process.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::{
    DescribeAutoScalingGroupsInput, DescribeAutoScalingGroupsOutput,
};
use aws_sdk_autoscaling::operation::describe_auto_scaling_instances::{
    DescribeAutoScalingInstancesError, DescribeAutoScalingInstancesInput, DescribeAutoScalingInstancesOutput,
};
use aws_sdk_autoscaling::types::{AutoScalingInstanceDetails, TagDescription};
use aws_sdk_cloudwatch::operation::delete_alarm_mute_rule::{
    DeleteAlarmMuteRuleError, DeleteAlarmMuteRuleOutput,
};
use aws_sdk_cloudwatch::operation::delete_alarms::DeleteAlarmsOutput;
use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::operation::get_alarm_mute_rule::{GetAlarmMuteRuleError, GetAlarmMuteRuleOutput};
use aws_sdk_cloudwatch::operation::list_alarm_mute_rules::ListAlarmMuteRulesOutput;
use aws_sdk_cloudwatch::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_cloudwatch::operation::put_alarm_mute_rule::{PutAlarmMuteRuleInput, PutAlarmMuteRuleOutput};
use aws_sdk_cloudwatch::operation::put_metric_alarm::{
    PutMetricAlarmError, PutMetricAlarmInput, PutMetricAlarmOutput,
};
use aws_sdk_cloudwatch::operation::tag_resource::TagResourceOutput;
use aws_sdk_cloudwatch::types::{
    AlarmMuteRuleStatus, AlarmMuteRuleSummary, AlarmType, ComparisonOperator, Metric, MetricAlarm,
    MetricDataQuery, MetricStat, MuteTargets, Schedule, Statistic, Tag as CloudWatchTag,
};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::describe_instances::{DescribeInstancesError, DescribeInstancesOutput};
use aws_sdk_ec2::primitives::DateTime;
use aws_sdk_ec2::types::{Instance, InstanceStateName, PlatformValues, Reservation, Tag};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use handler::aws::{CloudWatchAlarms, Ec2Inventory};
use handler::ports::{
    AlarmStore, AlarmTagWrites, AlarmTags, AlarmWrites, ApiCalls, ErrorKind, Inventory, MetricCatalogue,
    MuteRuleWrites, MuteRules, ObservedMuteRule, MAX_DELETE_BATCH, MAX_GROUP_LOOKUP_BATCH,
};
use reconciler_core::{
    AlarmConfig, AlarmName, AlarmState, AlarmTag, AutoScalingGroup, DesiredAlarm, Dimension, InstanceId,
    InstanceState, MuteRule, MuteWindow, Platform, Severity, StateValue, UnixTime,
};

const ID_A: &str = "i-0123456789abcdef0";
const ID_B: &str = "i-1234abcd";

/// Retries off, so that error tests see the first answer without waiting.
/// EC2 rules match in any order, Auto Scaling rules in the order given.
fn inventory(ec2_rules: &[&Rule], autoscaling_rules: &[&Rule]) -> (Ec2Inventory, ApiCalls) {
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, ec2_rules.iter().copied(), |c| {
        c.retry_config(RetryConfig::disabled())
    });
    let autoscaling =
        mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, autoscaling_rules.iter().copied(), |c| {
            c.retry_config(RetryConfig::disabled())
        });
    let calls = ApiCalls::default();
    (Ec2Inventory::new(ec2, autoscaling, calls.clone()), calls)
}

fn ec2(rules: &[&Rule]) -> (Ec2Inventory, ApiCalls) {
    inventory(rules, &[])
}

fn autoscaling(rules: &[&Rule]) -> (Ec2Inventory, ApiCalls) {
    inventory(&[], rules)
}

fn cloudwatch_with(rules: &[&Rule], retry: RetryConfig) -> (CloudWatchAlarms, ApiCalls) {
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, rules.iter().copied(), |c| c
        .retry_config(retry.clone()));
    let calls = ApiCalls::default();
    (CloudWatchAlarms::new(client, calls.clone()), calls)
}

fn cloudwatch(rules: &[&Rule]) -> (CloudWatchAlarms, ApiCalls) {
    cloudwatch_with(rules, RetryConfig::disabled())
}

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn instance(id: &str, state: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .state(aws_sdk_ec2::types::InstanceState::builder().name(InstanceStateName::from(state)).build())
        .build()
}

fn page(instances: Vec<Instance>, next_token: Option<&str>) -> DescribeInstancesOutput {
    DescribeInstancesOutput::builder()
        .reservations(Reservation::builder().set_instances(Some(instances)).build())
        .set_next_token(next_token.map(str::to_owned))
        .build()
}

fn ids_of(facts: &[reconciler_core::InstanceFacts]) -> Vec<&str> {
    facts.iter().map(|f| f.id.as_str()).collect()
}

fn filter_values(input: &aws_sdk_ec2::operation::describe_instances::DescribeInstancesInput) -> Vec<String> {
    match input.filters() {
        [filter] if filter.name() == Some("instance-id") => filter.values().to_vec(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn describe_instances_filters_by_id_and_reads_every_page() {
    let first = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.instance_ids().is_empty()
                && filter_values(r) == [ID_A, ID_B]
                && r.max_results() == Some(1000)
                && r.next_token().is_none()
        })
        .then_output(|| page(vec![instance(ID_A, "running")], Some("page-2")));
    let second = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| filter_values(r) == [ID_A, ID_B] && r.next_token() == Some("page-2"))
        .then_output(|| page(vec![instance(ID_B, "stopped")], None));
    let (inventory, calls) = ec2(&[&first, &second]);

    let facts = inventory.describe_instances(&[id(ID_A), id(ID_B)]).await.unwrap();

    assert_eq!(ids_of(&facts), [ID_A, ID_B]);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert_eq!(calls.get("DescribeInstances"), 2);
}

#[tokio::test]
async fn describe_instances_sends_at_most_200_ids_per_filter() {
    let ids: Vec<InstanceId> = (0..450).map(|n| id(&format!("i-{n:08x}"))).collect();
    let rule = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| (1..=200).contains(&filter_values(r).len()))
        .then_output(|| page(Vec::new(), None));
    let (inventory, calls) = ec2(&[&rule]);

    let facts = inventory.describe_instances(&ids).await.unwrap();

    assert!(facts.is_empty(), "unknown ids are simply absent");
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(calls.get("DescribeInstances"), 3);
}

#[tokio::test]
async fn describe_instances_without_ids_makes_no_call() {
    let (inventory, calls) = ec2(&[]);
    assert!(inventory.describe_instances(&[]).await.unwrap().is_empty());
    assert_eq!(calls.get("DescribeInstances"), 0);
}

#[tokio::test]
async fn all_instances_reads_every_page_unfiltered() {
    let first = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| {
            r.filters().is_empty() && r.max_results() == Some(1000) && r.next_token().is_none()
        })
        .then_output(|| page(vec![instance(ID_A, "pending")], Some("page-2")));
    let second = mock!(aws_sdk_ec2::Client::describe_instances)
        .match_requests(|r| r.filters().is_empty() && r.next_token() == Some("page-2"))
        .then_output(|| page(vec![instance(ID_B, "terminated")], None));
    let (inventory, calls) = ec2(&[&first, &second]);

    let facts = inventory.all_instances().await.unwrap();

    assert_eq!(ids_of(&facts), [ID_A, ID_B]);
    assert_eq!(calls.get("DescribeInstances"), 2);
}

#[tokio::test]
async fn instances_convert_state_tags_and_launch_time() {
    let rule = mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| {
        let tagged = Instance::builder()
            .instance_id(ID_A)
            .state(aws_sdk_ec2::types::InstanceState::builder().name(InstanceStateName::ShuttingDown).build())
            .tags(Tag::builder().key("Name").value("web-1").build())
            .tags(Tag::builder().key("team").value("").build())
            .launch_time(DateTime::from_secs(1_700_000_000))
            .build();
        page(vec![tagged, instance(ID_B, "hibernating"), instance("not-an-id", "running")], None)
    });
    let (inventory, _) = ec2(&[&rule]);

    let facts = inventory.all_instances().await.unwrap();

    assert_eq!(facts.len(), 1, "unknown states and malformed ids are skipped");
    let facts = &facts[0];
    assert_eq!(facts.id, id(ID_A));
    assert_eq!(facts.state, InstanceState::ShuttingDown);
    assert_eq!(
        facts.tags,
        BTreeMap::from([("Name".to_owned(), "web-1".to_owned()), ("team".to_owned(), String::new()),])
    );
    assert_eq!(facts.launch_time, Some(UnixTime(1_700_000_000)));
    assert_eq!(facts.platform, Platform::Linux, "no Platform field: Linux");
}

#[tokio::test]
async fn windows_instances_are_recognised_by_their_platform_field() {
    let rule = mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| {
        let windows = Instance::builder()
            .instance_id(ID_A)
            .state(aws_sdk_ec2::types::InstanceState::builder().name(InstanceStateName::Running).build())
            .platform(PlatformValues::Windows)
            .build();
        page(vec![windows, instance(ID_B, "running")], None)
    });
    let (inventory, _) = ec2(&[&rule]);

    let facts = inventory.all_instances().await.unwrap();

    let platforms: Vec<(InstanceId, Platform)> = facts.into_iter().map(|f| (f.id, f.platform)).collect();
    assert_eq!(platforms, vec![(id(ID_A), Platform::Windows), (id(ID_B), Platform::Linux)]);
}

fn alarm(name: &str) -> MetricAlarm {
    MetricAlarm::builder().alarm_name(name).build()
}

#[tokio::test]
async fn describe_alarms_sends_prefix_and_type_and_reads_every_page() {
    let is_query = |r: &aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsInput| {
        r.alarm_name_prefix() == Some("ec2-disk-")
            && r.alarm_types() == [AlarmType::MetricAlarm]
            && r.max_records() == Some(100)
            && r.alarm_names().is_empty()
    };
    let first = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(move |r| is_query(r) && r.next_token().is_none())
        .then_output(|| {
            DescribeAlarmsOutput::builder()
                .metric_alarms(alarm("ec2-disk-i-1234abcd-warning"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(move |r| is_query(r) && r.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeAlarmsOutput::builder().metric_alarms(alarm("ec2-disk-i-1234abcd-critical")).build()
        });
    let (store, calls) = cloudwatch(&[&first, &second]);

    let alarms = store.alarms_with_prefix("ec2-disk-").await.unwrap();

    let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["ec2-disk-i-1234abcd-warning", "ec2-disk-i-1234abcd-critical"]);
    assert_eq!(calls.get("DescribeAlarms"), 2);
}

fn cw_dimension(name: &str, value: &str) -> aws_sdk_cloudwatch::types::Dimension {
    aws_sdk_cloudwatch::types::Dimension::builder().name(name).value(value).build()
}

const WARNING_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:disk-warning";
const OPS_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ops";

#[tokio::test]
async fn metric_alarm_converts_to_alarm_config() {
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
        let full = MetricAlarm::builder()
            .alarm_name("ec2-disk-i-1234abcd-warning")
            .alarm_description("disk\n[managed-by: ec2-disk-alarms]")
            .namespace("CWAgent")
            .metric_name("disk_used_percent")
            .dimensions(cw_dimension("path", "/"))
            .dimensions(cw_dimension("InstanceId", ID_B))
            .statistic(Statistic::Average)
            .period(300)
            .evaluation_periods(3)
            .datapoints_to_alarm(2)
            .threshold(80.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data("breaching")
            .actions_enabled(false)
            .alarm_actions(WARNING_TOPIC)
            .alarm_actions(OPS_TOPIC)
            .ok_actions(OPS_TOPIC)
            .insufficient_data_actions(WARNING_TOPIC)
            .build();
        let sparse = MetricAlarm::builder()
            .alarm_name("ec2-disk-i-1234abcd-critical")
            .statistic(Statistic::Maximum)
            .extended_statistic("p99")
            .build();
        DescribeAlarmsOutput::builder()
            .metric_alarms(full)
            .metric_alarms(sparse)
            .metric_alarms(alarm(""))
            .build()
    });
    let (store, _) = cloudwatch(&[&rule]);

    let alarms = store.alarms_with_prefix("ec2-disk-").await.unwrap();

    assert_eq!(alarms.len(), 2, "a nameless alarm is skipped");
    assert_eq!(
        alarms[0].config,
        AlarmConfig {
            description: "disk\n[managed-by: ec2-disk-alarms]".into(),
            namespace: "CWAgent".into(),
            metric_name: "disk_used_percent".into(),
            dimensions: vec![Dimension::new("InstanceId", ID_B), Dimension::new("path", "/")],
            statistic: "Average".into(),
            period_seconds: 300,
            evaluation_periods: 3,
            datapoints_to_alarm: Some(2),
            threshold: 80.0,
            comparison_operator: "GreaterThanOrEqualToThreshold".into(),
            treat_missing_data: "breaching".into(),
            actions_enabled: false,
            alarm_actions: vec![WARNING_TOPIC.into(), OPS_TOPIC.into()],
            ok_actions: vec![OPS_TOPIC.into()],
            insufficient_data_actions: vec![WARNING_TOPIC.into()],
            math: None,
        }
    );
    assert_eq!(
        alarms[1].config,
        AlarmConfig {
            description: String::new(),
            namespace: String::new(),
            metric_name: String::new(),
            dimensions: vec![],
            statistic: "p99".into(),
            period_seconds: 0,
            evaluation_periods: 0,
            datapoints_to_alarm: None,
            threshold: 0.0,
            comparison_operator: "".into(),
            treat_missing_data: "missing".into(),
            actions_enabled: true,
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            math: None,
        }
    );
}

#[tokio::test]
async fn metric_alarm_state_and_since_when_are_read() {
    use aws_sdk_cloudwatch::types::StateValue as CwState;
    let at = |secs: i64| aws_smithy_types::DateTime::from_secs(secs);
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(move || {
        let with = |name: &str, value: Option<CwState>, updated: Option<i64>, transitioned: Option<i64>| {
            MetricAlarm::builder()
                .alarm_name(name)
                .set_state_value(value)
                .set_state_updated_timestamp(updated.map(at))
                .set_state_transitioned_timestamp(transitioned.map(at))
                .build()
        };
        DescribeAlarmsOutput::builder()
            // Only StateUpdatedTimestamp, as the emulator answers.
            .metric_alarms(with("a-silent", Some(CwState::InsufficientData), Some(1_800_000_000), None))
            // Both: the transition is when the state began.
            .metric_alarms(with("b-ok", Some(CwState::Ok), Some(1_800_000_600), Some(1_800_000_300)))
            .metric_alarms(with("c-alarm", Some(CwState::Alarm), Some(1_800_000_900), None))
            .metric_alarms(with("d-no-time", Some(CwState::Ok), None, None))
            .metric_alarms(with("e-no-state", None, Some(1_800_000_000), None))
            .metric_alarms(with("f-unknown", Some(CwState::from("PENDING")), Some(1_800_000_000), None))
            .build()
    });
    let (store, calls) = cloudwatch(&[&rule]);

    let alarms = store.alarms_with_prefix("ec2-disk-").await.unwrap();

    let states: Vec<(&str, Option<AlarmState>)> = alarms.iter().map(|a| (a.name.as_str(), a.state)).collect();
    let state = |value, secs| Some(AlarmState::new(value, UnixTime(secs)));
    assert_eq!(
        states,
        [
            ("a-silent", state(StateValue::InsufficientData, 1_800_000_000)),
            ("b-ok", state(StateValue::Ok, 1_800_000_300)),
            ("c-alarm", state(StateValue::Alarm, 1_800_000_900)),
            ("d-no-time", None),
            ("e-no-state", None),
            ("f-unknown", None),
        ]
    );
    // The state comes with the alarms: no call besides the listing.
    assert_eq!(calls.snapshot(), BTreeMap::from([("DescribeAlarms", 1)]));
}

fn desired(config: AlarmConfig) -> DesiredAlarm {
    DesiredAlarm {
        name: AlarmName::parse("ec2-disk-i-1234abcd-warning").unwrap(),
        instance: id(ID_B),
        severity: Severity::Warning,
        filesystem: "unlabeled".into(),
        config,
    }
}

fn config() -> AlarmConfig {
    AlarmConfig {
        description: "Disk / on web-1\n[managed-by: ec2-disk-alarms]".into(),
        namespace: "CWAgent".into(),
        metric_name: "disk_used_percent".into(),
        dimensions: vec![Dimension::new("InstanceId", ID_B), Dimension::new("path", "/")],
        statistic: "Maximum".into(),
        period_seconds: 300,
        evaluation_periods: 3,
        datapoints_to_alarm: Some(2),
        threshold: 80.0,
        comparison_operator: "GreaterThanOrEqualToThreshold".into(),
        treat_missing_data: "missing".into(),
        actions_enabled: true,
        alarm_actions: vec![WARNING_TOPIC.into()],
        ok_actions: vec![OPS_TOPIC.into()],
        insufficient_data_actions: vec![],
        math: None,
    }
}

#[tokio::test]
async fn put_alarm_sends_every_field() {
    let expected = PutMetricAlarmInput::builder()
        .alarm_name("ec2-disk-i-1234abcd-warning")
        .alarm_description("Disk / on web-1\n[managed-by: ec2-disk-alarms]")
        .namespace("CWAgent")
        .metric_name("disk_used_percent")
        .dimensions(cw_dimension("InstanceId", ID_B))
        .dimensions(cw_dimension("path", "/"))
        .statistic(Statistic::Maximum)
        .period(300)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(80.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("missing")
        .actions_enabled(true)
        .alarm_actions(WARNING_TOPIC)
        .ok_actions(OPS_TOPIC)
        .set_insufficient_data_actions(Some(vec![]))
        .tags(CloudWatchTag::builder().key("ManagedBy").value("ec2-disk-alarms").build())
        .tags(CloudWatchTag::builder().key("team").value("platform").build())
        .build()
        .unwrap();
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_alarm)
        .match_requests(move |r| *r == expected)
        .then_output(|| PutMetricAlarmOutput::builder().build());
    let (store, calls) = cloudwatch(&[&rule]);
    let tags = [AlarmTag::new("ManagedBy", "ec2-disk-alarms"), AlarmTag::new("team", "platform")];

    store.put_alarm(&desired(config()), &tags).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
    assert_eq!(calls.get("PutMetricAlarm"), 1);
}

#[tokio::test]
async fn put_alarm_sends_percentiles_as_extended_statistic() {
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_alarm)
        .match_requests(|r| {
            r.statistic().is_none()
                && r.extended_statistic() == Some("p99")
                && r.datapoints_to_alarm().is_none()
                // An update: no tags, which CloudWatch would ignore anyway.
                && r.tags().is_empty()
        })
        .then_output(|| PutMetricAlarmOutput::builder().build());
    let (store, _) = cloudwatch(&[&rule]);
    let config = AlarmConfig { statistic: "p99".into(), datapoints_to_alarm: None, ..config() };

    store.put_alarm(&desired(config), &[]).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
}

fn forecast_config() -> AlarmConfig {
    AlarmConfig {
        statistic: "Average".into(),
        period_seconds: 3600,
        threshold: 24.0,
        comparison_operator: "LessThanThreshold".into(),
        ok_actions: vec![WARNING_TOPIC.into()],
        math: Some(reconciler_core::MetricMath {
            expression: "IF((m1 >= 50) AND (RATE(m1) > 0), (100 - m1) / (RATE(m1) * 3600), 100000)".into(),
            metric_id: "m1".into(),
            other_metrics: vec![],
        }),
        ..config()
    }
}

/// The metric query and the expression `put_alarm` sends for a metric-math alarm.
fn forecast_queries() -> [MetricDataQuery; 2] {
    let metric = Metric::builder()
        .namespace("CWAgent")
        .metric_name("disk_used_percent")
        .dimensions(cw_dimension("InstanceId", ID_B))
        .dimensions(cw_dimension("path", "/"))
        .build();
    let stat = MetricStat::builder().metric(metric).period(3600).stat("Average").build();
    [
        MetricDataQuery::builder().id("m1").metric_stat(stat).return_data(false).build(),
        MetricDataQuery::builder()
            .id("hours_left")
            .expression(forecast_config().math.unwrap().expression)
            .label("hours until full")
            .return_data(true)
            .build(),
    ]
}

#[tokio::test]
async fn put_alarm_sends_a_math_alarm_as_metrics_without_a_top_level_metric() {
    let [metric, expression] = forecast_queries();
    let expected = PutMetricAlarmInput::builder()
        .alarm_name("ec2-disk-i-1234abcd-warning")
        .alarm_description("Disk / on web-1\n[managed-by: ec2-disk-alarms]")
        .metrics(metric)
        .metrics(expression)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(24.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .treat_missing_data("missing")
        .actions_enabled(true)
        .alarm_actions(WARNING_TOPIC)
        .ok_actions(WARNING_TOPIC)
        .set_insufficient_data_actions(Some(vec![]))
        .build()
        .unwrap();
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_alarm)
        .match_requests(move |r| *r == expected)
        .then_output(|| PutMetricAlarmOutput::builder().build());
    let (store, _) = cloudwatch(&[&rule]);

    store.put_alarm(&desired(forecast_config()), &[]).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_math_alarm_reads_back_as_what_was_sent_and_extra_metrics_are_kept() {
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(|| {
        let [metric, expression] = forecast_queries();
        let math = |name: &str, extra: Option<MetricDataQuery>| {
            let c = forecast_config();
            MetricAlarm::builder()
                .alarm_name(name)
                .alarm_description(c.description)
                .set_metrics(Some(
                    [vec![metric.clone(), expression.clone()], extra.into_iter().collect()].concat(),
                ))
                .evaluation_periods(3)
                .datapoints_to_alarm(2)
                .threshold(24.0)
                .comparison_operator(ComparisonOperator::LessThanThreshold)
                .treat_missing_data("missing")
                .actions_enabled(true)
                .alarm_actions(WARNING_TOPIC)
                .ok_actions(WARNING_TOPIC)
                .build()
        };
        let other = MetricDataQuery::builder()
            .id("m2")
            .metric_stat(
                MetricStat::builder()
                    .metric(Metric::builder().namespace("CWAgent").metric_name("disk_inodes_free").build())
                    .period(3600)
                    .stat("Average")
                    .build(),
            )
            .return_data(false)
            .build();
        DescribeAlarmsOutput::builder()
            .metric_alarms(math("ec2-disk-a", None))
            .metric_alarms(math("ec2-disk-b", Some(other)))
            .build()
    });
    let (store, _) = cloudwatch(&[&rule]);

    let alarms = store.alarms_with_prefix("ec2-disk-").await.unwrap();

    assert_eq!(alarms[0].config, forecast_config(), "the desired configuration reads back equal");
    assert_eq!(alarms[0].config.billed_metrics(), 1);
    let extra = &alarms[1].config;
    assert_eq!(extra.math.as_ref().unwrap().other_metrics, ["m2 CWAgent/disk_inodes_free"]);
    assert_eq!(extra.billed_metrics(), 2);
    assert!(!reconciler_core::diff(extra, &forecast_config()).is_empty());
}

fn names(count: usize) -> Vec<AlarmName> {
    (0..count).map(|n| AlarmName::parse(&format!("ec2-disk-i-{n:08x}-warning")).unwrap()).collect()
}

#[tokio::test]
async fn delete_alarms_sends_the_names_in_one_call() {
    let rule = mock!(aws_sdk_cloudwatch::Client::delete_alarms)
        .match_requests(|r| r.alarm_names() == ["ec2-disk-i-00000000-warning", "ec2-disk-i-00000001-warning"])
        .then_output(|| DeleteAlarmsOutput::builder().build());
    let (store, calls) = cloudwatch(&[&rule]);

    store.delete_alarms(&names(2)).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
    assert_eq!(calls.get("DeleteAlarms"), 1);
}

#[tokio::test]
async fn delete_alarms_takes_a_full_batch() {
    let rule = mock!(aws_sdk_cloudwatch::Client::delete_alarms)
        .match_requests(|r| r.alarm_names().len() == MAX_DELETE_BATCH)
        .then_output(|| DeleteAlarmsOutput::builder().build());
    let (store, _) = cloudwatch(&[&rule]);

    store.delete_alarms(&names(MAX_DELETE_BATCH)).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn delete_alarms_refuses_more_than_a_batch_without_calling() {
    let (store, calls) = cloudwatch(&[]);

    let error = store.delete_alarms(&names(MAX_DELETE_BATCH + 1)).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Refused);
    assert!(!error.retryable());
    assert_eq!(calls.get("DeleteAlarms"), 0);
}

#[tokio::test]
async fn delete_alarms_without_names_makes_no_call() {
    let (store, calls) = cloudwatch(&[]);
    store.delete_alarms(&[]).await.unwrap();
    assert_eq!(calls.get("DeleteAlarms"), 0);
}

fn error_meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

#[tokio::test]
async fn cloudwatch_throttling_is_throttled_and_retryable() {
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .then_error(|| DescribeAlarmsError::generic(error_meta("Throttling", "Rate exceeded")));
    let (store, calls) = cloudwatch(&[&rule]);

    let error = store.alarms_with_prefix("ec2-disk-").await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Throttled);
    assert!(error.retryable());
    assert_eq!(error.operation, "DescribeAlarms");
    assert!(error.message.contains("Throttling: Rate exceeded"), "{error}");
    assert_eq!(calls.get("DescribeAlarms"), 1);
}

#[tokio::test]
async fn ec2_request_limit_exceeded_is_throttled() {
    let rule = mock!(aws_sdk_ec2::Client::describe_instances).then_error(|| {
        DescribeInstancesError::generic(error_meta("RequestLimitExceeded", "Request limit exceeded."))
    });
    let (inventory, _) = ec2(&[&rule]);

    let error = inventory.all_instances().await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Throttled);
    assert!(error.retryable());
}

#[tokio::test]
async fn access_denied_is_refused() {
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_alarm).then_error(|| {
        PutMetricAlarmError::generic(error_meta(
            "AccessDenied",
            "not authorized to perform: cloudwatch:PutMetricAlarm",
        ))
    });
    let (store, _) = cloudwatch(&[&rule]);

    let error = store.put_alarm(&desired(config()), &[]).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Refused);
    assert!(!error.retryable());
    assert!(error.message.starts_with("AccessDenied: not authorized"), "{error}");
}

#[tokio::test]
async fn server_error_is_transient() {
    let rule = mock!(aws_sdk_cloudwatch::Client::delete_alarms).sequence().http_status(503, None).build();
    let (store, _) = cloudwatch(&[&rule]);

    let error = store.delete_alarms(&names(1)).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Transient, "{error}");
    assert!(error.retryable());
}

#[tokio::test]
async fn sdk_retries_a_throttled_call_until_it_succeeds() {
    let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .error(|| DescribeAlarmsError::generic(error_meta("ThrottlingException", "slow down")))
        .times(1)
        .output(|| {
            DescribeAlarmsOutput::builder().metric_alarms(alarm("ec2-disk-i-1234abcd-warning")).build()
        })
        .build();
    // Standard mode as in production, with a backoff short enough for a test.
    let retry = RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1));
    let (store, calls) = cloudwatch_with(&[&rule], retry);

    let alarms = store.alarms_with_prefix("ec2-disk-").await.unwrap();

    assert_eq!(alarms.len(), 1);
    assert_eq!(rule.num_calls(), 2, "one throttled attempt, one retry");
    assert_eq!(calls.get("DescribeAlarms"), 1, "the retry is inside one page request");
}

// Maintenance mutes: `PutAlarmMuteRule`, `DeleteAlarmMuteRule`, `ListAlarmMuteRules`.

const MUTE_RULE: &str = "ec2-disk-mute-i-1234abcd-0123456789abcdef";
/// 2026-12-05T13:50:00Z.
const MUTE_START: i64 = 1_796_478_600;

fn mute_rule() -> MuteRule {
    MuteRule {
        name: MUTE_RULE.into(),
        instance: id(ID_B),
        alarms: vec![
            AlarmName::parse("ec2-disk-i-1234abcd-warning").unwrap(),
            AlarmName::parse("ec2-disk-i-1234abcd-critical").unwrap(),
        ],
        // One hour and forty minutes.
        window: MuteWindow { start: UnixTime(MUTE_START), end: UnixTime(MUTE_START + 6000) },
        description: "Scheduled maintenance of i-1234abcd\n[managed-by: ec2-disk-alarms]".into(),
    }
}

#[tokio::test]
async fn put_mute_rule_sends_a_one_time_schedule_targets_and_expiry() {
    let expected = PutAlarmMuteRuleInput::builder()
        .name(MUTE_RULE)
        .description("Scheduled maintenance of i-1234abcd\n[managed-by: ec2-disk-alarms]")
        .rule(
            aws_sdk_cloudwatch::types::Rule::builder()
                .schedule(Schedule::builder().expression("at(2026-12-05T13:50)").duration("PT1H40M").build())
                .build(),
        )
        .mute_targets(
            MuteTargets::builder()
                .alarm_names("ec2-disk-i-1234abcd-warning")
                .alarm_names("ec2-disk-i-1234abcd-critical")
                .build(),
        )
        .expire_date(DateTime::from_secs(MUTE_START + 6000))
        .build()
        .unwrap();
    let rule = mock!(aws_sdk_cloudwatch::Client::put_alarm_mute_rule)
        .match_requests(move |r| {
            *r == expected
                && r.start_date().is_none()
                && r.rule().and_then(|r| r.schedule()).and_then(|s| s.timezone()).is_none()
        })
        .then_output(|| PutAlarmMuteRuleOutput::builder().build());
    let (store, calls) = cloudwatch(&[&rule]);

    store.put_mute_rule(&mute_rule()).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
    assert_eq!(calls.get("PutAlarmMuteRule"), 1);
}

#[tokio::test]
async fn delete_mute_rule_sends_the_name() {
    let rule = mock!(aws_sdk_cloudwatch::Client::delete_alarm_mute_rule)
        .match_requests(|r| r.alarm_mute_rule_name() == Some(MUTE_RULE))
        .then_output(|| DeleteAlarmMuteRuleOutput::builder().build());
    let (store, calls) = cloudwatch(&[&rule]);

    store.delete_mute_rule(MUTE_RULE).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
    assert_eq!(calls.get("DeleteAlarmMuteRule"), 1);
}

#[tokio::test]
async fn delete_mute_rule_that_does_not_exist_is_done() {
    let not_found = |code: &'static str| {
        mock!(aws_sdk_cloudwatch::Client::delete_alarm_mute_rule)
            .then_error(move || DeleteAlarmMuteRuleError::generic(error_meta(code, "no such mute rule")))
    };
    let (exception, legacy) = (not_found("ResourceNotFoundException"), not_found("ResourceNotFound"));
    let (store, calls) = cloudwatch(&[&exception, &legacy]);

    store.delete_mute_rule(MUTE_RULE).await.unwrap();
    store.delete_mute_rule(MUTE_RULE).await.unwrap();

    assert_eq!((exception.num_calls(), legacy.num_calls()), (1, 1));
    assert_eq!(calls.get("DeleteAlarmMuteRule"), 2);
}

/// What `put_mute_rule` wrote comes back as the same rule: the alarms it
/// names and its window, from the one-time schedule and the expiry date.
#[tokio::test]
async fn get_mute_rule_reads_back_what_put_mute_rule_writes() {
    let written = mute_rule();
    let output = {
        let written = written.clone();
        move || {
            GetAlarmMuteRuleOutput::builder()
                .name(&written.name)
                .description(&written.description)
                .rule(
                    aws_sdk_cloudwatch::types::Rule::builder()
                        .schedule(
                            Schedule::builder()
                                .expression(written.window.schedule_expression())
                                .duration(written.window.duration())
                                .build(),
                        )
                        .build(),
                )
                .mute_targets(
                    MuteTargets::builder()
                        .set_alarm_names(Some(written.alarms.iter().map(|a| a.to_string()).collect()))
                        .build(),
                )
                .expire_date(DateTime::from_secs(written.window.end.0))
                .status(AlarmMuteRuleStatus::Scheduled)
                .build()
        }
    };
    let found = mock!(aws_sdk_cloudwatch::Client::get_alarm_mute_rule)
        .match_requests(|r| r.alarm_mute_rule_name() == Some(MUTE_RULE))
        .then_output(output);
    let missing = mock!(aws_sdk_cloudwatch::Client::get_alarm_mute_rule).then_error(|| {
        GetAlarmMuteRuleError::generic(error_meta("ResourceNotFoundException", "no such rule"))
    });
    let odd = mock!(aws_sdk_cloudwatch::Client::get_alarm_mute_rule).then_output(|| {
        GetAlarmMuteRuleOutput::builder()
            .name("ec2-disk-mute-odd")
            .rule(
                aws_sdk_cloudwatch::types::Rule::builder()
                    .schedule(Schedule::builder().expression("cron(0 2 * * ? *)").duration("PT1H").build())
                    .build(),
            )
            .build()
    });
    let (store, calls) = cloudwatch(&[&found, &missing, &odd]);

    let read = store.mute_rule(MUTE_RULE).await.unwrap().expect("the rule exists");
    assert_eq!(
        (read.name.as_str(), &read.alarms, read.window, read.description.as_str()),
        (written.name.as_str(), &written.alarms, Some(written.window), written.description.as_str())
    );
    assert_eq!(store.mute_rule(MUTE_RULE).await.unwrap(), None, "a rule deleted since it was listed");
    let odd = store.mute_rule("ec2-disk-mute-odd").await.unwrap().expect("it exists");
    assert_eq!(odd.window, None, "a schedule this product does not write is not taken for a window");
    assert_eq!(calls.get("GetAlarmMuteRule"), 3);
}

#[tokio::test]
async fn delete_mute_rule_still_throttled_after_the_sdk_retries_is_throttled() {
    let rule = mock!(aws_sdk_cloudwatch::Client::delete_alarm_mute_rule)
        .sequence()
        .error(|| DeleteAlarmMuteRuleError::generic(error_meta("ThrottlingException", "slow down")))
        .times(3)
        .build();
    let retry = RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1));
    let (store, calls) = cloudwatch_with(&[&rule], retry);

    let error = store.delete_mute_rule(MUTE_RULE).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Throttled);
    assert_eq!(error.operation, "DeleteAlarmMuteRule");
    assert_eq!(error.code.as_deref(), Some("ThrottlingException"), "the service's code is kept");
    assert_eq!(rule.num_calls(), 3, "the SDK's three attempts");
    assert_eq!(calls.get("DeleteAlarmMuteRule"), 1);
}

fn mute_summary(
    name: &str,
    status: Option<AlarmMuteRuleStatus>,
    expires: Option<i64>,
) -> AlarmMuteRuleSummary {
    AlarmMuteRuleSummary::builder()
        .alarm_mute_rule_arn(format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm-mute-rule:{name}"))
        .set_status(status)
        .set_expire_date(expires.map(DateTime::from_secs))
        .mute_type("ONE_TIME")
        .build()
}

#[tokio::test]
async fn mute_rules_reads_every_page_and_keeps_the_prefix() {
    const ALARM: &str = "ec2-disk-i-1234abcd-warning";
    let first = mock!(aws_sdk_cloudwatch::Client::list_alarm_mute_rules)
        .match_requests(|r| r.alarm_name() == Some(ALARM) && r.next_token().is_none())
        .then_output(|| {
            ListAlarmMuteRulesOutput::builder()
                .alarm_mute_rule_summaries(mute_summary(
                    MUTE_RULE,
                    Some(AlarmMuteRuleStatus::Scheduled),
                    Some(MUTE_START + 6000),
                ))
                .alarm_mute_rule_summaries(mute_summary(
                    "weekly-patching",
                    Some(AlarmMuteRuleStatus::Active),
                    None,
                ))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_cloudwatch::Client::list_alarm_mute_rules)
        .match_requests(|r| r.alarm_name() == Some(ALARM) && r.next_token() == Some("page-2"))
        .then_output(|| {
            ListAlarmMuteRulesOutput::builder()
                .alarm_mute_rule_summaries(mute_summary(
                    "ec2-disk-mute-i-1234abcd-fedcba9876543210",
                    Some(AlarmMuteRuleStatus::Expired),
                    Some(MUTE_START),
                ))
                .alarm_mute_rule_summaries(mute_summary(
                    "ec2-disk-mute-i-0123456789abcdef0-0000000000000000",
                    None,
                    None,
                ))
                .alarm_mute_rule_summaries(AlarmMuteRuleSummary::builder().build())
                .build()
        });
    let (store, calls) = cloudwatch(&[&first, &second]);
    let alarm = AlarmName::parse(ALARM).unwrap();

    let rules = store.mute_rules("ec2-disk-mute-", Some(&alarm)).await.unwrap();

    let observed = |name: &str, status: &str, expires: Option<i64>| ObservedMuteRule {
        name: name.into(),
        status: reconciler_core::maintenance::MuteRuleStatus::parse(status),
        expires: expires.map(UnixTime),
    };
    assert_eq!(
        rules,
        [
            observed(MUTE_RULE, "SCHEDULED", Some(MUTE_START + 6000)),
            observed("ec2-disk-mute-i-1234abcd-fedcba9876543210", "EXPIRED", Some(MUTE_START)),
            observed("ec2-disk-mute-i-0123456789abcdef0-0000000000000000", "UNKNOWN", None),
        ],
        "other prefixes and summaries without an ARN are left out"
    );
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert_eq!(calls.get("ListAlarmMuteRules"), 2);
}

#[tokio::test]
async fn mute_rules_without_an_alarm_sends_no_alarm_filter() {
    let rule = mock!(aws_sdk_cloudwatch::Client::list_alarm_mute_rules)
        .match_requests(|r| r.alarm_name().is_none() && r.statuses().is_empty())
        .then_output(|| {
            ListAlarmMuteRulesOutput::builder()
                .alarm_mute_rule_summaries(mute_summary(MUTE_RULE, Some(AlarmMuteRuleStatus::Active), None))
                .build()
        });
    let (store, _) = cloudwatch(&[&rule]);

    let rules = store.mute_rules("ec2-disk-mute-", None).await.unwrap();

    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].status.as_str(), "ACTIVE");
    assert_eq!(rule.num_calls(), 1);
}

// Auto Scaling groups: `DescribeAutoScalingInstances`, `DescribeAutoScalingGroups`.

fn in_group(instance: &str, group: &str) -> AutoScalingInstanceDetails {
    AutoScalingInstanceDetails::builder().instance_id(instance).auto_scaling_group_name(group).build()
}

fn instances_page(
    details: Vec<AutoScalingInstanceDetails>,
    next_token: Option<&str>,
) -> DescribeAutoScalingInstancesOutput {
    DescribeAutoScalingInstancesOutput::builder()
        .set_auto_scaling_instances(Some(details))
        .set_next_token(next_token.map(str::to_owned))
        .build()
}

#[tokio::test]
async fn groups_of_sends_at_most_50_ids_per_call() {
    let ids: Vec<InstanceId> = (0..120).map(|n| id(&format!("i-{n:08x}"))).collect();
    let strings: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let batch = |range: std::ops::Range<usize>, details: Vec<AutoScalingInstanceDetails>| {
        let expected = strings[range].to_vec();
        mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_instances)
            .match_requests(move |r: &DescribeAutoScalingInstancesInput| {
                r.instance_ids() == expected && r.max_records() == Some(50) && r.next_token().is_none()
            })
            .then_output(move || instances_page(details.clone(), None))
    };
    let first = batch(0..50, vec![in_group("i-00000000", "web"), in_group("i-00000001", "batch")]);
    let second = batch(50..100, vec![]);
    let third = batch(100..120, vec![in_group("i-00000077", "web")]);
    let (inventory, calls) = autoscaling(&[&first, &second, &third]);

    let groups = inventory.groups_of(&ids).await.unwrap();

    assert_eq!(
        groups,
        [
            (id("i-00000000"), "web".to_owned()),
            (id("i-00000001"), "batch".to_owned()),
            (id("i-00000077"), "web".to_owned()),
        ]
    );
    assert_eq!(MAX_GROUP_LOOKUP_BATCH, 50);
    assert_eq!((first.num_calls(), second.num_calls(), third.num_calls()), (1, 1, 1));
    assert_eq!(calls.get("DescribeAutoScalingInstances"), 3);
}

#[tokio::test]
async fn groups_of_reads_every_page_and_skips_malformed_records() {
    let first = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_instances)
        .match_requests(|r| r.instance_ids() == [ID_A, ID_B] && r.next_token().is_none())
        .then_output(|| instances_page(vec![in_group(ID_A, "web")], Some("page-2")));
    let second = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_instances)
        .match_requests(|r| r.instance_ids() == [ID_A, ID_B] && r.next_token() == Some("page-2"))
        .then_output(|| {
            let no_group = AutoScalingInstanceDetails::builder().instance_id(ID_B).build();
            instances_page(vec![no_group, in_group("not-an-id", "web"), in_group(ID_B, "batch")], None)
        });
    let (inventory, calls) = autoscaling(&[&first, &second]);

    let groups = inventory.groups_of(&[id(ID_A), id(ID_B)]).await.unwrap();

    assert_eq!(groups, [(id(ID_A), "web".to_owned()), (id(ID_B), "batch".to_owned())]);
    assert_eq!(calls.get("DescribeAutoScalingInstances"), 2);
}

#[tokio::test]
async fn groups_of_without_ids_makes_no_call() {
    let (inventory, calls) = autoscaling(&[]);
    assert!(inventory.groups_of(&[]).await.unwrap().is_empty());
    assert_eq!(calls.get("DescribeAutoScalingInstances"), 0);
}

#[tokio::test]
async fn autoscaling_throttling_is_throttled() {
    let rule = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_instances)
        .then_error(|| DescribeAutoScalingInstancesError::generic(error_meta("Throttling", "Rate exceeded")));
    let (inventory, _) = autoscaling(&[&rule]);

    let error = inventory.groups_of(&[id(ID_A)]).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Throttled);
    assert_eq!(error.operation, "DescribeAutoScalingInstances");
}

fn asg(name: &str, tags: &[(&str, &str)]) -> aws_sdk_autoscaling::types::AutoScalingGroup {
    let tags = tags
        .iter()
        .map(|(key, value)| {
            TagDescription::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(*key)
                .value(*value)
                .propagate_at_launch(false)
                .build()
        })
        .collect();
    aws_sdk_autoscaling::types::AutoScalingGroup::builder()
        .auto_scaling_group_name(name)
        .set_tags(Some(tags))
        .build()
}

#[tokio::test]
async fn groups_map_tags_in_batches_of_50_names_and_read_every_page() {
    let names: Vec<String> = (0..60).map(|n| format!("asg-{n:03}")).collect();
    let query = |range: std::ops::Range<usize>, token: Option<&'static str>| {
        let expected = names[range].to_vec();
        move |r: &DescribeAutoScalingGroupsInput| {
            r.auto_scaling_group_names() == expected
                && r.include_instances() == Some(false)
                && r.next_token() == token
        }
    };
    let first = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(query(0..50, None))
        .then_output(|| {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(asg("asg-000", &[("disk-alarms", "off"), ("team", "")]))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(query(0..50, Some("page-2")))
        .then_output(|| {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(asg("asg-001", &[("disk-alarms", "on")]))
                .build()
        });
    let third = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
        .match_requests(query(50..60, None))
        .then_output(|| {
            DescribeAutoScalingGroupsOutput::builder().auto_scaling_groups(asg("asg-055", &[])).build()
        });
    let (inventory, calls) = autoscaling(&[&first, &second, &third]);

    let groups = inventory.groups(&names).await.unwrap();

    let group = |name: &str, tags: &[(&str, &str)]| AutoScalingGroup {
        name: name.into(),
        tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    };
    assert_eq!(
        groups,
        [
            group("asg-000", &[("disk-alarms", "off"), ("team", "")]),
            group("asg-001", &[("disk-alarms", "on")]),
            group("asg-055", &[]),
        ]
    );
    assert_eq!((first.num_calls(), second.num_calls(), third.num_calls()), (1, 1, 1));
    assert_eq!(calls.get("DescribeAutoScalingGroups"), 3);
}

#[tokio::test]
async fn groups_without_names_makes_no_call() {
    let (inventory, calls) = autoscaling(&[]);
    assert!(inventory.groups(&[]).await.unwrap().is_empty());
    assert_eq!(calls.get("DescribeAutoScalingGroups"), 0);
}

#[tokio::test]
async fn list_metrics_filters_by_instance_asks_for_recent_series_and_reads_every_page() {
    use aws_sdk_cloudwatch::operation::list_metrics::{ListMetricsInput, ListMetricsOutput};
    use aws_sdk_cloudwatch::types::{Metric, RecentlyActive};
    let is_query = |r: &ListMetricsInput, instance: Option<&str>| {
        let filter: Vec<(Option<&str>, Option<&str>)> =
            r.dimensions().iter().map(|d| (d.name(), d.value())).collect();
        r.namespace() == Some("CWAgent")
            && r.metric_name() == Some("disk_used_percent")
            && r.recently_active() == Some(&RecentlyActive::Pt3H)
            && filter == instance.map(|i| (Some("InstanceId"), Some(i))).into_iter().collect::<Vec<_>>()
    };
    let series = |path: &str| {
        Metric::builder()
            .namespace("CWAgent")
            .metric_name("disk_used_percent")
            .dimensions(cw_dimension("path", path))
            .dimensions(cw_dimension("InstanceId", "i-1234abcd"))
            .build()
    };
    let first = mock!(aws_sdk_cloudwatch::Client::list_metrics)
        .match_requests(move |r| is_query(r, Some("i-1234abcd")) && r.next_token().is_none())
        .then_output(move || ListMetricsOutput::builder().metrics(series("/")).next_token("page-2").build());
    let second = mock!(aws_sdk_cloudwatch::Client::list_metrics)
        .match_requests(move |r| is_query(r, Some("i-1234abcd")) && r.next_token() == Some("page-2"))
        .then_output(move || ListMetricsOutput::builder().metrics(series("/data")).build());
    let account_wide = mock!(aws_sdk_cloudwatch::Client::list_metrics)
        .match_requests(move |r| is_query(r, None))
        .then_output(move || ListMetricsOutput::builder().metrics(series("/")).build());
    let (store, calls) = cloudwatch(&[&first, &second, &account_wide]);

    let instance = InstanceId::parse("i-1234abcd").unwrap();
    let found = store.published_series("CWAgent", "disk_used_percent", Some(&instance)).await.unwrap();
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    // Dimensions come back sorted, whatever order CloudWatch lists them in.
    assert_eq!(shown, ["InstanceId=i-1234abcd, path=/", "InstanceId=i-1234abcd, path=/data"]);
    assert_eq!(calls.get("ListMetrics"), 2);

    let all = store.published_series("CWAgent", "disk_used_percent", None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(calls.get("ListMetrics"), 3);
}

#[tokio::test]
async fn tags_are_read_and_added_by_alarm_arn() {
    const ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ec2-disk-i-1234abcd-c-warning";
    let list = mock!(aws_sdk_cloudwatch::Client::list_tags_for_resource)
        .match_requests(|r| r.resource_arn() == Some(ARN))
        .then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(CloudWatchTag::builder().key("ManagedBy").value("ec2-disk-alarms").build())
                .build()
        });
    let tag = mock!(aws_sdk_cloudwatch::Client::tag_resource)
        .match_requests(|r| {
            r.resource_arn() == Some(ARN)
                && r.tags().iter().map(|t| (t.key(), t.value())).collect::<Vec<_>>()
                    == [(Some("team"), Some("platform"))]
        })
        .then_output(|| TagResourceOutput::builder().build());
    let (store, calls) = cloudwatch(&[&list, &tag]);

    assert_eq!(store.alarm_tags(ARN).await.unwrap(), [AlarmTag::new("ManagedBy", "ec2-disk-alarms")]);
    store.tag_alarm(ARN, &[AlarmTag::new("team", "platform")]).await.unwrap();

    assert_eq!((list.num_calls(), tag.num_calls()), (1, 1));
    assert_eq!((calls.get("ListTagsForResource"), calls.get("TagResource")), (1, 1));
}
