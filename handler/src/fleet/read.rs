//! Reading the rows, at most `concurrency` at a time, in two stages.
//!
//! A row's time is set by its largest listing (`DescribeAlarms` at 9 calls a
//! second), and its size is unknown until its instances are listed. Read in
//! the order given, a large row that starts last keeps the whole audit
//! waiting while the other slots are idle. So each row is first probed (its
//! function's configuration, its last sweep and its instances, read
//! together), and once every row is probed the rest of each row is read
//! largest first. Between the stages a row holds no ports: it is opened
//! again for the second.

use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use reconciler_core::coverage::{active_mutes, coverage};
use reconciler_core::{plan, silent_alarms, Change, InstanceFacts, ObservedAlarm, PassInput, UnixTime};
use tokio::task::JoinSet;

use super::{FleetReport, FleetRequest, FleetRow, RowCounts, RowRead, LAST_SWEEP_WINDOW_SECONDS};
use crate::config::Config;
use crate::observe::{AccountReads, Observer, ReadError};
use crate::pacing::ApiCalls;
use crate::ports::{Accounts, Deployments, Inventory, PortError};

/// What the first stage learnt of a row.
struct Probe {
    config: Config,
    code_sha256: String,
    last_sweep: Option<UnixTime>,
    instances: Vec<InstanceFacts>,
}

/// A row between and after its stages: its busy time and calls so far.
struct Progress {
    duration: Duration,
    api_calls: BTreeMap<&'static str, u64>,
}

enum Stage {
    Probed(Result<Box<Probe>, String>, Progress),
    Read(Result<RowRead, String>, Progress),
}

/// Reads every row, at most `request.concurrency` at a time, and reports them
/// in the order of `request.targets`.
pub async fn read_fleet<A: Accounts>(accounts: Arc<A>, request: &FleetRequest) -> FleetReport {
    let concurrency = request.concurrency.max(1);
    let mut to_probe: VecDeque<usize> = (0..request.targets.len()).collect();
    // Probed rows, largest (most instances) first; ties in the given order.
    let mut to_read: BinaryHeap<(usize, std::cmp::Reverse<usize>)> = BinaryHeap::new();
    let mut probed: HashMap<usize, (Box<Probe>, Progress)> = HashMap::new();
    let mut rows: Vec<Option<FleetRow>> = vec![None; request.targets.len()];
    let mut tasks = JoinSet::new();
    let mut index_of = HashMap::new();
    let finish = |index: usize, read: Result<RowRead, String>, progress: Progress| {
        let (account, region) = request.targets[index].clone();
        FleetRow { account, region, read, duration: progress.duration, api_calls: progress.api_calls }
    };
    loop {
        while tasks.len() < concurrency {
            let (accounts, function, now) = (accounts.clone(), request.function_name.clone(), request.now);
            let (index, task) = if let Some(index) = to_probe.pop_front() {
                let (account, region) = request.targets[index].clone();
                (
                    index,
                    tasks.spawn(async move { probe(&*accounts, &account, &region, &function, now).await }),
                )
            } else if let Some((_, std::cmp::Reverse(index))) = to_read.pop() {
                let (row, progress) = probed.remove(&index).expect("a probed row is read once");
                let (account, region) = request.targets[index].clone();
                (
                    index,
                    tasks.spawn(async move { read(&*accounts, &account, &region, row, progress, now).await }),
                )
            } else {
                break;
            };
            index_of.insert(task.id(), index);
        }
        let Some(joined) = tasks.join_next_with_id().await else { break };
        match joined {
            Ok((id, Stage::Probed(Ok(row), progress))) => {
                let index = index_of[&id];
                to_read.push((row.instances.len(), std::cmp::Reverse(index)));
                probed.insert(index, (row, progress));
            }
            Ok((id, Stage::Probed(Err(error), progress) | Stage::Read(Err(error), progress))) => {
                let index = index_of[&id];
                rows[index] = Some(finish(index, Err(error), progress));
            }
            Ok((id, Stage::Read(Ok(read), progress))) => {
                let index = index_of[&id];
                rows[index] = Some(finish(index, Ok(read), progress));
            }
            // A row that panicked is an error row; the others go on.
            Err(error) => {
                let index = index_of[&error.id()];
                let progress = Progress { duration: Duration::ZERO, api_calls: BTreeMap::new() };
                rows[index] = Some(finish(index, Err(format!("reading the row failed: {error}")), progress));
            }
        }
    }
    FleetReport { rows: rows.into_iter().map(|r| r.expect("every row finished")).collect() }
}

/// The first stage: the function's configuration and last sweep, and the
/// instances, read together.
async fn probe<A: Accounts>(
    accounts: &A,
    account: &str,
    region: &str,
    function: &str,
    now: UnixTime,
) -> Stage {
    let started = tokio::time::Instant::now();
    let mut calls = None;
    let probed = async {
        let ports = accounts.open(account, region).await.map_err(|e| explain(&e))?;
        calls = Some(ports.calls.clone());
        let since = UnixTime(now.0 - LAST_SWEEP_WINDOW_SECONDS);
        let (deployed, last_sweep, instances) = tokio::join!(
            ports.deployments.function(function),
            ports.deployments.last_sweep(function, since, now),
            ports.inventory.all_instances(),
        );
        let deployed = deployed.map_err(|e| explain(&e))?.ok_or_else(|| "not deployed".to_owned())?;
        let config = Config::from_lookup(|var| deployed.environment.get(var).cloned())
            .map_err(|e| format!("configuration of {function}: {e}"))?;
        Ok(Box::new(Probe {
            config,
            code_sha256: deployed.code_sha256,
            last_sweep: last_sweep.map_err(|e| explain(&e))?,
            instances: instances.map_err(|e| explain(&e))?,
        }))
    }
    .await;
    let api_calls = calls.map(|c: ApiCalls| c.snapshot()).unwrap_or_default();
    Stage::Probed(probed, Progress { duration: started.elapsed(), api_calls })
}

/// The second stage: the alarms, the series, our mute rules and the groups,
/// observed as the sweep observes them, then planned.
async fn read<A: Accounts>(
    accounts: &A,
    account: &str,
    region: &str,
    row: Box<Probe>,
    mut progress: Progress,
    now: UnixTime,
) -> Stage {
    let started = tokio::time::Instant::now();
    let mut calls = None;
    let read = async {
        let ports = accounts.open(account, region).await.map_err(|e| explain(&e))?;
        let before = ports.calls.snapshot();
        calls = Some((ports.calls.clone(), before));
        let observer = Observer::new(ports.inventory, ports.alarms);
        let reads = AccountReads { mute_rules: true, ..AccountReads::default() };
        let instances = std::future::ready(Ok(row.instances));
        let seen = observer.account_from(&row.config, reads, instances).await;
        if let Some(failure) = seen.failures.first() {
            return Err(match &failure.error {
                ReadError::Port(error) => explain(error),
                other => other.to_string(),
            });
        }
        let mutes = match seen.mute_rules {
            Some(rules) => rules.map_err(|e| explain(&e))?,
            None => Vec::new(),
        };
        let (policy, after) = (&row.config.policy, row.config.silent_after_seconds);
        let plan = plan(policy, &PassInput::new(&seen.subjects, &seen.alarms, now));
        let count = |pick: fn(&Change) -> bool| plan.changes.iter().filter(|c| pick(c)).count();
        let silent = silent_alarms(policy, &seen.subjects, &seen.alarms, now, after);
        // A silent alarm is never counted as protection.
        let protecting: Vec<ObservedAlarm> =
            seen.alarms.iter().filter(|a| !silent.iter().any(|s| s.alarm == a.name)).cloned().collect();
        let counts = RowCounts {
            coverage: coverage(policy, &seen.subjects, &protecting),
            to_create: count(|c| matches!(c, Change::Create { .. })),
            to_update: count(|c| matches!(c, Change::Update { .. })),
            to_delete: count(|c| matches!(c, Change::Delete { .. })),
            conflicts: plan.conflicts.len(),
            mutes_active: active_mutes(policy, &mutes, now),
            alarms_silent: silent.len(),
            alarms: plan.alarms_after,
            monthly_cost_cents: (plan.monthly_cost_usd(row.config.alarm_monthly_price_usd) * 100.0).round()
                as u64,
        };
        Ok(RowRead { counts, last_sweep: row.last_sweep, code_sha256: row.code_sha256 })
    }
    .await;
    // The ports may count on from the first stage or start again: add what this stage made.
    if let Some((calls, before)) = calls {
        for (operation, after) in calls.snapshot() {
            let made = after - before.get(operation).copied().unwrap_or(0);
            *progress.api_calls.entry(operation).or_default() += made;
        }
    }
    progress.duration += started.elapsed();
    Stage::Read(read, progress)
}

/// Error codes AWS answers when the Region is not enabled for the account
/// (or its credentials are not valid there).
const REGION_NOT_ENABLED_CODES: &[&str] =
    &["OptInRequired", "AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId"];

/// The row's error, said for the person reading the table: by the
/// service's error code, never by the text of the message.
pub(super) fn explain(error: &PortError) -> String {
    if error.code.as_deref().is_some_and(|code| REGION_NOT_ENABLED_CODES.contains(&code)) {
        format!("Region not enabled for the account, or its credentials are not valid there: {error}")
    } else {
        error.to_string()
    }
}
