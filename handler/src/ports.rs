//! The capabilities the reconciler needs from AWS, as traits.
//!
//! Each port is implemented once for AWS (`crate::aws`) and once in memory
//! (`crate::fake`), which the reconcile-loop tests and the scale benchmark use.
//! Observing never writes; every write is idempotent.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use reconciler_core::{AlarmName, DesiredAlarm, InstanceFacts, InstanceId, ObservedAlarm};

/// Read-only view of EC2 instances.
pub trait Inventory: Send + Sync {
    /// The instances among `ids` that the API knows. Unknown ids are left out
    /// rather than failing the call.
    fn describe_instances(
        &self,
        ids: &[InstanceId],
    ) -> impl Future<Output = Result<Vec<InstanceFacts>, PortError>> + Send;

    /// Every instance in the account and Region, all pages.
    fn all_instances(&self) -> impl Future<Output = Result<Vec<InstanceFacts>, PortError>> + Send;
}

/// CloudWatch metric alarms.
pub trait AlarmStore: Send + Sync {
    /// Every metric alarm whose name starts with `prefix`, all pages.
    fn alarms_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObservedAlarm>, PortError>> + Send;

    /// Creates or overwrites the alarm (`PutMetricAlarm` is an upsert).
    fn put_alarm(&self, alarm: &DesiredAlarm)
        -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes up to [`MAX_DELETE_BATCH`] alarms; names that do not exist are skipped.
    fn delete_alarms(
        &self,
        names: &[AlarmName],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
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
}

impl PortError {
    pub fn new(operation: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            operation,
            kind,
            message: message.into(),
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

/// Counts calls per API operation, for the report and the benchmark.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl ApiCalls {
    pub fn record(&self, operation: &'static str) {
        *self
            .0
            .lock()
            .expect("counter lock")
            .entry(operation)
            .or_default() += 1;
    }

    /// Starts a new count; the Lambda runtime reuses the process across invocations.
    pub fn reset(&self) {
        self.0.lock().expect("counter lock").clear();
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().expect("counter lock").clone()
    }

    pub fn get(&self, operation: &str) -> u64 {
        self.0
            .lock()
            .expect("counter lock")
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}
