//! The hostile-input table through the Lambda handler's code path
//! (`handle_event`), against the in-memory account: every case gets its
//! decided outcome, makes no write, does not panic and finishes quickly.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::time::Duration;

use common::reconciler;
use handler::app::{handle_event, HandleError};
use handler::aws::NoContinuation;
use handler::fake::FakeCloud;
use handler::reconcile::RunOptions;
use hostile::{cases, Input, Outcome, INSTANCE};
use reconciler_core::{InstanceFacts, InstanceId, InstanceState, UnixTime};
use serde_json::Value;

/// 2026-11-21T10:00:00Z, the time of the events in the table.
const NOW: i64 = 1_795_255_200;

/// An account where the instance already has exactly its correct alarms.
async fn converged(tags: &[(&'static str, String)]) -> FakeCloud {
    let cloud = FakeCloud::new();
    let mut all: Vec<(String, String)> = vec![("Environment".into(), "production".into())];
    all.extend(tags.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    cloud.put_instance(InstanceFacts {
        id: InstanceId::parse(INSTANCE).unwrap(),
        state: InstanceState::Running,
        tags: all.into_iter().collect(),
        platform: Default::default(),
        launch_time: Some(UnixTime(NOW - 3600)),
        state_since: None,
        group: None,
        series: None,
    });
    let sweep = serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-21T02:00:00Z", "detail": {}});
    let report =
        handle_event(&reconciler(&cloud), &NoContinuation, sweep, RunOptions::new(UnixTime(NOW))).await;
    assert_eq!(report.expect("setup sweep").created, 2);
    cloud
}

#[tokio::test]
async fn every_hostile_input_gets_its_decided_outcome_and_writes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    for case in cases {
        let cloud = converged(&case.tags).await;
        let before = (cloud.writes(), cloud.alarm_names());
        let r = reconciler(&cloud);
        // The Lambda runtime hands the handler a JSON value; bytes that are not
        // JSON never reach it.
        let event = match &case.input {
            Input::Json(value) => Some(value.clone()),
            Input::Bytes(bytes) => serde_json::from_slice::<Value>(bytes).ok(),
        };
        let outcome = match event {
            None => Outcome::Rejected,
            Some(event) => {
                let run = handle_event(&r, &NoContinuation, event, RunOptions::new(UnixTime(NOW)));
                match tokio::time::timeout(Duration::from_secs(5), run).await {
                    Err(_) => panic!("{}: did not finish within 5 s", case.name),
                    Ok(Err(HandleError::Rejected(_))) => Outcome::Rejected,
                    Ok(Err(HandleError::Incomplete(report))) => {
                        panic!("{}: failed: {}", case.name, report.failure_summary())
                    }
                    Ok(Ok(report)) if report.skipped.is_some() => Outcome::Ignored,
                    Ok(Ok(_)) => Outcome::Handled,
                }
            }
        };
        assert_eq!(outcome, case.outcome, "{}", case.name);
        assert_eq!((cloud.writes(), cloud.alarm_names()), before, "{}: wrote", case.name);
        assert!(cloud.mute_rules_now().is_empty(), "{}: muted", case.name);
    }
}

mod decoding_never_panics {
    use handler::event::decode_bytes;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// JSON values of any shape, a few levels deep, with keys the decoder looks for.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("source".to_owned()),
            Just("detail-type".to_owned()),
            Just("detail".to_owned()),
            Just("time".to_owned()),
            Just("instance-id".to_owned()),
            Just("state".to_owned()),
            Just("startTime".to_owned()),
            Just("endTime".to_owned()),
            Just("affectedEntities".to_owned()),
            "\\PC{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(|f| json!(f)),
            "\\PC{0,40}".prop_map(Value::String),
            Just(json!("aws.ec2")),
            Just(json!("aws.health")),
            Just(json!("EC2 Instance State-change Notification")),
            Just(json!("AWS Health Event")),
            Just(json!("i-0123456789abcdef0")),
            Just(json!("2026-11-21T10:00:00Z")),
            Just(json!("Sat, 05 Dec 2026 14:00:00 GMT")),
        ];
        leaf.prop_recursive(4, 48, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_bytes(&bytes);
        }

        #[test]
        fn arbitrary_json(value in json_value()) {
            let _ = decode_bytes(value.to_string().as_bytes());
        }

        #[test]
        fn mutated_envelopes(detail in json_value(), source in prop_oneof![Just("aws.ec2"), Just("aws.health"), Just("aws.autoscaling"), Just("aws.scheduler"), Just("ec2-disk-alarms")]) {
            let detail_type = match source {
                "aws.ec2" => "EC2 Instance State-change Notification",
                "aws.health" => "AWS Health Event",
                "aws.autoscaling" => "EC2 Instance Launch Successful",
                "aws.scheduler" => "Scheduled Event",
                _ => "Sweep Continuation",
            };
            let event = json!({"source": source, "detail-type": detail_type, "time": "2026-11-21T10:00:00Z", "detail": detail});
            let _ = decode_bytes(event.to_string().as_bytes());
        }
    }
}
