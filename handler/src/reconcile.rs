//! The reconcile loop: observe (read-only), decide (`reconciler_core`), act.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use reconciler_core::maintenance::{mute_rule_prefix, parse_mute_rule_name};
use reconciler_core::{
    plan, plan_maintenance, settle, AutoScalingGroup, Change, DeleteReason, InstanceFacts, InstanceId,
    InstanceState, MaintenanceAction, MaintenanceNotice, MetricSeries, ObservedAlarm, Plan, Retired,
    Settlement, Subject, UnixTime,
};
use tracing::{info, info_span, warn, Instrument};

use crate::config::Config;
use crate::event::{Target, Trigger};
use crate::ports::{AlarmStore, ApiCalls, Inventory, PortError, MAX_DELETE_BATCH};
use crate::report::{ChangeStatus, Failure, Report};

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

    fn out_of_time(&self) -> bool {
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
            let (filesystem_alarms, provisional_alarms, subject) = tokio::join!(
                self.alarms.alarms_with_prefix(&own_prefix),
                self.alarms.alarms_with_prefix(&provisional_prefix),
                self.with_series(subject),
            );
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
        for action in actions {
            match action {
                MaintenanceAction::Mute { rule, notes } => {
                    report.notes.extend(notes.iter().map(|n| format!("{}: {n}", rule.instance)));
                    let reason = format!("{} for {}", notice.event_type, rule.window);
                    let status = if options.dry_run {
                        ChangeStatus::Planned
                    } else {
                        match self.alarms.put_mute_rule(&rule).await {
                            Ok(()) => {
                                info!(instance = %rule.instance, rule = %rule.name, window = %rule.window, "alarms muted");
                                ChangeStatus::Applied
                            }
                            Err(error) => {
                                warn!(instance = %rule.instance, rule = %rule.name, %error, "mute failed");
                                report.failures.push(Failure::from_port(
                                    Some(&rule.instance),
                                    Some(&rule.name),
                                    &error,
                                ));
                                ChangeStatus::Failed
                            }
                        }
                    };
                    report.record_mute("mute", &rule.name, &rule.instance, reason, status);
                }
                MaintenanceAction::Unmute { rule, instance, reason } => {
                    self.unmute(&rule, &instance, reason, options, &mut report).await;
                }
                MaintenanceAction::Skip { instance, reason } => {
                    info!(%instance, %reason, "maintenance skipped");
                    report.notes.push(format!("{instance}: {reason}"));
                }
            }
        }
        report
    }

    async fn unmute(
        &self,
        rule: &str,
        instance: &InstanceId,
        reason: String,
        options: RunOptions,
        report: &mut Report,
    ) {
        let status = if options.dry_run {
            ChangeStatus::Planned
        } else {
            match self.alarms.delete_mute_rule(rule).await {
                Ok(()) => {
                    info!(%instance, %rule, %reason, "mute removed");
                    ChangeStatus::Applied
                }
                Err(error) => {
                    warn!(%instance, %rule, %error, "unmute failed");
                    report.failures.push(Failure::from_port(Some(instance), Some(rule), &error));
                    ChangeStatus::Failed
                }
            }
        };
        report.record_mute("unmute", rule, instance, reason, status);
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
        for rule in rules.iter().filter(|r| r.has_expired(options.now)) {
            // Only names of the exact shape this product writes are touched.
            let Some(instance) = parse_mute_rule_name(policy, &rule.name) else { continue };
            self.unmute(&rule.name, &instance, "mute rule expired".into(), options, report).await;
        }
    }

    /// Lists the instance's published disk series when the policy gives it
    /// alarms; the others need none (their alarms, if any, are deleted).
    async fn with_series(&self, mut subject: Subject) -> Result<Subject, PortError> {
        let policy = &self.config.policy;
        if let Subject::Present(facts) = &mut subject {
            let in_scope = matches!(policy.scope(facts), reconciler_core::ScopeDecision::In { .. });
            if facts.state == InstanceState::Running && in_scope {
                let metric = &policy.metric;
                let series = self
                    .alarms
                    .published_series(&metric.namespace, &metric.metric_name, Some(&facts.id))
                    .await?;
                facts.series = Some(series);
            }
        }
        Ok(subject)
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

    /// The instances that own a provisional alarm, each once.
    async fn provisional_instances(&self) -> Result<Vec<InstanceId>, PortError> {
        let naming = &self.config.policy.naming;
        let provisional = self.alarms.alarms_with_prefix(&naming.provisional_prefix()).await?;
        let mut instances: Vec<InstanceId> = provisional
            .iter()
            .filter(|a| a.config.has_ownership_marker())
            .filter_map(|a| naming.parse(&a.name).map(|(id, _)| id))
            .collect();
        instances.sort();
        instances.dedup();
        Ok(instances)
    }

    /// The published series of `instances`: one listing each, or one
    /// account-wide listing when that is fewer calls.
    async fn series_of(&self, instances: &[InstanceId]) -> Result<Vec<MetricSeries>, PortError> {
        let metric = &self.config.policy.metric;
        if instances.len() > FOLLOW_UP_PER_INSTANCE_LISTINGS {
            return self.alarms.published_series(&metric.namespace, &metric.metric_name, None).await;
        }
        let mut series = Vec::new();
        for id in instances {
            series.extend(
                self.alarms.published_series(&metric.namespace, &metric.metric_name, Some(id)).await?,
            );
        }
        Ok(series)
    }

    /// Reads instances and attaches the Auto Scaling groups the policy needs.
    pub async fn observe_instances(&self, ids: &[InstanceId]) -> Result<Vec<InstanceFacts>, PortError> {
        let mut facts = self.inventory.describe_instances(ids).await?;
        self.attach_groups(&mut facts).await?;
        Ok(facts)
    }

    /// Attaches its Auto Scaling group, with the group's tags, to each running
    /// instance whose alarms depend on it: one without the scope tag (the
    /// instance's own tags take precedence, so a tagged instance needs no
    /// lookup), or every one when alarms carry the group dimension. Membership
    /// comes from the `aws:autoscaling:groupName` tag, or, without it, from
    /// `DescribeAutoScalingInstances` in batches of 50.
    pub async fn attach_groups(&self, facts: &mut [InstanceFacts]) -> Result<(), PortError> {
        let policy = &self.config.policy;
        let needs_group = |f: &InstanceFacts| {
            // A pending instance may settle as running (a `running` event ahead of the API).
            matches!(f.state, InstanceState::Running | InstanceState::Pending)
                && (policy.metric.group_dimension || !f.tags.contains_key(&policy.scope_tag_key))
        };
        let mut membership: HashMap<InstanceId, String> = facts
            .iter()
            .filter(|f| needs_group(f))
            .filter_map(|f| Some((f.id.clone(), f.group_name_tag()?.to_owned())))
            .collect();
        let unknown: Vec<InstanceId> = facts
            .iter()
            .filter(|f| needs_group(f) && f.group_name_tag().is_none())
            .map(|f| f.id.clone())
            .collect();
        if !unknown.is_empty() {
            membership.extend(self.inventory.groups_of(&unknown).await?);
        }
        if membership.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = membership.values().cloned().collect();
        names.sort();
        names.dedup();
        let groups: HashMap<String, AutoScalingGroup> =
            self.inventory.groups(&names).await?.into_iter().map(|g| (g.name.clone(), g)).collect();
        for f in facts.iter_mut() {
            if let Some(name) = membership.get(&f.id) {
                // A group deleted since the lookup still names the dimension; it has no tags to lend.
                let group = groups
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| AutoScalingGroup { name: name.clone(), tags: BTreeMap::new() });
                f.group = Some(group);
            }
        }
        Ok(())
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

    /// `recheck_deletes`: a sweep's plan can be minutes old when its deletes
    /// run; an instance started in the meantime (and given its alarms by the
    /// event path) must not lose them to that stale plan.
    async fn apply(&self, plan: &Plan, options: RunOptions, recheck_deletes: bool, report: &mut Report) {
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
            let span = info_span!("alarm", instance = %alarm.instance, alarm = %alarm.name);
            match self.alarms.put_alarm(alarm).instrument(span).await {
                Ok(()) => {
                    info!(instance = %alarm.instance, alarm = %alarm.name, action = change.verb(), reason = %change.reason(), "applied");
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
    }
}

impl<I: Inventory, A: AlarmStore> Reconciler<I, A> {
    /// The deletes of `batch` whose instance, read again now, still should
    /// have no alarms. If the instances cannot be read, nothing is deleted:
    /// a stale alarm costs little, a wrongly deleted one leaves an instance
    /// unprotected.
    async fn still_unwanted<'a>(&self, batch: &[&'a Change], report: &mut Report) -> Vec<&'a Change> {
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

/// Published series grouped by their `InstanceId` dimension; series without one are left out.
fn series_by_instance(series: Vec<MetricSeries>) -> HashMap<String, Vec<MetricSeries>> {
    let mut by_instance: HashMap<String, Vec<MetricSeries>> = HashMap::new();
    for s in series {
        if let Some(instance) = s.instance() {
            by_instance.entry(instance.to_owned()).or_default().push(s);
        }
    }
    by_instance
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
