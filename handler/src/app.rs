//! What the Lambda function and `alarmctl handle` share: one event in, one
//! report out, with the same decoding, logging and failure rules.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reconciler_core::UnixTime;
use serde_json::Value;
use tracing::{error, info, warn};

use crate::event::{decode, EventError, Trigger};
use crate::ports::{CloudWatchReads, CloudWatchWrites, Continuation, Inventory};
use crate::reconcile::{Reconciler, RunOptions};
use crate::report::{Failure, Report};

pub use crate::report::METRICS_NAMESPACE;

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
/// nightly sweep sees again. Any other event that runs out of time fails for
/// a retry of the same event: only a sweep starts a chain of follow-ups.
pub async fn handle_event<I: Inventory, R: CloudWatchReads, W: CloudWatchWrites, C: Continuation>(
    reconciler: &Reconciler<I, R, W>,
    continuation: &C,
    event: Value,
    options: RunOptions,
) -> Result<Report, HandleError> {
    let trigger = decode(event).inspect_err(|e| error!(error = %e, "event rejected"))?;
    let is_sweep = matches!(trigger, Trigger::Sweep { .. });
    let mut report = reconciler.handle(trigger, options).await;
    if report.deferred > 0 && !is_sweep {
        report.failures.push(Failure::other(
            format!(
                "{} changes deferred: the invocation ran out of time; a retry of this event makes them",
                report.deferred
            ),
            true,
        ));
    } else if report.deferred > 0 {
        let next = report.generation + 1;
        if next > MAX_SWEEP_CONTINUATIONS {
            report.failures.push(Failure::other(
                format!(
                    "sweep still has {} changes to make after {MAX_SWEEP_CONTINUATIONS} follow-up invocations",
                    report.deferred
                ),
                false,
            ));
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

/// What a failed invocation reports to Lambda, and what an on-call person
/// reads in the failed-invocation queue: a named type and every failure.
pub fn incomplete_diagnostic(report: &Report) -> lambda_runtime::Diagnostic {
    const LISTED: usize = 20;
    let mut message = format!("reconcile incomplete: {}", report.failure_summary_counts());
    for failure in report.failures.iter().take(LISTED) {
        message.push_str("\n- ");
        for part in
            [failure.instance.as_ref().map(|i| i.as_str()), failure.alarm.as_deref()].into_iter().flatten()
        {
            message.push_str(part);
            message.push_str(": ");
        }
        message.push_str(&failure.error);
        if failure.retryable {
            message.push_str(" (retryable)");
        }
    }
    if report.failures.len() > LISTED {
        message.push_str(&format!("\n- and {} more", report.failures.len() - LISTED));
    }
    lambda_runtime::Diagnostic { error_type: "ReconcileIncomplete".into(), error_message: message }
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
        alarms_silent = report.alarms_silent,
        duration_ms = report.duration_ms,
        api_calls = %serde_json::to_string(&report.api_calls).unwrap_or_default(),
        "reconcile finished"
    );
    if !report.silent.is_empty() {
        warn!(silent = %serde_json::to_string(&report.silent).unwrap_or_default(), "silent alarms found");
    }
    if report.failed() {
        error!(failures = %serde_json::to_string(&report.failures).unwrap_or_default(), "reconcile left work undone");
    }
}

pub fn emf_line(report: &Report) -> String {
    report.emf(METRICS_NAMESPACE, &function_name(), epoch_millis()).to_string()
}

/// The EMF record of an event that was rejected: a producer sending garbage
/// shows as `EventsRejected`, not only as a log line.
pub fn rejected_emf_line() -> String {
    crate::report::rejected_emf(METRICS_NAMESPACE, &function_name(), epoch_millis()).to_string()
}

/// The metrics' `FunctionName`: see [`crate::report::metrics_function_name`].
fn function_name() -> String {
    crate::report::metrics_function_name(|var| std::env::var(var).ok())
}

fn epoch_millis() -> u64 {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    u64::try_from(millis).unwrap_or(u64::MAX)
}

/// Lambda's longest timeout; a deadline further away than this (plus some
/// slack for clock skew) did not come from Lambda.
const MAX_INVOCATION: Duration = Duration::from_secs(15 * 60 + 60);

/// The time an invocation has left, from the runtime's deadline header
/// (milliseconds since the epoch), or why it cannot be trusted. Real Lambda
/// sends a time at most 15 minutes ahead; a local emulator was seen sending
/// a duration (`600000`), which read as a time lies in 1970. A deadline that is
/// absent, past or absurd means "no deadline": running past a deadline
/// only costs a retry, while believing a bogus one defers every change.
pub fn time_left(deadline_epoch_ms: u64, now: SystemTime) -> Result<Duration, String> {
    if deadline_epoch_ms == 0 {
        return Err("the runtime sent no deadline".into());
    }
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_epoch_ms);
    match deadline.duration_since(now) {
        Err(_) => Err(format!("the runtime's deadline {deadline_epoch_ms} ms lies in the past")),
        Ok(left) if left > MAX_INVOCATION => {
            Err(format!("the runtime's deadline {deadline_epoch_ms} ms is more than 16 minutes away"))
        }
        Ok(left) => Ok(left),
    }
}

/// Lambda's application log levels (`AWS_LAMBDA_LOG_LEVEL`), most verbose first.
const LAMBDA_LOG_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
/// INFO's place in [`LAMBDA_LOG_LEVELS`].
const LAMBDA_INFO: usize = 2;

/// Logging as Lambda configures it for every function: JSON lines when the
/// function's log format is JSON (`AWS_LAMBDA_LOG_FORMAT`), text otherwise, at
/// the level of its logging configuration (`AWS_LAMBDA_LOG_LEVEL`; FATAL logs
/// errors only), INFO without one. `RUST_LOG`, when set (the template's
/// `LogLevel`), is a filter of the function's own and replaces that level.
///
/// Returns the level the metric lines (EMF, printed without `tracing`) must
/// carry: Lambda's log-level filter counts a line without a level as INFO and
/// drops it when the function's level is WARN or quieter, which would lose the
/// metrics. They carry INFO, or that quieter level, so the filter always keeps them.
pub fn init_lambda_logging() -> &'static str {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().and_then(|level| {
        LAMBDA_LOG_LEVELS.iter().position(|known| known.eq_ignore_ascii_case(level.trim()))
    });
    let level =
        std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| match lambda_level
            .map(|index| LAMBDA_LOG_LEVELS[index])
        {
            Some("FATAL") => "error".to_owned(),
            Some(level) => level.to_lowercase(),
            None => "info".to_owned(),
        });
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).without_time();
    if json {
        logs.json().with_current_span(true).with_span_list(false).init();
    } else {
        logs.init();
    }
    LAMBDA_LOG_LEVELS[lambda_level.map_or(LAMBDA_INFO, |index| index.max(LAMBDA_INFO))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TriggerKind;

    const NOW_MS: u64 = 1_795_168_800_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(NOW_MS)
    }

    #[test]
    fn an_incomplete_run_is_a_named_error_listing_its_failures() {
        let mut report = Report::new(TriggerKind::Ec2StateChange, false);
        for n in 0..22 {
            report.failures.push(Failure {
                instance: Some(reconciler_core::InstanceId::parse("i-0123456789abcdef0").unwrap()),
                alarm: Some(format!("ec2-disk-alarm-{n}")),
                error: "PutMetricAlarm failed (Throttled): Rate exceeded".into(),
                kind: None,
                retryable: n % 2 == 0,
            });
        }
        let diagnostic = incomplete_diagnostic(&report);
        assert_eq!(diagnostic.error_type, "ReconcileIncomplete");
        let message = diagnostic.error_message;
        assert!(message.starts_with("reconcile incomplete: 22 failure(s), 11 retryable"), "{message}");
        assert!(message.contains("\n- i-0123456789abcdef0: ec2-disk-alarm-0: PutMetricAlarm failed (Throttled): Rate exceeded (retryable)"), "{message}");
        assert!(message.contains("ec2-disk-alarm-19"), "{message}");
        assert!(!message.contains("ec2-disk-alarm-20"), "{message}");
        assert!(message.ends_with("\n- and 2 more"), "{message}");
    }

    #[test]
    fn a_sane_deadline_gives_the_time_left() {
        assert_eq!(time_left(NOW_MS + 900_000, now()), Ok(Duration::from_secs(900)));
        assert_eq!(time_left(NOW_MS + 3_000, now()), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn an_absent_past_or_absurd_deadline_is_no_deadline() {
        let cases = [
            ("absent", 0, "no deadline"),
            ("a duration, as cargo lambda watch sends", 600_000, "in the past"),
            ("already passed", NOW_MS - 1, "in the past"),
            ("a day away", NOW_MS + 86_400_000, "more than 16 minutes"),
            ("the far future", u64::MAX / 2, "more than 16 minutes"),
        ];
        for (name, deadline, expected) in cases {
            let error = time_left(deadline, now()).expect_err(name);
            assert!(error.contains(expected), "{name}: {error}");
        }
    }
}
