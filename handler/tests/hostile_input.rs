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
        launch_time: Some(UnixTime(NOW - 3600)),
        group: None,
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
