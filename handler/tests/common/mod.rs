//! Shared by the tests that run the reconcile loop over the in-memory account.

use handler::config::Config;
use handler::fake::FakeCloud;
use handler::reconcile::Reconciler;

/// The defaults, with the two required topics.
pub fn config() -> Config {
    Config::from_lookup(|name| match name {
        "WARNING_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:disk-warning".into()),
        "CRITICAL_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:disk-critical".into()),
        _ => None,
    })
    .unwrap()
}

pub fn reconciler(cloud: &FakeCloud) -> Reconciler<FakeCloud, FakeCloud> {
    Reconciler {
        config: config(),
        inventory: cloud.clone(),
        alarms: cloud.clone(),
        calls: cloud.calls.clone(),
    }
}
