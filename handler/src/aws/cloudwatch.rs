use aws_sdk_cloudwatch::types::{
    AlarmMuteRuleSummary, AlarmType, ComparisonOperator, DimensionFilter, Metric, MetricAlarm,
    MetricDataQuery, MetricStat, MuteTargets, RecentlyActive, Rule, Schedule, Statistic, Tag,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::DateTime;
use reconciler_core::mute_rules::parse_schedule_start;
use reconciler_core::{
    AlarmConfig, AlarmName, AlarmState, AlarmTag, DesiredAlarm, Dimension, InstanceId, MetricMath,
    MetricSeries, MuteRule, MuteWindow, ObservedAlarm, StateValue, UnixTime,
};
use tracing::warn;

use super::port_error;
use crate::ports::{
    AlarmStore, AlarmTagWrites, AlarmTags, AlarmWrites, ApiCalls, ErrorKind, MetricCatalogue, MuteRuleRead,
    MuteRuleWrites, MuteRules, ObservedMuteRule, PortError, MAX_DELETE_BATCH,
};

const DESCRIBE: &str = "DescribeAlarms";
const PUT: &str = "PutMetricAlarm";
const DELETE: &str = "DeleteAlarms";
const PUT_MUTE: &str = "PutAlarmMuteRule";
const DELETE_MUTE: &str = "DeleteAlarmMuteRule";
const LIST_MUTES: &str = "ListAlarmMuteRules";
const GET_MUTE: &str = "GetAlarmMuteRule";
const LIST_METRICS: &str = "ListMetrics";
const LIST_TAGS: &str = "ListTagsForResource";
const TAG: &str = "TagResource";
/// Only series with data in the last three hours: a filesystem unmounted
/// (or a device renamed) drops out the same day, not two weeks later.
const RECENTLY_ACTIVE: &str = "PT3H";
/// What `DeleteAlarmMuteRule` answers for a rule that does not exist.
const NOT_FOUND_CODES: &[&str] = &["ResourceNotFoundException", "ResourceNotFound"];
/// The id and label of a metric-math alarm's expression, which the alarm
/// compares with its threshold.
const EXPRESSION_ID: &str = "hours_left";
const EXPRESSION_LABEL: &str = "hours until full";
/// The largest page `DescribeAlarms` returns.
const PAGE_SIZE: i32 = 100;

#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    client: aws_sdk_cloudwatch::Client,
    calls: ApiCalls,
}

impl CloudWatchAlarms {
    pub fn new(client: aws_sdk_cloudwatch::Client, calls: ApiCalls) -> Self {
        Self { client, calls }
    }
}

impl AlarmStore for CloudWatchAlarms {
    async fn alarms_with_prefix(&self, prefix: &str) -> Result<Vec<ObservedAlarm>, PortError> {
        let mut pages = self
            .client
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .max_records(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut alarms = Vec::new();
        while let Some(page) = pages.next().await {
            self.calls.begin(DESCRIBE).await;
            let page = page.map_err(|e| port_error(DESCRIBE, e))?;
            alarms.extend(page.metric_alarms().iter().filter_map(observed));
        }
        Ok(alarms)
    }
}

impl AlarmWrites for CloudWatchAlarms {
    async fn put_alarm(&self, alarm: &DesiredAlarm, tags: &[AlarmTag]) -> Result<(), PortError> {
        let c = &alarm.config;
        let dimensions = c
            .dimensions
            .iter()
            .map(|d| aws_sdk_cloudwatch::types::Dimension::builder().name(&d.name).value(&d.value).build());
        let (statistic, extended_statistic) = match Statistic::try_parse(c.statistic.as_str()) {
            Ok(statistic) => (Some(statistic), None),
            Err(_) => (None, Some(c.statistic.to_string())),
        };
        let mut request =
            self.client
                .put_metric_alarm()
                .alarm_name(alarm.name.as_str())
                .alarm_description(&c.description)
                .evaluation_periods(c.evaluation_periods)
                .set_datapoints_to_alarm(c.datapoints_to_alarm)
                .threshold(c.threshold)
                .comparison_operator(ComparisonOperator::from(c.comparison_operator.as_str()))
                .treat_missing_data(c.treat_missing_data.as_str())
                .actions_enabled(c.actions_enabled)
                .set_alarm_actions(Some(c.alarm_actions.clone()))
                .set_ok_actions(Some(c.ok_actions.clone()))
                .set_insufficient_data_actions(Some(c.insufficient_data_actions.clone()))
                .set_tags((!tags.is_empty()).then(|| {
                    tags.iter().map(|t| Tag::builder().key(&t.key).value(&t.value).build()).collect()
                }));
        request = match &c.math {
            None => request
                .namespace(&c.namespace)
                .metric_name(&c.metric_name)
                .set_dimensions(Some(dimensions.collect()))
                .set_statistic(statistic)
                .set_extended_statistic(extended_statistic)
                .period(c.period_seconds),
            Some(math) => {
                let metric = Metric::builder()
                    .namespace(&c.namespace)
                    .metric_name(&c.metric_name)
                    .set_dimensions(Some(dimensions.collect()))
                    .build();
                let stat = MetricStat::builder()
                    .metric(metric)
                    .period(c.period_seconds)
                    .stat(c.statistic.as_str())
                    .build();
                request
                    .metrics(
                        MetricDataQuery::builder()
                            .id(&math.metric_id)
                            .metric_stat(stat)
                            .return_data(false)
                            .build(),
                    )
                    .metrics(
                        MetricDataQuery::builder()
                            .id(EXPRESSION_ID)
                            .expression(&math.expression)
                            .label(EXPRESSION_LABEL)
                            .return_data(true)
                            .build(),
                    )
            }
        };
        self.calls.begin(PUT).await;
        // The SDK's request futures are boxed because nesting them unboxed in
        // the Lambda runtime's futures overflows the compiler's layout depth limit.
        Box::pin(request.send()).await.map_err(|e| port_error(PUT, e))?;
        Ok(())
    }

    async fn delete_alarms(&self, names: &[AlarmName]) -> Result<(), PortError> {
        if names.len() > MAX_DELETE_BATCH {
            return Err(PortError::new(
                DELETE,
                ErrorKind::Refused,
                format!("{} names, at most {MAX_DELETE_BATCH} per call", names.len()),
            ));
        }
        if names.is_empty() {
            return Ok(());
        }
        let names = names.iter().map(|n| n.as_str().to_owned()).collect();
        let request = self.client.delete_alarms().set_alarm_names(Some(names));
        self.calls.begin(DELETE).await;
        Box::pin(request.send()).await.map_err(|e| port_error(DELETE, e))?;
        Ok(())
    }
}

impl MetricCatalogue for CloudWatchAlarms {
    async fn published_series(
        &self,
        namespace: &str,
        metric: &str,
        instance: Option<&InstanceId>,
    ) -> Result<Vec<MetricSeries>, PortError> {
        let filter =
            instance.map(|id| DimensionFilter::builder().name("InstanceId").value(id.as_str()).build());
        let mut pages = self
            .client
            .list_metrics()
            .namespace(namespace)
            .metric_name(metric)
            .set_dimensions(filter.map(|f| vec![f]))
            .recently_active(RecentlyActive::from(RECENTLY_ACTIVE))
            .into_paginator()
            .send();
        let mut series = Vec::new();
        while let Some(page) = pages.next().await {
            self.calls.begin(LIST_METRICS).await;
            let page = page.map_err(|e| port_error(LIST_METRICS, e))?;
            series.extend(page.metrics().iter().map(|metric| {
                MetricSeries::new(
                    metric
                        .dimensions()
                        .iter()
                        .map(|d| Dimension::new(d.name().unwrap_or_default(), d.value().unwrap_or_default()))
                        .collect(),
                )
            }));
        }
        Ok(series)
    }
}

impl MuteRules for CloudWatchAlarms {
    async fn mute_rules(
        &self,
        prefix: &str,
        alarm: Option<&AlarmName>,
    ) -> Result<Vec<ObservedMuteRule>, PortError> {
        let mut pages = self
            .client
            .list_alarm_mute_rules()
            .set_alarm_name(alarm.map(|a| a.as_str().to_owned()))
            .into_paginator()
            .send();
        let mut rules = Vec::new();
        while let Some(page) = pages.next().await {
            self.calls.begin(LIST_MUTES).await;
            let page = page.map_err(|e| port_error(LIST_MUTES, e))?;
            rules.extend(
                page.alarm_mute_rule_summaries()
                    .iter()
                    .filter_map(observed_mute_rule)
                    .filter(|rule| rule.name.starts_with(prefix)),
            );
        }
        Ok(rules)
    }

    async fn mute_rule(&self, name: &str) -> Result<Option<MuteRuleRead>, PortError> {
        let request = self.client.get_alarm_mute_rule().alarm_mute_rule_name(name);
        self.calls.begin(GET_MUTE).await;
        let rule = match Box::pin(request.send()).await {
            Ok(rule) => rule,
            Err(error) if error.code().is_some_and(|code| NOT_FOUND_CODES.contains(&code)) => {
                return Ok(None)
            }
            Err(error) => return Err(port_error(GET_MUTE, error)),
        };
        let alarms = rule
            .mute_targets()
            .map(|t| t.alarm_names())
            .unwrap_or_default()
            .iter()
            .filter_map(|a| {
                AlarmName::parse(a).inspect_err(|error| warn!(%error, "mute target skipped")).ok()
            })
            .collect();
        // Only a schedule this product writes can be rewritten as it was: a
        // one-time start to the minute, ending at the expiry date.
        let schedule = rule.rule().and_then(|r| r.schedule());
        let start = schedule.and_then(|s| s.expression()).and_then(parse_schedule_start);
        let end = rule.expire_date().map(|t| UnixTime(t.secs()));
        let window = match (start, end) {
            (Some(start), Some(end)) if end > start => Some(MuteWindow { start, end }),
            _ => None,
        };
        Ok(Some(MuteRuleRead {
            name: rule.name().unwrap_or(name).to_owned(),
            alarms,
            window,
            description: rule.description().unwrap_or_default().to_owned(),
        }))
    }
}

impl MuteRuleWrites for CloudWatchAlarms {
    async fn put_mute_rule(&self, rule: &MuteRule) -> Result<(), PortError> {
        // A one-time schedule in UTC (no timezone given); no start date, so the
        // rule is in force at once and the schedule alone says when the mute starts.
        let schedule = Schedule::builder()
            .expression(rule.window.schedule_expression())
            .duration(rule.window.duration())
            .build();
        let targets = MuteTargets::builder()
            .set_alarm_names(Some(rule.alarms.iter().map(|a| a.as_str().to_owned()).collect()))
            .build();
        let request = self
            .client
            .put_alarm_mute_rule()
            .name(&rule.name)
            .description(&rule.description)
            .rule(Rule::builder().schedule(schedule).build())
            .mute_targets(targets)
            .expire_date(DateTime::from_secs(rule.window.end.0));
        self.calls.begin(PUT_MUTE).await;
        Box::pin(request.send()).await.map_err(|e| port_error(PUT_MUTE, e))?;
        Ok(())
    }

    async fn delete_mute_rule(&self, name: &str) -> Result<(), PortError> {
        let request = self.client.delete_alarm_mute_rule().alarm_mute_rule_name(name);
        self.calls.begin(DELETE_MUTE).await;
        match Box::pin(request.send()).await {
            Ok(_) => Ok(()),
            Err(error) if error.code().is_some_and(|code| NOT_FOUND_CODES.contains(&code)) => Ok(()),
            Err(error) => Err(port_error(DELETE_MUTE, error)),
        }
    }
}

impl AlarmTags for CloudWatchAlarms {
    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<AlarmTag>, PortError> {
        self.calls.begin(LIST_TAGS).await;
        let request = self.client.list_tags_for_resource().resource_arn(alarm_arn);
        let output = Box::pin(request.send()).await.map_err(|e| port_error(LIST_TAGS, e))?;
        Ok(output
            .tags()
            .iter()
            .map(|t| AlarmTag::new(t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect())
    }
}

impl AlarmTagWrites for CloudWatchAlarms {
    async fn tag_alarm(&self, alarm_arn: &str, tags: &[AlarmTag]) -> Result<(), PortError> {
        let tags = tags.iter().map(|t| Tag::builder().key(&t.key).value(&t.value).build()).collect();
        let request = self.client.tag_resource().resource_arn(alarm_arn).set_tags(Some(tags));
        self.calls.begin(TAG).await;
        Box::pin(request.send()).await.map_err(|e| port_error(TAG, e))?;
        Ok(())
    }
}

/// The summary names the rule only by its ARN,
/// `arn:aws:cloudwatch:REGION:ACCOUNT:alarm-mute-rule:NAME`.
fn observed_mute_rule(summary: &AlarmMuteRuleSummary) -> Option<ObservedMuteRule> {
    let arn = summary.alarm_mute_rule_arn()?;
    let name = arn.rsplit(':').next().filter(|name| !name.is_empty())?;
    Some(ObservedMuteRule {
        name: name.to_owned(),
        status: reconciler_core::MuteRuleStatus::parse(
            summary.status().map_or("UNKNOWN", |status| status.as_str()),
        ),
        expires: summary.expire_date().map(|t| UnixTime(t.secs())),
    })
}

fn observed(alarm: &MetricAlarm) -> Option<ObservedAlarm> {
    let name = AlarmName::parse(alarm.alarm_name().unwrap_or_default())
        .inspect_err(|error| warn!(%error, "alarm skipped"))
        .ok()?;
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    // A percentile alarm carries its statistic in `ExtendedStatistic` instead.
    let statistic = match (alarm.extended_statistic(), alarm.statistic()) {
        (Some(extended), _) => extended,
        (None, statistic) => statistic.map_or("", Statistic::as_str),
    };
    let dimensions = |dimensions: &[aws_sdk_cloudwatch::types::Dimension]| {
        dimensions.iter().map(|d| Dimension::new(text(d.name()), text(d.value()))).collect()
    };
    let mut config = AlarmConfig {
        description: text(alarm.alarm_description()),
        namespace: text(alarm.namespace()),
        metric_name: text(alarm.metric_name()),
        dimensions: dimensions(alarm.dimensions()),
        statistic: reconciler_core::Statistic::parse(statistic),
        period_seconds: alarm.period().unwrap_or_default(),
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        threshold: alarm.threshold().unwrap_or_default(),
        comparison_operator: reconciler_core::ComparisonOperator::parse(
            alarm.comparison_operator().map_or("", ComparisonOperator::as_str),
        ),
        // AWS's default when the alarm was created without one.
        treat_missing_data: reconciler_core::MissingData::parse(
            alarm.treat_missing_data().unwrap_or("missing"),
        ),
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        alarm_actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
        math: None,
    };
    if !alarm.metrics().is_empty() {
        // A metric-math alarm: its first metric query takes the place of the
        // single metric, and the query it returns is its expression.
        let mut metrics =
            alarm.metrics().iter().filter_map(|q| Some((q.id().unwrap_or_default(), q.metric_stat()?)));
        let mut math =
            MetricMath { expression: String::new(), metric_id: String::new(), other_metrics: Vec::new() };
        if let Some((id, stat)) = metrics.next() {
            let metric = stat.metric();
            config.namespace = text(metric.and_then(|m| m.namespace()));
            config.metric_name = text(metric.and_then(|m| m.metric_name()));
            config.dimensions = dimensions(metric.map_or(&[], |m| m.dimensions()));
            config.statistic = reconciler_core::Statistic::parse(stat.stat().unwrap_or_default());
            config.period_seconds = stat.period().unwrap_or_default();
            math.metric_id = id.to_owned();
        }
        math.other_metrics = metrics
            .map(|(id, stat)| {
                let metric = stat.metric();
                format!(
                    "{id} {}/{}",
                    metric.and_then(|m| m.namespace()).unwrap_or_default(),
                    metric.and_then(|m| m.metric_name()).unwrap_or_default()
                )
            })
            .collect();
        let returned =
            alarm.metrics().iter().find(|q| q.return_data().unwrap_or(true) && q.expression().is_some());
        math.expression = text(returned.and_then(|q| q.expression()));
        config.math = Some(math);
    }
    let config = config.normalized();
    Some(ObservedAlarm { name, config, arn: alarm.alarm_arn().map(str::to_owned), state: state(alarm) })
}

/// `StateValue` and since when: the last transition's time where given,
/// else the last update of the state's value (`StateUpdatedTimestamp`).
/// `None` when either part is missing or the value is not one of CloudWatch's three.
fn state(alarm: &MetricAlarm) -> Option<AlarmState> {
    let value = StateValue::parse(alarm.state_value()?.as_str())?;
    let since = alarm.state_transitioned_timestamp().or(alarm.state_updated_timestamp())?;
    Some(AlarmState::new(value, UnixTime(since.secs())))
}
