//! The capabilities the reconciler needs from AWS, as traits named by
//! capability: the inventory, the alarm store, the metric catalogue, mute
//! rules and alarm tags. Each has its read half and, where the reconciler
//! writes, a separate write half: the `Observer` holds only read halves, the
//! `Applier` only write halves.
//!
//! Each port is implemented once for AWS (the `aws` module) and once in memory
//! (the `fake` module, feature `fake`), which the reconcile-loop tests and the
//! scale benchmark use. Every write is idempotent.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use reconciler_core::{
    AlarmName, AlarmTag, AutoScalingGroup, DesiredAlarm, InstanceFacts, InstanceId, MetricSeries, MuteRule,
    ObservedAlarm, UnixTime,
};

pub use crate::pacing::{default_rate_limits, ApiCalls, RateLimits, TAG_CALLS_TPS};
pub use reconciler_core::maintenance::ObservedMuteRule;
pub use reconciler_core::mute_rules::MuteRuleRead;

/// Read-only view of the fleet: EC2 instances and their Auto Scaling groups.
pub trait Inventory: Send + Sync {
    /// The instances among `ids` that the API knows. Unknown ids are left out
    /// rather than failing the call.
    fn describe_instances(
        &self,
        ids: &[InstanceId],
    ) -> impl Future<Output = Result<Vec<InstanceFacts>, PortError>> + Send;

    /// Every instance in the account and Region, all pages.
    fn all_instances(&self) -> impl Future<Output = Result<Vec<InstanceFacts>, PortError>> + Send;

    /// The Auto Scaling group of each instance among `ids` that belongs to one
    /// (`DescribeAutoScalingInstances`, [`MAX_GROUP_LOOKUP_BATCH`] ids per call).
    fn groups_of(
        &self,
        ids: &[InstanceId],
    ) -> impl Future<Output = Result<Vec<(InstanceId, String)>, PortError>> + Send;

    /// The named groups that exist, with their tags (`DescribeAutoScalingGroups`).
    fn groups(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AutoScalingGroup>, PortError>> + Send;
}

/// `DescribeAutoScalingInstances` takes at most 50 instance ids per call.
pub const MAX_GROUP_LOOKUP_BATCH: usize = 50;

/// CloudWatch metric alarms, read.
pub trait AlarmStore: Send + Sync {
    /// Every metric alarm whose name starts with `prefix`, all pages.
    fn alarms_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObservedAlarm>, PortError>> + Send;
}

/// CloudWatch metric alarms, written.
pub trait AlarmWrites: Send + Sync {
    /// Creates or overwrites the alarm (`PutMetricAlarm` is an upsert).
    /// `tags` apply only when the call creates the alarm: CloudWatch ignores
    /// them on an update.
    fn put_alarm(
        &self,
        alarm: &DesiredAlarm,
        tags: &[AlarmTag],
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes up to [`MAX_DELETE_BATCH`] alarms; names that do not exist are skipped.
    fn delete_alarms(&self, names: &[AlarmName]) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// `DeleteAlarms` takes at most 100 names per call.
pub const MAX_DELETE_BATCH: usize = 100;

/// The disk series the CloudWatch agents publish (`ListMetrics`).
pub trait MetricCatalogue: Send + Sync {
    /// The series of `namespace`/`metric` that had data in the last three
    /// hours (`ListMetrics` with `RecentlyActive=PT3H`, all pages of 500): of
    /// one instance (filtered by its `InstanceId` dimension), or of every
    /// instance when `instance` is `None`.
    fn published_series(
        &self,
        namespace: &str,
        metric: &str,
        instance: Option<&InstanceId>,
    ) -> impl Future<Output = Result<Vec<MetricSeries>, PortError>> + Send;
}

/// Alarm mute rules, read.
pub trait MuteRules: Send + Sync {
    /// Mute rules whose name starts with `prefix`, only those targeting
    /// `alarm` when given, all pages (`ListAlarmMuteRules`).
    fn mute_rules(
        &self,
        prefix: &str,
        alarm: Option<&AlarmName>,
    ) -> impl Future<Output = Result<Vec<ObservedMuteRule>, PortError>> + Send;

    /// One rule in full (`GetAlarmMuteRule`): the alarms it names and its
    /// window; `None` when it does not exist.
    fn mute_rule(&self, name: &str) -> impl Future<Output = Result<Option<MuteRuleRead>, PortError>> + Send;
}

/// Alarm mute rules, written.
pub trait MuteRuleWrites: Send + Sync {
    /// Creates or overwrites the mute rule (`PutAlarmMuteRule` is an upsert):
    /// a one-time schedule at the window's start, for the window's length,
    /// expiring at its end.
    fn put_mute_rule(&self, rule: &MuteRule) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes the mute rule; one that does not exist is not an error.
    fn delete_mute_rule(&self, name: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The tags of alarms, read.
pub trait AlarmTags: Send + Sync {
    /// The alarm's tags (`ListTagsForResource`, one call per alarm).
    fn alarm_tags(&self, alarm_arn: &str) -> impl Future<Output = Result<Vec<AlarmTag>, PortError>> + Send;
}

/// The tags of alarms, written.
pub trait AlarmTagWrites: Send + Sync {
    /// Adds `tags` to the alarm, replacing the values of keys it already has (`TagResource`).
    fn tag_alarm(
        &self,
        alarm_arn: &str,
        tags: &[AlarmTag],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Every CloudWatch read the observer makes.
pub trait CloudWatchReads: AlarmStore + MetricCatalogue + MuteRules + AlarmTags {}
impl<T: AlarmStore + MetricCatalogue + MuteRules + AlarmTags> CloudWatchReads for T {}

/// Every write the applier makes.
pub trait CloudWatchWrites: AlarmWrites + MuteRuleWrites + AlarmTagWrites {}
impl<T: AlarmWrites + MuteRuleWrites + AlarmTagWrites> CloudWatchWrites for T {}

/// Hands the rest of a sweep that ran out of time to a new invocation.
pub trait Continuation: Send + Sync {
    fn continue_sweep(&self, generation: u32) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The deployed reconciler of one account and Region, as `alarmctl fleet` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The function's environment variables: its configuration.
    pub environment: BTreeMap<String, String>,
    /// The function's `CodeSha256`: which build it runs.
    pub code_sha256: String,
}

/// What the fleet view reads about the reconciler itself, in one account and Region.
pub trait Deployments: Send + Sync {
    /// The function's configuration (`GetFunctionConfiguration`); `None` when
    /// no function of that name exists.
    fn function(&self, name: &str) -> impl Future<Output = Result<Option<Deployed>, PortError>> + Send;

    /// The start of the latest hour between `since` and `until` in which the
    /// function's sweep succeeded (`SweepsSucceeded` ≥ 1, dimensions
    /// `FunctionName` and `Trigger=sweep`), if any.
    fn last_sweep(
        &self,
        function: &str,
        since: UnixTime,
        until: UnixTime,
    ) -> impl Future<Output = Result<Option<UnixTime>, PortError>> + Send;
}

/// The read ports of one account and Region, with the calls they count.
pub struct RowPorts<I, A, D> {
    pub inventory: I,
    pub alarms: A,
    pub deployments: D,
    pub calls: ApiCalls,
}

/// Opens the read ports of an account and Region: with the caller's own
/// credentials, or an assumed role's.
pub trait Accounts: Send + Sync + 'static {
    type Inventory: Inventory + 'static;
    type Alarms: CloudWatchReads + 'static;
    type Deployments: Deployments + 'static;

    #[allow(clippy::type_complexity)]
    fn open(
        &self,
        account: &str,
        region: &str,
    ) -> impl Future<Output = Result<RowPorts<Self::Inventory, Self::Alarms, Self::Deployments>, PortError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The API throttled the call even after the SDK's own retries.
    Throttled,
    /// A server error, timeout or connection failure.
    Transient,
    /// The request was refused (permissions, validation). A retry helps only
    /// after someone fixes the cause.
    Refused,
}

#[derive(Debug, Clone, thiserror::Error, serde::Serialize)]
#[error("{operation} failed ({kind:?}): {message}")]
pub struct PortError {
    pub operation: &'static str,
    pub kind: ErrorKind,
    /// The service's error code (`AccessDenied`, `OptInRequired`, …), when it sent one.
    pub code: Option<String>,
    pub message: String,
    /// What the SDK said, for whoever walks the error chain; `message` already
    /// holds what the report needs.
    #[source]
    #[serde(skip)]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    pub fn new(operation: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { operation, kind, code: None, message: message.into(), source: None }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}
