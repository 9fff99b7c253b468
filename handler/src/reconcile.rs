//! The reconcile loop: observe (read-only), decide (`reconciler_core`), act.

use std::collections::HashMap;
use std::time::Instant;

use reconciler_core::maintenance::{expired_mute_rules, mute_rule_prefix};
use reconciler_core::{
    plan, plan_maintenance, settle, InstanceId, MaintenanceNotice, ObservedAlarm, Plan, Settlement, Subject,
    UnixTime,
};
use tracing::{info, info_span, warn, Instrument};

use crate::config::Config;
use crate::event::{Target, Trigger};
use crate::observe::series_by_instance;
use crate::ports::{AlarmStore, ApiCalls, Inventory};
use crate::report::{Failure, Report};

pub struct Reconciler<I, A> {
    pub config: Config,
    pub inventory: I,
    pub alarms: A,
    pub calls: ApiCalls,
}

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Observe and plan, write nothing.
    pub dry_run: bool,
    pub now: UnixTime,
    /// Stop writing at this point and report the rest as deferred (the
    /// Lambda's deadline minus a margin). `None`: run to the end.
    pub deadline: Option<tokio::time::Instant>,
    /// Show how many changes are done on stderr (for `alarmctl` on a terminal).
    pub progress: bool,
}

impl RunOptions {
    pub fn new(now: UnixTime) -> Self {
        Self { dry_run: false, now, deadline: None, progress: false }
    }

    pub(crate) fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline)
    }
}

impl<I: Inventory, A: AlarmStore> Reconciler<I, A> {
    pub async fn handle(&self, trigger: Trigger, options: RunOptions) -> Report {
        let started = Instant::now();
        let mut report = match trigger {
            Trigger::Instances { source, targets } => {
                self.reconcile_instances(source, &targets, options).await
            }
            Trigger::Sweep { generation } => {
                let mut report = self.sweep(options).await;
                report.generation = generation;
                report
            }
            Trigger::Maintenance(notice) => self.maintenance(&notice, options).await,
            Trigger::FollowUp => self.follow_up(options).await,
            Trigger::Ignore { reason } => {
                info!(%reason, "event skipped");
                let mut report = Report::new("ignored", options.dry_run);
                report.skipped = Some(reason);
                report
            }
        };
        report.api_calls = self.calls.snapshot();
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        report
    }

    /// The event path: re-read the named instances and their alarms, then converge.
    pub async fn reconcile_instances(&self, source: &str, targets: &[Target], options: RunOptions) -> Report {
        self.converge(source, targets, options).await.0
    }

    /// [`Self::reconcile_instances`], also returning what was decided about each instance.
    async fn converge(
        &self,
        source: &str,
        targets: &[Target],
        options: RunOptions,
    ) -> (Report, Vec<Subject>) {
        let mut report = Report::new(source, options.dry_run);
        let ids: Vec<InstanceId> = targets.iter().map(|t| t.instance.clone()).collect();
        report.instances_examined = ids.len();
        let facts = match self.observe_instances(&ids).await {
            Ok(facts) => facts,
            Err(error) => {
                for id in &ids {
                    report.failures.push(Failure::from_port(Some(id), None, &error));
                }
                return (report, Vec::new());
            }
        };
        let mut facts: HashMap<InstanceId, _> = facts.into_iter().map(|f| (f.id.clone(), f)).collect();

        let mut subjects = Vec::new();
        let mut observed: Vec<ObservedAlarm> = Vec::new();
        for target in targets {
            let id = &target.instance;
            let api = facts.remove(id);
            let window = self.config.consistency_window_seconds;
            let subject = match settle(id, target.claim, api, options.now, window) {
                Settlement::Settled(subject) => subject,
                Settlement::NotSettled { reason } => {
                    warn!(instance = %id, %reason, "instance state not settled; will be retried");
                    report.failures.push(Failure {
                        instance: Some(id.clone()),
                        alarm: None,
                        error: format!("state not settled: {reason}"),
                        retryable: true,
                    });
                    continue;
                }
            };
            let naming = &self.config.policy.naming;
            let (own_prefix, provisional_prefix) =
                (naming.instance_prefix(id), naming.provisional_instance_prefix(id));
            // One span per instance: its reads (and the SDK's retries) log under its id.
            let span = info_span!("instance", instance = %id);
            let (filesystem_alarms, provisional_alarms, subject) = async {
                tokio::join!(
                    self.alarms.alarms_with_prefix(&own_prefix),
                    self.alarms.alarms_with_prefix(&provisional_prefix),
                    self.with_series(subject),
                )
            }
            .instrument(span)
            .await;
            match (filesystem_alarms, provisional_alarms, subject) {
                (Ok(filesystem_alarms), Ok(provisional_alarms), Ok(subject)) => {
                    observed.extend(filesystem_alarms);
                    observed.extend(provisional_alarms);
                    subjects.push(subject);
                }
                (filesystem_alarms, provisional_alarms, subject) => {
                    // Deciding without all three reads could delete the alarms of a
                    // filesystem that is still there; the retry decides.
                    let errors = [filesystem_alarms.err(), provisional_alarms.err(), subject.err()];
                    for error in errors.iter().flatten() {
                        report.failures.push(Failure::from_port(Some(id), None, error));
                    }
                }
            }
        }
        report.instances_in_scope = count_in_scope(&self.config, &subjects);
        let plan = plan(&self.config.policy, &subjects, &observed);
        self.apply(&plan, options, false, &mut report).await;
        (report, subjects)
    }

    /// An AWS Health maintenance notice: first the named instances' alarms are
    /// made what the policy says (a mute rule may only name existing alarms),
    /// then each in-scope instance's alarms are muted for the window, or
    /// unmuted when the maintenance is closed or over.
    pub async fn maintenance(&self, notice: &MaintenanceNotice, options: RunOptions) -> Report {
        let targets: Vec<Target> =
            notice.instances.iter().map(|id| Target { instance: id.clone(), claim: None }).collect();
        let (mut report, subjects) = self.converge("health-maintenance", &targets, options).await;
        if report.failed() {
            // Muting alarms that could not be put right would fail or mute the wrong thing;
            // the retry of this event does both.
            return report;
        }
        if notice.status.is_none() {
            let status = notice.status_at(&self.config.maintenance, options.now);
            report.notes.push(format!("the event has no statusCode: treated as {status}, from its times"));
        }
        let actions =
            plan_maintenance(&self.config.policy, &self.config.maintenance, notice, &subjects, options.now);
        self.apply(&Plan::from_maintenance(actions), options, false, &mut report).await;
        report
    }

    /// Expired mute rules mute nothing, but they pile up; the sweep removes
    /// them. This is housekeeping: if the rules cannot be listed, the sweep
    /// says so in a note and does not fail for it.
    async fn remove_expired_mutes(&self, options: RunOptions, report: &mut Report) {
        let policy = &self.config.policy;
        let rules = match self.alarms.mute_rules(&mute_rule_prefix(policy), None).await {
            Ok(rules) => rules,
            Err(error) => {
                warn!(%error, "mute rules not listed; expired ones stay until the next sweep");
                report.notes.push(format!("expired mute rules not cleaned up: {error}"));
                return;
            }
        };
        let plan = Plan::from_maintenance(expired_mute_rules(policy, &rules, options.now));
        self.apply(&plan, options, false, report).await;
    }

    /// The short periodic pass that replaces provisional pairs soon after the
    /// instance's first series appear, instead of at the next sweep. It reads
    /// only the provisional alarms (their own name prefix), checks whether
    /// their instances now publish a series, and reconciles just those.
    ///
    /// Cost per pass: one `DescribeAlarms` page per 100 provisional alarms,
    /// then one `ListMetrics` call per provisional instance, or, when there
    /// are more than [`FOLLOW_UP_PER_INSTANCE_LISTINGS`] of them, one
    /// account-wide listing (pages of 500 series) instead; plus a normal
    /// event-path reconcile of each instance that has new series.
    pub async fn follow_up(&self, options: RunOptions) -> Report {
        let waiting = match self.provisional_instances().await {
            Ok(waiting) => waiting,
            Err(error) => return Report::with_read_failure("follow-up", options.dry_run, &error),
        };
        let by_instance = match self.series_of(&waiting).await {
            Ok(series) => series_by_instance(series),
            Err(error) => return Report::with_read_failure("follow-up", options.dry_run, &error),
        };
        let metric = &self.config.policy.metric;
        let (ready, still_waiting): (Vec<InstanceId>, Vec<InstanceId>) =
            waiting.into_iter().partition(|id| match by_instance.get(id.as_str()) {
                None => false,
                Some(series) => metric
                    .classify(series)
                    .iter()
                    .any(|c| matches!(c.verdict, reconciler_core::SeriesVerdict::Watched { .. })),
            });
        let targets: Vec<Target> =
            ready.into_iter().map(|instance| Target { instance, claim: None }).collect();
        let mut report = if targets.is_empty() {
            Report::new("follow-up", options.dry_run)
        } else {
            self.converge("follow-up", &targets, options).await.0
        };
        report.instances_provisional += still_waiting.len();
        report.instances_examined += still_waiting.len();
        report
    }

    /// The full sweep: every instance and every alarm under the owned prefix.
    pub async fn sweep(&self, options: RunOptions) -> Report {
        let mut report = Report::new("sweep", options.dry_run);
        let metric = &self.config.policy.metric;
        // One account-wide listing of the series, in pages of 500, instead of a call per instance.
        let (instances, observed, series) = tokio::join!(
            self.inventory.all_instances(),
            self.alarms.alarms_with_prefix(self.config.policy.naming.prefix()),
            self.alarms.published_series(&metric.namespace, &metric.metric_name, None),
        );
        let (mut instances, observed, series) = match (instances, observed, series) {
            (Ok(instances), Ok(observed), Ok(series)) => (instances, observed, series),
            (instances, observed, series) => {
                for error in [instances.err(), observed.err(), series.err()].into_iter().flatten() {
                    report.failures.push(Failure::from_port(None, None, &error));
                }
                return report;
            }
        };
        let mut by_instance = series_by_instance(series);
        for facts in &mut instances {
            facts.series = Some(by_instance.remove(facts.id.as_str()).unwrap_or_default());
        }
        if let Err(error) = self.attach_groups(&mut instances).await {
            report.failures.push(Failure::from_port(None, None, &error));
            return report;
        }
        let subjects: Vec<Subject> = instances.into_iter().map(Subject::Present).collect();
        report.instances_examined = subjects.len();
        report.instances_in_scope = count_in_scope(&self.config, &subjects);
        let plan = plan(&self.config.policy, &subjects, &observed);
        self.apply(&plan, options, true, &mut report).await;
        if report.deferred == 0 {
            self.remove_expired_mutes(options, &mut report).await;
        }
        report
    }
}

/// Up to this many provisional instances, the follow-up pass lists each one's
/// series (one `ListMetrics` call each); above it, one account-wide listing is cheaper.
pub const FOLLOW_UP_PER_INSTANCE_LISTINGS: usize = 25;

fn count_in_scope(config: &Config, subjects: &[Subject]) -> usize {
    subjects
        .iter()
        .filter(|s| match s {
            Subject::Present(facts) => {
                matches!(config.policy.scope(facts), reconciler_core::ScopeDecision::In { .. })
            }
            Subject::Gone { .. } => false,
        })
        .count()
}
