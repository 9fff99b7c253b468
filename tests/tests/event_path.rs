//! The event path end to end: `alarmctl handle` (the Lambda's code path)
//! against moto on 127.0.0.1. Each test owns a Region.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
use e2e_tests::{dimensions, World};

#[tokio::test]
async fn running_production_instance_gets_exactly_two_correct_alarms_and_a_duplicate_writes_nothing() {
    let world = World::new("us-east-2").await;
    let id = world.launch(&[("Environment", "production"), ("Name", "web-1")]).await;

    // The instance publishes no disk series yet: it gets the provisional
    // pair, on the configured root-filesystem dimensions.
    let report = world.handle_sample("ec2-running.json", &id).report(0);
    assert_eq!(report["created"], 2, "{report:#}");
    assert_eq!(report["instances_provisional"], 1, "{report:#}");
    assert_eq!(report["alarms_series_gone"], 0, "{report:#}");
    assert_eq!(report["api_calls"]["ListMetrics"], 1, "{report:#}");

    let alarms = world.alarms().await;
    let names: Vec<&String> = alarms.keys().collect();
    assert_eq!(
        names,
        [&format!("ec2-disk-provisional-{id}-critical"), &format!("ec2-disk-provisional-{id}-warning")]
    );
    for (severity, threshold, topic) in
        [("warning", 60.0, "disk-warning"), ("critical", 80.0, "disk-critical")]
    {
        let alarm = &alarms[&format!("ec2-disk-provisional-{id}-{severity}")];
        assert_eq!(alarm.namespace(), Some("CWAgent"));
        assert_eq!(alarm.metric_name(), Some("disk_used_percent"));
        assert_eq!(
            dimensions(alarm),
            [("InstanceId".into(), id.clone()), ("fstype".into(), "xfs".into()), ("path".into(), "/".into())]
        );
        assert_eq!(alarm.threshold(), Some(threshold));
        assert_eq!(alarm.comparison_operator(), Some(&ComparisonOperator::GreaterThanOrEqualToThreshold));
        assert_eq!(alarm.statistic(), Some(&Statistic::Average));
        assert_eq!((alarm.period(), alarm.evaluation_periods()), (Some(300), Some(2)));
        assert_eq!(alarm.treat_missing_data(), Some("missing"));
        assert_eq!(alarm.alarm_actions(), [world.topic(topic)]);
        assert_eq!(alarm.ok_actions(), [world.topic(topic)]);
        assert_eq!(alarm.actions_enabled(), Some(true));
        let description = alarm.alarm_description().unwrap_or_default();
        assert!(description.contains(&format!("{id} (web-1)")), "{description}");
        assert!(description.contains("[managed-by: ec2-disk-alarms]"), "{description}");
        assert!(description.contains("Provisional"), "{description}");
    }

    // moto stamps every PutMetricAlarm; an unchanged stamp proves no write.
    let stamps = |alarms: &std::collections::BTreeMap<String, aws_sdk_cloudwatch::types::MetricAlarm>| {
        alarms.values().map(|a| a.alarm_configuration_updated_timestamp().cloned()).collect::<Vec<_>>()
    };
    let before = stamps(&alarms);
    let duplicate = world.handle_sample("ec2-running.json", &id).report(0);
    assert_eq!((duplicate["created"].as_u64(), duplicate["updated"].as_u64()), (Some(0), Some(0)));
    assert_eq!(duplicate["unchanged"], 2);
    assert!(duplicate["api_calls"].get("PutMetricAlarm").is_none(), "{duplicate:#}");
    assert_eq!(stamps(&world.alarms().await), before);
}

#[tokio::test]
async fn stopped_and_terminated_instances_lose_their_alarms() {
    let world = World::new("us-west-1").await;
    let stopped = world.launch(&[("Environment", "production")]).await;
    let terminated = world.launch(&[("Environment", "production")]).await;
    for id in [&stopped, &terminated] {
        world.handle_sample("ec2-running.json", id).report(0);
    }
    assert_eq!(world.alarm_names().await.len(), 4);

    world.stop(&stopped).await;
    let report = world.handle_sample("ec2-stopped.json", &stopped).report(0);
    assert_eq!(report["deleted"], 2, "{report:#}");

    world.terminate(&terminated).await;
    let report = world.handle_sample("ec2-terminated.json", &terminated).report(0);
    assert_eq!(report["deleted"], 2, "{report:#}");
    assert!(world.alarm_names().await.is_empty());
}

#[tokio::test]
async fn staging_and_untagged_instances_get_none() {
    let world = World::new("us-west-2").await;
    let staging = world.launch(&[("Environment", "staging")]).await;
    let untagged = world.launch(&[]).await;
    for id in [&staging, &untagged] {
        let report = world.handle_sample("ec2-running.json", id).report(0);
        assert_eq!(report["created"], 0, "{report:#}");
        assert_eq!(report["instances_in_scope"], 0);
    }
    assert!(world.alarm_names().await.is_empty());
}

#[tokio::test]
async fn a_late_running_event_after_the_instance_stopped_creates_nothing() {
    let world = World::new("eu-west-1").await;
    let id = world.launch(&[("Environment", "production")]).await;
    world.stop(&id).await;
    world.handle_sample("ec2-stopped.json", &id).report(0);
    // The sample's running event is from before the stop and arrives last.
    let report = world.handle_sample("ec2-running.json", &id).report(0);
    assert_eq!(report["created"], 0, "{report:#}");
    assert!(world.alarm_names().await.is_empty());
}

#[tokio::test]
async fn a_persons_alarm_on_the_same_instance_is_untouched_throughout() {
    let world = World::new("eu-west-2").await;
    let id = world.launch(&[("Environment", "production")]).await;
    let person = format!("alice-root-disk-{id}");
    world
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&person)
        .alarm_description("Alice watches this one herself")
        .namespace("CWAgent")
        .metric_name("disk_used_percent")
        .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("InstanceId").value(&id).build())
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(95.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("PutMetricAlarm");
    let original = world.alarms().await[&person].clone();

    world.handle_sample("ec2-running.json", &id).report(0);
    assert_eq!(world.alarm_names().await.len(), 3);
    world.stop(&id).await;
    world.handle_sample("ec2-stopped.json", &id).report(0);
    world.terminate(&id).await;
    world.handle_sample("ec2-terminated.json", &id).report(0);

    let alarms = world.alarms().await;
    assert_eq!(alarms.keys().collect::<Vec<_>>(), [&person]);
    assert_eq!(alarms[&person], original, "the person's alarm was modified");
}

#[tokio::test]
async fn an_event_for_an_unknown_instance_creates_nothing_and_does_not_fail() {
    let world = World::new("eu-central-1").await;
    let report = world.handle_sample("ec2-running.json", "i-0fedcba9876543210").report(0);
    assert_eq!(report["created"], 0, "{report:#}");
    assert!(world.alarm_names().await.is_empty());
}

#[tokio::test]
async fn malformed_events_exit_non_zero_and_write_nothing() {
    let world = World::new("ap-southeast-1").await;
    let id = world.launch(&[("Environment", "production")]).await;
    let mut wrong_type = e2e_tests::sample_event("ec2-running.json", &id);
    wrong_type["detail"]["instance-id"] = serde_json::json!(42);
    let mut bad_id = e2e_tests::sample_event("ec2-running.json", &id);
    bad_id["detail"]["instance-id"] = serde_json::json!("i-; rm -rf /");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"{\"source\": \"aws.ec2\",".to_vec()),
        ("empty", Vec::new()),
        ("array", b"[]".to_vec()),
        ("mistyped instance id", wrong_type.to_string().into_bytes()),
        ("invalid instance id", bad_id.to_string().into_bytes()),
    ];
    for (name, input) in cases {
        let run = world.alarmctl(&["handle", "-"], &input);
        assert_eq!(run.code(), 2, "{name}: {}", run.stderr());
        assert!(run.stderr().contains("rejected event"), "{name}: {}", run.stderr());
        assert!(run.stdout().is_empty(), "{name}");
    }
    assert!(world.alarm_names().await.is_empty());
}

#[tokio::test]
async fn missing_configuration_is_a_clear_error() {
    let world = World::new("ap-northeast-1").await;
    let run = std::process::Command::new(e2e_tests::alarmctl_path())
        .args(["sweep", "--dry-run"])
        .envs(world.env().into_iter().filter(|(k, _)| k != "CRITICAL_TOPIC_ARN"))
        .env_remove("CRITICAL_TOPIC_ARN")
        .output()
        .expect("alarmctl runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("CRITICAL_TOPIC_ARN is required"));
}
