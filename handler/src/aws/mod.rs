//! AWS SDK implementations of the ports.
//!
//! The SDK clients are built once per process. Retries are the SDK's own
//! (standard mode; `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` adjust them); what
//! still fails after them is classified into a [`PortError`].

mod accounts;
mod autoscaling;
mod cloudwatch;
mod ec2;
mod lambda;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::timeout::TimeoutConfig;

pub use accounts::{active_accounts, organization_accounts, AwsAccounts, AwsDeployments};
pub use cloudwatch::CloudWatchAlarms;
pub use ec2::Ec2Inventory;
pub use lambda::{LambdaContinuation, NoContinuation};

use crate::ports::{ApiCalls, ErrorKind, PortError};

pub struct AwsPorts {
    pub ec2: Ec2Inventory,
    pub cloudwatch: CloudWatchAlarms,
}

impl AwsPorts {
    /// From ready-made clients, e.g. ones with mocked responses.
    pub fn from_clients(
        ec2: aws_sdk_ec2::Client,
        autoscaling: aws_sdk_autoscaling::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        calls: ApiCalls,
    ) -> Self {
        Self {
            ec2: Ec2Inventory::new(ec2, autoscaling, calls.clone()),
            cloudwatch: CloudWatchAlarms::new(cloudwatch, calls),
        }
    }
}

/// Region, endpoint (`AWS_ENDPOINT_URL`), credentials and retry settings come
/// from the SDK's standard provider chain.
pub async fn load(calls: ApiCalls) -> (AwsPorts, aws_config::SdkConfig) {
    // A hung connection should cost one retry attempt, not the whole Lambda timeout.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(20))
        .build();
    let config = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).load().await;
    let ports = AwsPorts::from_clients(
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_autoscaling::Client::new(&config),
        aws_sdk_cloudwatch::Client::new(&config),
        calls,
    );
    (ports, config)
}

/// Error codes AWS services use for throttling. `LimitExceededException` is
/// left out on purpose: on `PutMetricAlarm` it means the alarm quota is used up,
/// which waiting does not fix.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
];

const TRANSIENT_CODES: &[&str] =
    &["RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "ServiceUnavailable"];

/// Maps an error the SDK gave up on to the port's error kinds, keeping the
/// SDK's error as the source.
pub(crate) fn port_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match &error {
        SdkError::ServiceError(service) => {
            let code = error.code().unwrap_or_default();
            if THROTTLING_CODES.contains(&code) {
                ErrorKind::Throttled
            } else if TRANSIENT_CODES.contains(&code) || service.raw().status().is_server_error() {
                ErrorKind::Transient
            } else {
                ErrorKind::Refused
            }
        }
        // A response that could not be read is as likely cut off as malformed.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorKind::Transient
        }
        _ => ErrorKind::Refused,
    };
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(&error).to_string(),
    };
    let mut port_error = PortError::new(operation, kind, message);
    port_error.code = error.code().map(str::to_owned);
    port_error.with_source(error)
}
