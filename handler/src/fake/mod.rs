//! An in-memory AWS account implementing the ports: a real, stateful fake
//! (not a script of expected calls), with fault injection. Used by the
//! reconcile-loop tests and, with AWS's page sizes and quotas switched on,
//! by the scale benchmark.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reconciler_core::{
    AlarmConfig, AlarmName, AlarmState, AlarmTag, AutoScalingGroup, Dimension, InstanceFacts, InstanceId,
    InstanceState, MetricSeries, MuteRule, StateValue, UnixTime,
};

use crate::ports::{ApiCalls, ErrorKind, PortError, RateLimits};

mod accounts;
mod alarm_states;
mod ports;

pub use accounts::{FakeDeployments, FakeFleet, FakeRow};

/// The ARN the in-memory account gives an alarm.
pub fn alarm_arn(name: &str) -> String {
    format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}")
}

/// `DescribeInstances` returns up to 1000 instances a page, `DescribeAlarms`
/// 100 alarms, `ListMetrics` 500 series.
const INSTANCE_PAGE: usize = 1000;
const ALARM_PAGE: usize = 100;
const METRIC_PAGE: usize = 500;
/// Attempts per request, as the SDK's standard retry mode makes them.
const SDK_ATTEMPTS: u32 = 3;

#[derive(Clone, Default)]
pub struct FakeCloud {
    state: Arc<Mutex<State>>,
    /// The client side: what the reconciler counts and paces.
    pub calls: ApiCalls,
    /// The server side: AWS's per-API quotas, when modelled.
    quotas: Option<ApiCalls>,
    throttles: Arc<Throttles>,
}

#[derive(Default)]
struct State {
    instances: BTreeMap<InstanceId, InstanceFacts>,
    alarms: BTreeMap<AlarmName, AlarmConfig>,
    /// Each alarm's state, as on AWS: a new alarm starts in
    /// `INSUFFICIENT_DATA` and an update keeps the state. Data points are
    /// modelled by the series: an alarm whose exact series is published is
    /// `OK` (from its creation, or from the series' first publish), and one
    /// whose series stops goes back to `INSUFFICIENT_DATA`.
    /// [`FakeCloud::set_alarm_state`] sets any state; gone with the alarm.
    alarm_states: BTreeMap<AlarmName, AlarmState>,
    /// The alarms by the `InstanceId` of their dimensions (`""` without one):
    /// a series' data reaches only alarms of its own instance.
    alarms_by_instance: BTreeMap<String, std::collections::BTreeSet<AlarmName>>,
    /// Set when an alarm is created, as CloudWatch does; gone with the alarm.
    tags: BTreeMap<AlarmName, Vec<AlarmTag>>,
    groups: BTreeMap<String, AutoScalingGroup>,
    /// Instance → group, as `DescribeAutoScalingInstances` reports it.
    members: BTreeMap<InstanceId, String>,
    mute_rules: BTreeMap<String, MuteRule>,
    /// Published series by namespace and metric name, then by instance
    /// (`""` for series without an `InstanceId` dimension).
    series: BTreeMap<(String, String), BTreeMap<String, Vec<MetricSeries>>>,
    /// CloudWatch's clock, for the status of mute rules and new alarms' state times.
    now: UnixTime,
    faults: Vec<Fault>,
    hooks: Vec<(&'static str, Hook)>,
    writes: u64,
    /// Injected faults that fired, oldest first.
    fired: Vec<(&'static str, ErrorKind)>,
    /// A partial `DeleteAlarms` fault fired and its call has not yet applied the part.
    partial_delete: bool,
}

#[derive(Default)]
struct Throttles {
    /// Throttling answers the modelled SDK retried away.
    retried: AtomicU64,
    /// Throttling errors that reached the reconciler.
    surfaced: AtomicU64,
}

/// Runs once, inside the next call of an operation: the world changing
/// while a sweep is under way.
type Hook = Box<dyn FnOnce(&mut FakeWorld<'_>) + Send>;

/// What a hook may change.
pub struct FakeWorld<'a> {
    pub instances: &'a mut BTreeMap<InstanceId, InstanceFacts>,
}

struct Fault {
    operation: &'static str,
    /// Calls to let through before failing.
    skip: u32,
    remaining: u32,
    kind: ErrorKind,
    /// `DeleteAlarms` only: the first half of the names is deleted before the call fails.
    partial: bool,
}

impl FakeCloud {
    pub fn new() -> Self {
        Self::default()
    }

    /// An account whose APIs throttle above `quotas` calls per second, used by
    /// a client that paces itself at `client_limits`.
    pub fn with_quotas(quotas: &RateLimits, client_limits: &RateLimits) -> Self {
        Self {
            calls: ApiCalls::with_limits(client_limits),
            quotas: Some(ApiCalls::with_limits(quotas)),
            ..Self::default()
        }
    }

    /// Throttling answers (retried by the modelled SDK, surfaced to the reconciler).
    pub fn throttles(&self) -> (u64, u64) {
        (self.throttles.retried.load(Ordering::Relaxed), self.throttles.surfaced.load(Ordering::Relaxed))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake cloud lock")
    }

    pub fn put_instance(&self, facts: InstanceFacts) {
        self.state().instances.insert(facts.id.clone(), facts);
    }

    pub fn instance(&self, id: &InstanceId) -> Option<InstanceFacts> {
        self.state().instances.get(id).cloned()
    }

    pub fn set_state(&self, id: &InstanceId, state: InstanceState) {
        if let Some(facts) = self.state().instances.get_mut(id) {
            facts.state = state;
        }
    }

    /// A user stops the instance at `at`: EC2 then dates the stop in
    /// `StateTransitionReason`, which the adapter reads as `state_since`.
    pub fn stop_by_user(&self, id: &InstanceId, at: UnixTime) {
        if let Some(facts) = self.state().instances.get_mut(id) {
            facts.state = InstanceState::Stopped;
            facts.state_since = Some(at);
        }
    }

    /// EC2 `CreateTags` on an instance: sets `key` to `value`, overwriting it.
    pub fn tag_instance(&self, id: &InstanceId, key: &str, value: &str) {
        if let Some(facts) = self.state().instances.get_mut(id) {
            facts.tags.insert(key.to_owned(), value.to_owned());
        }
    }

    /// EC2 `DeleteTags` on an instance: removes `key`.
    pub fn untag_instance(&self, id: &InstanceId, key: &str) {
        if let Some(facts) = self.state().instances.get_mut(id) {
            facts.tags.remove(key);
        }
    }

    /// The instance disappears from the API, as terminated ones do after about an hour.
    pub fn forget_instance(&self, id: &InstanceId) {
        self.state().instances.remove(id);
    }

    /// Puts an alarm directly, as a person or another tool would.
    pub fn put_alarm_by_hand(&self, name: &str, config: AlarmConfig) {
        self.state().put_alarm(AlarmName::parse(name).expect("valid alarm name"), config);
    }

    /// Writes a mute rule as a person would, whatever it names.
    pub fn put_mute_rule_by_hand(&self, rule: MuteRule) {
        self.state().mute_rules.insert(rule.name.clone(), rule);
    }

    pub fn remove_alarm_by_hand(&self, name: &str) {
        if let Ok(name) = AlarmName::parse(name) {
            self.state().remove_alarm(&name);
        }
    }

    /// The alarm enters `value` at `at`, as CloudWatch's evaluation (or
    /// `SetAlarmState`) would put it; nothing happens to an unknown alarm.
    pub fn set_alarm_state(&self, name: &str, value: StateValue, at: UnixTime) {
        let Ok(name) = AlarmName::parse(name) else { return };
        let mut state = self.state();
        if state.alarms.contains_key(&name) {
            state.alarm_states.insert(name, AlarmState::new(value, at));
        }
    }

    /// The alarm's state and since when.
    pub fn alarm_state(&self, name: &str) -> Option<AlarmState> {
        self.state().alarm_states.get(&AlarmName::parse(name).ok()?).copied()
    }

    pub fn alarm(&self, name: &str) -> Option<AlarmConfig> {
        self.state().alarms.get(&AlarmName::parse(name).ok()?).cloned()
    }

    /// Replaces the alarm's tags, as a person or another tool would.
    pub fn set_alarm_tags_by_hand(&self, name: &str, tags: Vec<AlarmTag>) {
        self.state().tags.insert(AlarmName::parse(name).expect("valid alarm name"), tags);
    }

    /// The tags the alarm carries.
    pub fn alarm_tags(&self, name: &str) -> Option<Vec<AlarmTag>> {
        self.state().tags.get(&AlarmName::parse(name).ok()?).cloned()
    }

    pub fn alarm_names(&self) -> Vec<String> {
        self.state().alarms.keys().map(ToString::to_string).collect()
    }

    /// An Auto Scaling group with its own tags.
    pub fn put_group(&self, name: &str, tags: &[(&str, &str)]) {
        let tags = tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.state().groups.insert(name.to_owned(), AutoScalingGroup { name: name.to_owned(), tags });
    }

    /// The group counts the instance as its member (what `DescribeAutoScalingInstances` answers).
    pub fn join_group(&self, instance: &InstanceId, group: &str) {
        self.state().members.insert(instance.clone(), group.to_owned());
    }

    /// A series of `namespace`/`metric` starts receiving data, as the
    /// CloudWatch agent's first `PutMetricData` makes it appear.
    pub fn publish(&self, namespace: &str, metric: &str, dimensions: &[(&str, &str)]) {
        let series = MetricSeries::new(dimensions.iter().map(|(n, v)| Dimension::new(*n, *v)).collect());
        let instance = series.instance().unwrap_or_default().to_owned();
        let mut state = self.state();
        let by_instance = state.series.entry((namespace.to_owned(), metric.to_owned())).or_default();
        let list = by_instance.entry(instance.clone()).or_default();
        if !list.contains(&series) {
            list.push(series);
            state.series_changed(&instance);
        }
    }

    /// A series stops receiving data long enough to drop out of `ListMetrics`.
    pub fn unpublish(&self, namespace: &str, metric: &str, dimensions: &[(&str, &str)]) {
        let series = MetricSeries::new(dimensions.iter().map(|(n, v)| Dimension::new(*n, *v)).collect());
        let mut state = self.state();
        if let Some(by_instance) = state.series.get_mut(&(namespace.to_owned(), metric.to_owned())) {
            for list in by_instance.values_mut() {
                list.retain(|s| *s != series);
            }
            state.series_changed(series.instance().unwrap_or_default());
        }
    }

    pub fn set_now(&self, now: UnixTime) {
        self.state().now = now;
    }

    pub fn mute_rule(&self, name: &str) -> Option<MuteRule> {
        self.state().mute_rules.get(name).cloned()
    }

    pub fn mute_rules_now(&self) -> Vec<MuteRule> {
        self.state().mute_rules.values().cloned().collect()
    }

    /// Alarm writes (PutMetricAlarm calls and deleted names) that succeeded.
    pub fn writes(&self) -> u64 {
        self.state().writes
    }

    /// The next `times` calls of `operation` fail with `kind`.
    pub fn fail_next(&self, operation: &'static str, kind: ErrorKind, times: u32) {
        self.state().faults.push(Fault { operation, skip: 0, remaining: times, kind, partial: false });
    }

    /// Only the `nth` call (counting from 1) of `operation` from now on fails.
    pub fn fail_call(&self, operation: &'static str, nth: u32, kind: ErrorKind) {
        self.state().faults.push(Fault {
            operation,
            skip: nth.saturating_sub(1),
            remaining: 1,
            kind,
            partial: false,
        });
    }

    /// Only the `nth` `DeleteAlarms` call from now on fails, after deleting the
    /// first half (rounded up) of its names: a batch that removes only some
    /// names, or, for a single name, a delete whose answer was lost.
    pub fn fail_delete_partially(&self, nth: u32, kind: ErrorKind) {
        self.state().faults.push(Fault {
            operation: "DeleteAlarms",
            skip: nth.saturating_sub(1),
            remaining: 1,
            kind,
            partial: true,
        });
    }

    /// The injected faults that have fired so far, oldest first.
    pub fn faults_fired(&self) -> Vec<(&'static str, ErrorKind)> {
        self.state().fired.clone()
    }

    /// Drops the injected faults that have not fired yet.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Changes the world during the next call of `operation`.
    pub fn on_next_call(
        &self,
        operation: &'static str,
        hook: impl FnOnce(&mut FakeWorld<'_>) + Send + 'static,
    ) {
        self.state().hooks.push((operation, Box::new(hook)));
    }

    /// One request: client-side pacing and counting, the server's quota (with
    /// the SDK's retries), then any injected fault.
    async fn request(&self, operation: &'static str) -> Result<(), PortError> {
        self.calls.begin(operation).await;
        if let Some(quotas) = &self.quotas {
            let mut attempt = 0;
            while quotas.try_begin(operation).is_err() {
                attempt += 1;
                if attempt == SDK_ATTEMPTS {
                    self.throttles.surfaced.fetch_add(1, Ordering::Relaxed);
                    return Err(PortError::new(operation, ErrorKind::Throttled, "Throttling: Rate exceeded"));
                }
                self.throttles.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
        }
        let mut state = self.state();
        if let Some(index) = state.hooks.iter().position(|(op, _)| *op == operation) {
            let (_, hook) = state.hooks.remove(index);
            hook(&mut FakeWorld { instances: &mut state.instances });
        }
        if let Some(fault) = state.faults.iter_mut().find(|f| f.operation == operation && f.remaining > 0) {
            if fault.skip > 0 {
                fault.skip -= 1;
                return Ok(());
            }
            fault.remaining -= 1;
            let (kind, partial) = (fault.kind, fault.partial);
            state.fired.push((operation, kind));
            state.partial_delete |= partial;
            return Err(PortError::new(operation, kind, "injected fault"));
        }
        Ok(())
    }
}
