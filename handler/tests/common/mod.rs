//! Shared by the tests that run the reconcile loop over the in-memory account.

use handler::config::Config;
use handler::event::{Target, Trigger};
use handler::fake::FakeCloud;
use handler::reconcile::Reconciler;
use reconciler_core::{AlarmConfig, InstanceId, InstanceState, StateClaim, UnixTime};

/// The defaults, with the two required topics.
pub fn config() -> Config {
    Config::from_lookup(|name| match name {
        "WARNING_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:disk-warning".into()),
        "CRITICAL_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:disk-critical".into()),
        _ => None,
    })
    .unwrap()
}

pub fn reconciler(cloud: &FakeCloud) -> Reconciler<FakeCloud, FakeCloud, FakeCloud> {
    Reconciler::new(config(), cloud.clone(), cloud.clone(), cloud.clone(), cloud.calls.clone())
}

/// An alarm a person made by hand: any of its fields differs from ours.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn persons_alarm(description: &str) -> AlarmConfig {
    AlarmConfig {
        description: description.into(),
        namespace: "CWAgent".into(),
        metric_name: "disk_used_percent".into(),
        dimensions: vec![],
        statistic: reconciler_core::Statistic::Maximum,
        period_seconds: 60,
        evaluation_periods: 1,
        datapoints_to_alarm: None,
        threshold: 95.0,
        comparison_operator: reconciler_core::ComparisonOperator::GreaterThanThreshold,
        treat_missing_data: reconciler_core::MissingData::Missing,
        actions_enabled: true,
        alarm_actions: vec![],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
        math: None,
    }
}

/// An EC2 `running` state-change event for `instance`, sent 5 seconds before `now`.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn running_event(instance: &str, now: i64) -> Trigger {
    Trigger::Instances {
        source: handler::report::TriggerKind::Ec2StateChange,
        targets: vec![Target {
            instance: InstanceId::parse(instance).unwrap(),
            claim: Some(StateClaim { state: InstanceState::Running, time: UnixTime(now - 5) }),
        }],
    }
}
