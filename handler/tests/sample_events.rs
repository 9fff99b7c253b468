//! Every file in `events/` is a fixture: it must decode, to the trigger its name promises.

use std::path::Path;

use handler::event::{decode_bytes, Trigger};
use handler::report::TriggerKind;
use reconciler_core::{HealthStatus, InstanceState, UnixTime};

#[test]
fn every_sample_event_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let trigger = decode_bytes(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        match (name.as_str(), &trigger) {
            (n, Trigger::Sweep { generation: 0 }) if n.starts_with("scheduled") => {}
            (n, Trigger::Instances { targets, .. }) if n.starts_with("ec2-") => {
                let state = n.trim_start_matches("ec2-");
                assert_eq!(targets.len(), 1);
                assert_eq!(targets[0].claim.map(|c| c.state), InstanceState::parse(state), "{name}");
                assert_eq!(targets[0].instance.as_str(), "i-0123456789abcdef0");
            }
            (n, Trigger::Instances { targets, .. }) if n.starts_with("autoscaling-") => {
                assert_eq!(targets[0].instance.as_str(), "i-0123456789abcdef0");
            }
            (n, Trigger::Maintenance(notice)) if n.starts_with("health-") => {
                let ids: Vec<&str> = notice.instances.iter().map(|i| i.as_str()).collect();
                match n {
                    "health-reboot-maintenance-upcoming" => {
                        assert_eq!(notice.status, Some(HealthStatus::Upcoming));
                        // Sat, 05 Dec 2026 14:00:00 GMT to 16:00
                        assert_eq!(
                            (notice.start, notice.end),
                            (UnixTime(1_796_479_200), Some(UnixTime(1_796_486_400)))
                        );
                        assert_eq!(ids, ["i-0123456789abcdef0"]);
                    }
                    "health-reboot-maintenance-closed" => {
                        assert_eq!(notice.status, Some(HealthStatus::Closed))
                    }
                    // Captured as older events arrive: no statusCode, no eventScopeCode.
                    "health-instance-stop-no-status" => {
                        assert_eq!(notice.status, None);
                        assert_eq!(ids, ["i-0123456789abcdef0"]);
                    }
                    "health-retirement-no-end-time" => assert_eq!(notice.end, None),
                    "health-system-reboot-page-1-of-2" => {
                        assert_eq!(ids, ["i-0123456789abcdef0", "i-0123456789abcdef1"])
                    }
                    "health-system-reboot-page-2-of-2" => assert_eq!(ids, ["i-0123456789abcdef2"]),
                    other => panic!("no expectation for {other}"),
                }
            }
            // A hint without a claim: the instance is re-read, its tags in the event are not used.
            ("tag-change", Trigger::Instances { source, targets }) => {
                assert_eq!(*source, TriggerKind::TagChange);
                assert_eq!(targets.len(), 1);
                assert_eq!(targets[0].instance.as_str(), "i-0123456789abcdef0");
                assert_eq!(targets[0].claim, None);
            }
            ("provisional-follow-up", Trigger::FollowUp) => {}
            ("health-operational-issue", Trigger::Ignore { reason }) => {
                assert!(reason.contains("issue"), "{reason}");
            }
            _ => panic!("{name} decoded to an unexpected trigger: {trigger:?}"),
        }
        seen += 1;
    }
    assert!(seen >= 19, "only {seen} sample events found in {}", dir.display());
}

/// The schedules in `template.yaml` send fixed inputs: each must decode to the
/// trigger its schedule is for.
#[test]
fn the_templates_schedule_inputs_decode() {
    let template =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")).unwrap();
    let inputs: Vec<&str> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Input: '")?.strip_suffix('\''))
        .collect();
    let triggers: Vec<Trigger> = inputs.iter().map(|input| decode_bytes(input.as_bytes()).unwrap()).collect();
    assert_eq!(triggers.len(), 2, "{inputs:?}");
    assert!(triggers.contains(&Trigger::Sweep { generation: 0 }), "{triggers:?}");
    assert!(triggers.contains(&Trigger::FollowUp), "{triggers:?}");
}

/// `sam local invoke --env-vars scripts/sam-local-env.json` gives the function
/// this configuration: it must load (the template's own `!Ref`s do not, locally).
#[test]
fn the_sam_local_env_file_is_a_valid_configuration() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sam-local-env.json");
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let vars = file["ReconcilerFunction"].as_object().expect("ReconcilerFunction's variables");
    let config = handler::config::Config::from_lookup(|name| vars.get(name)?.as_str().map(str::to_owned))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(config.policy.naming.prefix(), "ec2-disk-");
    assert_eq!(
        vars["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000",
        "the demo's emulator (scripts/demo.sh --keep)"
    );
}
