//! Act: the `Applier` holds the write ports and executes a plan in its
//! order (alarm writes, alarm deletes in batches, mute rules, tag repairs)
//! with pacing, the deadline and failure recording. It decides nothing: what
//! must hold just before a change is the change's `Precondition`, which it
//! checks (reading through the observer for `InstanceStillUnwanted`) and
//! judges with the core.

use std::collections::{HashMap, HashSet};

use reconciler_core::pass::instance_still_unwanted;
use reconciler_core::{Change, InstanceId, MuteChange, Plan, Precondition};
use tracing::{info, info_span, warn, Instrument};

use crate::config::Config;
use crate::observe::Observer;
use crate::options::RunOptions;
use crate::ports::{CloudWatchReads, CloudWatchWrites, Inventory, MAX_DELETE_BATCH};
use crate::report::{ChangeStatus, Failure, Report};

/// The write ports of one account and Region.
pub struct Applier<W> {
    pub cloudwatch: W,
}

impl<W: CloudWatchWrites> Applier<W> {
    pub fn new(cloudwatch: W) -> Self {
        Self { cloudwatch }
    }

    /// Executes `plan`, recording every change in `report`. A change that
    /// fails is reported and the others go on; when the deadline passes,
    /// the rest is counted as deferred.
    pub async fn apply<I: Inventory, C: CloudWatchReads>(
        &self,
        config: &Config,
        plan: &Plan,
        observer: &Observer<I, C>,
        options: RunOptions,
        report: &mut Report,
    ) {
        report.apply_calls += 1;
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
            report.record_planned(plan);
            return;
        }
        let Ok(failed_writes) = self.alarms(config, plan, observer, options, report).await else { return };
        if self.mutes(plan, &failed_writes, options, report).await.is_err() {
            return;
        }
        self.tags(plan, options, report).await;
    }

    /// Creates and updates, then deletes in batches. Returns the instances
    /// with an alarm write that failed.
    async fn alarms<I: Inventory, C: CloudWatchReads>(
        &self,
        config: &Config,
        plan: &Plan,
        observer: &Observer<I, C>,
        options: RunOptions,
        report: &mut Report,
    ) -> Result<HashSet<InstanceId>, OutOfTime> {
        let (deletes, writes): (Vec<&Change>, Vec<&Change>) =
            plan.changes.iter().partition(|c| matches!(c, Change::Delete { .. }));
        let total = plan.changes.len();
        let mut failed_writes: HashSet<InstanceId> = HashSet::new();
        for (done, change) in writes.iter().enumerate() {
            if options.progress && done % 10 == 0 {
                eprint!("\r{done}/{total} changes applied");
            }
            if options.out_of_time() {
                return Err(defer(report, writes.len() - done + deletes.len() + later(plan)));
            }
            let (Change::Create { alarm } | Change::Update { alarm, .. }) = change else { continue };
            let tags = match change {
                Change::Create { .. } => alarm.tags(&config.policy.alarm_tags),
                _ => Vec::new(),
            };
            let span = info_span!("alarm", instance = %alarm.instance, alarm = %alarm.name);
            match self.cloudwatch.put_alarm(alarm, &tags).instrument(span).await {
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
                    failed_writes.insert(alarm.instance.clone());
                }
            }
        }
        let deletes: Vec<&Change> = deletes
            .into_iter()
            .filter(|change| {
                let Change::Delete { precondition: Some(Precondition::InstanceWritesSucceeded), .. } = change
                else {
                    return true;
                };
                let holds = !failed_writes.contains(change.instance());
                if !holds {
                    skipped(report, change, "kept until the alarms replacing it are all written");
                }
                holds
            })
            .collect();
        for (index, batch) in deletes.chunks(MAX_DELETE_BATCH).enumerate() {
            if options.progress {
                eprint!("\r{}/{total} changes applied", writes.len() + index * MAX_DELETE_BATCH);
            }
            if options.out_of_time() {
                return Err(defer(report, deletes.len() - index * MAX_DELETE_BATCH + later(plan)));
            }
            let batch = still_unwanted(config, observer, batch, report).await;
            if batch.is_empty() {
                continue;
            }
            let names: Vec<_> = batch.iter().map(|c| c.alarm_name().clone()).collect();
            match self.cloudwatch.delete_alarms(&names).await {
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
        Ok(failed_writes)
    }

    /// The plan's mute changes, one call each. A failed one is reported and
    /// left to the retry; the others go on.
    async fn mutes(
        &self,
        plan: &Plan,
        failed_writes: &HashSet<InstanceId>,
        options: RunOptions,
        report: &mut Report,
    ) -> Result<(), OutOfTime> {
        for (done, change) in plan.mutes.iter().enumerate() {
            if options.out_of_time() {
                return Err(defer(report, plan.mutes.len() - done + plan.tag_repairs.len()));
            }
            let (instance, rule, reason) = (change.instance(), change.rule_name(), change.reason());
            if let MuteChange::Put { precondition: Some(Precondition::InstanceWritesSucceeded), .. } = change
            {
                if failed_writes.contains(instance) {
                    report.notes.push(format!(
                        "{instance}: {rule} not written: the instance's alarms failed to write"
                    ));
                    continue;
                }
            }
            let written = match change {
                MuteChange::Put { rule, .. } => self.cloudwatch.put_mute_rule(rule).await,
                MuteChange::Delete { rule, .. } => self.cloudwatch.delete_mute_rule(rule).await,
            };
            let status = match written {
                Ok(()) => {
                    info!(%instance, %rule, action = %change.action(), %reason, "applied");
                    ChangeStatus::Applied
                }
                Err(error) => {
                    warn!(%instance, %rule, %error, "change failed");
                    report.failures.push(Failure::from_port(Some(instance), Some(rule), &error));
                    ChangeStatus::Failed
                }
            };
            report.record_mute(change, status);
        }
        Ok(())
    }

    /// The plan's tag repairs, one `TagResource` call each.
    async fn tags(&self, plan: &Plan, options: RunOptions, report: &mut Report) {
        for (done, repair) in plan.tag_repairs.iter().enumerate() {
            if options.out_of_time() {
                defer(report, plan.tag_repairs.len() - done);
                return;
            }
            let keys: Vec<&str> = repair.tags.iter().map(|t| t.key.as_str()).collect();
            match self.cloudwatch.tag_alarm(&repair.arn, &repair.tags).await {
                Ok(()) => {
                    info!(alarm = %repair.alarm, tags = ?keys, "re-tagged");
                    report.record_tag_repair(repair, ChangeStatus::Applied);
                }
                Err(error) => {
                    warn!(alarm = %repair.alarm, %error, "re-tag failed");
                    report.failures.push(Failure::from_port(
                        Some(&repair.instance),
                        Some(&repair.arn),
                        &error,
                    ));
                    report.record_tag_repair(repair, ChangeStatus::Failed);
                }
            }
        }
    }
}

/// A change whose precondition does not hold, said in the report's notes.
fn skipped(report: &mut Report, change: &Change, why: &str) {
    let note = format!("{}: {} {why}", change.instance(), change.alarm_name());
    info!("{note}");
    report.notes.push(note);
}

/// The invocation ran out of time; the rest of the plan is deferred.
struct OutOfTime;

fn defer(report: &mut Report, remaining: usize) -> OutOfTime {
    report.deferred = remaining;
    warn!(deferred = report.deferred, "deadline reached; the rest is deferred");
    OutOfTime
}

/// The changes that come after the alarm changes.
fn later(plan: &Plan) -> usize {
    plan.mutes.len() + plan.tag_repairs.len()
}

/// The deletes of `batch` whose `InstanceStillUnwanted` precondition holds
/// on the instance read again now (the others have none to check). If the
/// instances cannot be read, none of those deletes runs: a stale alarm costs
/// little, a wrongly deleted one leaves an instance unprotected.
async fn still_unwanted<'a, I: Inventory, C: CloudWatchReads>(
    config: &Config,
    observer: &Observer<I, C>,
    batch: &[&'a Change],
    report: &mut Report,
) -> Vec<&'a Change> {
    let checked = |c: &Change| {
        matches!(c, Change::Delete { precondition: Some(Precondition::InstanceStillUnwanted), .. })
    };
    let mut ids: Vec<InstanceId> =
        batch.iter().filter(|c| checked(c)).map(|c| c.instance().clone()).collect();
    if ids.is_empty() {
        return batch.to_vec();
    }
    ids.dedup();
    let facts = match observer.instances(config, &ids).await {
        Ok(facts) => facts,
        Err(error) => {
            for change in batch.iter().filter(|c| checked(c)) {
                report.failures.push(Failure::from_port(
                    Some(change.instance()),
                    Some(change.alarm_name().as_str()),
                    &error,
                ));
                report.record(change, ChangeStatus::Failed);
            }
            return batch.iter().copied().filter(|c| !checked(c)).collect();
        }
    };
    let now: HashMap<&InstanceId, &reconciler_core::InstanceFacts> =
        facts.iter().map(|f| (&f.id, f)).collect();
    batch
        .iter()
        .copied()
        .filter(|change| {
            if !checked(change) {
                return true;
            }
            let holds = instance_still_unwanted(&config.policy, now.get(change.instance()).copied());
            if !holds {
                skipped(report, change, "not deleted: the instance is running in scope again");
            }
            holds
        })
        .collect()
}
