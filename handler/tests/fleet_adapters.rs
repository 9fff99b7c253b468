//! The fleet view's AWS adapters on real SDK clients with `aws-smithy-mocks`:
//! a function that does not exist is "not deployed", the configuration and
//! build are read from `GetFunctionConfiguration`, the last sweep is the
//! latest hour whose `SweepsSucceeded` sum is at least 1, and only ACTIVE
//! Organization accounts are listed.

use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
use aws_sdk_cloudwatch::types::Datapoint;
use aws_sdk_lambda::operation::get_function_configuration::{
    GetFunctionConfigurationError, GetFunctionConfigurationOutput,
};
use aws_sdk_lambda::types::error::ResourceNotFoundException;
use aws_sdk_lambda::types::EnvironmentResponse;
use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
use aws_sdk_organizations::types::{Account, AccountState};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::DateTime;
use handler::aws::{active_accounts, AwsDeployments};
use handler::fleet::Deployments;
use handler::ports::{ApiCalls, ErrorKind};
use reconciler_core::UnixTime;

const FUNCTION: &str = "disk-alarm-reconciler";
const HOUR: i64 = 3600;
const NOW: i64 = 1_800_000_000;

fn adapters(lambda: &[&Rule], cloudwatch: &[&Rule]) -> (AwsDeployments, ApiCalls) {
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, lambda.iter().copied());
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, cloudwatch.iter().copied());
    let calls = ApiCalls::default();
    (AwsDeployments::new(lambda, cloudwatch, calls.clone()), calls)
}

#[tokio::test]
async fn a_function_that_does_not_exist_is_not_deployed() {
    let rule = mock!(aws_sdk_lambda::Client::get_function_configuration).then_error(|| {
        GetFunctionConfigurationError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("Function not found").build(),
        )
    });
    let (deployments, calls) = adapters(&[&rule], &[]);
    assert_eq!(deployments.function(FUNCTION).await.unwrap(), None);
    assert_eq!(calls.get("GetFunctionConfiguration"), 1);
}

#[tokio::test]
async fn the_functions_environment_and_build_are_read() {
    let rule = mock!(aws_sdk_lambda::Client::get_function_configuration)
        .match_requests(|r| r.function_name() == Some(FUNCTION))
        .then_output(|| {
            GetFunctionConfigurationOutput::builder()
                .code_sha256("abc123=")
                .environment(
                    EnvironmentResponse::builder()
                        .variables("WARNING_TOPIC_ARN", "arn:aws:sns:us-east-1:111111111111:w")
                        .build(),
                )
                .build()
        });
    let (deployments, _) = adapters(&[&rule], &[]);
    let deployed = deployments.function(FUNCTION).await.unwrap().expect("deployed");
    assert_eq!(deployed.code_sha256, "abc123=");
    assert_eq!(deployed.environment["WARNING_TOPIC_ARN"], "arn:aws:sns:us-east-1:111111111111:w");
}

#[tokio::test]
async fn access_denied_on_the_function_is_an_error_not_a_missing_deployment() {
    let rule = mock!(aws_sdk_lambda::Client::get_function_configuration).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            403.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(r#"{"Message":"denied"}"#),
        )
    });
    let (deployments, _) = adapters(&[&rule], &[]);
    let error = deployments.function(FUNCTION).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Refused, "{error}");
}

#[tokio::test]
async fn the_last_sweep_is_the_latest_hour_with_a_successful_sweep() {
    let point = |hours_ago: i64, sum: f64| {
        Datapoint::builder().timestamp(DateTime::from_secs(NOW - hours_ago * HOUR)).sum(sum).build()
    };
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .match_requests(|r| {
            let dims: Vec<(Option<&str>, Option<&str>)> =
                r.dimensions().iter().map(|d| (d.name(), d.value())).collect();
            r.namespace() == Some("DiskAlarmReconciler")
                && r.metric_name() == Some("SweepsSucceeded")
                && dims == [(Some("FunctionName"), Some(FUNCTION)), (Some("Trigger"), Some("sweep"))]
        })
        // Unordered, as CloudWatch returns them; the latest hour had only a failed sweep.
        .then_output(move || {
            GetMetricStatisticsOutput::builder()
                .datapoints(point(30, 1.0))
                .datapoints(point(1, 0.0))
                .datapoints(point(6, 2.0))
                .build()
        });
    let (deployments, calls) = adapters(&[], &[&rule]);
    let last = deployments.last_sweep(FUNCTION, UnixTime(NOW - 48 * HOUR), UnixTime(NOW)).await.unwrap();
    assert_eq!(last, Some(UnixTime(NOW - 6 * HOUR)));
    assert_eq!(calls.get("GetMetricStatistics"), 1);

    let none = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .then_output(move || GetMetricStatisticsOutput::builder().datapoints(point(2, 0.0)).build());
    let (deployments, _) = adapters(&[], &[&none]);
    assert_eq!(deployments.last_sweep(FUNCTION, UnixTime(0), UnixTime(NOW)).await.unwrap(), None);
}

#[tokio::test]
async fn only_active_accounts_are_listed_from_every_page() {
    let account = |id: &str, state: AccountState| Account::builder().id(id).state(state).build();
    let first = mock!(aws_sdk_organizations::Client::list_accounts)
        .match_requests(|r| r.next_token().is_none())
        .then_output(move || {
            ListAccountsOutput::builder()
                .accounts(account("333333333333", AccountState::Active))
                .accounts(account("222222222222", AccountState::Suspended))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_organizations::Client::list_accounts)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || {
            ListAccountsOutput::builder()
                .accounts(account("111111111111", AccountState::Active))
                .accounts(account("444444444444", AccountState::PendingClosure))
                .build()
        });
    let client = mock_client!(aws_sdk_organizations, RuleMode::Sequential, [&first, &second]);
    assert_eq!(active_accounts(&client).await.unwrap(), ["111111111111", "333333333333"]);
}
