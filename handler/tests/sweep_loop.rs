//! The sweep against the in-memory account with AWS's quotas, on a paused
//! clock: the deadline stop, the follow-up invocation, and throttling.

use std::sync::Mutex;
use std::time::Duration;

use handler::app::{handle_event, HandleError, MAX_SWEEP_CONTINUATIONS};
mod common;

use common::reconciler;
use handler::event::continuation_event;
use handler::fake::FakeCloud;
use handler::ports::{default_rate_limits, Continuation, PortError, RateLimits};
use handler::reconcile::{Reconciler, RunOptions};
use handler::report::Report;
use reconciler_core::{InstanceFacts, InstanceId, InstanceState, UnixTime};
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000;

#[derive(Default)]
struct RecordingContinuation {
    requested: Mutex<Vec<u32>>,
    fail: bool,
}

impl Continuation for RecordingContinuation {
    async fn continue_sweep(&self, generation: u32) -> Result<(), PortError> {
        if self.fail {
            return Err(PortError::new("Invoke", handler::ports::ErrorKind::Transient, "injected"));
        }
        self.requested.lock().unwrap().push(generation);
        Ok(())
    }
}

/// `count` running production instances in an account with AWS's default quotas.
fn account(count: usize, quotas: &RateLimits) -> FakeCloud {
    let cloud = FakeCloud::with_quotas(quotas, &default_rate_limits());
    for n in 0..count {
        cloud.put_instance(InstanceFacts {
            id: InstanceId::parse(&format!("i-{n:017x}")).unwrap(),
            state: InstanceState::Running,
            tags: [("Environment".to_string(), "production".to_string())].into(),
            platform: Default::default(),
            launch_time: Some(UnixTime(NOW - 3600)),
            state_since: None,
            group: None,
            series: None,
        });
    }
    cloud
}

fn sweep_event() -> Value {
    json!({"version": "0", "id": "s", "detail-type": "Scheduled Event", "source": "aws.scheduler",
           "time": "2026-11-21T03:17:00Z", "resources": [], "detail": "{}"})
}

fn within(seconds: u64) -> RunOptions {
    RunOptions {
        deadline: Some(tokio::time::Instant::now() + Duration::from_secs(seconds)),
        ..RunOptions::new(UnixTime(NOW))
    }
}

async fn run<C: Continuation>(
    r: &Reconciler<FakeCloud, FakeCloud, FakeCloud>,
    continuation: &C,
    event: Value,
    options: RunOptions,
) -> Result<Report, HandleError> {
    handle_event(r, continuation, event, options).await
}

#[tokio::test(start_paused = true)]
async fn a_sweep_stops_at_its_deadline_and_the_follow_up_finishes_the_rest() {
    let cloud = account(50, &default_rate_limits());
    let r = reconciler(&cloud);
    let continuation = RecordingContinuation::default();

    // 100 creates at 3 per second need about 33 s; this invocation has 10.
    let first = run(&r, &continuation, sweep_event(), within(10)).await.expect("a deferral is not a failure");
    assert!(first.deferred > 0 && first.created > 0, "{:?}", first.api_calls);
    assert_eq!(first.created + first.deferred, 100);
    assert_eq!(cloud.alarm_names().len(), first.created);
    assert_eq!(*continuation.requested.lock().unwrap(), [1]);
    assert!(first.continuation.is_some());

    let second =
        run(&r, &continuation, continuation_event(1, "2026-11-21T03:32:00Z"), within(600)).await.unwrap();
    assert_eq!((second.generation, second.deferred, second.created), (1, 0, first.deferred));
    assert_eq!(second.unchanged, first.created, "the follow-up re-observes what is already done");
    assert_eq!(cloud.alarm_names().len(), 100);
    assert_eq!(*continuation.requested.lock().unwrap(), [1], "no further follow-up once done");
    assert_eq!(cloud.throttles().1, 0);
}

#[tokio::test(start_paused = true)]
async fn if_the_follow_up_cannot_be_requested_the_invocation_fails() {
    let cloud = account(50, &default_rate_limits());
    let continuation = RecordingContinuation { fail: true, ..Default::default() };
    let result = run(&reconciler(&cloud), &continuation, sweep_event(), within(10)).await;
    let Err(HandleError::Incomplete(report)) = result else { panic!("expected a failed invocation") };
    assert!(report.failures.iter().all(|f| f.retryable));
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_follow_ups_is_bounded() {
    let cloud = account(50, &default_rate_limits());
    let continuation = RecordingContinuation::default();
    let event = continuation_event(MAX_SWEEP_CONTINUATIONS, "2026-11-21T07:00:00Z");
    let result = run(&reconciler(&cloud), &continuation, event, within(5)).await;
    let Err(HandleError::Incomplete(report)) = result else { panic!("expected a failed invocation") };
    assert!(report.failures[0].error.contains("follow-up invocations"), "{:?}", report.failures);
    assert!(continuation.requested.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn paced_sweeps_are_not_throttled() {
    let cloud = account(200, &default_rate_limits());
    let report = run(&reconciler(&cloud), &RecordingContinuation::default(), sweep_event(), within(900))
        .await
        .unwrap();
    assert_eq!(report.created, 400);
    assert_eq!(cloud.throttles(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn throttling_never_loses_a_change() {
    // An account whose quota is far below what the client paces itself to.
    let mut quotas = default_rate_limits();
    quotas.insert("PutMetricAlarm", 0.2);
    let cloud = account(30, &quotas);
    let r = reconciler(&cloud);
    let continuation = RecordingContinuation::default();
    let mut failed_runs = 0;
    loop {
        match run(&r, &continuation, sweep_event(), within(900)).await {
            Ok(report) => {
                assert_eq!(report.failures.len(), 0);
                break;
            }
            Err(HandleError::Incomplete(report)) => {
                failed_runs += 1;
                // Every change that did not happen is reported, and retryable.
                let failed =
                    report.changes.iter().filter(|c| c.status == handler::report::ChangeStatus::Failed);
                assert_eq!(failed.count(), report.failures.len());
                assert!(report.failures.iter().all(|f| f.retryable), "{:?}", report.failures);
                assert!(failed_runs < 10, "did not converge");
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(failed_runs > 0, "the quota should have throttled the first sweep");
    assert!(cloud.throttles().1 > 0);
    assert_eq!(cloud.alarm_names().len(), 60);
}

#[tokio::test(start_paused = true)]
async fn a_sweep_does_not_delete_alarms_of_an_instance_started_while_it_ran() {
    let cloud = account(2, &default_rate_limits());
    let r = reconciler(&cloud);
    let first = InstanceId::parse(&format!("i-{:017x}", 0)).unwrap();
    run(&r, &RecordingContinuation::default(), sweep_event(), within(900)).await.unwrap();
    assert_eq!(cloud.alarm_names().len(), 4);

    // The first instance is stopped when the sweep observes the world, and a
    // new one needs alarms; while those are being created, the first starts again.
    cloud.set_state(&first, InstanceState::Stopped);
    cloud.put_instance(InstanceFacts {
        id: InstanceId::parse(&format!("i-{:017x}", 99)).unwrap(),
        state: InstanceState::Running,
        tags: [("Environment".to_string(), "production".to_string())].into(),
        platform: Default::default(),
        launch_time: Some(UnixTime(NOW)),
        state_since: None,
        group: None,
        series: None,
    });
    let restarted = first.clone();
    cloud.on_next_call("PutMetricAlarm", move |world| {
        if let Some(facts) = world.instances.get_mut(&restarted) {
            facts.state = InstanceState::Running;
        }
    });
    let report = run(&r, &RecordingContinuation::default(), sweep_event(), within(900)).await.unwrap();
    assert_eq!((report.created, report.deleted), (2, 0), "{:?}", report.notes);
    assert!(report.notes.iter().any(|n| n.contains("running in scope again")), "{:?}", report.notes);
    assert_eq!(cloud.alarm_names().len(), 6, "the restarted instance keeps its alarms");
}

#[tokio::test(start_paused = true)]
async fn a_sweep_deletes_nothing_when_it_cannot_recheck() {
    let cloud = account(1, &default_rate_limits());
    let r = reconciler(&cloud);
    run(&r, &RecordingContinuation::default(), sweep_event(), within(900)).await.unwrap();
    cloud.set_state(&InstanceId::parse(&format!("i-{:017x}", 0)).unwrap(), InstanceState::Stopped);
    // The sweep's own listing succeeds; the recheck before the delete fails.
    cloud.fail_call("DescribeInstances", 2, handler::ports::ErrorKind::Transient);
    let result = run(&r, &RecordingContinuation::default(), sweep_event(), within(900)).await;
    let Err(HandleError::Incomplete(report)) = result else { panic!("expected a failed invocation") };
    assert_eq!(report.deleted, 0);
    assert!(report.failures.iter().all(|f| f.retryable));
    assert_eq!(cloud.alarm_names().len(), 2);
}

/// Only a sweep chains follow-up invocations. An event that runs out of time
/// (a Health event naming many instances, a deadline already passed) fails
/// for a retry of the same event, and asks for no continuation.
#[tokio::test(start_paused = true)]
async fn an_event_that_runs_out_of_time_fails_for_a_retry_and_starts_no_sweep_chain() {
    let cloud = account(1, &default_rate_limits());
    let r = reconciler(&cloud);
    let continuation = RecordingContinuation::default();
    let event = json!({"version": "0", "id": "e", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "time": "2027-01-15T08:00:00Z", "resources": [],
        "detail": {"instance-id": format!("i-{:017x}", 0), "state": "running"}});
    let out_of_time =
        RunOptions { deadline: Some(tokio::time::Instant::now()), ..RunOptions::new(UnixTime(NOW)) };
    let Err(HandleError::Incomplete(report)) = run(&r, &continuation, event.clone(), out_of_time).await
    else {
        panic!("an event with changes deferred must fail for a retry")
    };
    assert_eq!(report.deferred, 2, "{report:?}");
    assert!(report.continuation.is_none(), "{report:?}");
    assert!(continuation.requested.lock().unwrap().is_empty());
    assert!(report.failures.iter().all(|f| f.retryable), "{:?}", report.failures);
    assert!(report.failures[0].error.contains("2 changes deferred"), "{:?}", report.failures);
    assert!(cloud.alarm_names().is_empty());

    // The retry, with time to spare, makes them.
    let report =
        run(&r, &continuation, event, RunOptions::new(UnixTime(NOW))).await.expect("the retry succeeds");
    assert_eq!(report.created, 2);
    assert!(continuation.requested.lock().unwrap().is_empty());
}
