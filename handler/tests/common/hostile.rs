//! The hostile-input table: inputs that a broken, forged or fuzzed event source
//! could deliver, each with the outcome decided for it. Every case targets the
//! instance `i-0123456789abcdef0`, running in production with its two alarms
//! already correct, so any write at all is a defect.

use serde_json::{json, Value};

pub const INSTANCE: &str = "i-0123456789abcdef0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A clear error; the invocation does not retry it (`alarmctl` exit 2).
    Rejected,
    /// Logged, deliberate skip.
    Ignored,
    /// Handled normally; in this account that means reads and no write.
    Handled,
}

pub enum Input {
    Bytes(Vec<u8>),
    Json(Value),
}

pub struct Case {
    pub name: &'static str,
    pub input: Input,
    /// Tags put on the instance before the event (hostile override tags).
    pub tags: Vec<(&'static str, String)>,
    pub outcome: Outcome,
}

fn state_change(detail: Value) -> Value {
    json!({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail
    })
}

fn running() -> Value {
    state_change(json!({"instance-id": INSTANCE, "state": "running"}))
}

fn with(mut event: Value, path: &[&str], value: Value) -> Value {
    let mut target = &mut event;
    for key in &path[..path.len() - 1] {
        target = &mut target[*key];
    }
    target[path[path.len() - 1]] = value;
    event
}

fn without(mut event: Value, path: &[&str]) -> Value {
    let mut target = &mut event;
    for key in &path[..path.len() - 1] {
        target = &mut target[*key];
    }
    if let Some(object) = target.as_object_mut() {
        object.remove(path[path.len() - 1]);
    }
    event
}

fn autoscaling(detail: Value) -> Value {
    json!({
        "version": "0", "id": "a", "detail-type": "EC2 Instance Launch Successful", "source": "aws.autoscaling",
        "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1", "resources": [],
        "detail": detail
    })
}

fn continuation(generation: Value) -> Value {
    json!({"source": "ec2-disk-alarms", "detail-type": "Sweep Continuation", "time": "2026-11-21T10:00:00Z",
           "detail": {"generation": generation}})
}

fn health(overrides: Value) -> Value {
    let mut event = json!({
        "version": "0", "id": "h", "detail-type": "AWS Health Event", "source": "aws.health",
        "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
        "resources": [INSTANCE],
        "detail": {
            "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED/X",
            "service": "EC2", "eventTypeCode": "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
            "eventTypeCategory": "scheduledChange", "statusCode": "upcoming",
            "startTime": "2026-12-05T14:00:00Z", "endTime": "2026-12-05T16:00:00Z",
            "affectedEntities": [{"entityValue": INSTANCE}]
        }
    });
    for (key, value) in overrides.as_object().expect("overrides are an object") {
        event["detail"][key] = value.clone();
    }
    event
}

fn tag_change(resource: &str, detail: Value) -> Value {
    let mut event = json!({
        "version": "0", "id": "t", "detail-type": "Tag Change on Resource", "source": "aws.tag",
        "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
        "resources": [resource],
        "detail": {
            "changed-tag-keys": ["Environment"], "service": "ec2", "resource-type": "instance",
            "version": 4.0, "tags": {"Environment": "production"}
        }
    });
    for (key, value) in detail.as_object().expect("overrides are an object") {
        event["detail"][key] = value.clone();
    }
    event
}

fn instance_arn() -> String {
    format!("arn:aws:ec2:us-east-1:123456789012:instance/{INSTANCE}")
}

fn deep(levels: usize) -> Vec<u8> {
    let mut text = String::from(r#"{"source": "aws.ec2", "detail-type": "x", "detail": "#);
    text.push_str(&"[".repeat(levels));
    text.push_str(&"]".repeat(levels));
    text.push('}');
    text.into_bytes()
}

pub fn cases() -> Vec<Case> {
    use Outcome::{Handled, Ignored, Rejected};
    let bytes =
        |name, b: &[u8], outcome| Case { name, input: Input::Bytes(b.to_vec()), tags: vec![], outcome };
    let event = |name, v: Value, outcome| Case { name, input: Input::Json(v), tags: vec![], outcome };
    let tagged = |name, key: &'static str, value: &str| Case {
        name,
        input: Input::Json(running()),
        tags: vec![(key, value.to_owned())],
        outcome: Handled,
    };
    let long = "x".repeat(1_000_000);
    vec![
        // Not an event at all.
        bytes("empty input", b"", Rejected),
        bytes("whitespace only", b"  \n\t ", Rejected),
        bytes("truncated JSON", br#"{"source": "aws.ec2", "detail-type""#, Rejected),
        bytes("JSON null", b"null", Rejected),
        bytes("JSON array", br#"[{"source": "aws.ec2"}]"#, Rejected),
        bytes("bare string", br#""EC2 Instance State-change Notification""#, Rejected),
        bytes("bare number", b"42", Rejected),
        bytes("not UTF-8", &[0x7b, 0xff, 0xfe, 0x7d], Rejected),
        bytes("UTF-8 byte-order mark before the JSON", b"\xef\xbb\xbf{}", Rejected),
        bytes("100 000 nested arrays", &deep(100_000), Rejected),
        bytes("trailing garbage", br#"{"source": "aws.events"} {"x": 1}"#, Rejected),
        // A broken envelope.
        event("empty object", json!({}), Rejected),
        event("no source", without(running(), &["source"]), Rejected),
        event("no detail-type", without(running(), &["detail-type"]), Rejected),
        event("source is a number", with(running(), &["source"], json!(7)), Rejected),
        event("detail-type is null", with(running(), &["detail-type"], Value::Null), Rejected),
        event("time is not a time", with(running(), &["time"], json!("yesterday")), Rejected),
        event("time is a number", with(running(), &["time"], json!(1_795_000_000)), Rejected),
        event(
            "resources is a string",
            with(running(), &["resources"], json!("i-0123456789abcdef0")),
            Rejected,
        ),
        // Well-formed, but not ours.
        event("unknown source", with(running(), &["source"], json!("com.example.orders")), Ignored),
        event("source with a NUL", with(running(), &["source"], json!("aws.ec2\u{0}")), Ignored),
        event(
            "unknown EC2 detail-type",
            with(running(), &["detail-type"], json!("EBS Snapshot Notification")),
            Ignored,
        ),
        event("a megabyte of source", with(running(), &["source"], json!(long.clone())), Ignored),
        // State changes with broken details.
        event("detail missing", without(running(), &["detail"]), Rejected),
        event("detail is a JSON string", with(running(), &["detail"], json!("{}")), Rejected),
        event("detail is an array", with(running(), &["detail"], json!([INSTANCE])), Rejected),
        event("instance id missing", without(running(), &["detail", "instance-id"]), Rejected),
        event("instance id is a number", with(running(), &["detail", "instance-id"], json!(12)), Rejected),
        event(
            "instance id is not an id",
            with(running(), &["detail", "instance-id"], json!("i-xyz")),
            Rejected,
        ),
        event(
            "instance id in capitals",
            with(running(), &["detail", "instance-id"], json!("I-0123456789ABCDEF0")),
            Rejected,
        ),
        event(
            "instance id with a space",
            with(running(), &["detail", "instance-id"], json!("i-0123456789abcdef0 ")),
            Rejected,
        ),
        event(
            "instance id with 18 digits",
            with(running(), &["detail", "instance-id"], json!("i-0123456789abcdef01")),
            Rejected,
        ),
        event(
            "instance id is a path",
            with(running(), &["detail", "instance-id"], json!("../../etc/passwd")),
            Rejected,
        ),
        event(
            "instance id with a newline",
            with(running(), &["detail", "instance-id"], json!("i-1234abcd\n")),
            Rejected,
        ),
        event(
            "a megabyte of instance id",
            with(running(), &["detail", "instance-id"], json!(long.clone())),
            Rejected,
        ),
        event("unknown state", with(running(), &["detail", "state"], json!("exploded")), Rejected),
        event("state in capitals", with(running(), &["detail", "state"], json!("RUNNING")), Rejected),
        event("state is a number", with(running(), &["detail", "state"], json!(16)), Rejected),
        event("state change without time", without(running(), &["time"]), Rejected),
        event("duplicate of a correct event", running(), Handled),
        // Auto Scaling.
        event("Auto Scaling without instance", autoscaling(json!({"AutoScalingGroupName": "web"})), Rejected),
        event(
            "Auto Scaling with an instance ARN",
            autoscaling(
                json!({"EC2InstanceId": format!("arn:aws:ec2:us-east-1:123456789012:instance/{INSTANCE}")}),
            ),
            Rejected,
        ),
        event("Auto Scaling launch", autoscaling(json!({"EC2InstanceId": INSTANCE})), Handled),
        // Sweeps and their continuations.
        event(
            "Scheduler's string detail",
            json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "time": "2026-11-21T02:00:00Z", "detail": "{}"}),
            Handled,
        ),
        event(
            "Scheduler detail that is not JSON",
            json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "time": "2026-11-21T02:00:00Z", "detail": "}{"}),
            Handled,
        ),
        event("continuation without generation", continuation(Value::Null), Rejected),
        event("continuation with negative generation", continuation(json!(-1)), Rejected),
        event("continuation with fractional generation", continuation(json!(1.5)), Rejected),
        event("continuation with a huge generation", continuation(json!(10_000_000_000u64)), Rejected),
        event("continuation with generation as text", continuation(json!("3")), Rejected),
        // AWS Health.
        event("Health without detail fields", with(health(json!({})), &["detail"], json!({})), Rejected),
        event("Health for another service", health(json!({"service": "RDS"})), Ignored),
        event("Health issue", health(json!({"eventTypeCategory": "issue"})), Ignored),
        event(
            "Health account notification",
            health(json!({"eventTypeCategory": "accountNotification"})),
            Ignored,
        ),
        event("Health with unknown status", health(json!({"statusCode": "maybe"})), Rejected),
        event("Health with end before start", health(json!({"endTime": "2026-12-05T13:00:00Z"})), Rejected),
        event("Health window of three years", health(json!({"endTime": "2029-12-05T16:00:00Z"})), Rejected),
        event(
            "Health in the year 2999",
            health(json!({"startTime": "2999-12-05T14:00:00Z", "endTime": null})),
            Rejected,
        ),
        event("Health with a start that is not a time", health(json!({"startTime": "soon"})), Rejected),
        event("Health with a numeric end", health(json!({"endTime": 1_796_479_200})), Rejected),
        event("Health with an empty event ARN", health(json!({"eventArn": ""})), Rejected),
        event("Health with a megabyte event ARN", health(json!({"eventArn": long.clone()})), Rejected),
        event(
            "Health with entities that are not a list",
            health(json!({"affectedEntities": INSTANCE})),
            Rejected,
        ),
        event(
            "Health naming only volumes",
            with(
                health(json!({"affectedEntities": [{"entityValue": "vol-0123456789abcdef0"}]})),
                &["resources"],
                json!([]),
            ),
            Ignored,
        ),
        event(
            "Health with 10 000 junk entities",
            with(
                health(
                    json!({"affectedEntities": (0..10_000).map(|n| json!({"entityValue": format!("junk-{n}")})).collect::<Vec<_>>()}),
                ),
                &["resources"],
                json!([]),
            ),
            Ignored,
        ),
        // Tag changes: only what names the instance must be valid; the event's
        // own tags are never trusted over EC2's.
        event("tag change on the instance", tag_change(&instance_arn(), json!({})), Handled),
        event(
            "tag change whose tags say staging",
            tag_change(&instance_arn(), json!({"tags": {"Environment": "staging"}})),
            Handled,
        ),
        event(
            "tag change of an unrelated key",
            tag_change(&instance_arn(), json!({"changed-tag-keys": ["Owner"], "tags": {"Owner": "x"}})),
            Handled,
        ),
        event(
            "tag change with keys that are not a list",
            tag_change(&instance_arn(), json!({"changed-tag-keys": "Environment"})),
            Handled,
        ),
        event(
            "tag change with version as text",
            tag_change(&instance_arn(), json!({"version": "4"})),
            Handled,
        ),
        event(
            "tag change on a subnet",
            tag_change(
                "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0",
                json!({"resource-type": "subnet"}),
            ),
            Ignored,
        ),
        event(
            "tag change on another service",
            tag_change(&instance_arn(), json!({"service": "rds"})),
            Ignored,
        ),
        event("tag change without service", tag_change(&instance_arn(), json!({"service": null})), Rejected),
        event(
            "tag change with a numeric resource type",
            tag_change(&instance_arn(), json!({"resource-type": 1})),
            Rejected,
        ),
        event(
            "tag change without resources",
            without(tag_change(&instance_arn(), json!({})), &["resources"]),
            Rejected,
        ),
        event(
            "tag change with empty resources",
            with(tag_change(&instance_arn(), json!({})), &["resources"], json!([])),
            Rejected,
        ),
        event(
            "tag change with resources as a string",
            with(tag_change(&instance_arn(), json!({})), &["resources"], json!(instance_arn())),
            Rejected,
        ),
        event("tag change naming a bare instance id", tag_change(INSTANCE, json!({})), Rejected),
        event(
            "tag change naming a subnet as an instance",
            tag_change("arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0", json!({})),
            Rejected,
        ),
        event(
            "tag change with an instance id that is not one",
            tag_change("arn:aws:ec2:us-east-1:123456789012:instance/i-xyz", json!({})),
            Rejected,
        ),
        event(
            "tag change with a megabyte ARN",
            tag_change(&format!("{}{long}", instance_arn()), json!({})),
            Rejected,
        ),
        // Override tags a person (or an attacker with ec2:CreateTags) could set:
        // ignored with a note, the defaults kept, so the correct alarms stay as they are.
        tagged("threshold that is not a number", "disk-alarms:warning-threshold", "abc"),
        tagged("threshold NaN", "disk-alarms:warning-threshold", "NaN"),
        tagged("threshold inf", "disk-alarms:critical-threshold", "inf"),
        tagged("threshold 1e309", "disk-alarms:critical-threshold", "1e309"),
        tagged("negative threshold", "disk-alarms:warning-threshold", "-5"),
        tagged("threshold above 100", "disk-alarms:critical-threshold", "150"),
        tagged(
            "threshold with an ARN after it",
            "disk-alarms:warning-threshold",
            "60; arn:aws:sns:us-east-1:999999999999:x",
        ),
        tagged("warning above critical", "disk-alarms:warning-threshold", "90"),
        tagged(
            "tag that tries to set actions",
            "disk-alarms:alarm-actions",
            "arn:aws:sns:us-east-1:999999999999:attacker",
        ),
        tagged("opt-out that is not a yes", "disk-alarms:opt-out", "maybe"),
    ]
}
