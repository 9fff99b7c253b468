//! The hostile-input table through `alarmctl handle` against moto: every case
//! gets its decided exit status (2 for a rejected event, 0 otherwise), and the
//! alarms of the targeted instance stay exactly as they were.

#[path = "../../handler/tests/common/hostile.rs"]
mod hostile;

use e2e_tests::World;
use hostile::{cases, Input, Outcome, INSTANCE};

#[tokio::test]
async fn every_hostile_input_gets_its_decided_exit_status_and_writes_nothing() {
    let world = World::new("eu-south-1").await;
    let plain = world.launch(&[("Environment", "production")]).await;
    world.handle_sample("ec2-running.json", &plain).report(0);

    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    for case in cases {
        let instance = if case.tags.is_empty() {
            plain.clone()
        } else {
            let mut tags = vec![("Environment", "production")];
            tags.extend(case.tags.iter().map(|(k, v)| (*k, v.as_str())));
            let id = world.launch(&tags).await;
            world.handle_sample("ec2-running.json", &id).report(0);
            id
        };
        let input = match &case.input {
            Input::Json(value) => value.to_string().replace(INSTANCE, &instance).into_bytes(),
            Input::Bytes(bytes) => bytes.clone(),
        };
        let before = world.alarms().await;
        let started = std::time::Instant::now();
        let run = world.alarmctl(&["handle", "-"], &input);
        let expected = if case.outcome == Outcome::Rejected { 2 } else { 0 };
        assert_eq!(run.code(), expected, "{}: stdout {}\nstderr {}", case.name, run.stdout(), run.stderr());
        assert!(started.elapsed().as_secs() < 10, "{}: took {:?}", case.name, started.elapsed());
        if case.outcome == Outcome::Rejected {
            assert!(run.stderr().contains("rejected"), "{}: {}", case.name, run.stderr());
        } else {
            let report = run.report(0);
            assert_eq!(
                report["skipped"].is_string(),
                case.outcome == Outcome::Ignored,
                "{}: {report:#}",
                case.name
            );
            for write in ["PutMetricAlarm", "DeleteAlarms", "PutAlarmMuteRule", "DeleteAlarmMuteRule"] {
                assert!(report["api_calls"].get(write).is_none(), "{}: {report:#}", case.name);
            }
        }
        assert_eq!(world.alarms().await, before, "{}: alarms changed", case.name);
    }
}
