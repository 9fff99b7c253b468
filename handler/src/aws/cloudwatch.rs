use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, MetricAlarm, Statistic};
use reconciler_core::{AlarmConfig, AlarmName, DesiredAlarm, Dimension, ObservedAlarm};
use tracing::warn;

use super::classify;
use crate::ports::{AlarmStore, ApiCalls, ErrorKind, PortError, MAX_DELETE_BATCH};

const DESCRIBE: &str = "DescribeAlarms";
const PUT: &str = "PutMetricAlarm";
const DELETE: &str = "DeleteAlarms";
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
            let page = page.map_err(|e| classify(DESCRIBE, &e))?;
            alarms.extend(page.metric_alarms().iter().filter_map(observed));
        }
        Ok(alarms)
    }

    async fn put_alarm(&self, alarm: &DesiredAlarm) -> Result<(), PortError> {
        let c = &alarm.config;
        let dimensions = c
            .dimensions
            .iter()
            .map(|d| aws_sdk_cloudwatch::types::Dimension::builder().name(&d.name).value(&d.value).build());
        let (statistic, extended_statistic) = match Statistic::try_parse(&c.statistic) {
            Ok(statistic) => (Some(statistic), None),
            Err(_) => (None, Some(c.statistic.clone())),
        };
        let request = self
            .client
            .put_metric_alarm()
            .alarm_name(alarm.name.as_str())
            .alarm_description(&c.description)
            .namespace(&c.namespace)
            .metric_name(&c.metric_name)
            .set_dimensions(Some(dimensions.collect()))
            .set_statistic(statistic)
            .set_extended_statistic(extended_statistic)
            .period(c.period_seconds)
            .evaluation_periods(c.evaluation_periods)
            .set_datapoints_to_alarm(c.datapoints_to_alarm)
            .threshold(c.threshold)
            .comparison_operator(ComparisonOperator::from(c.comparison_operator.as_str()))
            .treat_missing_data(&c.treat_missing_data)
            .actions_enabled(c.actions_enabled)
            .set_alarm_actions(Some(c.alarm_actions.clone()))
            .set_ok_actions(Some(c.ok_actions.clone()))
            .set_insufficient_data_actions(Some(c.insufficient_data_actions.clone()));
        self.calls.begin(PUT).await;
        // The SDK's request futures are boxed because nesting them unboxed in
        // the Lambda runtime's futures overflows the compiler's layout depth limit.
        Box::pin(request.send()).await.map_err(|e| classify(PUT, &e))?;
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
        Box::pin(request.send()).await.map_err(|e| classify(DELETE, &e))?;
        Ok(())
    }
}

fn observed(alarm: &MetricAlarm) -> Option<ObservedAlarm> {
    let name = AlarmName::parse(alarm.alarm_name().unwrap_or_default())
        .inspect_err(|error| warn!(%error, "alarm skipped"))
        .ok()?;
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    // A percentile alarm carries its statistic in `ExtendedStatistic` instead.
    let statistic = match (alarm.extended_statistic(), alarm.statistic()) {
        (Some(extended), _) => extended.to_owned(),
        (None, statistic) => text(statistic.map(Statistic::as_str)),
    };
    let config = AlarmConfig {
        description: text(alarm.alarm_description()),
        namespace: text(alarm.namespace()),
        metric_name: text(alarm.metric_name()),
        dimensions: alarm
            .dimensions()
            .iter()
            .map(|d| Dimension::new(text(d.name()), text(d.value())))
            .collect(),
        statistic,
        period_seconds: alarm.period().unwrap_or_default(),
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        threshold: alarm.threshold().unwrap_or_default(),
        comparison_operator: text(alarm.comparison_operator().map(ComparisonOperator::as_str)),
        // AWS's default when the alarm was created without one.
        treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").to_owned(),
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        alarm_actions: alarm.alarm_actions().to_vec(),
        ok_actions: alarm.ok_actions().to_vec(),
        insufficient_data_actions: alarm.insufficient_data_actions().to_vec(),
    }
    .normalized();
    Some(ObservedAlarm { name, config })
}
