//! The Lambda function and the `alarmctl` CLI around `reconciler_core`.
//!
//! Start at [`reconcile::Reconciler`]: it observes through the [`ports`],
//! decides with `reconciler_core::plan`, and acts through the ports again.
//! [`event`] turns an EventBridge event into a trigger, [`config`] reads the
//! environment once, [`aws`] implements the ports with the AWS SDK and
//! `fake` implements them in memory (feature `fake`: for the tests and the
//! benchmark, never compiled into the Lambda). [`fleet`] is `alarmctl fleet`:
//! the same reads and plan across many accounts and Regions, writing nothing.

pub mod app;
mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod event;
#[cfg(feature = "fake")]
pub mod fake;
pub mod fleet;
mod observe;
pub mod ports;
pub mod reconcile;
pub mod report;
pub mod retag;
