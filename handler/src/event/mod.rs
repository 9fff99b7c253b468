//! Maps an EventBridge event to a trigger, and nothing more.
//!
//! An event only says *what* to look at; the reconciler re-reads the world
//! before deciding anything. Decoding is lenient where AWS's schemas vary and
//! strict where a wrong value could make the reconciler act on the wrong
//! thing: an instance id that is not an id is an error, not a guess.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use reconciler_core::{HealthStatus, InstanceId, InstanceState, MaintenanceNotice, StateClaim, UnixTime};
use serde_json::Value;

mod tag_change;

/// What started a pass: the report's `trigger`, and the EMF records' `Trigger` dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerKind {
    /// An event deliberately not acted on.
    #[default]
    Ignored,
    /// `EC2 Instance State-change Notification`.
    Ec2StateChange,
    /// An Auto Scaling launch, termination or lifecycle event.
    Autoscaling,
    /// An AWS Health scheduled-maintenance event.
    HealthMaintenance,
    /// `Tag Change on Resource` for an EC2 instance.
    TagChange,
    /// The short periodic pass over provisional instances.
    FollowUp,
    /// The full sweep (scheduled, or a continuation of one).
    Sweep,
    /// `alarmctl explain`: observed and planned, never applied.
    Explain,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignored => "ignored",
            Self::Ec2StateChange => "ec2-state-change",
            Self::Autoscaling => "autoscaling",
            Self::HealthMaintenance => "health-maintenance",
            Self::TagChange => "tag-change",
            Self::FollowUp => "follow-up",
            Self::Sweep => "sweep",
            Self::Explain => "explain",
        }
    }
}

impl std::fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event asks the reconciler to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Reconcile these instances; each may carry the event's claim about its state.
    Instances { source: TriggerKind, targets: Vec<Target> },
    /// Reconcile every instance and every owned alarm. `generation` counts
    /// the follow-up invocations that finish a sweep cut short by the deadline.
    Sweep { generation: u32 },
    /// Mute (or unmute) the alarms of the instances an AWS Health
    /// scheduled-maintenance event names.
    Maintenance(MaintenanceNotice),
    /// Replace provisional pairs whose instance now publishes disk series.
    FollowUp,
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
/// The event the follow-up schedule sends (source [`CONTINUATION_SOURCE`]).
pub const FOLLOW_UP_DETAIL_TYPE: &str = "Provisional Alarm Follow-up";

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
const HEALTH_EVENT: &str = "AWS Health Event";
pub const TAG_CHANGE: &str = "Tag Change on Resource";
const MAX_HEALTH_WINDOW_SECONDS: i64 = 366 * 86_400;

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
                source: TriggerKind::Ec2StateChange,
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
            Ok(Trigger::Instances {
                source: TriggerKind::Autoscaling,
                targets: vec![Target { instance, claim }],
            })
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
        (CONTINUATION_SOURCE, FOLLOW_UP_DETAIL_TYPE) => Ok(Trigger::FollowUp),
        ("aws.health", HEALTH_EVENT) => {
            health(&event.detail, event.resources.as_deref().unwrap_or_default(), time)
        }
        ("aws.tag", TAG_CHANGE) => tag_change::decode(&event.detail, event.resources.as_deref()),
        (source, detail_type) => Ok(Trigger::Ignore {
            reason: format!(
                "no handling for source {:?} with detail-type {:?}",
                truncate(source),
                truncate(detail_type)
            ),
        }),
    }
}

/// An AWS Health event, decoded by hand: the typed decoder of
/// `aws_lambda_events` requires `endTime` and entity tags, which real
/// scheduled events can lack. Only EC2 scheduled changes are acted on.
fn health(detail: &Value, resources: &[String], sent: Option<UnixTime>) -> Result<Trigger, EventError> {
    let service = string(detail, "detail.service", "service")?;
    let category = string(detail, "detail.eventTypeCategory", "eventTypeCategory")?;
    if service != "EC2" || category != "scheduledChange" {
        return Ok(Trigger::Ignore {
            reason: format!(
                "AWS Health event for service {:?}, category {:?}: only EC2 scheduled changes mute alarms",
                truncate(service),
                truncate(category)
            ),
        });
    }
    let event_arn = string(detail, "detail.eventArn", "eventArn")?;
    if event_arn.is_empty() || event_arn.len() > 1600 {
        return Err(EventError::Field {
            field: "detail.eventArn",
            problem: "expected 1 to 1600 characters".into(),
        });
    }
    let event_type = string(detail, "detail.eventTypeCode", "eventTypeCode")?;
    // Older captured events have no `statusCode`; the core then derives it
    // from the times (`MaintenanceNotice::status_at`) and the report says so.
    let status = match detail.get("statusCode") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => Some(match code.as_str() {
            "upcoming" => HealthStatus::Upcoming,
            "open" => HealthStatus::Open,
            "closed" => HealthStatus::Closed,
            other => {
                return Err(EventError::Field {
                    field: "detail.statusCode",
                    problem: format!("expected upcoming, open or closed, got {:?}", truncate(other)),
                })
            }
        }),
        Some(other) => {
            return Err(EventError::Field {
                field: "detail.statusCode",
                problem: format!("expected a string, got {}", kind(other)),
            })
        }
    };
    let start = health_time(string(detail, "detail.startTime", "startTime")?, "detail.startTime")?;
    let end = match detail.get("endTime") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(health_time(s, "detail.endTime")?),
        Some(other) => {
            return Err(EventError::Field {
                field: "detail.endTime",
                problem: format!("expected a string, got {}", kind(other)),
            })
        }
    };
    // Real maintenance is announced about two weeks ahead and lasts hours or
    // days; anything else is a broken or forged event, not a reason to mute.
    if let Some(end) = end {
        if end < start {
            return Err(EventError::Field { field: "detail.endTime", problem: "before startTime".into() });
        }
        if end.0 - start.0 > MAX_HEALTH_WINDOW_SECONDS {
            return Err(EventError::Field {
                field: "detail.endTime",
                problem: "more than a year after startTime".into(),
            });
        }
    }
    if let Some(sent) = sent {
        if (start.0 - sent.0).abs() > MAX_HEALTH_WINDOW_SECONDS {
            return Err(EventError::Field {
                field: "detail.startTime",
                problem: "more than a year away from the event's time".into(),
            });
        }
    }
    // `resources` holds bare instance ids; `affectedEntities` repeats them
    // (and may hold other kinds of entity, which are not ours to act on).
    let entities = match detail.get("affectedEntities") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entities)) => {
            entities.iter().filter_map(|e| e.get("entityValue")?.as_str()).collect()
        }
        Some(other) => {
            return Err(EventError::Field {
                field: "detail.affectedEntities",
                problem: format!("expected an array, got {}", kind(other)),
            })
        }
    };
    let mut instances: Vec<InstanceId> = resources
        .iter()
        .map(String::as_str)
        .chain(entities)
        .filter_map(|value| InstanceId::parse(value).ok())
        .collect();
    instances.sort();
    instances.dedup();
    if instances.is_empty() {
        return Ok(Trigger::Ignore {
            reason: format!("AWS Health event {} names no EC2 instance", truncate(event_arn)),
        });
    }
    Ok(Trigger::Maintenance(MaintenanceNotice {
        event_arn: event_arn.to_owned(),
        event_type: truncate(event_type),
        status,
        start,
        end,
        instances,
    }))
}

/// Health timestamps come as RFC 3339 or as RFC 1123 (`Sat, 05 Jun 2016 15:10:09 GMT`).
fn health_time(raw: &str, field: &'static str) -> Result<UnixTime, EventError> {
    use time::format_description::well_known::{Rfc2822, Rfc3339};
    let rfc1123 = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let raw = raw.trim();
    time::OffsetDateTime::parse(raw, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(raw, &Rfc2822))
        .or_else(|_| time::PrimitiveDateTime::parse(raw, &rfc1123).map(|t| t.assume_utc()))
        .map(|t| UnixTime(t.unix_timestamp()))
        .map_err(|_| EventError::Field {
            field,
            problem: format!("expected an RFC 3339 or RFC 1123 time, got {:?}", truncate(raw)),
        })
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

    /// A scheduled-maintenance event with `overrides` merged into its detail.
    fn health_event(overrides: Value) -> Value {
        let mut detail = json!({
            "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED_ABC",
            "service": "EC2",
            "eventTypeCode": "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
            "eventTypeCategory": "scheduledChange",
            "statusCode": "upcoming",
            "startTime": "Sat, 05 Dec 2026 14:00:00 GMT",
            "endTime": "Sat, 05 Dec 2026 16:00:00 GMT",
            "affectedEntities": [{"entityValue": "i-0123456789abcdef0"}]
        });
        for (key, value) in overrides.as_object().unwrap() {
            detail[key] = value.clone();
        }
        json!({
            "version": "0", "id": "1", "detail-type": "AWS Health Event", "source": "aws.health",
            "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
            "resources": ["i-0123456789abcdef0"], "detail": detail
        })
    }

    #[test]
    fn health_times_in_both_formats_and_instances_from_both_lists() {
        let event = health_event(json!({
            "startTime": "2026-12-05T14:00:00Z",
            "affectedEntities": [{"entityValue": "i-0123456789abcdef1", "tags": {}}, {"entityValue": "i-0123456789abcdef0"}]
        }));
        let Ok(Trigger::Maintenance(notice)) = decode(event) else { panic!() };
        assert_eq!(notice.start, UnixTime(1_796_479_200));
        assert_eq!(notice.end, Some(UnixTime(1_796_479_200 + 7200)));
        assert_eq!(notice.status, Some(HealthStatus::Upcoming));
        let ids: Vec<&str> = notice.instances.iter().map(InstanceId::as_str).collect();
        assert_eq!(ids, ["i-0123456789abcdef0", "i-0123456789abcdef1"]);
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
                "health without fields",
                json!({"source": "aws.health", "detail-type": "AWS Health Event", "detail": {}}),
                "Field",
            ),
            (
                "health for another service",
                json!({"source": "aws.health", "detail-type": "AWS Health Event",
                       "detail": {"service": "RDS", "eventTypeCategory": "scheduledChange"}}),
                "Ignore",
            ),
            (
                "health issue",
                json!({"source": "aws.health", "detail-type": "AWS Health Event",
                       "detail": {"service": "EC2", "eventTypeCategory": "issue"}}),
                "Ignore",
            ),
            ("health maintenance", health_event(json!({})), "Maintenance"),
            ("health without end", health_event(json!({"endTime": null})), "Maintenance"),
            ("health with unknown status", health_event(json!({"statusCode": "pending"})), "Field"),
            ("health with numeric status", health_event(json!({"statusCode": 1})), "Field"),
            (
                "health without status (older captures)",
                health_event(json!({"statusCode": null})),
                "Maintenance",
            ),
            ("health with bad start", health_event(json!({"startTime": "soon"})), "Field"),
            ("health with numeric end", health_event(json!({"endTime": 1})), "Field"),
            ("health with year 99999", health_event(json!({"startTime": "99999-01-01T00:00:00Z"})), "Field"),
            (
                "health with entities not a list",
                health_event(json!({"affectedEntities": "i-1234abcd"})),
                "Field",
            ),
            ("health with an empty ARN", health_event(json!({"eventArn": ""})), "Field"),
            (
                "health naming no instance",
                {
                    let mut e = health_event(json!({"affectedEntities": [{"entityValue": "vol-1234"}]}));
                    e["resources"] = json!([]);
                    e
                },
                "Ignore",
            ),
            ("scheduled rule", scheduled("aws.events", json!({})), "Sweep"),
            (
                "provisional follow-up",
                json!({"version": "0", "id": "f", "detail-type": FOLLOW_UP_DETAIL_TYPE, "source": CONTINUATION_SOURCE,
                       "account": "", "time": "1970-01-01T00:00:00Z", "region": "", "resources": [], "detail": {}}),
                "FollowUp",
            ),
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
                Ok(Trigger::Maintenance(_)) => "Maintenance",
                Ok(Trigger::FollowUp) => "FollowUp",
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
