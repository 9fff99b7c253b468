//! The AWS adapters against real SDK clients whose responses come from
//! `aws-smithy-mocks` rules: request shapes, pagination, batching, error
//! classification and the SDK's own retries. Nothing leaves the process.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::operation::delete_alarms::DeleteAlarmsOutput;
use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::operation::put_metric_alarm::{
    PutMetricAlarmError, PutMetricAlarmInput, PutMetricAlarmOutput,
};
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, MetricAlarm, Statistic};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::describe_instances::{DescribeInstancesError, DescribeInstancesOutput};
use aws_sdk_ec2::primitives::DateTime;
use aws_sdk_ec2::types::{Instance, InstanceStateName, Reservation, Tag};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use handler::aws::{CloudWatchAlarms, Ec2Inventory};
use handler::ports::{AlarmStore, ApiCalls, ErrorKind, Inventory, MAX_DELETE_BATCH};
use reconciler_core::{
    AlarmConfig, AlarmName, DesiredAlarm, Dimension, InstanceId, InstanceState, Severity, UnixTime,
};

const ID_A: &str = "i-0123456789abcdef0";
const ID_B: &str = "i-1234abcd";

/// Retries off, so that error tests see the first answer without waiting.
fn ec2(rules: &[&Rule]) -> (Ec2Inventory, ApiCalls) {
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules.iter().copied(), |c| {
        c.retry_config(RetryConfig::disabled())
    });
    let calls = ApiCalls::default();
    (Ec2Inventory::new(client, calls.clone()), calls)
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
            comparison_operator: String::new(),
            treat_missing_data: "missing".into(),
            actions_enabled: true,
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
        }
    );
}

fn desired(config: AlarmConfig) -> DesiredAlarm {
    DesiredAlarm {
        name: AlarmName::parse("ec2-disk-i-1234abcd-warning").unwrap(),
        instance: id(ID_B),
        severity: Severity::Warning,
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
        .build()
        .unwrap();
    let rule = mock!(aws_sdk_cloudwatch::Client::put_metric_alarm)
        .match_requests(move |r| *r == expected)
        .then_output(|| PutMetricAlarmOutput::builder().build());
    let (store, calls) = cloudwatch(&[&rule]);

    store.put_alarm(&desired(config())).await.unwrap();

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
        })
        .then_output(|| PutMetricAlarmOutput::builder().build());
    let (store, _) = cloudwatch(&[&rule]);
    let config = AlarmConfig { statistic: "p99".into(), datapoints_to_alarm: None, ..config() };

    store.put_alarm(&desired(config)).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
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

    let error = store.put_alarm(&desired(config())).await.unwrap_err();

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
