//! What one invocation did: the JSON result, the summary log line and the
//! Embedded Metric Format record all come from this one value.

use std::collections::BTreeMap;

use reconciler_core::{
    Action, Change, DeleteReason, InstanceId, MuteChange, Retired, SilentAlarm, TagRepair,
};
use serde::Serialize;
use serde_json::{json, Value};

pub use crate::event::TriggerKind;
use crate::observe::ReadFailure;
use crate::ports::{ErrorKind, PortError};

/// Namespace of the Embedded Metric Format metrics about the reconciler itself.
pub const METRICS_NAMESPACE: &str = "DiskAlarmReconciler";

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub trigger: TriggerKind,
    pub dry_run: bool,
    /// Set when the event was deliberately not acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub instances_examined: usize,
    pub instances_in_scope: usize,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Running, in-scope instances that still have only the provisional pair:
    /// they have published no disk series (that passes the filter) yet.
    pub instances_provisional: usize,
    /// Alarms deleted (or, in a dry run, to be deleted) because the series
    /// they watched is no longer published.
    pub alarms_series_gone: usize,
    /// Owned alarms of running, in-scope instances that have been in
    /// `INSUFFICIENT_DATA` for `SILENT_AFTER_MINUTES` or longer: they exist,
    /// but protect nothing. A finding of the observation, not a change.
    pub alarms_silent: usize,
    /// The silent alarms, each with since when and the likely cause.
    pub silent: Vec<SilentAlarm>,
    /// Mute rules written for AWS Health maintenance windows.
    pub mutes_set: usize,
    /// Mute rules removed: maintenance closed, or expired rules cleaned up.
    pub mutes_removed: usize,
    /// Changes not attempted because the invocation ran out of time.
    pub deferred: usize,
    /// A sweep (or `alarmctl plan`): the owned alarms once its plan is
    /// applied, and their estimated monthly cost (`ALARM_MONTHLY_PRICE_USD`
    /// per billed alarm metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms_after_apply: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cost_usd: Option<f64>,
    /// Which link of a chain of sweep invocations this was (0: the scheduled one).
    pub generation: u32,
    /// Set when a follow-up invocation was asked to finish the deferred changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
    pub changes: Vec<ChangeRecord>,
    pub conflicts: Vec<String>,
    pub notes: Vec<String>,
    pub failures: Vec<Failure>,
    pub api_calls: BTreeMap<&'static str, u64>,
    pub duration_ms: u64,
    /// Set when the run included the re-tag pass (`alarmctl sweep --retag`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retag: Option<RetagSummary>,
    /// How many times the pass called the applier: one per pass (not in the output).
    #[serde(skip)]
    pub apply_calls: usize,
}

/// What the re-tag part of a sweep read and changed (`alarmctl sweep --retag`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetagSummary {
    /// Alarms whose tags were read.
    pub checked: usize,
    /// Alarms that were missing a tag or had another value (in a dry run: would be re-tagged).
    pub retagged: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    pub action: Action,
    pub alarm: String,
    pub instance: InstanceId,
    pub reason: String,
    pub status: ChangeStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeStatus {
    Applied,
    /// Dry run: computed, not applied.
    Planned,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    pub error: String,
    /// How the API failed, when it was an API call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    pub retryable: bool,
}

impl Failure {
    pub fn from_port(instance: Option<&InstanceId>, alarm: Option<&str>, error: &PortError) -> Self {
        Self {
            instance: instance.cloned(),
            alarm: alarm.map(str::to_owned),
            error: error.to_string(),
            kind: Some(error.kind),
            retryable: error.retryable(),
        }
    }

    /// A failure that is not an API call's: `retryable` says whether a retry can help.
    pub fn other(error: impl Into<String>, retryable: bool) -> Self {
        Self { instance: None, alarm: None, error: error.into(), kind: None, retryable }
    }

    pub fn from_read(failure: &ReadFailure) -> Self {
        let kind = match &failure.error {
            crate::observe::ReadError::Port(error) => Some(error.kind),
            _ => None,
        };
        Self {
            instance: failure.instance.clone(),
            alarm: failure.alarm.clone(),
            error: failure.error.to_string(),
            kind,
            retryable: failure.error.retryable(),
        }
    }
}

impl Report {
    pub fn new(trigger: TriggerKind, dry_run: bool) -> Self {
        Self { trigger, dry_run, ..Self::default() }
    }

    /// The changes of one instance's plan, as planned (`explain`); its notes
    /// without the instance they are all about.
    pub fn planned(trigger: TriggerKind, plan: &reconciler_core::Plan) -> Self {
        let mut report = Self::new(trigger, true);
        report.record_planned(plan);
        report.conflicts = plan.conflicts.iter().map(ToString::to_string).collect();
        report.notes = plan.notes.iter().map(|(_, note)| note.clone()).collect();
        report.unchanged = plan.unchanged.len();
        report
    }

    /// Every change of `plan` as planned, not applied (a dry run).
    pub fn record_planned(&mut self, plan: &reconciler_core::Plan) {
        for change in &plan.changes {
            self.record(change, ChangeStatus::Planned);
        }
        for change in &plan.mutes {
            self.record_mute(change, ChangeStatus::Planned);
        }
        for repair in &plan.tag_repairs {
            self.record_tag_repair(repair, ChangeStatus::Planned);
        }
    }

    /// Adds the silent alarms a pass found.
    pub fn record_silent(&mut self, silent: Vec<SilentAlarm>) {
        self.alarms_silent += silent.len();
        self.silent.extend(silent);
    }

    /// A report of an invocation that stopped at its first read.
    pub fn with_read_failure(trigger: TriggerKind, dry_run: bool, error: &PortError) -> Self {
        let mut report = Self::new(trigger, dry_run);
        report.failures.push(Failure::from_port(None, None, error));
        report
    }

    pub fn record(&mut self, change: &Change, status: ChangeStatus) {
        if status != ChangeStatus::Failed {
            match change {
                Change::Create { .. } => self.created += 1,
                Change::Update { .. } => self.updated += 1,
                Change::Delete { reason, .. } => {
                    self.deleted += 1;
                    if *reason == DeleteReason::Alarm(Retired::SeriesGone) {
                        self.alarms_series_gone += 1;
                    }
                }
            }
        }
        self.changes.push(ChangeRecord {
            action: change.action(),
            alarm: change.alarm_name().to_string(),
            instance: change.instance().clone(),
            reason: change.reason(),
            status,
        });
    }

    /// A mute rule written or removed (or planned, in a dry run).
    pub fn record_mute(&mut self, change: &MuteChange, status: ChangeStatus) {
        let action = change.action();
        if status != ChangeStatus::Failed {
            match action {
                Action::Mute => self.mutes_set += 1,
                _ => self.mutes_removed += 1,
            }
        }
        self.changes.push(ChangeRecord {
            action,
            alarm: change.rule_name().to_owned(),
            instance: change.instance().clone(),
            reason: change.reason().to_owned(),
            status,
        });
    }

    /// Tags added to an existing alarm (or planned, in a dry run).
    pub fn record_tag_repair(&mut self, repair: &TagRepair, status: ChangeStatus) {
        if status != ChangeStatus::Failed {
            self.retag.get_or_insert_with(RetagSummary::default).retagged += 1;
        }
        let keys: Vec<&str> = repair.tags.iter().map(|t| t.key.as_str()).collect();
        self.changes.push(ChangeRecord {
            action: Action::Tag,
            alarm: repair.alarm.to_string(),
            instance: repair.instance.clone(),
            reason: format!("missing or changed tags: {}", keys.join(", ")),
            status,
        });
    }

    /// The invocation fails when work was left undone: AWS then retries it,
    /// and after the retries the event lands in the dead-letter queue.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// A sweep that finished everything it found to do, without a failure: the
    /// heartbeat an alarm watches (no success for 26 hours pages someone).
    pub fn sweep_succeeded(&self) -> bool {
        self.trigger == TriggerKind::Sweep && !self.dry_run && !self.failed() && self.deferred == 0
    }

    /// One line for stderr and the logs.
    pub fn failure_summary(&self) -> String {
        let first = self.failures.first().map_or(String::new(), |f| format!("; first: {}", f.error));
        format!("{}{first}", self.failure_summary_counts())
    }

    /// `N failure(s), M retryable`.
    pub fn failure_summary_counts(&self) -> String {
        format!(
            "{} failure(s), {} retryable",
            self.failures.len(),
            self.failures.iter().filter(|f| f.retryable).count()
        )
    }

    /// CloudWatch Embedded Metric Format: printed as one log line, it becomes
    /// metrics operators can alarm on without any PutMetricData call.
    /// `function_name` tells the stacks of one account and Region apart.
    pub fn emf(&self, namespace: &str, function_name: &str, timestamp_ms: u64) -> Value {
        let metrics = [
            ("InstancesExamined", self.instances_examined),
            ("InstancesInScope", self.instances_in_scope),
            ("AlarmsCreated", self.created),
            ("AlarmsUpdated", self.updated),
            ("AlarmsDeleted", self.deleted),
            ("AlarmsUnchanged", self.unchanged),
            ("InstancesProvisional", self.instances_provisional),
            ("AlarmsSeriesGone", self.alarms_series_gone),
            ("AlarmsSilent", self.alarms_silent),
            ("MutesSet", self.mutes_set),
            ("MutesRemoved", self.mutes_removed),
            ("ChangesDeferred", self.deferred),
            ("Conflicts", self.conflicts.len()),
            ("Failures", self.failures.len()),
            ("SweepsSucceeded", usize::from(self.sweep_succeeded())),
        ];
        let mut record = emf_record(namespace, timestamp_ms, function_name, self.trigger.as_str(), &metrics);
        record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array_mut()
            .expect("metrics list")
            .push(json!({"Name": "DurationMs", "Unit": "Milliseconds"}));
        record["DurationMs"] = json!(self.duration_ms);
        record
    }
}

/// The EMF record of a rejected event (trigger `rejected`): `EventsRejected` = 1.
pub fn rejected_emf(namespace: &str, function_name: &str, timestamp_ms: u64) -> Value {
    emf_record(namespace, timestamp_ms, function_name, "rejected", &[("EventsRejected", 1)])
}

/// The `FunctionName` dimension of the EMF records: the function's own name
/// (`AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets), or [`FUNCTION_NAME_OUTSIDE_LAMBDA`]
/// when it is unset or empty, so a run outside Lambda never counts as a
/// deployed function's heartbeat.
pub fn metrics_function_name(lookup: impl Fn(&str) -> Option<String>) -> String {
    lookup("AWS_LAMBDA_FUNCTION_NAME")
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| FUNCTION_NAME_OUTSIDE_LAMBDA.to_owned())
}

/// The `FunctionName` of records written outside Lambda (`alarmctl`, a local emulator without the variable).
pub const FUNCTION_NAME_OUTSIDE_LAMBDA: &str = "alarmctl";

/// One EMF record: `metrics` as counts, with the `FunctionName` and `Trigger` dimensions.
fn emf_record(
    namespace: &str,
    timestamp_ms: u64,
    function_name: &str,
    trigger: &str,
    metrics: &[(&str, usize)],
) -> Value {
    let mut record = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["FunctionName", "Trigger"]],
                "Metrics": metrics.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        },
        "FunctionName": function_name,
        "Trigger": trigger,
    });
    for (name, value) in metrics {
        record[*name] = json!(value);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_declares_every_metric_it_carries() {
        let mut report = Report::new(TriggerKind::Sweep, false);
        report.created = 3;
        let emf = report.emf("DiskAlarmReconciler", "disk-alarm-reconciler", 1_700_000_000_000);
        let declared = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
        assert_eq!(declared.len(), 16);
        for metric in declared {
            let name = metric["Name"].as_str().unwrap();
            assert!(emf[name].is_number(), "{name} is declared but missing");
        }
        assert_eq!(emf["AlarmsCreated"], 3);
        assert_eq!(emf["Trigger"], "sweep");
        assert_eq!(emf["FunctionName"], "disk-alarm-reconciler");
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["FunctionName", "Trigger"]]));
        assert_eq!(emf["SweepsSucceeded"], 1);
    }

    #[test]
    fn a_rejected_event_is_counted() {
        let emf = rejected_emf("DiskAlarmReconciler", "stack-b-reconciler", 1_700_000_000_000);
        assert_eq!(
            emf["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "EventsRejected", "Unit": "Count"}])
        );
        assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["FunctionName", "Trigger"]]));
        assert_eq!((emf["EventsRejected"].clone(), emf["Trigger"].clone()), (json!(1), json!("rejected")));
        assert_eq!(emf["FunctionName"], "stack-b-reconciler");
    }

    #[test]
    fn only_a_complete_sweep_without_failures_is_a_heartbeat() {
        let complete = Report::new(TriggerKind::Sweep, false);
        assert!(complete.sweep_succeeded());
        let mut deferred = Report::new(TriggerKind::Sweep, false);
        deferred.deferred = 10;
        let mut failed = Report::new(TriggerKind::Sweep, false);
        failed.failures.push(Failure::other("x", true));
        for report in [
            deferred,
            failed,
            Report::new(TriggerKind::Sweep, true),
            Report::new(TriggerKind::Ec2StateChange, false),
        ] {
            assert!(!report.sweep_succeeded(), "{report:?}");
            assert_eq!(report.emf("DiskAlarmReconciler", "f", 0)["SweepsSucceeded"], 0);
        }
    }

    #[test]
    fn the_function_name_dimension_is_the_functions_own_name_or_alarmctl_outside_lambda() {
        let cases = [
            ("in Lambda", Some("prod-disk-alarm-reconciler"), "prod-disk-alarm-reconciler"),
            ("unset: alarmctl", None, FUNCTION_NAME_OUTSIDE_LAMBDA),
            ("empty: alarmctl", Some(" "), FUNCTION_NAME_OUTSIDE_LAMBDA),
        ];
        for (name, value, expected) in cases {
            let lookup = |var: &str| {
                assert_eq!(var, "AWS_LAMBDA_FUNCTION_NAME");
                value.map(str::to_owned)
            };
            assert_eq!(metrics_function_name(lookup), expected, "{name}");
        }
    }
}
