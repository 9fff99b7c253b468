//! The Lambda function: EventBridge events in, alarms converged, a JSON report out.

use std::time::Duration;

use handler::app::{emf_line, handle_event, now, HandleError};
use handler::aws::{self, AwsPorts, LambdaContinuation};
use handler::config::Config;
use handler::ports::ApiCalls;
use handler::reconcile::{Reconciler, RunOptions};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let config = Config::from_env()?;
    let calls = ApiCalls::with_limits(&config.rate_limits);
    let (AwsPorts { ec2, cloudwatch }, sdk_config) = aws::load(calls.clone()).await;
    // Set by the Lambda runtime; the function continues long sweeps by invoking itself.
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let continuation = LambdaContinuation::new(&sdk_config, function_name, calls.clone());
    let margin = Duration::from_secs(config.deadline_margin_seconds);
    let reconciler = Reconciler { config, inventory: ec2, alarms: cloudwatch, calls };
    let (reconciler, continuation) = (&reconciler, &continuation);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        reconciler.calls.reset();
        let remaining =
            event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
        let options = RunOptions {
            dry_run: false,
            now: now(),
            deadline: Some(tokio::time::Instant::now() + remaining.saturating_sub(margin)),
            progress: false,
        };
        match handle_event(reconciler, continuation, event.payload, options).await {
            Ok(report) => {
                println!("{}", emf_line(&report));
                Ok(serde_json::to_value(&report)?)
            }
            // Logged by handle_event; returning Ok keeps AWS from retrying an
            // event that can never succeed.
            Err(HandleError::Rejected(error)) => {
                Ok(json!({"status": "rejected", "error": error.to_string()}))
            }
            Err(HandleError::Incomplete(report)) => {
                println!("{}", emf_line(&report));
                Err(Error::from(HandleError::Incomplete(report).to_string()))
            }
        }
    }))
    .await
}
