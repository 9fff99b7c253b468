//! The capabilities the reconciler needs from AWS, as traits.
//!
//! Each port is implemented once for AWS (`crate::aws`) and once in memory
//! (`crate::fake`, feature `fake`), which the reconcile-loop tests and the scale benchmark use.
//! Observing never writes; every write is idempotent.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use reconciler_core::{
    AlarmName, AlarmTag, AutoScalingGroup, DesiredAlarm, InstanceFacts, InstanceId, MetricSeries, MuteRule,
    ObservedAlarm,
};

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

/// CloudWatch metric alarms.
pub trait AlarmStore: Send + Sync {
    /// Every metric alarm whose name starts with `prefix`, all pages.
    fn alarms_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObservedAlarm>, PortError>> + Send;

    /// Creates or overwrites the alarm (`PutMetricAlarm` is an upsert).
    /// `tags` apply only when the call creates the alarm: CloudWatch ignores
    /// them on an update.
    fn put_alarm(
        &self,
        alarm: &DesiredAlarm,
        tags: &[AlarmTag],
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The alarm's tags (`ListTagsForResource`, one call per alarm).
    fn alarm_tags(&self, alarm_arn: &str) -> impl Future<Output = Result<Vec<AlarmTag>, PortError>> + Send;

    /// Adds `tags` to the alarm, replacing the values of keys it already has (`TagResource`).
    fn tag_alarm(
        &self,
        alarm_arn: &str,
        tags: &[AlarmTag],
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes up to [`MAX_DELETE_BATCH`] alarms; names that do not exist are skipped.
    fn delete_alarms(&self, names: &[AlarmName]) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Creates or overwrites the mute rule (`PutAlarmMuteRule` is an upsert):
    /// a one-time schedule at the window's start, for the window's length,
    /// expiring at its end.
    fn put_mute_rule(&self, rule: &MuteRule) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes the mute rule; one that does not exist is not an error.
    fn delete_mute_rule(&self, name: &str) -> impl Future<Output = Result<(), PortError>> + Send;

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

    /// Mute rules whose name starts with `prefix`, only those targeting
    /// `alarm` when given, all pages (`ListAlarmMuteRules`).
    fn mute_rules(
        &self,
        prefix: &str,
        alarm: Option<&AlarmName>,
    ) -> impl Future<Output = Result<Vec<ObservedMuteRule>, PortError>> + Send;
}

pub use reconciler_core::maintenance::ObservedMuteRule;

/// Hands the rest of a sweep that ran out of time to a new invocation.
pub trait Continuation: Send + Sync {
    fn continue_sweep(&self, generation: u32) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// `DeleteAlarms` takes at most 100 names per call.
pub const MAX_DELETE_BATCH: usize = 100;

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
    pub message: String,
    /// What the SDK said, for whoever walks the error chain; `message` already
    /// holds what the report needs.
    #[source]
    #[serde(skip)]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    pub fn new(operation: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { operation, kind, message: message.into(), source: None }
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

/// Client-side accounting of API calls: counts them per operation for the
/// report and the benchmark, and paces them with one token bucket per
/// operation so that a large sweep stays within the account's API quotas
/// instead of throttling itself (and the event path) into retries.
///
/// Time is `tokio::time`, so a benchmark with a paused clock simulates it.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls(Arc<Mutex<Accounting>>);

#[derive(Debug, Default)]
struct Accounting {
    counts: BTreeMap<&'static str, u64>,
    buckets: BTreeMap<&'static str, TokenBucket>,
}

/// Calls per second allowed for each operation; operations not listed are not paced.
pub type RateLimits = BTreeMap<&'static str, f64>;

/// CloudWatch's default quotas (per account and Region) for the calls we make.
/// AWS publishes no default for the two tag calls: [`TAG_CALLS_TPS`] is a
/// cautious guess (configurable), since only the opt-in re-tag pass makes them in bulk.
pub fn default_rate_limits() -> RateLimits {
    [
        ("PutMetricAlarm", 3.0),
        ("DeleteAlarms", 3.0),
        ("DescribeAlarms", 9.0),
        ("ListMetrics", 25.0),
        ("ListTagsForResource", TAG_CALLS_TPS),
        ("TagResource", TAG_CALLS_TPS),
    ]
    .into()
}

/// The default pace of `ListTagsForResource` and `TagResource`, calls per second.
pub const TAG_CALLS_TPS: f64 = 5.0;

#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    tokens: f64,
    updated: tokio::time::Instant,
}

impl TokenBucket {
    /// Starts full: AWS's own buckets allow a second's burst to a caller that
    /// has been quiet, so a fresh process (every cold start, every `alarmctl`
    /// run) need not wait before its second call.
    fn new(rate: f64) -> Self {
        Self { rate, tokens: Self::burst(rate), updated: tokio::time::Instant::now() }
    }

    /// One second's worth of calls, and at least one.
    fn burst(rate: f64) -> f64 {
        rate.max(1.0)
    }

    /// Takes a token, or says how long until one is available.
    fn take(&mut self) -> Option<std::time::Duration> {
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(Self::burst(self.rate));
        self.updated = now;
        // Floating-point refills can stop a hair short of a whole token; a wait
        // rounded to zero would never let a paused clock advance.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            None
        } else {
            let wait = std::time::Duration::from_secs_f64((1.0 - self.tokens) / self.rate);
            Some(wait.max(std::time::Duration::from_millis(1)))
        }
    }
}

impl ApiCalls {
    pub fn with_limits(limits: &RateLimits) -> Self {
        let buckets = limits
            .iter()
            .filter(|(_, rate)| **rate > 0.0)
            .map(|(op, rate)| (*op, TokenBucket::new(*rate)))
            .collect();
        Self(Arc::new(Mutex::new(Accounting { counts: BTreeMap::new(), buckets })))
    }

    /// Waits for the operation's rate limit, then counts the call. Call it
    /// once per request actually sent (each page of a paginated call).
    pub async fn begin(&self, operation: &'static str) {
        loop {
            let wait = {
                let mut accounting = self.0.lock().expect("counter lock");
                match accounting.buckets.get_mut(operation).and_then(TokenBucket::take) {
                    None => {
                        *accounting.counts.entry(operation).or_default() += 1;
                        return;
                    }
                    Some(wait) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts the call if the operation's bucket has a token; otherwise says
    /// how long until it will. This is how the in-memory account models
    /// AWS's own quotas, which answer with a throttling error instead of waiting.
    pub fn try_begin(&self, operation: &'static str) -> Result<(), std::time::Duration> {
        let mut accounting = self.0.lock().expect("counter lock");
        if let Some(wait) = accounting.buckets.get_mut(operation).and_then(TokenBucket::take) {
            return Err(wait);
        }
        *accounting.counts.entry(operation).or_default() += 1;
        Ok(())
    }

    /// Starts a new count; the Lambda runtime reuses the process across invocations.
    pub fn reset(&self) {
        self.0.lock().expect("counter lock").counts.clear();
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().expect("counter lock").counts.clone()
    }

    pub fn get(&self, operation: &str) -> u64 {
        self.0.lock().expect("counter lock").counts.get(operation).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_paced_to_the_rate_limit() {
        let calls = ApiCalls::with_limits(&default_rate_limits());
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            calls.begin("PutMetricAlarm").await;
        }
        // A fresh bucket holds a second's burst: the first three calls do not wait.
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        for _ in 0..30 {
            calls.begin("PutMetricAlarm").await;
        }
        // Then 3 per second: 30 more take 10 s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((9.9..10.1).contains(&elapsed), "{elapsed}");
        assert_eq!(calls.get("PutMetricAlarm"), 33);
        // Operations without a limit are only counted.
        calls.begin("DescribeInstances").await;
        assert!((start.elapsed().as_secs_f64() - elapsed).abs() < 0.001);
    }

    /// A refill can leave the bucket a rounding error short of a whole token
    /// (0.99999999999999922 was seen); the wait for the rest then rounded to
    /// zero nanoseconds, and a paused clock never advanced past it.
    #[tokio::test(start_paused = true)]
    async fn a_bucket_a_rounding_error_short_of_a_token_still_makes_progress() {
        for short in [1e-15, 7.8e-16, 1e-12] {
            let mut bucket = TokenBucket::new(25.0);
            bucket.tokens = 1.0 - short;
            match bucket.take() {
                None => assert!(bucket.tokens >= 0.0),
                Some(wait) => assert!(wait >= std::time::Duration::from_millis(1), "{wait:?}"),
            }
        }
        let mut bucket = TokenBucket::new(25.0);
        bucket.tokens = 0.5;
        let wait = bucket.take().expect("half a token is not a token");
        assert_eq!(wait, std::time::Duration::from_millis(20));
    }
}
