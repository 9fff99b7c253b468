//! `alarmctl fleet`: how well every account and Region of a fleet is
//! covered, read-only.
//!
//! Each account-Region row is judged by the configuration its own
//! reconciler runs with (its function's environment), observed with the
//! sweep's own reads through an `Observer` (read ports only), and planned
//! with the core's `plan`; nothing is applied. Rows are read concurrently
//! (`read.rs`), at most `concurrency` at a time, since quotas are per account
//! and Region; a slow or failing row holds up or aborts no other.

mod command;
mod read;
mod render;

use std::collections::BTreeMap;
use std::time::Duration;

use reconciler_core::coverage::CoverageCounts;
use reconciler_core::UnixTime;
use serde::Serialize;
use serde_json::{json, Value};

pub use command::{run, FleetArgs};
pub use read::read_fleet;
pub use render::render_table;

pub use crate::ports::{Accounts, Deployed, Deployments, RowPorts};

/// `last_sweep` looks this far back (the heartbeat alarm pages after 26 hours).
pub const LAST_SWEEP_WINDOW_SECONDS: i64 = 48 * 3600;

/// What to read.
#[derive(Debug, Clone)]
pub struct FleetRequest {
    /// (account, Region), in the order the rows are reported.
    pub targets: Vec<(String, String)>,
    pub function_name: String,
    /// Rows read at the same time; at least 1.
    pub concurrency: usize,
    pub now: UnixTime,
}

/// The numbers of one readable row; summed, the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    /// `instances_running` to `unprotected`, as the core counts them, with
    /// the silent alarms left out: an instance whose alarms are all silent is
    /// unprotected.
    #[serde(flatten)]
    pub coverage: CoverageCounts,
    pub to_create: usize,
    pub to_update: usize,
    pub to_delete: usize,
    pub conflicts: usize,
    pub mutes_active: usize,
    /// Owned alarms in `INSUFFICIENT_DATA` for the row's `SILENT_AFTER_MINUTES` or longer.
    pub alarms_silent: usize,
    /// The owned alarms once a sweep has applied its plan.
    pub alarms: usize,
    /// Their estimated monthly cost at the row's `ALARM_MONTHLY_PRICE_USD`,
    /// kept in cents so that totals add up exactly; shown in dollars.
    #[serde(rename = "monthly_cost_usd", serialize_with = "cents_as_dollars")]
    pub monthly_cost_cents: u64,
}

fn cents_as_dollars<S: serde::Serializer>(cents: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(*cents as f64 / 100.0)
}

impl RowCounts {
    /// What a sweep would change.
    pub fn drift(&self) -> usize {
        self.to_create + self.to_update + self.to_delete
    }

    fn add(&mut self, other: &Self) {
        let Self {
            coverage,
            to_create,
            to_update,
            to_delete,
            conflicts,
            mutes_active,
            alarms_silent,
            alarms,
            monthly_cost_cents,
        } = other;
        self.coverage.add_counts(coverage);
        self.to_create += to_create;
        self.to_update += to_update;
        self.to_delete += to_delete;
        self.conflicts += conflicts;
        self.mutes_active += mutes_active;
        self.alarms_silent += alarms_silent;
        self.alarms += alarms;
        self.monthly_cost_cents += monthly_cost_cents;
    }
}

/// A row that could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRead {
    pub counts: RowCounts,
    pub last_sweep: Option<UnixTime>,
    pub code_sha256: String,
}

#[derive(Debug, Clone)]
pub struct FleetRow {
    pub account: String,
    pub region: String,
    /// The row, or why it could not be read.
    pub read: Result<RowRead, String>,
    /// How long the row's reads took, its two stages together and without
    /// the wait between them (not in the output; for the benchmark).
    pub duration: Duration,
    /// The calls the row made, per operation (not in the output).
    pub api_calls: BTreeMap<&'static str, u64>,
}

impl FleetRow {
    pub fn to_json(&self) -> Value {
        let mut row = json!({"account": self.account, "region": self.region});
        let numbers = serde_json::to_value(RowCounts::default()).expect("counts serialize");
        match &self.read {
            Ok(read) => {
                merge(&mut row, serde_json::to_value(read.counts).expect("counts serialize"));
                row["last_sweep"] = read.last_sweep.map_or(Value::Null, |t| json!(rfc3339(t)));
                row["code_sha256"] = json!(read.code_sha256);
                row["error"] = Value::Null;
            }
            Err(error) => {
                for name in numbers.as_object().expect("an object").keys() {
                    row[name.as_str()] = Value::Null;
                }
                row["last_sweep"] = Value::Null;
                row["code_sha256"] = Value::Null;
                row["error"] = json!(error);
            }
        }
        row
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

pub fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.0.to_string())
}

#[derive(Debug, Clone)]
pub struct FleetReport {
    pub rows: Vec<FleetRow>,
}

impl FleetReport {
    /// The numbers summed over the readable rows.
    pub fn totals(&self) -> RowCounts {
        let mut totals = RowCounts::default();
        for read in self.rows.iter().filter_map(|r| r.read.as_ref().ok()) {
            totals.add(&read.counts);
        }
        totals
    }

    pub fn rows_failed(&self) -> usize {
        self.rows.iter().filter(|r| r.read.is_err()).count()
    }

    /// The build most readable rows run (the smallest hash among equally common ones).
    pub fn majority_build(&self) -> Option<&str> {
        let mut builds: BTreeMap<&str, usize> = BTreeMap::new();
        for read in self.rows.iter().filter_map(|r| r.read.as_ref().ok()) {
            *builds.entry(read.code_sha256.as_str()).or_default() += 1;
        }
        let most = builds.values().copied().max()?;
        builds.into_iter().find(|(_, n)| *n == most).map(|(build, _)| build)
    }

    /// Every row read, no unprotected instance, no drift, one build everywhere.
    pub fn healthy(&self) -> bool {
        let builds: std::collections::BTreeSet<&str> =
            self.rows.iter().filter_map(|r| r.read.as_ref().ok()).map(|r| r.code_sha256.as_str()).collect();
        self.rows_failed() == 0
            && builds.len() <= 1
            && self
                .rows
                .iter()
                .filter_map(|r| r.read.as_ref().ok())
                .all(|r| r.counts.coverage.unprotected == 0 && r.counts.drift() == 0)
    }

    pub fn to_json(&self) -> Value {
        let mut totals = serde_json::to_value(self.totals()).expect("counts serialize");
        totals["rows"] = json!(self.rows.len());
        totals["rows_failed"] = json!(self.rows_failed());
        json!({"rows": self.rows.iter().map(FleetRow::to_json).collect::<Vec<_>>(), "totals": totals})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortError;
    use read::explain;

    #[test]
    fn a_refusal_that_means_a_disabled_region_says_so() {
        let error = PortError::new(
            "DescribeInstances",
            crate::ports::ErrorKind::Refused,
            "AuthFailure: AWS was not able to validate the provided access credentials",
        )
        .with_code("AuthFailure");
        assert!(explain(&error).starts_with("Region not enabled"), "{}", explain(&error));
        let denied = PortError::new("DescribeAlarms", crate::ports::ErrorKind::Refused, "AccessDenied: no")
            .with_code("AccessDenied");
        assert_eq!(explain(&denied), "DescribeAlarms failed (Refused): AccessDenied: no");
    }

    #[test]
    fn an_unreadable_row_has_every_number_null_and_says_why() {
        let row = FleetRow {
            account: "111111111111".into(),
            region: "us-east-1".into(),
            read: Err("not deployed".into()),
            duration: Duration::ZERO,
            api_calls: BTreeMap::new(),
        };
        let json = row.to_json();
        let fields: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(fields.len(), 19, "{json}");
        assert_eq!(json["error"], "not deployed");
        for (name, value) in json.as_object().unwrap() {
            if !["account", "region", "error"].contains(&name.as_str()) {
                assert!(value.is_null(), "{name}");
            }
        }
        assert_eq!(rfc3339(UnixTime(1_795_749_420)), "2026-11-27T03:17:00Z");
    }
}
