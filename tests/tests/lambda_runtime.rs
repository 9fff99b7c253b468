//! The Lambda binary as it ships, under a real Lambda Runtime API emulator
//! (`cargo lambda watch`), invoked with `cargo lambda invoke` on the files of
//! `events/`, against moto on 127.0.0.1. Each test owns a Region.

use std::time::Duration;

use e2e_tests::{provisional_pair, sample_event, sample_event_with, unix_now, LambdaFunction, World};
use reconciler_core::UnixTime;
use serde_json::{json, Value};

/// `events/<sample>` for `instance`, sent at `time`.
fn event_at(sample: &str, instance: &str, time: i64) -> Value {
    let mut event = sample_event(sample, instance);
    event["time"] = json!(UnixTime(time).to_string());
    event
}

fn calls(report: &Value, operation: &str) -> u64 {
    report["api_calls"].get(operation).and_then(Value::as_u64).unwrap_or(0)
}

#[tokio::test]
async fn running_duplicate_stopped_and_sweep_through_the_runtime_api() {
    let world = World::new("ca-west-1").await;
    let function = LambdaFunction::start(&world, &[]);
    let id = world.launch(&[("Environment", "production")]).await;

    // The emulator sends a deadline header that is a duration, not a time:
    // the function must not defer its changes (or chain a sweep) because of it.
    let report = function.invoke(&event_at("ec2-running.json", &id, unix_now())).response();
    assert_eq!((&report["created"], &report["deferred"]), (&json!(2), &json!(0)), "{report:#}");
    assert_eq!(world.alarm_names().await, provisional_pair(&id));
    assert!(function.logs().contains("running without a deadline"), "{}", function.logs());

    let duplicate = function.invoke(&event_at("ec2-running.json", &id, unix_now())).response();
    assert_eq!((&duplicate["created"], &duplicate["unchanged"]), (&json!(0), &json!(2)), "{duplicate:#}");
    assert_eq!(calls(&duplicate, "PutMetricAlarm"), 0, "{duplicate:#}");

    world.stop(&id).await;
    let report = function.invoke(&event_at("ec2-stopped.json", &id, unix_now())).response();
    assert_eq!(report["deleted"], 2, "{report:#}");
    assert!(world.alarm_names().await.is_empty());

    // Drift: a running production instance that no event ever reached.
    let missed = world.launch(&[("Environment", "production")]).await;
    let report = function.invoke(&sample_event_with("scheduled-sweep.json", &[])).response();
    assert_eq!((&report["trigger"], &report["created"]), (&json!("sweep"), &json!(2)), "{report:#}");
    assert_eq!(world.alarm_names().await, provisional_pair(&missed));
    // Logs are JSON lines when the function's log format is JSON.
    let logs = function.logs();
    let summary = logs.lines().find(|l| l.contains("reconcile finished")).expect("a summary line");
    let summary: Value = serde_json::from_str(summary).unwrap_or_else(|e| panic!("{e}: {summary}"));
    assert_eq!(summary["level"], "INFO", "{summary}");
}

#[tokio::test]
async fn bad_input_is_rejected_without_an_error_and_counted() {
    let world = World::new("mx-central-1").await;
    let function = LambdaFunction::start(&world, &[]);
    let id = world.launch(&[("Environment", "production")]).await;
    let mut malformed = sample_event("ec2-running.json", &id);
    malformed["detail"]["instance-id"] = json!("web-1");
    let response = function.invoke(&malformed).response();
    assert_eq!(response["status"], "rejected", "{response:#}");
    assert!(response["error"].as_str().unwrap_or_default().contains("detail.instance-id"), "{response:#}");
    assert!(function.logs().contains(r#""EventsRejected":1"#), "{}", function.logs());
    assert!(world.alarm_names().await.is_empty());

    // Not JSON at all never reaches the handler: the runtime fails the
    // invocation (on AWS, the Invoke API refuses such a payload outright).
    let invocation = function.invoke_raw("{not json");
    assert_ne!(invocation.code, 0, "{}", invocation.stdout);
    assert!(invocation.stderr.contains("DeserializeError"), "{}", invocation.stderr);
}

#[tokio::test]
async fn work_a_retry_can_finish_fails_the_invocation_with_a_named_error() {
    let world = World::new("ap-southeast-5").await;
    let function = LambdaFunction::start(&world, &[]);
    let id = world.launch(&[("Environment", "production")]).await;
    world.stop(&id).await;
    // A running event newer than the stop: the API may lag behind a start,
    // so the state is not settled and a retry must decide.
    let invocation = function.invoke(&event_at("ec2-running.json", &id, unix_now() + 5));
    assert_ne!(invocation.code, 0, "{}", invocation.stdout);
    assert!(invocation.stderr.contains("ReconcileIncomplete"), "{}", invocation.stderr);
    assert!(invocation.stderr.contains("1 failure(s), 1 retryable"), "{}", invocation.stderr);
    assert!(invocation.stderr.contains(&format!("{id}: state not settled")), "{}", invocation.stderr);
    assert!(world.alarm_names().await.is_empty());
}

/// Ordinary reordering: the `running` event arrives after a user stopped the
/// instance. EC2 dates the stop, so the order is settled at once: no alarm,
/// no failed invocation (which would fire the function's error alarm).
#[tokio::test]
async fn a_late_running_event_after_a_user_stop_succeeds_with_no_alarms() {
    let world = World::new("ap-southeast-7").await;
    let id = world.launch(&[("Environment", "production")]).await;
    let sent = unix_now() - 30;
    world.stop(&id).await;
    let reason = world.state_transition_reason(&id).await;
    assert!(reason.starts_with("User initiated ("), "{reason}");

    let report = world.handle_event(&event_at("ec2-running.json", &id, sent), &[]).report(0);
    assert_eq!(report["failures"], json!([]), "{report:#}");
    assert!(world.alarm_names().await.is_empty());

    let function = LambdaFunction::start(&world, &[]);
    let report = function.invoke(&event_at("ec2-running.json", &id, sent)).response();
    assert_eq!((&report["failures"], &report["created"]), (&json!([]), &json!(0)), "{report:#}");
    assert!(world.alarm_names().await.is_empty());
}

/// A blank value from a templating mistake must not quietly mean "default":
/// a blank prefix would let one deployment sweep another's alarms.
#[tokio::test]
async fn empty_configuration_values_are_refused_naming_the_variable() {
    let world = World::new("ap-east-2").await;
    let id = world.launch(&[("Environment", "production")]).await;
    let event = event_at("ec2-running.json", &id, unix_now());
    for var in ["ALARM_NAME_PREFIX", "WARNING_THRESHOLD", "SCOPE_TAG_KEY", "METRIC_PROFILE"] {
        let run = world.handle_event(&event, &[(var, "")]);
        assert_eq!(run.code(), 2, "{var}: {}", run.stderr());
        assert!(run.stderr().contains(&format!("{var} is set but empty")), "{var}: {}", run.stderr());
    }
    assert!(world.alarm_names().await.is_empty());

    let mut function = LambdaFunction::start(&world, &[("ALARM_NAME_PREFIX", "")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = function.exit_status() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the function started despite an empty value");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    assert!(function.logs().contains("ALARM_NAME_PREFIX is set but empty"), "{}", function.logs());
    assert!(world.alarm_names().await.is_empty());
}

/// Lambda's log-level filter (JSON log format): the lines at `level` or quieter
/// pass; a line without a valid "level" counts as INFO.
fn lambda_keeps(line: &str, level: &str) -> bool {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rank = |name: &str| LEVELS.iter().position(|known| known.eq_ignore_ascii_case(name));
    let own = serde_json::from_str::<Value>(line).ok().and_then(|l| l["level"].as_str().and_then(rank));
    own.unwrap_or(2) >= rank(level).expect("a Lambda log level")
}

/// With the template's defaults (no RUST_LOG) the function logs at the level of
/// its Lambda logging configuration (AWS_LAMBDA_LOG_LEVEL), and its metric
/// records (EMF) pass Lambda's log-level filter at every level.
#[tokio::test]
async fn the_log_level_is_lambdas_and_the_metrics_pass_its_filter() {
    // Shares its Region with between_writes.rs: it only reconciles its own
    // instance and asserts on nothing else there.
    let world = World::new("eu-central-2").await;
    let id = world.launch(&[("Environment", "production")]).await;
    for level in ["DEBUG", "WARN"] {
        let function = LambdaFunction::start(&world, &[("AWS_LAMBDA_LOG_LEVEL", level)]);
        let report = function.invoke(&event_at("ec2-running.json", &id, unix_now())).response();
        assert_eq!(report["failures"], json!([]), "{report:#}");
        let mut malformed = sample_event("ec2-running.json", &id);
        malformed["detail"]["instance-id"] = json!("web-1");
        assert_eq!(function.invoke(&malformed).response()["status"], "rejected");

        let logs = function.logs();
        let metrics: Vec<&str> = logs.lines().filter(|l| l.contains(r#""_aws""#)).collect();
        assert_eq!(metrics.len(), 2, "one record per invocation:\n{logs}");
        assert!(metrics.iter().any(|m| m.contains(r#""EventsRejected":1"#)), "{logs}");
        for record in &metrics {
            assert!(
                lambda_keeps(record, level),
                "Lambda's filter at {level} drops the metric record {record}"
            );
        }
        let logged = |wanted: &str| {
            logs.lines()
                .filter(|l| !l.contains(r#""_aws""#))
                .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|l| l["level"].as_str() == Some(wanted)))
        };
        match level {
            "DEBUG" => {
                assert!(logged("DEBUG"), "no debug line at DEBUG:\n{logs}");
                assert!(logs.contains("reconcile finished"), "{logs}");
            }
            _ => {
                assert!(!logged("INFO") && !logged("DEBUG"), "lines below WARN at WARN:\n{logs}");
                assert!(!logs.contains("reconcile finished"), "the INFO summary at WARN:\n{logs}");
                // What the function prints at WARN is what Lambda's filter keeps.
                assert!(logs.lines().all(|l| lambda_keeps(l, "WARN")), "{logs}");
            }
        }
    }
}
