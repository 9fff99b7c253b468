//! Maps an EventBridge event to a trigger, and nothing more.
//!
//! An event only says *what* to look at; the reconciler re-reads the world
//! before deciding anything. Decoding is lenient where AWS's schemas vary and
//! strict where a wrong value could make the reconciler act on the wrong
//! thing: an instance id that is not an id is an error, not a guess.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use reconciler_core::{InstanceId, InstanceState, StateClaim, UnixTime};
use serde_json::Value;

/// What an event asks the reconciler to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Reconcile these instances; each may carry the event's claim about its state.
    Instances { source: &'static str, targets: Vec<Target> },
    /// Reconcile every instance and every owned alarm. `generation` counts
    /// the follow-up invocations that finish a sweep cut short by the deadline.
    Sweep { generation: u32 },
    /// A well-formed event this function deliberately does nothing with.
    Ignore { reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub instance: InstanceId,
    pub claim: Option<StateClaim>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("event is not valid JSON: {0}")]
    Json(String),
    #[error("event is not an EventBridge event: {0}")]
    Envelope(String),
    #[error("event field {field}: {problem}")]
    Field { field: &'static str, problem: String },
}

/// The event a sweep sends to its own function to finish what it started.
pub const CONTINUATION_SOURCE: &str = "ec2-disk-alarms";
pub const CONTINUATION_DETAIL_TYPE: &str = "Sweep Continuation";

pub fn continuation_event(generation: u32, time: &str) -> Value {
    serde_json::json!({
        "version": "0",
        "id": format!("sweep-continuation-{generation}"),
        "detail-type": CONTINUATION_DETAIL_TYPE,
        "source": CONTINUATION_SOURCE,
        "time": time,
        "resources": [],
        "detail": {"generation": generation},
    })
}

pub const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
const ASG_LAUNCHED: &str = "EC2 Instance Launch Successful";
const ASG_TERMINATED: &str = "EC2 Instance Terminate Successful";

pub fn decode_bytes(bytes: &[u8]) -> Result<Trigger, EventError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| EventError::Json(e.to_string()))?;
    decode(value)
}

pub fn decode(value: Value) -> Result<Trigger, EventError> {
    if !value.is_object() {
        return Err(EventError::Envelope("expected a JSON object".into()));
    }
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(value).map_err(|e| EventError::Envelope(e.to_string()))?;
    let time = event.time.map(|t| UnixTime(t.timestamp()));
    match (event.source.as_str(), event.detail_type.as_str()) {
        ("aws.ec2", STATE_CHANGE) => {
            let instance = instance_id(&event.detail, "detail.instance-id", "instance-id")?;
            let state = string(&event.detail, "detail.state", "state")?;
            let state = InstanceState::parse(state).ok_or_else(|| EventError::Field {
                field: "detail.state",
                problem: format!("unknown instance state {:?}", truncate(state)),
            })?;
            let time = time.ok_or(EventError::Field { field: "time", problem: "missing".into() })?;
            Ok(Trigger::Instances {
                source: "ec2-state-change",
                targets: vec![Target { instance, claim: Some(StateClaim { state, time }) }],
            })
        }
        ("aws.autoscaling", ASG_LAUNCHED | ASG_TERMINATED) => {
            let instance = instance_id(&event.detail, "detail.EC2InstanceId", "EC2InstanceId")?;
            // A successful terminate is final; a successful launch is only a
            // hint (the instance may have been stopped since).
            let claim = match (event.detail_type.as_str(), time) {
                (ASG_TERMINATED, Some(time)) => Some(StateClaim { state: InstanceState::Terminated, time }),
                _ => None,
            };
            Ok(Trigger::Instances { source: "autoscaling", targets: vec![Target { instance, claim }] })
        }
        ("aws.events" | "aws.scheduler", "Scheduled Event") => Ok(Trigger::Sweep { generation: 0 }),
        (CONTINUATION_SOURCE, CONTINUATION_DETAIL_TYPE) => {
            let generation = match event.detail.get("generation") {
                Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                _ => None,
            };
            let generation = generation.ok_or(EventError::Field {
                field: "detail.generation",
                problem: "expected a whole number".into(),
            })?;
            Ok(Trigger::Sweep { generation })
        }
        ("aws.health", _) => {
            Ok(Trigger::Ignore { reason: "AWS Health events are not acted on by this version".into() })
        }
        (source, detail_type) => Ok(Trigger::Ignore {
            reason: format!(
                "no handling for source {:?} with detail-type {:?}",
                truncate(source),
                truncate(detail_type)
            ),
        }),
    }
}

fn string<'a>(detail: &'a Value, field: &'static str, key: &str) -> Result<&'a str, EventError> {
    match detail.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => {
            Err(EventError::Field { field, problem: format!("expected a string, got {}", kind(other)) })
        }
        None if detail.is_object() => Err(EventError::Field { field, problem: "missing".into() }),
        None => {
            Err(EventError::Field { field, problem: format!("detail is {}, not an object", kind(detail)) })
        }
    }
}

fn instance_id(detail: &Value, field: &'static str, key: &str) -> Result<InstanceId, EventError> {
    let raw = string(detail, field, key)?;
    InstanceId::parse(raw).map_err(|e| EventError::Field { field, problem: e.to_string() })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Hostile input can be megabytes long; errors and logs quote a bounded part.
fn truncate(value: &str) -> String {
    value.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state_change(detail: Value) -> Value {
        json!({
            "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": STATE_CHANGE, "source": "aws.ec2", "account": "123456789012",
            "time": "2026-11-20T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"],
            "detail": detail
        })
    }

    #[test]
    fn state_change_becomes_a_claim() {
        let trigger = decode(state_change(json!({"instance-id": "i-0123456789abcdef0", "state": "running"})));
        let Ok(Trigger::Instances { targets, .. }) = trigger else { panic!("{trigger:?}") };
        assert_eq!(targets[0].instance.as_str(), "i-0123456789abcdef0");
        let claim = targets[0].claim.unwrap();
        assert_eq!(claim.state, InstanceState::Running);
        assert_eq!(claim.time, UnixTime(1_795_168_800));
    }

    #[test]
    fn decisions_for_bad_and_unknown_input() {
        let scheduled = |source: &str, detail: Value| json!({"detail-type": "Scheduled Event", "source": source, "time": "2026-11-20T02:00:00Z", "detail": detail});
        let cases: Vec<(&str, Value, &str)> = vec![
            ("array", json!([]), "Envelope"),
            ("string", json!("hello"), "Envelope"),
            ("empty object", json!({}), "Envelope"),
            ("missing source", json!({"detail-type": STATE_CHANGE, "detail": {}}), "Envelope"),
            (
                "source is a number",
                json!({"source": 1, "detail-type": STATE_CHANGE, "detail": {}}),
                "Envelope",
            ),
            (
                "bad time",
                {
                    let mut e = state_change(json!({"instance-id": "i-1234abcd", "state": "running"}));
                    e["time"] = json!("yesterday");
                    e
                },
                "Envelope",
            ),
            ("missing instance id", state_change(json!({"state": "running"})), "Field"),
            (
                "instance id not a string",
                state_change(json!({"instance-id": 7, "state": "running"})),
                "Field",
            ),
            (
                "instance id not an id",
                state_change(json!({"instance-id": "../etc/passwd", "state": "running"})),
                "Field",
            ),
            (
                "unknown state",
                state_change(json!({"instance-id": "i-1234abcd", "state": "exploded"})),
                "Field",
            ),
            ("detail is a string", state_change(json!("{}")), "Field"),
            (
                "unknown source",
                json!({"source": "com.example", "detail-type": "Thing", "detail": {}}),
                "Ignore",
            ),
            (
                "unknown ec2 detail-type",
                json!({"source": "aws.ec2", "detail-type": "EBS Snapshot", "detail": {}}),
                "Ignore",
            ),
            (
                "health",
                json!({"source": "aws.health", "detail-type": "AWS Health Event", "detail": {}}),
                "Ignore",
            ),
            ("scheduled rule", scheduled("aws.events", json!({})), "Sweep"),
            ("scheduler with string detail", scheduled("aws.scheduler", json!("{}")), "Sweep"),
        ];
        for (name, event, expected) in cases {
            let outcome = match decode(event) {
                Err(EventError::Json(_)) => "Json",
                Err(EventError::Envelope(_)) => "Envelope",
                Err(EventError::Field { .. }) => "Field",
                Ok(Trigger::Ignore { .. }) => "Ignore",
                Ok(Trigger::Sweep { .. }) => "Sweep",
                Ok(Trigger::Instances { .. }) => "Instances",
            };
            assert_eq!(outcome, expected, "{name}");
        }
        assert!(matches!(decode_bytes(b"{not json"), Err(EventError::Json(_))));
        assert!(matches!(decode_bytes(b""), Err(EventError::Json(_))));
        assert!(matches!(decode_bytes(&[0xff, 0xfe]), Err(EventError::Json(_))));
    }

    #[test]
    fn errors_quote_hostile_values_briefly() {
        let long = "x".repeat(100_000);
        let error = decode(state_change(json!({"instance-id": long, "state": "running"}))).unwrap_err();
        assert!(error.to_string().len() < 400, "{}", error.to_string().len());
    }
}
