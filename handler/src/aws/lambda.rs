//! Sweep continuations: the function invokes itself asynchronously.

use aws_smithy_types::Blob;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::port_error;
use crate::event::continuation_event;
use crate::ports::{ApiCalls, Continuation, ErrorKind, PortError};

const OPERATION: &str = "Invoke";

pub struct LambdaContinuation {
    client: aws_sdk_lambda::Client,
    function_name: String,
    calls: ApiCalls,
}

impl LambdaContinuation {
    pub fn new(config: &aws_config::SdkConfig, function_name: String, calls: ApiCalls) -> Self {
        Self { client: aws_sdk_lambda::Client::new(config), function_name, calls }
    }
}

impl Continuation for LambdaContinuation {
    async fn continue_sweep(&self, generation: u32) -> Result<(), PortError> {
        let time = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        let payload = continuation_event(generation, &time).to_string();
        self.calls.begin(OPERATION).await;
        // An `Event` invocation is queued by Lambda and retried by it, and the
        // new invocation gets a full timeout of its own.
        let request = self
            .client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(Blob::new(payload));
        Box::pin(request.send()).await.map_err(|e| port_error(OPERATION, e))?;
        Ok(())
    }
}

/// For `alarmctl`, which has no deadline and so never defers work.
pub struct NoContinuation;

impl Continuation for NoContinuation {
    async fn continue_sweep(&self, _generation: u32) -> Result<(), PortError> {
        Err(PortError::new(
            OPERATION,
            ErrorKind::Refused,
            "alarmctl runs a sweep to its end; nothing to continue",
        ))
    }
}
