//! The reconcile loop: observe (read-only), decide (`reconciler_core`), act.

use std::time::Instant;

use reconciler_core::maintenance::expired_mute_rules;
use reconciler_core::{plan, plan_maintenance, MaintenanceNotice, Plan, Subject, UnixTime};
use tracing::{info, warn};

use crate::config::Config;
use crate::event::{Target, Trigger};
use crate::ports::{AlarmStore, ApiCalls, Inventory};
use crate::report::Report;

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
        report.instances_examined = targets.len();
        let seen = self.observe_targets(targets, options.now).await;
        report.failures = seen.failures;
        let (subjects, observed) = (seen.subjects, seen.alarms);
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
        let rules = match self.owned_mute_rules().await {
            Ok(rules) => rules,
            Err(error) => {
                warn!(%error, "mute rules not listed; expired ones stay until the next sweep");
                report.notes.push(format!("expired mute rules not cleaned up: {error}"));
                return;
            }
        };
        let plan = Plan::from_maintenance(expired_mute_rules(&self.config.policy, &rules, options.now));
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
            Ok(by_instance) => by_instance,
            Err(error) => return Report::with_read_failure("follow-up", options.dry_run, &error),
        };
        let policy = &self.config.policy;
        let (ready, still_waiting): (Vec<_>, Vec<_>) =
            waiting.into_iter().partition(|(id, platform)| match by_instance.get(id.as_str()) {
                None => false,
                Some(series) => policy
                    .profile(*platform)
                    .classify(series)
                    .iter()
                    .any(|c| matches!(c.verdict, reconciler_core::SeriesVerdict::Watched { .. })),
            });
        let targets: Vec<Target> =
            ready.into_iter().map(|(instance, _)| Target { instance, claim: None }).collect();
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
        let seen = self.observe_account().await;
        if !seen.failures.is_empty() {
            report.failures = seen.failures;
            return report;
        }
        let (subjects, observed) = (seen.subjects, seen.alarms);
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
