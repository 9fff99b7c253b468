//! What the Lambda function and `alarmctl handle` share: one event in, one
//! report out, with the same decoding, logging and failure rules.

use std::time::{SystemTime, UNIX_EPOCH};

use reconciler_core::UnixTime;
use serde_json::Value;
use tracing::{error, info};

use crate::event::{decode, EventError};
use crate::ports::{AlarmStore, Continuation, Inventory};
use crate::reconcile::{Reconciler, RunOptions};
use crate::report::{Failure, Report};

/// Namespace of the Embedded Metric Format metrics about the reconciler itself.
pub const METRICS_NAMESPACE: &str = "DiskAlarmReconciler";

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The event can never be processed; retrying it cannot help.
    #[error("rejected event: {0}")]
    Rejected(#[from] EventError),
    /// Work was left undone; a retry (or the next sweep) can finish it.
    #[error("reconcile incomplete: {}", .0.failure_summary())]
    Incomplete(Box<Report>),
}

pub fn now() -> UnixTime {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// A chain of follow-up invocations stops here: a sweep that still has not
/// finished after this many is failing for a reason more time will not fix.
pub const MAX_SWEEP_CONTINUATIONS: u32 = 16;

/// Handles one event. A sweep that reaches `options.deadline` stops writing
/// and asks `continuation` for a follow-up invocation, which re-observes and
/// finishes the rest. If that request fails, the invocation fails, so Lambda's
/// own retry takes over; and whatever is still undone after that, the next
/// nightly sweep sees again.
pub async fn handle_event<I: Inventory, A: AlarmStore, C: Continuation>(
    reconciler: &Reconciler<I, A>,
    continuation: &C,
    event: Value,
    options: RunOptions,
) -> Result<Report, HandleError> {
    let trigger = decode(event).inspect_err(|e| error!(error = %e, "event rejected"))?;
    let mut report = reconciler.handle(trigger, options).await;
    if report.deferred > 0 {
        let next = report.generation + 1;
        if next > MAX_SWEEP_CONTINUATIONS {
            report.failures.push(Failure {
                instance: None,
                alarm: None,
                error: format!(
                    "sweep still has {} changes to make after {MAX_SWEEP_CONTINUATIONS} follow-up invocations",
                    report.deferred
                ),
                retryable: false,
            });
        } else {
            match continuation.continue_sweep(next).await {
                Ok(()) => report.continuation = Some(format!("follow-up invocation {next} requested")),
                Err(error) => report.failures.push(Failure::from_port(None, None, &error)),
            }
        }
    }
    log_summary(&report);
    if report.failed() {
        Err(HandleError::Incomplete(Box::new(report)))
    } else {
        Ok(report)
    }
}

/// One structured summary line, plus the same counts as EMF metrics.
pub fn log_summary(report: &Report) {
    info!(
        trigger = %report.trigger,
        dry_run = report.dry_run,
        skipped = report.skipped.as_deref(),
        instances_examined = report.instances_examined,
        instances_in_scope = report.instances_in_scope,
        created = report.created,
        updated = report.updated,
        deleted = report.deleted,
        unchanged = report.unchanged,
        conflicts = report.conflicts.len(),
        failures = report.failures.len(),
        duration_ms = report.duration_ms,
        api_calls = %serde_json::to_string(&report.api_calls).unwrap_or_default(),
        "reconcile finished"
    );
    if report.failed() {
        error!(failures = %serde_json::to_string(&report.failures).unwrap_or_default(), "reconcile left work undone");
    }
}

pub fn emf_line(report: &Report) -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    report.emf(METRICS_NAMESPACE, u64::try_from(millis).unwrap_or(u64::MAX)).to_string()
}
