//! The Lambda function and the `alarmctl` CLI around `reconciler_core`.
//!
//! Start at [`reconcile::Reconciler`]: each pass observes once through the
//! [`observe::Observer`] (read ports only), plans once with
//! `reconciler_core::plan`, and applies once through the [`apply::Applier`]
//! (write ports only). [`event`] turns an EventBridge event into a trigger,
//! [`app`] is the path the Lambda and `alarmctl` share, [`config`] reads the
//! environment once, [`ports`] names the capabilities, [`aws`] implements
//! them with the AWS SDK and `fake` in memory (feature `fake`: for the tests
//! and the benchmarks, never compiled into the Lambda). [`explain`] and
//! [`fleet`] observe and plan without applying; [`render`] prints for people.

pub mod app;
pub mod apply;
pub mod aws;
pub mod config;
pub mod event;
pub mod explain;
#[cfg(feature = "fake")]
pub mod fake;
pub mod fleet;
pub mod observe;
pub mod options;
pub mod pacing;
pub mod ports;
pub mod reconcile;
pub mod render;
pub mod report;
