//! What the Lambda function and `alarmctl handle` share: one event in, one
//! report out, with the same decoding, logging and failure rules.

use std::time::{SystemTime, UNIX_EPOCH};

use reconciler_core::UnixTime;
use serde_json::Value;
use tracing::{error, info};

use crate::event::{decode, EventError};
use crate::ports::{AlarmStore, Inventory};
use crate::reconcile::{Reconciler, RunOptions};
use crate::report::Report;

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
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    UnixTime(i64::try_from(seconds).unwrap_or(i64::MAX))
}

pub async fn handle_event<I: Inventory, A: AlarmStore>(
    reconciler: &Reconciler<I, A>,
    event: Value,
    dry_run: bool,
) -> Result<Report, HandleError> {
    let trigger = decode(event).inspect_err(|e| error!(error = %e, "event rejected"))?;
    let report = reconciler
        .handle(
            trigger,
            RunOptions {
                dry_run,
                now: now(),
            },
        )
        .await;
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
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    report
        .emf(METRICS_NAMESPACE, u64::try_from(millis).unwrap_or(u64::MAX))
        .to_string()
}
