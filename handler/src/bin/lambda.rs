//! The Lambda function: EventBridge events in, alarms converged, a JSON report out.

use handler::app::{emf_line, handle_event, HandleError};
use handler::aws::{self, AwsPorts};
use handler::config::Config;
use handler::ports::ApiCalls;
use handler::reconcile::Reconciler;
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
    let calls = ApiCalls::default();
    let AwsPorts { ec2, cloudwatch } = aws::load(calls.clone()).await;
    let reconciler = Reconciler {
        config,
        inventory: ec2,
        alarms: cloudwatch,
        calls,
    };
    let reconciler = &reconciler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        reconciler.calls.reset();
        match handle_event(reconciler, event.payload, false).await {
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
