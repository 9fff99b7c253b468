//! `Tag Change on Resource` events (`aws.tag`) for EC2 instances.
//!
//! A changed tag can put an instance in or out of scope, override a
//! threshold or rename it (`Name` is in every alarm description). Like every
//! event this is only a hint: the reconciler re-reads the instance, and the
//! tags the event carries are never used. So only what says *which* instance
//! must be valid: `detail.service`, `detail.resource-type` and `resources[0]`.
//! The fields the function does not use (`changed-tag-keys`, `tags`,
//! `version`, which AWS sends as `4.0`) are not checked at all.

use reconciler_core::InstanceId;
use serde_json::Value;

use super::{string, truncate, EventError, Target, Trigger, TriggerKind};

const FIELD_ARN: &str = "resources[0]";

pub(super) fn decode(detail: &Value, resources: Option<&[String]>) -> Result<Trigger, EventError> {
    let service = string(detail, "detail.service", "service")?;
    let resource_type = string(detail, "detail.resource-type", "resource-type")?;
    if service != "ec2" || resource_type != "instance" {
        return Ok(Trigger::Ignore {
            reason: format!(
                "tag change on a {:?} resource of service {:?}: only the tags of EC2 instances affect disk alarms",
                truncate(resource_type),
                truncate(service)
            ),
        });
    }
    // One resource per event; `resources[0]` is the instance's ARN.
    let arn = match resources {
        None => return Err(EventError::Field { field: "resources", problem: "missing".into() }),
        Some([]) => {
            return Err(EventError::Field {
                field: "resources",
                problem: "empty: expected the instance's ARN".into(),
            })
        }
        Some([first, ..]) => first,
    };
    let instance = instance_from_arn(arn)?;
    Ok(Trigger::Instances { source: TriggerKind::TagChange, targets: vec![Target { instance, claim: None }] })
}

/// `arn:<partition>:ec2:<region>:<account>:instance/<instance id>`.
fn instance_from_arn(arn: &str) -> Result<InstanceId, EventError> {
    let not_an_instance_arn = || EventError::Field {
        field: FIELD_ARN,
        problem: format!(
            "expected an EC2 instance ARN (arn:aws:ec2:<region>:<account>:instance/i-...), got {:?}",
            truncate(arn)
        ),
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, _region, _account, resource] = parts[..] else {
        return Err(not_an_instance_arn());
    };
    if prefix != "arn" || partition.is_empty() || service != "ec2" {
        return Err(not_an_instance_arn());
    }
    let id = resource.strip_prefix("instance/").ok_or_else(not_an_instance_arn)?;
    InstanceId::parse(id).map_err(|e| EventError::Field { field: FIELD_ARN, problem: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::super::decode as decode_event;
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0";

    /// A captured-shape tag event, with `overrides` merged into its detail.
    fn tag_event(overrides: Value) -> Value {
        let mut event = json!({
            "version": "0", "id": "ffd8a6fe-32f8-ef66-c85c-111111111111",
            "detail-type": "Tag Change on Resource", "source": "aws.tag",
            "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
            "resources": [ARN],
            "detail": {
                "changed-tag-keys": ["Environment"], "service": "ec2", "resource-type": "instance",
                "version": 4.0, "tags": {"Environment": "production", "Name": "web-1"}
            }
        });
        for (key, value) in overrides.as_object().unwrap() {
            event["detail"][key] = value.clone();
        }
        event
    }

    fn with_resources(resources: Value) -> Value {
        let mut event = tag_event(json!({}));
        event["resources"] = resources;
        event
    }

    #[test]
    fn an_instance_tag_change_is_a_hint_without_a_claim() {
        let trigger = decode_event(tag_event(json!({}))).unwrap();
        let Trigger::Instances { source, targets } = trigger else { panic!("{trigger:?}") };
        assert_eq!(source, TriggerKind::TagChange);
        assert_eq!(source.to_string(), "tag-change");
        assert_eq!(
            targets,
            [Target { instance: InstanceId::parse("i-0123456789abcdef0").unwrap(), claim: None }]
        );
    }

    /// Each case names the field its rejection must name.
    #[test]
    fn decisions_for_bad_and_other_tag_events() {
        let cases: Vec<(&str, Value, Result<&str, &str>)> = vec![
            // What the function does not use is not checked.
            ("version as a whole number", tag_event(json!({"version": 4})), Ok("Instances")),
            ("version missing", tag_event(json!({"version": null})), Ok("Instances")),
            ("version as text", tag_event(json!({"version": "4.0"})), Ok("Instances")),
            (
                "changed-tag-keys not an array",
                tag_event(json!({"changed-tag-keys": "Environment"})),
                Ok("Instances"),
            ),
            ("changed-tag-keys missing", tag_event(json!({"changed-tag-keys": null})), Ok("Instances")),
            ("changed-tag-keys empty", tag_event(json!({"changed-tag-keys": []})), Ok("Instances")),
            ("tags not an object", tag_event(json!({"tags": ["Environment"]})), Ok("Instances")),
            (
                "tags that contradict the API",
                tag_event(json!({"tags": {"Environment": "staging"}})),
                Ok("Instances"),
            ),
            (
                "a second resource",
                with_resources(json!([ARN, "arn:aws:ec2:us-east-1:123456789012:instance/i-1234abcd"])),
                Ok("Instances"),
            ),
            (
                "GovCloud partition",
                with_resources(json!(["arn:aws-us-gov:ec2:us-gov-west-1:123456789012:instance/i-1234abcd"])),
                Ok("Instances"),
            ),
            // Other resources are a deliberate skip.
            ("a subnet", tag_event(json!({"resource-type": "subnet"})), Ok("Ignore")),
            ("a volume", tag_event(json!({"resource-type": "volume"})), Ok("Ignore")),
            ("another service", tag_event(json!({"service": "rds", "resource-type": "db"})), Ok("Ignore")),
            ("service in capitals", tag_event(json!({"service": "EC2"})), Ok("Ignore")),
            // What says which instance must be valid.
            ("service missing", tag_event(json!({"service": null})), Err("detail.service")),
            ("service a number", tag_event(json!({"service": 2})), Err("detail.service")),
            ("resource-type missing", tag_event(json!({"resource-type": null})), Err("detail.resource-type")),
            (
                "resource-type an array",
                tag_event(json!({"resource-type": ["instance"]})),
                Err("detail.resource-type"),
            ),
            ("resources missing", with_resources(Value::Null), Err("resources")),
            ("resources empty", with_resources(json!([])), Err("resources")),
            ("a bare instance id", with_resources(json!(["i-0123456789abcdef0"])), Err(FIELD_ARN)),
            (
                "a subnet ARN",
                with_resources(json!(["arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0"])),
                Err(FIELD_ARN),
            ),
            (
                "an RDS ARN",
                with_resources(json!(["arn:aws:rds:us-east-1:123456789012:db:orders"])),
                Err(FIELD_ARN),
            ),
            (
                "ARN without partition",
                with_resources(json!(["arn::ec2:us-east-1:123456789012:instance/i-1234abcd"])),
                Err(FIELD_ARN),
            ),
            (
                "ARN with too few parts",
                with_resources(json!(["arn:aws:ec2:instance/i-1234abcd"])),
                Err(FIELD_ARN),
            ),
            (
                "not an ARN",
                with_resources(json!(["ARN:AWS:EC2:us-east-1:123456789012:instance/i-1234abcd"])),
                Err(FIELD_ARN),
            ),
            (
                "a bad instance id",
                with_resources(json!(["arn:aws:ec2:us-east-1:123456789012:instance/i-xyz"])),
                Err(FIELD_ARN),
            ),
            (
                "an instance id in capitals",
                with_resources(json!(["arn:aws:ec2:us-east-1:123456789012:instance/I-1234ABCD"])),
                Err(FIELD_ARN),
            ),
            ("a path after the id", with_resources(json!([format!("{ARN}/../x")])), Err(FIELD_ARN)),
            (
                "detail a string",
                {
                    let mut event = tag_event(json!({}));
                    event["detail"] = json!("{}");
                    event
                },
                Err("detail.service"),
            ),
        ];
        for (name, event, expected) in cases {
            let outcome = match decode_event(event) {
                Ok(Trigger::Instances { source: TriggerKind::TagChange, .. }) => Ok("Instances"),
                Ok(Trigger::Ignore { .. }) => Ok("Ignore"),
                Ok(other) => panic!("{name}: {other:?}"),
                Err(EventError::Field { field, .. }) => Err(field),
                Err(other) => panic!("{name}: {other}"),
            };
            assert_eq!(outcome, expected, "{name}");
        }
    }

    /// `resources` that is not a list of strings breaks the envelope itself.
    #[test]
    fn resources_that_are_not_a_list_of_strings_break_the_envelope() {
        for resources in [json!(ARN), json!([1]), json!({"arn": ARN})] {
            let error = decode_event(with_resources(resources.clone())).unwrap_err();
            assert!(matches!(error, EventError::Envelope(_)), "{resources}: {error}");
        }
    }

    #[test]
    fn errors_quote_hostile_values_briefly() {
        let long = format!("arn:aws:ec2:us-east-1:123456789012:instance/{}", "x".repeat(100_000));
        let error = decode_event(with_resources(json!([long]))).unwrap_err();
        assert!(error.to_string().len() < 400, "{}", error.to_string().len());
        let long = "y".repeat(100_000);
        let error = decode_event(with_resources(json!([long]))).unwrap_err();
        assert!(error.to_string().len() < 400, "{}", error.to_string().len());
        let Ok(Trigger::Ignore { reason }) =
            decode_event(tag_event(json!({"resource-type": "z".repeat(100_000)})))
        else {
            panic!()
        };
        assert!(reason.len() < 400, "{}", reason.len());
    }
}
