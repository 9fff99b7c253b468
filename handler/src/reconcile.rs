//! The passes: each observes once (`crate::observe`), plans once
//! (`reconciler_core::plan`) and applies once (`crate::apply`).

use std::time::Instant;

use reconciler_core::pass::instances_to_review_mutes;
use reconciler_core::{plan, silent_alarms, MaintenanceNotice, MuteRulesSeen, PassInput};
use tracing::{info, warn};

use crate::apply::Applier;
use crate::config::Config;
use crate::event::{Target, Trigger};
use crate::observe::{AccountReads, MuteRulesObserved, Observation, Observer};
use crate::pacing::ApiCalls;
use crate::ports::{CloudWatchReads, CloudWatchWrites, Inventory};
use crate::report::{Failure, Report, RetagSummary};

pub use crate::event::TriggerKind;
pub use crate::options::RunOptions;

/// One account and Region's reconciler: its configuration, the observer
/// (read ports), the applier (write ports) and the calls they count.
pub struct Reconciler<I, R, W> {
    pub config: Config,
    pub observer: Observer<I, R>,
    pub applier: Applier<W>,
    pub calls: ApiCalls,
}

impl<I: Inventory, R: CloudWatchReads, W: CloudWatchWrites> Reconciler<I, R, W> {
    /// `inventory` and `reads` are observed, `writes` applied to.
    pub fn new(config: Config, inventory: I, reads: R, writes: W, calls: ApiCalls) -> Self {
        Self { config, observer: Observer::new(inventory, reads), applier: Applier::new(writes), calls }
    }

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
                let mut report = Report::new(TriggerKind::Ignored, options.dry_run);
                report.skipped = Some(reason);
                report
            }
        };
        report.api_calls = self.calls.snapshot();
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        report
    }

    /// The event path: re-read the named instances and their alarms, then converge.
    pub async fn reconcile_instances(
        &self,
        source: TriggerKind,
        targets: &[Target],
        options: RunOptions,
    ) -> Report {
        let mut report = Report::new(source, options.dry_run);
        report.instances_examined = targets.len();
        let seen = self.observer.targets(&self.config, targets, options.now).await;
        let input = PassInput::new(&seen.subjects, &seen.alarms, options.now);
        self.plan_and_apply(&seen, input, MuteReview::WhereNamesChange, options, &mut report).await;
        report
    }

    /// An AWS Health maintenance notice: the named instances' alarms are
    /// made what the policy says, and each in-scope instance's alarms are
    /// muted for the window (after its alarms are written: a mute rule may
    /// only name existing alarms), or unmuted when the maintenance is closed
    /// or over.
    pub async fn maintenance(&self, notice: &MaintenanceNotice, options: RunOptions) -> Report {
        let targets: Vec<Target> =
            notice.instances.iter().map(|id| Target { instance: id.clone(), claim: None }).collect();
        let mut report = Report::new(TriggerKind::HealthMaintenance, options.dry_run);
        report.instances_examined = targets.len();
        let seen = self.observer.targets(&self.config, &targets, options.now).await;
        if notice.status.is_none() {
            let status = notice.status_at(&self.config.maintenance, options.now);
            report.notes.push(format!("the event has no statusCode: treated as {status}, from its times"));
        }
        let input = PassInput {
            maintenance: Some((notice, &self.config.maintenance)),
            ..PassInput::new(&seen.subjects, &seen.alarms, options.now)
        };
        self.plan_and_apply(&seen, input, MuteReview::Always, options, &mut report).await;
        report
    }

    /// The short periodic pass that replaces provisional pairs soon after the
    /// instance's first series appear, instead of at the next sweep. It reads
    /// only the provisional alarms (their own name prefix), checks whether
    /// their instances now publish a series, and reconciles just those.
    ///
    /// Cost per pass: one `DescribeAlarms` page per 100 provisional alarms,
    /// then one `ListMetrics` call per provisional instance, or, when there
    /// are more than [`crate::observe::FOLLOW_UP_PER_INSTANCE_LISTINGS`] of
    /// them, one account-wide listing (pages of 500 series) instead; plus
    /// the event path's reads of each instance that has new series.
    pub async fn follow_up(&self, options: RunOptions) -> Report {
        let probe = match self.observer.follow_up_probe(&self.config, options.now).await {
            Ok(probe) => probe,
            Err(error) => return Report::with_read_failure(TriggerKind::FollowUp, options.dry_run, &error),
        };
        let mut report = Report::new(TriggerKind::FollowUp, options.dry_run);
        for id in &probe.late_mounts {
            report.notes.push(format!("{id}: started recently and publishes a filesystem without alarms"));
        }
        let ready = probe.ready.into_iter().chain(probe.late_mounts);
        let targets: Vec<Target> = ready.map(|instance| Target { instance, claim: None }).collect();
        if !targets.is_empty() {
            report.instances_examined = targets.len();
            let seen = self.observer.targets(&self.config, &targets, options.now).await;
            let input = PassInput::new(&seen.subjects, &seen.alarms, options.now);
            self.plan_and_apply(&seen, input, MuteReview::WhereNamesChange, options, &mut report).await;
        }
        report.instances_provisional += probe.waiting.len();
        report.instances_examined += probe.waiting.len();
        report
    }

    /// The full sweep: every instance, every alarm under the owned prefix,
    /// our mute rules (expired ones are removed) and, with `options.retag`,
    /// the tags of the alarms it keeps.
    pub async fn sweep(&self, options: RunOptions) -> Report {
        let mut report = Report::new(TriggerKind::Sweep, options.dry_run);
        let reads = AccountReads {
            mute_rules: true,
            mute_rules_in_force_at: Some(options.now),
            alarm_tags: options.retag,
        };
        let seen = self.observer.account(&self.config, reads).await;
        if !seen.failures.is_empty() {
            report.failures = seen.failures.iter().map(Failure::from_read).collect();
            return report;
        }
        report.instances_examined = seen.subjects.len();
        // If the rules cannot be listed, the sweep says so in a note and does
        // not fail for it: the next sweep, or an event of the instance, repairs them.
        let mute_rules = match &seen.mute_rules {
            Some(Ok(listed)) => Some(MuteRulesSeen { listed, read: &seen.mute_rule_reads }),
            Some(Err(error)) => {
                warn!(%error, "mute rules not listed; expired ones stay until the next sweep");
                report.notes.push(format!("mute rules not checked, expired ones not cleaned up: {error}"));
                None
            }
            None => None,
        };
        report.failures.extend(seen.mute_rule_failures.iter().map(Failure::from_read));
        if let Some(tags) = &seen.alarm_tags {
            report.retag = Some(RetagSummary { checked: tags.len(), retagged: 0 });
        }
        report.failures.extend(seen.alarm_tag_failures.iter().map(Failure::from_read));
        let input = PassInput {
            whole_account: true,
            mute_rules,
            alarm_tags: seen.alarm_tags.as_ref(),
            ..PassInput::new(&seen.subjects, &seen.alarms, options.now)
        };
        self.plan_and_apply(&seen, input, MuteReview::Done, options, &mut report).await;
        report
    }

    /// The one plan of a pass, applied once. Instances that could not be
    /// read are reported as failures and left out of the plan. Before it
    /// plans, an event pass reads our mute rules where `review` says, so
    /// that the plan can make them name the instances' alarms as they will be.
    /// The silent alarms are a finding of the same observation, reported
    /// beside the plan.
    async fn plan_and_apply(
        &self,
        seen: &Observation,
        input: PassInput<'_>,
        review: MuteReview,
        options: RunOptions,
        report: &mut Report,
    ) {
        report.failures.extend(seen.failures.iter().map(Failure::from_read));
        let policy = &self.config.policy;
        let rules: MuteRulesObserved;
        let input = match review {
            MuteReview::Done => input,
            MuteReview::WhereNamesChange | MuteReview::Always => {
                let instances = instances_to_review_mutes(policy, &input);
                if instances.is_empty() && matches!(review, MuteReview::WhereNamesChange) {
                    input
                } else {
                    match self.observer.review_mute_rules(&self.config, &instances, options.now).await {
                        Ok(read) => {
                            rules = read;
                            report.failures.extend(rules.failures.iter().map(Failure::from_read));
                            let seen = MuteRulesSeen { listed: &rules.listed, read: &rules.read };
                            PassInput { mute_rules: Some(seen), ..input }
                        }
                        // Left to the retry: a rule may still name alarms this pass replaces.
                        Err(error) => {
                            report.failures.push(Failure::from_port(None, None, &error));
                            input
                        }
                    }
                }
            }
        };
        let plan = plan(policy, &input);
        report.instances_in_scope += plan.instances_in_scope;
        if input.whole_account {
            report.alarms_after_apply = Some(plan.alarms_after);
            report.monthly_cost_usd = Some(plan.monthly_cost_usd(self.config.alarm_monthly_price_usd));
        }
        let after = self.config.silent_after_seconds;
        report.record_silent(silent_alarms(policy, input.subjects, input.alarms, input.now, after));
        self.applier.apply(&self.config, &plan, &self.observer, options, report).await;
    }
}

/// Which mute rules a pass reads before it plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MuteReview {
    /// Read with the observation (the sweep).
    Done,
    /// Only when the pass changes the alarm names of an instance that has alarms.
    WhereNamesChange,
    /// Always listed (a maintenance event writes rules of its own).
    Always,
}
