//! AWS Health maintenance as alarm mute rules, end to end: `alarmctl` against
//! moto on 127.0.0.1, whose mute rules `tests/support/moto_server.py` keeps
//! (moto itself has none). Each test owns a Region. The events' times are
//! set relative to now, so the windows are always in the future.

use e2e_tests::{provisional_pair, sample_event_with, unix_now, World};
use reconciler_core::maintenance::utc_minute;
use reconciler_core::UnixTime;
use serde_json::{json, Value};

const UPCOMING: &str = "health-reboot-maintenance-upcoming.json";
const NO_STATUS: &str = "health-instance-stop-no-status.json";

/// `sample` naming `instances`, its window moved to `start`..`end` and its status set (or removed).
fn health_event(sample: &str, instances: &[&str], status: Option<&str>, start: i64, end: i64) -> Value {
    let mut event = sample_event_with(sample, &[]);
    event["time"] = json!(UnixTime(unix_now()).to_string());
    event["resources"] = json!(instances);
    let detail = &mut event["detail"];
    detail["affectedEntities"] = instances.iter().map(|id| json!({"entityValue": id})).collect();
    detail["startTime"] = json!(UnixTime(start).to_string());
    detail["endTime"] = json!(UnixTime(end).to_string());
    match status {
        Some(status) => detail["statusCode"] = json!(status),
        None => {
            detail.as_object_mut().expect("detail object").remove("statusCode");
        }
    }
    event
}

/// A two-hour window starting on the hour, two days from now.
fn window() -> (i64, i64) {
    let start = (unix_now() / 3600 + 48) * 3600;
    (start, start + 2 * 3600)
}

#[tokio::test]
async fn maintenance_mutes_exactly_the_in_scope_running_instances_then_closed_unmutes() {
    let world = World::new("ap-northeast-3").await;
    let web = world.launch(&[("Environment", "production")]).await;
    let db = world.launch(&[("Environment", "production")]).await;
    let staging = world.launch(&[("Environment", "staging")]).await;
    let stopped = world.launch(&[("Environment", "production")]).await;
    world.stop(&stopped).await;
    for id in [&web, &db] {
        assert_eq!(world.handle_sample("ec2-running.json", id).report(0)["created"], 2);
    }
    let (start, end) = window();
    let all = [web.as_str(), db.as_str(), staging.as_str(), stopped.as_str()];
    let event = health_event(UPCOMING, &all, Some("upcoming"), start, end);

    let report = world.handle_event(&event, &[]).report(0);
    assert_eq!((&report["mutes_set"], &report["failures"]), (&json!(2), &json!([])), "{report:#}");
    let rules = world.mute_rules().await;
    assert_eq!(rules.len(), 2, "{rules:#?}");
    // Ten minutes' lead before the start, thirty minutes' margin after the end.
    let expected_schedule = format!("at({})", utc_minute(UnixTime(start - 600)));
    for id in [&web, &db] {
        let (name, rule) = rules
            .iter()
            .find(|(name, _)| name.starts_with(&format!("ec2-disk-mute-{id}-")))
            .unwrap_or_else(|| panic!("no rule for {id}: {rules:#?}"));
        assert_eq!(rule.expression, expected_schedule, "{name}");
        assert_eq!(rule.duration, "PT2H40M", "{name}");
        assert_eq!(rule.alarms, provisional_pair(id), "{name}");
        assert_eq!(rule.expires, Some(end + 1800), "{name}");
    }

    // Repeated, and the second page of the same event: still one rule per instance, unchanged.
    assert_eq!(world.handle_event(&event, &[]).report(0)["mutes_set"], 2);
    let second_page = health_event(UPCOMING, &[db.as_str()], Some("upcoming"), start, end);
    assert_eq!(world.handle_event(&second_page, &[]).report(0)["mutes_set"], 1);
    assert_eq!(world.mute_rules().await, rules);

    // explain shows the mute.
    let run = world.alarmctl(&["explain", &web], b"");
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let web_rule = rules.keys().find(|n| n.contains(web.as_str())).expect("web's rule");
    assert!(run.stdout().contains(web_rule.as_str()), "{}", run.stdout());

    // Closed: both rules go. The rule of every named instance is deleted,
    // whether or not it was ever written (a rule that does not exist is no error).
    let closed = health_event(UPCOMING, &all, Some("closed"), start, end);
    let report = world.handle_event(&closed, &[]).report(0);
    assert_eq!(report["mutes_removed"], 4, "{report:#}");
    assert!(world.mute_rules().await.is_empty());
}

/// Older captured events lack `statusCode`: the status comes from the times.
#[tokio::test]
async fn a_health_event_without_status_code_mutes_the_instance() {
    let world = World::new("eu-south-2").await;
    let id = world.launch(&[("Environment", "production")]).await;
    let (start, end) = window();
    let event = health_event(NO_STATUS, &[id.as_str()], None, start, end);
    let report = world.handle_event(&event, &[]).report(0);
    assert_eq!(report["mutes_set"], 1, "{report:#}");
    let notes = report["notes"].to_string();
    assert!(notes.contains("no statusCode: treated as upcoming"), "{report:#}");
    let rules = world.mute_rules().await;
    let rule = rules.values().next().unwrap_or_else(|| panic!("no rule: {report:#}"));
    assert_eq!(rule.alarms, provisional_pair(&id));

    // The same event once its window is over: derived as closed, the rule goes.
    let past = health_event(NO_STATUS, &[id.as_str()], None, unix_now() - 4 * 3600, unix_now() - 3600);
    let report = world.handle_event(&past, &[]).report(0);
    assert_eq!(report["mutes_removed"], 1, "{report:#}");
    assert!(report["notes"].to_string().contains("treated as closed"), "{report:#}");
    assert!(world.mute_rules().await.is_empty());
}

#[tokio::test]
async fn the_sweep_removes_expired_mute_rules_of_its_own_only() {
    let world = World::new("ap-southeast-4").await;
    let id = world.launch(&[("Environment", "production")]).await;
    assert_eq!(world.handle_sample("ec2-running.json", &id).report(0)["created"], 2);
    let past = unix_now() / 60 * 60 - 3 * 3600;
    let expired = format!("ec2-disk-mute-{id}-00000000000000aa");
    let live = format!("ec2-disk-mute-{id}-00000000000000bb");
    let foreign_expired = "someone-elses-mute".to_owned();
    let past_at = format!("at({})", utc_minute(UnixTime(past)));
    world.put_mute_rule(&expired, &past_at, "PT1H", &provisional_pair(&id), past + 3600).await;
    world.put_mute_rule(&foreign_expired, &past_at, "PT1H", &provisional_pair(&id), past + 3600).await;
    let (start, _) = window();
    world
        .put_mute_rule(
            &live,
            &format!("at({})", utc_minute(UnixTime(start))),
            "PT1H",
            &provisional_pair(&id),
            start + 3600,
        )
        .await;

    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(report["mutes_removed"], 1, "{report:#}");
    let removed: Vec<&Value> =
        report["changes"].as_array().expect("changes").iter().filter(|c| c["action"] == "unmute").collect();
    assert_eq!(removed.len(), 1, "{report:#}");
    assert_eq!((&removed[0]["alarm"], &removed[0]["reason"]), (&json!(expired), &json!("mute rule expired")));
    let left: Vec<String> = world.mute_rules().await.into_keys().collect();
    assert_eq!(left, [live, foreign_expired]);
}
