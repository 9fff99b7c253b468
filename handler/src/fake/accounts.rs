//! A fleet of in-memory accounts for `fleet`: each account and Region is a
//! [`FakeCloud`] with its deployed function (or none), a latency per call,
//! and a record of how many rows were being read at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reconciler_core::UnixTime;

use super::FakeCloud;
use crate::ports::{Accounts, Deployed, Deployments, ErrorKind, PortError, RowPorts};

/// One account and Region.
#[derive(Clone, Default)]
pub struct FakeRow {
    pub cloud: FakeCloud,
    /// The function and its configuration; `None`: not deployed.
    pub function: Option<(String, Deployed)>,
    /// Hours (start times) with `SweepsSucceeded` ≥ 1.
    pub sweeps: Vec<UnixTime>,
    /// Opening the row fails with this (a role that cannot be assumed).
    pub open_error: Option<PortError>,
    /// Added to opening the row and to each read of its function and
    /// metrics: a slow account (an STS or Lambda endpoint far away).
    pub latency: Duration,
}

#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

/// Rows by (account, Region).
#[derive(Clone, Default)]
pub struct FakeFleet {
    rows: Arc<Mutex<BTreeMap<(String, String), FakeRow>>>,
    in_flight: Arc<InFlight>,
}

impl FakeFleet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&self, account: &str, region: &str, row: FakeRow) {
        self.rows.lock().expect("fleet lock").insert((account.to_owned(), region.to_owned()), row);
    }

    /// The most rows that were open at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.max.load(Ordering::SeqCst)
    }
}

/// Counts a row as in flight from its opening until its ports are dropped.
pub struct InFlightGuard(Arc<InFlight>);

impl InFlightGuard {
    fn new(in_flight: Arc<InFlight>) -> Self {
        let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
        in_flight.max.fetch_max(now, Ordering::SeqCst);
        Self(in_flight)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The row's Lambda function and metrics.
pub struct FakeDeployments {
    row: FakeRow,
    _in_flight: InFlightGuard,
}

impl Deployments for FakeDeployments {
    async fn function(&self, name: &str) -> Result<Option<Deployed>, PortError> {
        tokio::time::sleep(self.row.latency).await;
        self.row.cloud.request("GetFunctionConfiguration").await?;
        Ok(self.row.function.as_ref().filter(|(n, _)| n == name).map(|(_, deployed)| deployed.clone()))
    }

    async fn last_sweep(
        &self,
        _function: &str,
        since: UnixTime,
        until: UnixTime,
    ) -> Result<Option<UnixTime>, PortError> {
        tokio::time::sleep(self.row.latency).await;
        self.row.cloud.request("GetMetricStatistics").await?;
        Ok(self.row.sweeps.iter().copied().filter(|t| since <= *t && *t <= until).max())
    }
}

impl Accounts for FakeFleet {
    type Inventory = FakeCloud;
    type Alarms = FakeCloud;
    type Deployments = FakeDeployments;

    async fn open(
        &self,
        account: &str,
        region: &str,
    ) -> Result<RowPorts<FakeCloud, FakeCloud, FakeDeployments>, PortError> {
        let guard = InFlightGuard::new(self.in_flight.clone());
        let row =
            self.rows.lock().expect("fleet lock").get(&(account.to_owned(), region.to_owned())).cloned();
        let Some(row) = row else {
            return Err(PortError::new("AssumeRole", ErrorKind::Refused, "AccessDenied: no such account"));
        };
        tokio::time::sleep(row.latency).await;
        if let Some(error) = &row.open_error {
            return Err(error.clone());
        }
        let cloud = row.cloud.clone();
        Ok(RowPorts {
            calls: cloud.calls.clone(),
            inventory: cloud.clone(),
            alarms: cloud,
            deployments: FakeDeployments { row, _in_flight: guard },
        })
    }
}
