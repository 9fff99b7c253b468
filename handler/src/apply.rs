//! Act: the one write loop for a plan's changes (pacing, batching, the
//! deadline, the delete re-check, failure recording) and for mute rules.

use std::collections::{HashMap, HashSet};

use reconciler_core::{Change, DeleteReason, InstanceId, MuteChange, Plan, Retired, Subject};
use tracing::{info, info_span, warn, Instrument};

use crate::ports::{AlarmStore, Inventory, MAX_DELETE_BATCH};
use crate::reconcile::{Reconciler, RunOptions};
use crate::report::{ChangeStatus, Failure, Report};

impl<I: Inventory, A: AlarmStore> Reconciler<I, A> {
    /// The plan's mute changes, one call each. A failed one is reported and
    /// left to the retry; the others go on.
    async fn apply_mutes(&self, plan: &Plan, options: RunOptions, report: &mut Report) {
        for change in &plan.mutes {
            let (instance, rule, reason) = (change.instance(), change.rule_name(), change.reason());
            let status = if options.dry_run {
                ChangeStatus::Planned
            } else {
                let written = match change {
                    MuteChange::Put { rule, .. } => self.alarms.put_mute_rule(rule).await,
                    MuteChange::Delete { rule, .. } => self.alarms.delete_mute_rule(rule).await,
                };
                match written {
                    Ok(()) => {
                        info!(%instance, %rule, action = %change.action(), %reason, "applied");
                        ChangeStatus::Applied
                    }
                    Err(error) => {
                        warn!(%instance, %rule, %error, "change failed");
                        report.failures.push(Failure::from_port(Some(instance), Some(rule), &error));
                        ChangeStatus::Failed
                    }
                }
            };
            report.record_mute(change.action(), rule, instance, reason.to_owned(), status);
        }
    }

    /// `recheck_deletes`: a sweep's plan can be minutes old when its deletes
    /// run; an instance started in the meantime (and given its alarms by the
    /// event path) must not lose them to that stale plan.
    pub(crate) async fn apply(
        &self,
        plan: &Plan,
        options: RunOptions,
        recheck_deletes: bool,
        report: &mut Report,
    ) {
        report.unchanged += plan.unchanged.len();
        report.instances_provisional += plan.provisional;
        report.notes.extend(plan.notes.iter().map(|(id, note)| format!("{id}: {note}")));
        for conflict in &plan.conflicts {
            warn!(instance = %conflict.instance, alarm = %conflict.name, "{conflict}");
            report.conflicts.push(conflict.to_string());
        }
        for (id, note) in &plan.notes {
            warn!(instance = %id, "{note}");
        }
        if options.dry_run {
            for change in &plan.changes {
                report.record(change, ChangeStatus::Planned);
            }
            self.apply_mutes(plan, options, report).await;
            return;
        }
        let (deletes, writes): (Vec<&Change>, Vec<&Change>) =
            plan.changes.iter().partition(|c| matches!(c, Change::Delete { .. }));
        let total = plan.changes.len();
        for (done, change) in writes.iter().enumerate() {
            if options.progress && done % 10 == 0 {
                eprint!("\r{done}/{total} changes applied");
            }
            if options.out_of_time() {
                report.deferred = writes.len() - done + deletes.len();
                warn!(deferred = report.deferred, "deadline reached; the rest is deferred");
                return;
            }
            let (Change::Create { alarm } | Change::Update { alarm, .. }) = change else {
                continue;
            };
            let tags = match change {
                Change::Create { .. } => alarm.tags(&self.config.policy.alarm_tags),
                _ => Vec::new(),
            };
            let span = info_span!("alarm", instance = %alarm.instance, alarm = %alarm.name);
            match self.alarms.put_alarm(alarm, &tags).instrument(span).await {
                Ok(()) => {
                    info!(instance = %alarm.instance, alarm = %alarm.name, action = %change.action(), reason = %change.reason(), "applied");
                    report.record(change, ChangeStatus::Applied);
                }
                Err(error) => {
                    warn!(instance = %alarm.instance, alarm = %alarm.name, %error, "change failed");
                    report.failures.push(Failure::from_port(
                        Some(&alarm.instance),
                        Some(alarm.name.as_str()),
                        &error,
                    ));
                    report.record(change, ChangeStatus::Failed);
                }
            }
        }
        // A provisional pair goes only once every alarm replacing it exists: if
        // one of them failed, the instance keeps it until the retry.
        let unfinished: HashSet<&InstanceId> = report
            .failures
            .iter()
            .filter(|f| f.alarm.is_some())
            .filter_map(|f| f.instance.as_ref())
            .collect();
        let (deletes, kept): (Vec<&Change>, Vec<&Change>) = deletes.into_iter().partition(|c| {
            !(matches!(c, Change::Delete { reason: DeleteReason::Alarm(Retired::Superseded), .. })
                && unfinished.contains(c.instance()))
        });
        for change in kept {
            let note = format!(
                "{}: {} kept until the alarms replacing it are all written",
                change.instance(),
                change.alarm_name()
            );
            info!("{note}");
            report.notes.push(note);
        }
        for (index, batch) in deletes.chunks(MAX_DELETE_BATCH).enumerate() {
            if options.progress {
                eprint!("\r{}/{total} changes applied", writes.len() + index * MAX_DELETE_BATCH);
            }
            if options.out_of_time() {
                report.deferred = deletes.len() - index * MAX_DELETE_BATCH;
                warn!(deferred = report.deferred, "deadline reached; the rest is deferred");
                return;
            }
            let batch =
                if recheck_deletes { self.still_unwanted(batch, report).await } else { batch.to_vec() };
            if batch.is_empty() {
                continue;
            }
            let names: Vec<_> = batch.iter().map(|c| c.alarm_name().clone()).collect();
            match self.alarms.delete_alarms(&names).await {
                Ok(()) => {
                    for change in &batch {
                        info!(instance = %change.instance(), alarm = %change.alarm_name(), action = "delete", reason = %change.reason(), "applied");
                        report.record(change, ChangeStatus::Applied);
                    }
                }
                Err(error) => {
                    for change in &batch {
                        warn!(instance = %change.instance(), alarm = %change.alarm_name(), %error, "change failed");
                        report.failures.push(Failure::from_port(
                            Some(change.instance()),
                            Some(change.alarm_name().as_str()),
                            &error,
                        ));
                        report.record(change, ChangeStatus::Failed);
                    }
                }
            }
        }
        self.apply_mutes(plan, options, report).await;
    }

    /// The deletes of `batch` whose instance, read again now, still should
    /// have no alarms. If the instances cannot be read, nothing is deleted:
    /// a stale alarm costs little, a wrongly deleted one leaves an instance
    /// unprotected.
    pub(crate) async fn still_unwanted<'a>(
        &self,
        batch: &[&'a Change],
        report: &mut Report,
    ) -> Vec<&'a Change> {
        let mut ids: Vec<InstanceId> = batch.iter().map(|c| c.instance().clone()).collect();
        ids.dedup();
        let facts = match self.observe_instances(&ids).await {
            Ok(facts) => facts,
            Err(error) => {
                for change in batch {
                    report.failures.push(Failure::from_port(
                        Some(change.instance()),
                        Some(change.alarm_name().as_str()),
                        &error,
                    ));
                    report.record(change, ChangeStatus::Failed);
                }
                return Vec::new();
            }
        };
        let now: HashMap<&InstanceId, &reconciler_core::InstanceFacts> =
            facts.iter().map(|f| (&f.id, f)).collect();
        batch
            .iter()
            .copied()
            .filter(|change| {
                // Only an instance-level reason can have changed since the plan;
                // an alarm retired for its series stays retired.
                if !matches!(change, Change::Delete { reason: DeleteReason::Instance(_), .. }) {
                    return true;
                }
                let Some(facts) = now.get(change.instance()) else { return true };
                let wanted = matches!(
                    reconciler_core::desired_alarms(&self.config.policy, &Subject::Present((*facts).clone())),
                    reconciler_core::Desire::Alarms { .. }
                );
                if wanted {
                    let note = format!(
                        "{}: delete of {} skipped: the instance is running in scope again",
                        change.instance(),
                        change.alarm_name()
                    );
                    info!("{note}");
                    report.notes.push(note);
                }
                !wanted
            })
            .collect()
    }
}
