//! The Lambda function: EventBridge events in, alarms converged, a JSON report out.

use std::time::{Duration, SystemTime};

use handler::app::{
    emf_line, handle_event, incomplete_diagnostic, init_lambda_logging, now, rejected_emf_line, time_left,
    HandleError,
};
use handler::aws::{self, AwsPorts, LambdaContinuation};
use handler::config::Config;
use handler::ports::ApiCalls;
use handler::reconcile::{Reconciler, RunOptions};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::{json, Value};
use tracing::{error, warn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics_level = init_lambda_logging();
    // A configuration error stops the function before it takes any event:
    // every invocation then fails with Runtime.ExitError and this message.
    let config = Config::from_env().inspect_err(|e| error!(error = %e, "configuration rejected"))?;
    let calls = ApiCalls::with_limits(&config.rate_limits);
    let (AwsPorts { ec2, cloudwatch }, sdk_config) = aws::load(calls.clone()).await;
    // Set by the Lambda runtime; the function continues long sweeps by invoking itself.
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let continuation = LambdaContinuation::new(&sdk_config, function_name, calls.clone());
    let margin = Duration::from_secs(config.deadline_margin_seconds);
    let reconciler = Reconciler::new(config, ec2, cloudwatch.clone(), cloudwatch, calls);
    let (reconciler, continuation) = (&reconciler, &continuation);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        reconciler.calls.reset();
        let deadline = match time_left(event.context.deadline, SystemTime::now()) {
            Ok(left) => Some(tokio::time::Instant::now() + left.saturating_sub(margin)),
            Err(problem) => {
                warn!(%problem, "running without a deadline");
                None
            }
        };
        let options = RunOptions { deadline, ..RunOptions::new(now()) };
        match handle_event(reconciler, continuation, event.payload, options).await {
            Ok(report) => {
                print_metrics(&emf_line(&report), metrics_level);
                serde_json::to_value(&report).map_err(|e| Diagnostic {
                    error_type: "ReportNotSerialized".into(),
                    error_message: e.to_string(),
                })
            }
            // Logged by handle_event; returning Ok keeps AWS from retrying an
            // event that can never succeed.
            Err(HandleError::Rejected(error)) => {
                print_metrics(&rejected_emf_line(), metrics_level);
                Ok(json!({"status": "rejected", "error": error.to_string()}))
            }
            Err(HandleError::Incomplete(report)) => {
                print_metrics(&emf_line(&report), metrics_level);
                Err(incomplete_diagnostic(&report))
            }
        }
    }))
    .await
}

/// Prints an EMF record to standard output, where Lambda takes it to CloudWatch,
/// with the `level` that Lambda's log-level filter keeps (see `init_lambda_logging`).
fn print_metrics(record: &str, level: &str) {
    match serde_json::from_str::<Value>(record) {
        Ok(Value::Object(mut fields)) => {
            fields.insert("level".to_owned(), level.into());
            println!("{}", Value::Object(fields));
        }
        _ => println!("{record}"),
    }
}
