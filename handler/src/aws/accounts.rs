//! The ports of `alarmctl fleet` on AWS: STS (whose account am I, assume the
//! audit role), Organizations (the accounts), and per row the function's
//! configuration (Lambda) and its sweep heartbeat (CloudWatch metrics).

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use aws_sdk_sts::config::{Credentials, Region, SharedCredentialsProvider};
use aws_smithy_types::DateTime;
use reconciler_core::UnixTime;

use super::{port_error, CloudWatchAlarms, Ec2Inventory};
use crate::ports::{
    default_rate_limits, Accounts, ApiCalls, Deployed, Deployments, ErrorKind, PortError, RowPorts,
};
use crate::report::METRICS_NAMESPACE;

const ASSUME_ROLE: &str = "AssumeRole";
const GET_FUNCTION: &str = "GetFunctionConfiguration";
const GET_STATISTICS: &str = "GetMetricStatistics";
/// The heartbeat's granularity: hours.
const PERIOD_SECONDS: i32 = 3600;

/// Opens rows with the caller's own credentials in its own account, and with
/// the role `role_name` assumed through STS in every other one.
pub struct AwsAccounts {
    base: aws_config::SdkConfig,
    sts: aws_sdk_sts::Client,
    caller: String,
    partition: String,
    role_name: String,
}

impl AwsAccounts {
    /// Asks STS whose credentials these are (`GetCallerIdentity`).
    pub async fn new(base: aws_config::SdkConfig, role_name: String) -> Result<Self, PortError> {
        let sts = aws_sdk_sts::Client::new(&base);
        let me = sts.get_caller_identity().send().await.map_err(|e| port_error("GetCallerIdentity", e))?;
        let caller = me.account().unwrap_or_default().to_owned();
        // arn:PARTITION:sts::ACCOUNT:assumed-role/...
        let partition = me.arn().and_then(|arn| arn.split(':').nth(1)).unwrap_or("aws").to_owned();
        Ok(Self { base, sts, caller, partition, role_name })
    }

    pub fn caller(&self) -> &str {
        &self.caller
    }
}

impl Accounts for AwsAccounts {
    type Inventory = Ec2Inventory;
    type Alarms = CloudWatchAlarms;
    type Deployments = AwsDeployments;

    async fn open(
        &self,
        account: &str,
        region: &str,
    ) -> Result<RowPorts<Ec2Inventory, CloudWatchAlarms, AwsDeployments>, PortError> {
        let calls = ApiCalls::with_limits(&default_rate_limits());
        let mut config = self.base.to_builder().region(Region::new(region.to_owned()));
        if account != self.caller {
            let role = format!("arn:{}:iam::{account}:role/{}", self.partition, self.role_name);
            calls.begin(ASSUME_ROLE).await;
            let assumed = self
                .sts
                .assume_role()
                .role_arn(&role)
                .role_session_name("alarmctl-fleet")
                .send()
                .await
                .map_err(|e| {
                    let error = port_error(ASSUME_ROLE, e);
                    PortError::new(
                        ASSUME_ROLE,
                        error.kind,
                        format!("role {role} cannot be assumed: {}", error.message),
                    )
                })?;
            let c = assumed.credentials().ok_or_else(|| {
                PortError::new(ASSUME_ROLE, ErrorKind::Refused, format!("no credentials for {role}"))
            })?;
            let credentials = Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                SystemTime::try_from(*c.expiration()).ok(),
                "AssumeRole",
            );
            config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
        }
        let config = config.build();
        let ports = super::AwsPorts::from_clients(
            aws_sdk_ec2::Client::new(&config),
            aws_sdk_autoscaling::Client::new(&config),
            aws_sdk_cloudwatch::Client::new(&config),
            calls.clone(),
        );
        let deployments = AwsDeployments::new(
            aws_sdk_lambda::Client::new(&config),
            aws_sdk_cloudwatch::Client::new(&config),
            calls.clone(),
        );
        Ok(RowPorts { inventory: ports.ec2, alarms: ports.cloudwatch, deployments, calls })
    }
}

/// The ACTIVE accounts of the caller's Organization, all pages (`ListAccounts`).
pub async fn organization_accounts(config: &aws_config::SdkConfig) -> Result<Vec<String>, PortError> {
    active_accounts(&aws_sdk_organizations::Client::new(config)).await
}

/// [`organization_accounts`] through `client`.
pub async fn active_accounts(client: &aws_sdk_organizations::Client) -> Result<Vec<String>, PortError> {
    let mut pages = client.list_accounts().into_paginator().send();
    let mut accounts = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| port_error("ListAccounts", e))?;
        for account in page.accounts() {
            // `State` replaces `Status`; an older answer has only the latter.
            let active = match account.state() {
                Some(state) => *state == AccountState::Active,
                None => account.status() == Some(&AccountStatus::Active),
            };
            if let (true, Some(id)) = (active, account.id()) {
                accounts.push(id.to_owned());
            }
        }
    }
    accounts.sort();
    Ok(accounts)
}

pub struct AwsDeployments {
    lambda: aws_sdk_lambda::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    calls: ApiCalls,
}

impl AwsDeployments {
    pub fn new(
        lambda: aws_sdk_lambda::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        calls: ApiCalls,
    ) -> Self {
        Self { lambda, cloudwatch, calls }
    }
}

impl Deployments for AwsDeployments {
    async fn function(&self, name: &str) -> Result<Option<Deployed>, PortError> {
        self.calls.begin(GET_FUNCTION).await;
        let answer = self.lambda.get_function_configuration().function_name(name).send().await;
        let function = match answer {
            Ok(function) => function,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                return Ok(None)
            }
            Err(error) => return Err(port_error(GET_FUNCTION, error)),
        };
        let environment: BTreeMap<String, String> = function
            .environment()
            .and_then(|e| e.variables())
            .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let code_sha256 = function.code_sha256().unwrap_or_default().to_owned();
        Ok(Some(Deployed { environment, code_sha256 }))
    }

    async fn last_sweep(
        &self,
        function: &str,
        since: UnixTime,
        until: UnixTime,
    ) -> Result<Option<UnixTime>, PortError> {
        self.calls.begin(GET_STATISTICS).await;
        let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
        let answer = self
            .cloudwatch
            .get_metric_statistics()
            .namespace(METRICS_NAMESPACE)
            .metric_name("SweepsSucceeded")
            .dimensions(dimension("FunctionName", function))
            .dimensions(dimension("Trigger", "sweep"))
            .start_time(DateTime::from_secs(since.0))
            .end_time(DateTime::from_secs(until.0))
            .period(PERIOD_SECONDS)
            .statistics(Statistic::Sum)
            .send()
            .await
            .map_err(|e| port_error(GET_STATISTICS, e))?;
        Ok(answer
            .datapoints()
            .iter()
            .filter(|point| point.sum().is_some_and(|sum| sum >= 1.0))
            .filter_map(|point| point.timestamp().map(|t| UnixTime(t.secs())))
            .max())
    }
}
