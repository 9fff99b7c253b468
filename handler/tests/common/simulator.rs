//! The world the property tests run in (`handler/tests/properties.rs`):
//! generated fleets and histories, and a simulator that plays them against
//! the in-memory account with lagging reads, dropped, late and duplicated
//! events, Lambda's retries and injected faults, checking the invariants
//! after every invocation.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use handler::app::{handle_event, HandleError};
use handler::aws::NoContinuation;
use handler::fake::FakeCloud;
use handler::ports::ErrorKind;
use handler::reconcile::{Reconciler, RunOptions};
use handler::report::Report;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use reconciler_core::{
    desired_alarms, AlarmConfig, AlarmName, AutoScalingGroup, Desire, Dimension, InstanceFacts, InstanceId,
    InstanceState, MetricSeries, Platform, ScopeDecision, Subject, UnixTime, AUTOSCALING_GROUP_TAG,
    OWNERSHIP_MARKER,
};
use serde_json::{json, Value};

use super::common::{persons_alarm, reconciler};

/// 2027-01-15T08:00:00Z.
pub(crate) const T0: i64 = 1_800_000_000;
pub(crate) const IDS: [&str; 4] =
    ["i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb", "i-0cccccccccccccccc", "i-0dddddddddddddddd"];
/// An instance that never exists: its owned alarm is an orphan.
pub(crate) const ORPHAN: &str = "i-0eeeeeeeeeeeeeeee";
/// Auto Scaling groups and their own tags. `web` lends a threshold override,
/// `api` an opt-out value that does not opt out.
pub(crate) const GROUPS: [(&str, &[(&str, &str)]); 3] = [
    ("web", &[("Environment", "production"), ("disk-alarms:warning-threshold", "70")]),
    ("batch", &[("Environment", "staging")]),
    ("api", &[("Environment", "production"), ("disk-alarms:opt-out", "maybe")]),
];
pub(crate) const GROUP_NAMES: [&str; 3] = ["web", "batch", "api"];
/// Lambda retries a failed asynchronous invocation twice: one minute after the
/// first attempt, two minutes after the second.
pub(crate) const RETRY_AFTER: [i64; 2] = [60, 120];
/// The operations faults are injected into.
pub(crate) const OPS: [&str; 7] = [
    "DescribeInstances",
    "DescribeAlarms",
    "ListMetrics",
    "PutMetricAlarm",
    "DeleteAlarms",
    "DescribeAutoScalingInstances",
    "DescribeAutoScalingGroups",
];

// ---------------------------------------------------------------- the cases

/// An instance slot, printed as `a` to `d`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inst(usize);

impl fmt::Debug for Inst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", char::from(b'a' + u8::try_from(self.0).unwrap()))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Env,
    Name,
    Warning,
    Critical,
    OptOut,
    Forecast,
}

impl Key {
    fn tag(self) -> &'static str {
        match self {
            Key::Env => "Environment",
            Key::Name => "Name",
            Key::Warning => "disk-alarms:warning-threshold",
            Key::Critical => "disk-alarms:critical-threshold",
            Key::OptOut => "disk-alarms:opt-out",
            Key::Forecast => "disk-alarms:fill-forecast-hours",
        }
    }

    /// Valid and invalid values: `85` warning is not below the default
    /// critical, `50` critical not above the default warning.
    fn values(self) -> &'static [&'static str] {
        match self {
            Key::Env => &["production", "staging"],
            Key::Name => &["web-1", "db-primary"],
            Key::Warning => &["70", " 65.5 ", "85", "0", "101", "high", "NaN"],
            Key::Critical => &["90", "75", "50", "-1", "inf"],
            Key::OptOut => &["true", "YES", "1", "no", "maybe"],
            Key::Forecast => &["4", "0", "soon", "1000"],
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Member {
    Alone,
    /// Launched by the group: carries `aws:autoscaling:groupName`.
    Launched(&'static str),
    /// Attached to the group by hand: only `DescribeAutoScalingInstances` knows.
    Attached(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Init {
    /// Not launched yet; a `launch` step launches it.
    Absent,
    Running,
    Stopped,
}

/// Owned alarms (with the marker) the instance has before the history starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pre {
    None,
    /// What a plain production instance wants.
    Current,
    /// Threshold and description edited by hand.
    Stale,
}

#[derive(Clone)]
pub(crate) struct Initial {
    pub(crate) state: Init,
    pub(crate) tags: Vec<(Key, &'static str)>,
    pub(crate) member: Member,
    pub(crate) alarms: Pre,
    pub(crate) disks: Disks,
    pub(crate) platform: Platform,
}

/// The disk series the instance's CloudWatch agent publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disks {
    /// No agent (yet): the provisional pair.
    Nothing,
    Root,
    RootAndData,
    /// The tmpfs is filtered out: only `/` gets a pair.
    RootAndRunTmpfs,
}

impl Disks {
    fn filesystems(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Self::Nothing => &[],
            Self::Root => &[("/", "nvme0n1p1", "xfs")],
            Self::RootAndData => &[("/", "nvme0n1p1", "xfs"), ("/data", "nvme1n1", "ext4")],
            Self::RootAndRunTmpfs => &[("/", "nvme0n1p1", "xfs"), ("/run", "tmpfs", "tmpfs")],
        }
    }

    /// The same shapes on Windows: the system drive, a data drive, and the
    /// agent's `_Total`, which is filtered out.
    fn volumes(self) -> &'static [&'static str] {
        match self {
            Self::Nothing => &[],
            Self::Root => &["C:"],
            Self::RootAndData => &["C:", "D:"],
            Self::RootAndRunTmpfs => &["C:", "_Total"],
        }
    }

    /// The metric name and the dimension sets the agent publishes on `platform` for `instance`.
    fn published(
        self,
        platform: Platform,
        instance: &'static str,
    ) -> (&'static str, Vec<Vec<(&'static str, &'static str)>>) {
        match platform {
            Platform::Linux => (
                "disk_used_percent",
                self.filesystems()
                    .iter()
                    .map(|(path, device, fstype)| {
                        vec![
                            ("InstanceId", instance),
                            ("path", *path),
                            ("device", *device),
                            ("fstype", *fstype),
                        ]
                    })
                    .collect(),
            ),
            Platform::Windows => (
                "LogicalDisk % Free Space",
                self.volumes()
                    .iter()
                    .map(|volume| {
                        vec![("InstanceId", instance), ("instance", *volume), ("objectname", "LogicalDisk")]
                    })
                    .collect(),
            ),
        }
    }
}

impl fmt::Debug for Initial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} [", self.state)?;
        for (n, (key, value)) in self.tags.iter().enumerate() {
            write!(f, "{}{key:?}={value:?}", if n > 0 { ", " } else { "" })?;
        }
        write!(f, "]")?;
        match self.member {
            Member::Alone => {}
            Member::Launched(group) => write!(f, " launched by group {group}")?,
            Member::Attached(group) => write!(f, " attached to group {group}")?,
        }
        write!(f, " {} alarms {:?} disks {:?}", self.platform, self.alarms, self.disks)
    }
}

#[derive(Clone)]
pub(crate) enum Action {
    Launch {
        i: Inst,
        boot: u16,
    },
    /// Stops the instance if it is running, starts it if it is stopped.
    Power {
        i: Inst,
        took: u16,
    },
    Terminate {
        i: Inst,
        halt: u16,
    },
    /// Sets (or, with `None`, removes) a tag.
    Tag {
        i: Inst,
        key: Key,
        value: Option<&'static str>,
    },
    Attach {
        i: Inst,
        group: &'static str,
    },
    /// `DescribeInstances` stops showing a terminated instance.
    Forget {
        i: Inst,
    },
}

impl Action {
    fn inst(&self) -> usize {
        match self {
            Action::Launch { i, .. }
            | Action::Power { i, .. }
            | Action::Terminate { i, .. }
            | Action::Tag { i, .. }
            | Action::Attach { i, .. }
            | Action::Forget { i } => i.0,
        }
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Launch { i, boot } => write!(f, "launch {i:?} (running {boot}s later)"),
            Action::Power { i, took } => write!(f, "stop/start {i:?} (done {took}s later)"),
            Action::Terminate { i, halt } => write!(f, "terminate {i:?} (terminated {halt}s later)"),
            Action::Tag { i, key, value: Some(value) } => write!(f, "tag {i:?} {key:?}={value:?}"),
            Action::Tag { i, key, value: None } => write!(f, "untag {i:?} {key:?}"),
            Action::Attach { i, group } => write!(f, "attach {i:?} to group {group}"),
            Action::Forget { i } => write!(f, "API forgets {i:?}"),
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Delivery {
    Drop,
    /// Delivered `delay` seconds after it was emitted, and again `again` seconds after that.
    Deliver {
        delay: u16,
        again: Option<u16>,
    },
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Drop => f.write_str("drop"),
            Delivery::Deliver { delay, again: None } => write!(f, "+{delay}s"),
            Delivery::Deliver { delay, again: Some(again) } => write!(f, "+{delay}s and +{again}s more"),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Step {
    /// Seconds after the previous step.
    pub(crate) after: u16,
    /// How long `DescribeInstances` takes to show this step's changes.
    pub(crate) lag: u8,
    pub(crate) action: Action,
    /// For the step's events, in order: the immediate state change (or the
    /// Auto Scaling launch of an attach), the completed transition, the Auto
    /// Scaling event.
    pub(crate) deliveries: [Delivery; 3],
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}s: {:?}, API lag {}s, events {:?}", self.after, self.action, self.lag, self.deliveries)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct History {
    pub(crate) instances: Vec<Initial>,
    pub(crate) steps: Vec<Step>,
    /// A person's alarm, without the marker, under this instance's owned name.
    pub(crate) hand_alarm_on: Option<(Inst, &'static str)>,
    /// An owned alarm (with the marker) of an instance that never existed.
    pub(crate) orphan: bool,
    /// `APPEND_GROUP_DIMENSION=true`: provisional alarms of group members carry the group.
    pub(crate) group_dimension: bool,
    /// `FILL_FORECAST_HOURS`: every watched series also gets its forecast alarm.
    pub(crate) forecast_hours: Option<f64>,
}

#[derive(Clone, Copy)]
pub(crate) struct FaultSpec {
    pub(crate) op: &'static str,
    pub(crate) nth: u32,
    pub(crate) kind: ErrorKind,
    /// `DeleteAlarms` only: the first half of the batch is deleted before the call fails.
    pub(crate) partial: bool,
}

impl FaultSpec {
    fn install(&self, cloud: &FakeCloud) {
        if self.partial {
            cloud.fail_delete_partially(self.nth, self.kind);
        } else {
            cloud.fail_call(self.op, self.nth, self.kind);
        }
    }
}

impl fmt::Debug for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} call {} {:?}{}",
            self.op,
            self.nth,
            self.kind,
            if self.partial { " after half" } else { "" }
        )
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    /// Faults for the n-th event invocation (retries included), in order.
    pub(crate) events: Vec<Vec<FaultSpec>>,
    /// Faults for the first and second sweep attempts; the third has none.
    pub(crate) sweep: Vec<Vec<FaultSpec>>,
}

// --------------------------------------------------------------- generators

pub(crate) fn env_value() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![3 => Just(Some("production")), 1 => Just(Some("staging")), 1 => Just(None)]
}

pub(crate) fn other_key() -> impl Strategy<Value = Key> {
    prop_oneof![
        Just(Key::Name),
        Just(Key::Warning),
        Just(Key::Critical),
        Just(Key::OptOut),
        Just(Key::Forecast)
    ]
}

pub(crate) fn tag_change() -> BoxedStrategy<(Key, Option<&'static str>)> {
    prop_oneof![
        2 => env_value().prop_map(|v| (Key::Env, v)),
        3 => other_key().prop_flat_map(|k| prop::option::weighted(0.8, select(k.values())).prop_map(move |v| (k, v))),
    ]
    .boxed()
}

pub(crate) fn initial() -> impl Strategy<Value = Initial> {
    let extra = other_key().prop_flat_map(|k| select(k.values()).prop_map(move |v| (k, v)));
    let member = prop_oneof![
        2 => Just(Member::Alone),
        1 => select(&GROUP_NAMES[..]).prop_map(Member::Launched),
        1 => select(&GROUP_NAMES[..]).prop_map(Member::Attached),
    ];
    let state = prop_oneof![1 => Just(Init::Absent), 2 => Just(Init::Running), 1 => Just(Init::Stopped)];
    let alarms = prop_oneof![3 => Just(Pre::None), 1 => Just(Pre::Current), 1 => Just(Pre::Stale)];
    let disks = prop_oneof![
        2 => Just(Disks::Nothing),
        1 => Just(Disks::Root),
        1 => Just(Disks::RootAndData),
        1 => Just(Disks::RootAndRunTmpfs),
    ];
    let platform = prop_oneof![4 => Just(Platform::Linux), 1 => Just(Platform::Windows)];
    (state, env_value(), prop::collection::vec(extra, 0..=2), member, alarms, disks, platform).prop_map(
        |(state, env, extra, member, alarms, disks, platform)| Initial {
            state,
            tags: env.map(|v| (Key::Env, v)).into_iter().chain(extra).collect(),
            member,
            alarms,
            disks,
            platform,
        },
    )
}

pub(crate) fn action(n: usize) -> impl Strategy<Value = Action> {
    let i = (0..n).prop_map(Inst);
    let took = || prop_oneof![Just(0u16), 1..=60u16];
    prop_oneof![
        1 => (i.clone(), took()).prop_map(|(i, boot)| Action::Launch { i, boot }),
        5 => (i.clone(), took()).prop_map(|(i, took)| Action::Power { i, took }),
        1 => (i.clone(), took()).prop_map(|(i, halt)| Action::Terminate { i, halt }),
        3 => (i.clone(), tag_change()).prop_map(|(i, (key, value))| Action::Tag { i, key, value }),
        1 => (i.clone(), select(&GROUP_NAMES[..])).prop_map(|(i, group)| Action::Attach { i, group }),
        1 => i.prop_map(|i| Action::Forget { i }),
    ]
}

pub(crate) fn delivery() -> impl Strategy<Value = Delivery> {
    let delay = prop_oneof![4 => 0..=5u16, 1 => 6..=400u16];
    prop_oneof![
        1 => Just(Delivery::Drop),
        8 => (delay, prop::option::weighted(0.15, 0..=300u16))
            .prop_map(|(delay, again)| Delivery::Deliver { delay, again }),
    ]
}

pub(crate) fn step(n: usize) -> impl Strategy<Value = Step> {
    let after = prop_oneof![2 => 0..=10u16, 2 => 11..=130u16, 1 => 131..=1000u16];
    let lag = prop_oneof![3 => Just(0u8), 1 => 1..=90u8];
    (after, lag, action(n), [delivery(), delivery(), delivery()])
        .prop_map(|(after, lag, action, deliveries)| Step { after, lag, action, deliveries })
}

pub(crate) fn history(max_steps: usize) -> impl Strategy<Value = History> {
    (1..=4usize).prop_flat_map(move |n| {
        (
            prop::collection::vec(initial(), n),
            prop::collection::vec(step(n), 0..=max_steps),
            prop::option::weighted(0.7, ((0..n).prop_map(Inst), select(&["warning", "critical"][..]))),
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop::option::weighted(0.5, Just(24.0)),
        )
            .prop_map(
                |(instances, steps, hand_alarm_on, orphan, group_dimension, forecast_hours)| History {
                    instances,
                    steps,
                    hand_alarm_on,
                    orphan,
                    group_dimension,
                    forecast_hours,
                },
            )
    })
}

pub(crate) fn fault() -> impl Strategy<Value = FaultSpec> {
    let kind = prop_oneof![Just(ErrorKind::Throttled), Just(ErrorKind::Transient), Just(ErrorKind::Refused)];
    (select(&OPS[..]), 1..=3u32, kind, any::<bool>()).prop_map(|(op, nth, kind, partial)| FaultSpec {
        op,
        nth,
        kind,
        partial: partial && op == "DeleteAlarms",
    })
}

pub(crate) fn faults() -> impl Strategy<Value = Faults> {
    let some = || prop::collection::vec(fault(), 1..=2);
    let attempt = prop_oneof![Just(Vec::new()), some()];
    (prop::collection::vec(attempt, 0..=30), prop::collection::vec(some(), 0..=2))
        .prop_map(|(events, sweep)| Faults { events, sweep })
}

// --------------------------------------------------------------- the model

pub(crate) fn id(i: usize) -> InstanceId {
    InstanceId::parse(IDS[i]).unwrap()
}

/// Where a person's alarm or a stale copy takes one of our names: the provisional pair's.
pub(crate) fn owned_prefix(instance: &str) -> String {
    format!("ec2-disk-provisional-{instance}-")
}

/// Whether `name` is under one of the two name prefixes of the instance's alarms.
pub(crate) fn is_instance_name(instance: &str, name: &str) -> bool {
    name.starts_with(&format!("ec2-disk-{instance}-")) || name.starts_with(&owned_prefix(instance))
}

pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub(crate) fn sweep_event(now: i64) -> Value {
    json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": rfc3339(now), "detail": {}})
}

pub(crate) fn brief(config: &AlarmConfig) -> String {
    format!(
        "threshold {} dimensions {:?} actions {:?} description {:?}",
        config.threshold,
        config.dimensions.iter().map(|d| format!("{}={}", d.name, d.value)).collect::<Vec<_>>(),
        config.alarm_actions,
        config.description.lines().next().unwrap_or_default()
    )
}

pub(crate) fn diff(
    expected: &BTreeMap<String, AlarmConfig>,
    actual: &BTreeMap<String, AlarmConfig>,
) -> String {
    let mut out = String::new();
    for name in expected.keys().chain(actual.keys().filter(|n| !expected.contains_key(*n))) {
        match (expected.get(name), actual.get(name)) {
            (Some(e), Some(a)) if e == a => {}
            (Some(e), Some(a)) => {
                out += &format!(
                    "\n  {name}: expected {}\n  {:width$}  actual   {}",
                    brief(e),
                    "",
                    brief(a),
                    width = name.len()
                )
            }
            (Some(_), None) => out += &format!("\n  {name}: missing"),
            (None, Some(a)) => out += &format!("\n  {name}: unexpected ({})", brief(a)),
            (None, None) => unreachable!(),
        }
    }
    out
}

#[derive(Clone)]
pub(crate) struct WorldInst {
    pub(crate) launched: bool,
    pub(crate) forgotten: bool,
    pub(crate) state: InstanceState,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) launch_time: i64,
    /// When a user stopped or terminated it: EC2 dates such a change in
    /// `StateTransitionReason`, which the product reads to order events.
    pub(crate) user_change: Option<i64>,
    /// Bumped by every state-changing step: a transition completes only if
    /// nothing has changed the instance's state since it began.
    pub(crate) gen: u32,
    pub(crate) tag_version: u32,
}

#[derive(Clone, Copy)]
pub(crate) enum EventKind {
    State(InstanceState),
    AsgLaunch(&'static str),
    AsgTerminate(&'static str),
    /// `Tag Change on Resource` for the instance: the key changed (every key
    /// the simulator changes is one the template's rule sends).
    Tag(Key),
}

#[derive(Clone)]
pub(crate) struct Event {
    pub(crate) n: u32,
    pub(crate) i: usize,
    pub(crate) kind: EventKind,
    pub(crate) time: i64,
    /// The instance's `gen` when the event was emitted.
    pub(crate) gen: u32,
}

impl Event {
    pub(crate) fn json(&self) -> Value {
        let time = rfc3339(self.time);
        let id = IDS[self.i];
        match self.kind {
            EventKind::State(state) => json!({
                "version": "0", "id": format!("ev-{}", self.n), "detail-type": "EC2 Instance State-change Notification",
                "source": "aws.ec2", "account": "123456789012", "time": time, "region": "us-east-1",
                "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")],
                "detail": {"instance-id": id, "state": state.as_str()},
            }),
            EventKind::AsgLaunch(group) | EventKind::AsgTerminate(group) => json!({
                "version": "0", "id": format!("ev-{}", self.n),
                "detail-type": if matches!(self.kind, EventKind::AsgLaunch(_)) {
                    "EC2 Instance Launch Successful"
                } else {
                    "EC2 Instance Terminate Successful"
                },
                "source": "aws.autoscaling", "account": "123456789012", "time": time, "region": "us-east-1",
                "resources": [],
                "detail": {"EC2InstanceId": id, "AutoScalingGroupName": group, "StatusCode": "InProgress"},
            }),
            // Without `tags`: the function never reads them, it asks the API.
            EventKind::Tag(key) => json!({
                "version": "0", "id": format!("ev-{}", self.n), "detail-type": "Tag Change on Resource",
                "source": "aws.tag", "account": "123456789012", "time": time, "region": "us-east-1",
                "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")],
                "detail": {"changed-tag-keys": [key.tag()], "service": "ec2", "resource-type": "instance", "version": 4.0},
            }),
        }
    }

    /// What the product decodes the event to claim.
    fn claim(&self) -> Option<InstanceState> {
        match self.kind {
            EventKind::State(state) => Some(state),
            EventKind::AsgTerminate(_) => Some(InstanceState::Terminated),
            EventKind::AsgLaunch(_) | EventKind::Tag(_) => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            EventKind::State(state) => state.as_str().to_owned(),
            EventKind::AsgLaunch(group) => format!("autoscaling-launch({group})"),
            EventKind::AsgTerminate(group) => format!("autoscaling-terminate({group})"),
            EventKind::Tag(key) => format!("tag-change({key:?})"),
        };
        write!(f, "#{} {:?} {what}@t+{}", self.n, Inst(self.i), self.time - T0)
    }
}

pub(crate) enum Item {
    Step(usize),
    Complete { i: usize, gen: u32, to: InstanceState, step: usize },
    Api { i: usize, facts: Option<InstanceFacts>, tag_version: u32 },
    Deliver { event: Event, attempt: usize },
}

/// What the generated cases exercised, printed after each property (`--nocapture`).
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) steps: u64,
    pub(crate) skipped_steps: u64,
    pub(crate) events: u64,
    pub(crate) dropped: u64,
    pub(crate) event_invocations: u64,
    pub(crate) sweeps: u64,
    pub(crate) failed_invocations: u64,
    pub(crate) not_settled: u64,
    pub(crate) lambda_retries: u64,
    pub(crate) dead_letters: u64,
    pub(crate) faults_fired: BTreeMap<&'static str, u64>,
    pub(crate) partial_delete_invocations: u64,
    pub(crate) created: u64,
    pub(crate) updated: u64,
    pub(crate) deleted: u64,
    pub(crate) conflicts: u64,
    pub(crate) protected_observations: u64,
    pub(crate) liveness_checks: u64,
    /// Forecast alarms in the converged accounts, all cases together.
    pub(crate) forecasts_at_end: u64,
}

thread_local! {
    pub(crate) static STATS: RefCell<Stats> = RefCell::new(Stats::default());
}

pub(crate) fn stat(f: impl FnOnce(&mut Stats)) {
    STATS.with(|s| f(&mut s.borrow_mut()));
}

macro_rules! ensure {
    ($sim:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($sim.fail(format!($($msg)+)));
        }
    };
}

pub(crate) struct Sim<'h> {
    pub(crate) history: &'h History,
    pub(crate) faults: Option<&'h Faults>,
    pub(crate) cloud: FakeCloud,
    pub(crate) reconciler: Reconciler<FakeCloud, FakeCloud, FakeCloud>,
    pub(crate) world: Vec<WorldInst>,
    /// What `DescribeInstances` shows (the fake's instances).
    pub(crate) api: Vec<Option<InstanceFacts>>,
    pub(crate) api_tag_version: Vec<u32>,
    /// API updates of one instance become visible in order.
    pub(crate) api_watermark: Vec<i64>,
    /// What `DescribeAutoScalingInstances` shows.
    pub(crate) members: BTreeMap<usize, &'static str>,
    pub(crate) queue: BTreeMap<(i64, u64), Item>,
    pub(crate) seq: u64,
    pub(crate) events: u32,
    pub(crate) event_invocations: usize,
    pub(crate) now: i64,
    pub(crate) trace: Vec<String>,
    pub(crate) hand: BTreeMap<String, AlarmConfig>,
    pub(crate) protected: Vec<bool>,
    pub(crate) dead_letters: Vec<String>,
}

impl<'h> Sim<'h> {
    pub(crate) fn new(history: &'h History, faults: Option<&'h Faults>) -> Self {
        let cloud = FakeCloud::new();
        for (name, tags) in GROUPS {
            cloud.put_group(name, tags);
        }
        let mut reconciler = reconciler(&cloud);
        reconciler.config.policy.linux.group_dimension = history.group_dimension;
        reconciler.config.policy.forecast.hours = history.forecast_hours;
        let mut sim = Sim {
            history,
            faults,
            cloud,
            reconciler,
            world: Vec::new(),
            api: Vec::new(),
            api_tag_version: Vec::new(),
            api_watermark: Vec::new(),
            members: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            events: 0,
            event_invocations: 0,
            now: T0,
            trace: Vec::new(),
            hand: BTreeMap::new(),
            protected: Vec::new(),
            dead_letters: Vec::new(),
        };
        for (i, init) in history.instances.iter().enumerate() {
            let mut tags: BTreeMap<String, String> =
                init.tags.iter().map(|(k, v)| (k.tag().to_owned(), (*v).to_owned())).collect();
            if let Member::Launched(group) = init.member {
                tags.insert(AUTOSCALING_GROUP_TAG.into(), group.into());
            }
            let state = match init.state {
                Init::Running => InstanceState::Running,
                Init::Absent | Init::Stopped => InstanceState::Stopped,
            };
            sim.world.push(WorldInst {
                launched: init.state != Init::Absent,
                forgotten: false,
                state,
                tags,
                launch_time: T0 - 3600,
                user_change: None,
                gen: 0,
                tag_version: 0,
            });
            if let (Member::Attached(group), true) = (init.member, init.state != Init::Absent) {
                sim.attach(i, group);
            }
            let facts = sim.world_facts(i);
            if let Some(facts) = &facts {
                sim.cloud.put_instance(facts.clone());
            }
            let (metric, published) = init.disks.published(init.platform, IDS[i]);
            for dims in published {
                sim.cloud.publish("CWAgent", metric, &dims);
            }
            sim.api.push(facts);
            sim.api_tag_version.push(0);
            sim.api_watermark.push(T0);
            sim.protected.push(false);
            let stale = match init.alarms {
                Pre::None => continue,
                Pre::Current => false,
                Pre::Stale => true,
            };
            for (name, mut config) in sim.plain_production_alarms(IDS[i], init.platform) {
                if stale {
                    config.threshold = 42.0;
                    config.description = format!("edited by hand\n{OWNERSHIP_MARKER}");
                }
                sim.cloud.put_alarm_by_hand(&name, config);
            }
        }
        if history.orphan {
            let (name, config) = sim.plain_production_alarms(ORPHAN, Platform::Linux).remove(0);
            sim.cloud.put_alarm_by_hand(&name, config);
        }
        // A person's alarms, which must never change.
        let mut hand = BTreeMap::new();
        hand.insert("team-db-cpu-high".to_owned(), persons_alarm("The database team's CPU alarm"));
        hand.insert(
            "ec2-disk-legacy-web-warning".to_owned(),
            persons_alarm(&format!("An older tool's alarm under our prefix\n{OWNERSHIP_MARKER}")),
        );
        hand.insert(format!("{}critical", owned_prefix(ORPHAN)), persons_alarm("A copy someone made"));
        if let Some((i, severity)) = history.hand_alarm_on {
            hand.insert(format!("{}{severity}", owned_prefix(IDS[i.0])), persons_alarm("Alice's own alarm"));
        }
        for (name, config) in &hand {
            sim.cloud.put_alarm_by_hand(name, config.clone());
        }
        sim.hand = hand;
        let mut t = T0;
        for (k, step) in history.steps.iter().enumerate() {
            t += i64::from(step.after);
            sim.push(t, Item::Step(k));
        }
        sim
    }

    fn plain_production_alarms(&self, instance: &str, platform: Platform) -> Vec<(String, AlarmConfig)> {
        let facts = InstanceFacts {
            id: InstanceId::parse(instance).unwrap(),
            state: InstanceState::Running,
            tags: [("Environment".to_owned(), "production".to_owned())].into(),
            platform,
            launch_time: None,
            state_since: None,
            group: None,
            series: None,
        };
        match desired_alarms(&self.reconciler.config.policy, &Subject::Present(facts)) {
            Desire::Alarms { alarms, .. } => {
                alarms.into_iter().map(|a| (a.name.to_string(), a.config)).collect()
            }
            Desire::None { reason } => panic!("{reason}"),
        }
    }

    fn fail(&self, what: String) -> TestCaseError {
        TestCaseError::fail(format!("{what}\n--- what happened (t+seconds) ---\n{}", self.trace.join("\n")))
    }

    fn log(&mut self, line: String) {
        self.trace.push(format!("t+{:<5} {line}", self.now - T0));
    }

    fn push(&mut self, at: i64, item: Item) {
        self.seq += 1;
        self.queue.insert((at, self.seq), item);
    }

    fn attach(&mut self, i: usize, group: &'static str) {
        self.members.insert(i, group);
        self.cloud.join_group(&id(i), group);
    }

    fn world_facts(&self, i: usize) -> Option<InstanceFacts> {
        let w = &self.world[i];
        (w.launched && !w.forgotten).then(|| InstanceFacts {
            id: id(i),
            state: w.state,
            tags: w.tags.clone(),
            platform: self.history.instances[i].platform,
            launch_time: Some(UnixTime(w.launch_time)),
            // As the EC2 adapter reads it: only a stop or termination is dated.
            state_since: w
                .user_change
                .filter(|_| !matches!(w.state, InstanceState::Pending | InstanceState::Running))
                .map(UnixTime),
            group: None,
            series: None,
        })
    }

    /// The instance's group, the way the product finds it: the group tag, else
    /// `DescribeAutoScalingInstances`.
    fn group_of(&self, i: usize, tags: &BTreeMap<String, String>) -> Option<&'static str> {
        match tags.get(AUTOSCALING_GROUP_TAG) {
            Some(name) => GROUP_NAMES.iter().copied().find(|g| g == name),
            None => self.members.get(&i).copied(),
        }
    }

    /// Attaches the group (with its tags) where the product would look it up:
    /// a running instance without the scope tag, or every running instance
    /// when alarms carry the group dimension.
    fn with_group(&self, i: usize, mut facts: InstanceFacts) -> InstanceFacts {
        let looked_up = self.history.group_dimension || !facts.tags.contains_key("Environment");
        if facts.state == InstanceState::Running && looked_up {
            if let Some(name) = self.group_of(i, &facts.tags) {
                let (_, tags) = GROUPS.iter().find(|(g, _)| *g == name).unwrap();
                facts.group = Some(AutoScalingGroup {
                    name: name.to_owned(),
                    tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                });
            }
        }
        facts
    }

    fn series_of(&self, i: usize) -> Vec<MetricSeries> {
        let init = &self.history.instances[i];
        let (_, published) = init.disks.published(init.platform, IDS[i]);
        published
            .into_iter()
            .map(|dims| MetricSeries::new(dims.into_iter().map(|(n, v)| Dimension::new(n, v)).collect()))
            .collect()
    }

    fn desired(&self, i: usize, facts: Option<InstanceFacts>) -> Desire {
        let subject = match facts {
            Some(mut facts) => {
                facts.series = Some(self.series_of(i));
                Subject::Present(self.with_group(i, facts))
            }
            None => Subject::Gone { id: id(i) },
        };
        desired_alarms(&self.reconciler.config.policy, &subject)
    }

    /// Running and in scope: what `desired_alarms` gives alarms to, without building them.
    fn wants_alarms(&self, i: usize, facts: Option<InstanceFacts>) -> bool {
        facts.is_some_and(|facts| {
            facts.state == InstanceState::Running
                && matches!(
                    self.reconciler.config.policy.scope(&self.with_group(i, facts)),
                    ScopeDecision::In { .. }
                )
        })
    }

    /// Running and in scope in the world and in what the API shows.
    fn protectable(&self, i: usize) -> bool {
        self.wants_alarms(i, self.world_facts(i)) && self.wants_alarms(i, self.api[i].clone())
    }

    /// The alarms the instance should have, given `facts`: the desired ones,
    /// except where a person's alarm holds the name, plus the person's.
    fn expected_for(&self, i: usize, facts: Option<InstanceFacts>) -> BTreeMap<String, AlarmConfig> {
        let mut expected: BTreeMap<String, AlarmConfig> = match self.desired(i, facts) {
            Desire::Alarms { alarms, .. } => {
                alarms.into_iter().map(|a| (a.name.to_string(), a.config)).collect()
            }
            Desire::None { .. } => BTreeMap::new(),
        };
        expected.retain(|name, _| !self.hand.contains_key(name));
        expected.extend(
            self.hand
                .iter()
                .filter(|(n, _)| is_instance_name(IDS[i], n))
                .map(|(n, c)| (n.clone(), c.clone())),
        );
        expected
    }

    /// The alarms under the instance's two name prefixes, owned or not.
    fn actual(&self, i: usize) -> BTreeMap<String, AlarmConfig> {
        self.cloud
            .alarm_names()
            .into_iter()
            .filter(|n| is_instance_name(IDS[i], n))
            .map(|n| {
                let config = self.cloud.alarm(&n).unwrap();
                (n, config)
            })
            .collect()
    }

    /// A warning and a critical alarm: the provisional pair, or the pair of at least one filesystem.
    fn pair_present(&self, i: usize) -> bool {
        let names: Vec<String> = self.actual(i).into_keys().collect();
        ["-warning", "-critical"].iter().all(|s| names.iter().any(|n| n.ends_with(s)))
    }

    /// A change to the world, which `DescribeInstances` shows `lag` seconds later.
    fn change(&mut self, i: usize, lag: u8, f: impl FnOnce(&mut WorldInst)) {
        f(&mut self.world[i]);
        let at = (self.now + i64::from(lag)).max(self.api_watermark[i]);
        self.api_watermark[i] = at;
        let item = Item::Api { i, facts: self.world_facts(i), tag_version: self.world[i].tag_version };
        self.push(at, item);
        self.update_protection();
    }

    fn emit(&mut self, i: usize, kind: EventKind, delivery: Delivery) {
        self.events += 1;
        stat(|s| {
            s.events += 1;
            s.dropped += u64::from(matches!(delivery, Delivery::Drop));
        });
        let event = Event { n: self.events, i, kind, time: self.now, gen: self.world[i].gen };
        match delivery {
            Delivery::Drop => self.log(format!("emit {event}: dropped")),
            Delivery::Deliver { delay, again } => {
                let first = self.now + i64::from(delay);
                self.log(format!(
                    "emit {event}: delivered at t+{}{}",
                    first - T0,
                    match again {
                        Some(again) => format!(" and t+{}", first + i64::from(again) - T0),
                        None => String::new(),
                    }
                ));
                if let Some(again) = again {
                    self.push(first + i64::from(again), Item::Deliver { event: event.clone(), attempt: 0 });
                }
                self.push(first, Item::Deliver { event, attempt: 0 });
            }
        }
    }

    fn complete_after(&mut self, i: usize, took: u16, to: InstanceState, step: usize) {
        let gen = self.world[i].gen;
        self.push(self.now + i64::from(took), Item::Complete { i, gen, to, step });
    }

    fn step(&mut self, k: usize) {
        use InstanceState::*;
        stat(|s| s.steps += 1);
        let history = self.history;
        let step = &history.steps[k];
        let i = step.action.inst();
        let w = self.world[i].clone();
        let alive = w.launched && !w.state.is_final();
        let now = self.now;
        match step.action {
            Action::Launch { boot, .. } if !w.launched => {
                self.log(format!("{step:?}"));
                if let Member::Attached(group) = history.instances[i].member {
                    self.attach(i, group);
                }
                self.change(i, step.lag, |w| {
                    w.launched = true;
                    w.state = Pending;
                    w.launch_time = now;
                    w.gen += 1;
                });
                self.emit(i, EventKind::State(Pending), step.deliveries[0]);
                self.complete_after(i, boot, Running, k);
            }
            Action::Power { took: halt, .. } if w.launched && w.state == Running => {
                self.log(format!("{step:?}: stop {:?}", Inst(i)));
                self.change(i, step.lag, |w| {
                    w.state = Stopping;
                    w.user_change = Some(now);
                    w.gen += 1;
                });
                self.emit(i, EventKind::State(Stopping), step.deliveries[0]);
                self.complete_after(i, halt, Stopped, k);
            }
            Action::Power { took: boot, .. } if w.launched && w.state == Stopped => {
                self.log(format!("{step:?}: start {:?}", Inst(i)));
                self.change(i, step.lag, |w| {
                    w.state = Pending;
                    w.launch_time = now;
                    w.user_change = None;
                    w.gen += 1;
                });
                self.emit(i, EventKind::State(Pending), step.deliveries[0]);
                self.complete_after(i, boot, Running, k);
            }
            Action::Terminate { halt, .. } if alive => {
                self.log(format!("{step:?}"));
                self.change(i, step.lag, |w| {
                    w.state = ShuttingDown;
                    w.user_change = Some(now);
                    w.gen += 1;
                });
                self.emit(i, EventKind::State(ShuttingDown), step.deliveries[0]);
                self.complete_after(i, halt, Terminated, k);
            }
            Action::Tag { key, value, .. } if alive => {
                self.log(format!("{step:?}"));
                self.change(i, step.lag, |w| {
                    match value {
                        Some(value) => w.tags.insert(key.tag().to_owned(), value.to_owned()),
                        None => w.tags.remove(key.tag()),
                    };
                    w.tag_version += 1;
                });
                self.emit(i, EventKind::Tag(key), step.deliveries[0]);
            }
            Action::Attach { group, .. } if alive && self.group_of(i, &w.tags).is_none() => {
                self.log(format!("{step:?}"));
                self.attach(i, group);
                self.update_protection();
                self.emit(i, EventKind::AsgLaunch(group), step.deliveries[0]);
            }
            Action::Forget { .. } if w.launched && w.state == Terminated && !w.forgotten => {
                self.log(format!("{step:?}"));
                self.change(i, step.lag, |w| w.forgotten = true);
            }
            _ => {
                stat(|s| s.skipped_steps += 1);
                self.log(format!("{step:?}: not applicable, skipped"));
            }
        }
    }

    fn complete(&mut self, i: usize, gen: u32, to: InstanceState, k: usize) {
        if self.world[i].gen != gen {
            self.log(format!("{:?} would be {to} now, but its state changed since", Inst(i)));
            return;
        }
        let history = self.history;
        let step = &history.steps[k];
        self.log(format!("{:?} is {to}", Inst(i)));
        self.change(i, step.lag, |w| w.state = to);
        self.emit(i, EventKind::State(to), step.deliveries[1]);
        match (to, self.group_of(i, &self.world[i].tags.clone())) {
            (InstanceState::Running, Some(group)) if matches!(step.action, Action::Launch { .. }) => {
                self.emit(i, EventKind::AsgLaunch(group), step.deliveries[2]);
            }
            (InstanceState::Terminated, Some(group)) => {
                self.emit(i, EventKind::AsgTerminate(group), step.deliveries[2]);
            }
            _ => {}
        }
    }

    fn api_update(&mut self, i: usize, facts: Option<InstanceFacts>, tag_version: u32) {
        match &facts {
            Some(facts) => {
                self.log(format!("API shows {:?} {} {:?}", Inst(i), facts.state, facts.tags));
                self.cloud.put_instance(facts.clone());
            }
            None => {
                self.log(format!("API no longer shows {:?}", Inst(i)));
                self.cloud.forget_instance(&id(i));
            }
        }
        self.api[i] = facts;
        self.api_tag_version[i] = tag_version;
        self.update_protection();
    }

    fn update_protection(&mut self) {
        for i in 0..self.world.len() {
            if self.protected[i] && !self.protectable(i) {
                self.protected[i] = false;
                self.log(format!("{:?} is no longer running in scope (world or API)", Inst(i)));
            }
        }
    }

    /// Never unprotected: an instance that had both alarms while running in
    /// scope keeps them for as long as it stays so.
    fn check_protection(&mut self) -> Result<(), TestCaseError> {
        for i in 0..self.world.len() {
            let present = self.pair_present(i);
            if self.protected[i] {
                stat(|s| s.protected_observations += 1);
                ensure!(
                    self,
                    present,
                    "NEVER UNPROTECTED: {:?} has been running and in scope with both alarms, and still is, but now has only {:?}",
                    Inst(i),
                    self.actual(i).keys().collect::<Vec<_>>()
                );
            } else if present && self.protectable(i) {
                self.protected[i] = true;
            }
        }
        Ok(())
    }

    /// Alarms the product does not own never change, and it writes no others.
    /// `byte_identical`: compare the serialized alarms, not only `==`.
    fn check_foreign_alarms(&self, byte_identical: bool) -> Result<(), TestCaseError> {
        for (name, config) in &self.hand {
            let now = self.cloud.alarm(name);
            let same = match &now {
                Some(now) if byte_identical => {
                    serde_json::to_string(now).unwrap() == serde_json::to_string(config).unwrap()
                }
                Some(now) => now == config,
                None => false,
            };
            ensure!(self, same, "a person's alarm {name} was changed or deleted: {now:?}");
        }
        let naming = &self.reconciler.config.policy.naming;
        for name in self.cloud.alarm_names() {
            if self.hand.contains_key(&name) {
                continue;
            }
            let owned = naming.parse(&AlarmName::parse(&name).unwrap()).is_some()
                && self.cloud.alarm(&name).unwrap().has_ownership_marker();
            ensure!(self, owned, "alarm {name} is neither owned nor a person's");
        }
        Ok(())
    }

    fn check_failures(
        &self,
        report: &Report,
        fired: &[(&'static str, ErrorKind)],
    ) -> Result<(), TestCaseError> {
        let mut counts: BTreeMap<String, (usize, ErrorKind)> = BTreeMap::new();
        for (op, kind) in fired {
            counts.entry(format!("{op} failed ({kind:?})")).or_insert((0, *kind)).0 += 1;
        }
        for (needle, (times, kind)) in &counts {
            let reported: Vec<_> = report.failures.iter().filter(|f| f.error.starts_with(needle)).collect();
            ensure!(
                self,
                reported.len() >= *times,
                "an injected fault that fired is missing from the report: {needle} fired {times} time(s), reported {} time(s); failures: {:?}",
                reported.len(),
                report.failures
            );
            ensure!(
                self,
                reported.iter().all(|f| f.retryable == (*kind != ErrorKind::Refused)),
                "wrong retryable flag for {needle}: {reported:?}"
            );
        }
        for failure in &report.failures {
            let not_settled = failure.error.starts_with("state not settled") && failure.retryable;
            ensure!(
                self,
                not_settled || counts.keys().any(|needle| failure.error.starts_with(needle)),
                "a failure no injected fault explains: {failure:?}"
            );
        }
        Ok(())
    }

    fn check_target(&self, event: &Event) -> Result<(), TestCaseError> {
        // What the product settles on: the API's answer, except that a final
        // state in the event wins over a lagging API, and a running event wins
        // over an API still saying pending.
        let mut facts = self.api[event.i].clone();
        if let (Some(claim), Some(facts)) = (event.claim(), facts.as_mut()) {
            let lagging_start = claim == InstanceState::Running && facts.state == InstanceState::Pending;
            if (claim.is_final() && !facts.state.is_final()) || lagging_start {
                facts.state = claim;
            }
        }
        let expected = self.expected_for(event.i, facts);
        let actual = self.actual(event.i);
        ensure!(
            self,
            actual == expected,
            "the invocation for {event} returned Ok but left the instance's alarms wrong:{}",
            diff(&expected, &actual)
        );
        Ok(())
    }

    fn check_account(&self, context: &str) -> Result<(), TestCaseError> {
        let mut expected = self.hand.clone();
        for i in 0..self.world.len() {
            expected.extend(self.expected_for(i, self.api[i].clone()));
        }
        let actual: BTreeMap<String, AlarmConfig> = self
            .cloud
            .alarm_names()
            .into_iter()
            .map(|n| (n.clone(), self.cloud.alarm(&n).unwrap()))
            .collect();
        ensure!(
            self,
            actual == expected,
            "{context}: the account's alarms are not the desired ones:{}",
            diff(&expected, &actual)
        );
        Ok(())
    }

    /// A `running` event of the instance's current run, handled with success,
    /// while the API already shows the instance's current tags: the instance
    /// must now have its alarms.
    fn check_liveness(&self, event: &Event) -> Result<(), TestCaseError> {
        let w = &self.world[event.i];
        let current_run = matches!(event.kind, EventKind::State(InstanceState::Running))
            && w.gen == event.gen
            && w.state == InstanceState::Running;
        if current_run
            && self.wants_alarms(event.i, self.world_facts(event.i))
            && self.api_tag_version[event.i] == w.tag_version
        {
            stat(|s| s.liveness_checks += 1);
            ensure!(
                self,
                self.pair_present(event.i),
                "UNPROTECTED: the running event {event} of {:?}'s current run was handled with success (no retry will come), but the instance, running and in scope, has no alarms; the API shows it {:?}",
                Inst(event.i),
                self.api[event.i].as_ref().map(|f| f.state)
            );
        }
        Ok(())
    }

    /// One invocation, as Lambda makes it, and the checks every invocation must pass.
    /// Returns whether it succeeded.
    async fn invoke(
        &mut self,
        event: Value,
        faults: &[FaultSpec],
        target: Option<&Event>,
        label: String,
    ) -> Result<bool, TestCaseError> {
        self.cloud.set_now(UnixTime(self.now));
        for fault in faults {
            fault.install(&self.cloud);
        }
        let before = self.cloud.faults_fired().len();
        let result =
            handle_event(&self.reconciler, &NoContinuation, event, RunOptions::new(UnixTime(self.now))).await;
        let fired = self.cloud.faults_fired()[before..].to_vec();
        self.cloud.clear_faults();
        let partial = fired.iter().any(|(op, _)| *op == "DeleteAlarms")
            && faults.iter().filter(|f| f.op == "DeleteAlarms").all(|f| f.partial);
        let (ok, report) = match result {
            Ok(report) => (true, report),
            Err(HandleError::Incomplete(report)) => (false, *report),
            Err(HandleError::Rejected(error)) => {
                return Err(self.fail(format!("{label}: event rejected: {error}")))
            }
        };
        let faults = if faults.is_empty() { String::new() } else { format!(" with faults {faults:?}") };
        let outcome = format!(
            "{} (created {}, updated {}, deleted {}, unchanged {}){}",
            if ok { "Ok" } else { "Err" },
            report.created,
            report.updated,
            report.deleted,
            report.unchanged,
            report.failures.iter().map(|f| format!("\n           failure: {}", f.error)).collect::<String>()
        );
        self.log(format!("{label}{faults} -> {outcome}"));
        stat(|s| {
            if target.is_some() {
                s.event_invocations += 1;
            } else {
                s.sweeps += 1;
            }
            s.failed_invocations += u64::from(!ok);
            s.not_settled +=
                report.failures.iter().filter(|f| f.error.starts_with("state not settled")).count() as u64;
            for (op, _) in &fired {
                *s.faults_fired.entry(op).or_default() += 1;
            }
            s.partial_delete_invocations += u64::from(partial);
            s.created += report.created as u64;
            s.updated += report.updated as u64;
            s.deleted += report.deleted as u64;
            s.conflicts += report.conflicts.len() as u64;
        });
        ensure!(
            self,
            ok != report.failed(),
            "handle_event returned {} but report.failed() is {}",
            ok,
            report.failed()
        );
        self.check_failures(&report, &fired)?;
        self.check_foreign_alarms(false)?;
        if ok {
            match target {
                Some(event) => self.check_target(event)?,
                None => self.check_account("the sweep returned Ok")?,
            }
        }
        self.check_protection()?;
        if ok {
            if let Some(event) = target {
                self.check_liveness(event)?;
            }
        }
        Ok(ok)
    }

    async fn deliver(&mut self, event: Event, attempt: usize) -> Result<(), TestCaseError> {
        let faults =
            self.faults.and_then(|f| f.events.get(self.event_invocations)).cloned().unwrap_or_default();
        self.event_invocations += 1;
        let label = match attempt {
            0 => format!("deliver {event}"),
            n => format!("deliver {event} (Lambda retry {n})"),
        };
        if !self.invoke(event.json(), &faults, Some(&event), label).await? {
            match RETRY_AFTER.get(attempt) {
                Some(wait) => {
                    stat(|s| s.lambda_retries += 1);
                    self.push(self.now + wait, Item::Deliver { event, attempt: attempt + 1 });
                }
                None => {
                    stat(|s| s.dead_letters += 1);
                    self.dead_letters.push(event.to_string());
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn run(mut self) -> Result<(), TestCaseError> {
        self.check_protection()?;
        while let Some(((at, _), item)) = self.queue.pop_first() {
            self.now = at;
            match item {
                Item::Step(k) => self.step(k),
                Item::Complete { i, gen, to, step } => self.complete(i, gen, to, step),
                Item::Api { i, facts, tag_version } => self.api_update(i, facts, tag_version),
                Item::Deliver { event, attempt } => self.deliver(event, attempt).await?,
            }
        }
        if self.faults.is_none() {
            ensure!(
                self,
                self.dead_letters.is_empty(),
                "without faults every event succeeds by its last retry; in the dead-letter queue: {:?}",
                self.dead_letters
            );
        }
        // The nightly sweep, retried like any scheduled invocation.
        self.now += 3600;
        let sweep_faults = self.faults.map(|f| f.sweep.clone()).unwrap_or_default();
        let mut swept = false;
        for attempt in 0..3 {
            if attempt > 0 {
                self.now += RETRY_AFTER[attempt - 1];
            }
            let faults = sweep_faults.get(attempt).cloned().unwrap_or_default();
            if self
                .invoke(
                    sweep_event(self.now),
                    &faults,
                    None,
                    format!("nightly sweep, attempt {}", attempt + 1),
                )
                .await?
            {
                swept = true;
                break;
            }
            ensure!(self, self.faults.is_some(), "without faults the sweep succeeds the first time");
        }
        ensure!(self, swept, "the sweep failed three times, the last time without any fault");
        self.check_account("after the sweep")?;
        self.check_foreign_alarms(true)?;
        let forecasts = self.cloud.alarm_names().iter().filter(|n| n.ends_with("-forecast")).count();
        stat(|s| s.forecasts_at_end += forecasts as u64);
        let writes = self.cloud.writes();
        self.now += 86_400;
        let again = self.invoke(sweep_event(self.now), &[], None, "next night's sweep".into()).await?;
        ensure!(
            self,
            again && self.cloud.writes() == writes,
            "a sweep over a converged account must succeed and write nothing"
        );
        Ok(())
    }
}

thread_local! {
    pub(crate) static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
}

pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}
