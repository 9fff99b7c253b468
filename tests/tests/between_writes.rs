//! Protection that holds between writes, end to end: `alarmctl` against
//! moto on 127.0.0.1 (mute rules kept by `tests/support/moto_server.py`,
//! which refuses a rule naming more than 100 alarms, as CloudWatch does).
//! One test in one Region (the other tests hold every other one; the
//! logging test of lambda_runtime.rs, which touches only its own instance,
//! shares it): mute rules split at 100 alarms, a rule that follows its
//! alarms, the sweep's repair, and a filesystem mounted late. Every
//! assertion is about this test's own instances.

use std::collections::BTreeSet;

use e2e_tests::{follow_up_event, in_two_days, provisional_pair, sample_event_with, MuteRuleSeen, World};
use serde_json::{json, Value};

/// The upcoming maintenance sample naming `instance`, two days from now, two hours long.
fn maintenance(instance: &str) -> Value {
    let mut event = in_two_days(sample_event_with("health-reboot-maintenance-upcoming.json", &[]));
    event["resources"] = json!([instance]);
    let detail = &mut event["detail"];
    detail["affectedEntities"] = json!([{"entityValue": instance}]);
    detail["statusCode"] = json!("upcoming");
    event
}

async fn publish(world: &World, instance: &str, path: &str) {
    let dims = [("InstanceId", instance), ("path", path), ("device", "nvme1n1"), ("fstype", "xfs")];
    world.put_disk_metric(&dims, 42.0).await;
}

/// Every rule names at most 100 alarms, only alarms that exist, and
/// together exactly the alarms of `instance`.
async fn assert_rules_cover_exactly(world: &World, instance: &str) {
    let existing: BTreeSet<String> =
        world.alarm_names().await.into_iter().filter(|name| name.contains(instance)).collect();
    let mut named = BTreeSet::new();
    for (name, rule) in rules_of(world, instance).await {
        assert!(rule.alarms.len() <= 100, "{name} names {} alarms", rule.alarms.len());
        for alarm in rule.alarms {
            assert!(existing.contains(&alarm), "{name} names {alarm}, which does not exist");
            named.insert(alarm);
        }
    }
    assert_eq!(named, existing);
}

async fn an_instance_with_60_filesystems_is_muted_whole_in_rules_of_at_most_100_alarms(world: &World) {
    let id = world.launch(&[("Environment", "production")]).await;
    for n in 0..60 {
        publish(world, &id, &format!("/data{n}")).await;
    }
    assert_eq!(world.handle_sample("ec2-running.json", &id).report(0)["created"], 120);

    let event = maintenance(&id);
    let report = world.handle_event(&event, &[]).report(0);
    assert_eq!((&report["mutes_set"], &report["failures"]), (&json!(2), &json!([])), "{report:#}");
    let rules = rules_of(world, &id).await;
    let sizes: Vec<usize> = rules.values().map(|r| r.alarms.len()).collect();
    assert_eq!(sizes, [100, 20], "{:?}", rules.keys());
    assert_rules_cover_exactly(world, &id).await;

    // The repeated event writes the same two rules.
    let again = world.handle_event(&event, &[]).report(0);
    assert_eq!(again["mutes_set"], 2, "{again:#}");
    assert_eq!(rules_of(world, &id).await, rules);
}

async fn a_rule_follows_its_alarms_from_the_provisional_pair_and_the_sweep_repairs_a_hand_edit(
    world: &World,
) {
    let id = world.launch(&[("Environment", "production")]).await;
    assert_eq!(world.handle_sample("ec2-running.json", &id).report(0)["created"], 2);
    let report = world.handle_event(&maintenance(&id), &[]).report(0);
    assert_eq!(report["mutes_set"], 1, "{report:#}");
    let announced: Vec<(String, MuteRuleSeen)> = rules_of(world, &id).await.into_iter().collect();
    let (name, window) = (&announced[0].0, &announced[0].1);
    assert_eq!(window.alarms, provisional_pair(&id));

    // The agent publishes / and /data; the follow-up pass replaces the pair
    // and, in the same invocation, the rule.
    publish(world, &id, "/").await;
    publish(world, &id, "/data").await;
    let report = world.handle_event(&follow_up_event(), &[]).report(0);
    assert_eq!((&report["created"], &report["deleted"]), (&json!(4), &json!(2)), "{report:#}");
    assert_eq!(report["mutes_set"], 1, "{report:#}");
    let rules = rules_of(world, &id).await;
    let rule = &rules[name];
    assert_eq!(
        (&rule.expression, &rule.duration, rule.expires),
        (&window.expression, &window.duration, window.expires)
    );
    assert_eq!(rule.alarms.len(), 4);
    assert_rules_cover_exactly(world, &id).await;

    // Someone edits the rule by hand inside the window; the sweep puts it right.
    world
        .put_mute_rule(name, &window.expression, &window.duration, &rule.alarms[..1], window.expires.unwrap())
        .await;
    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(report["mutes_set"], 1, "{report:#}");
    assert_eq!(rules_of(world, &id).await[name].alarms, rule.alarms);
    assert_rules_cover_exactly(world, &id).await;
    // And then there is nothing left to do.
    let report = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!((&report["mutes_set"], &report["mutes_removed"]), (&json!(0), &json!(0)), "{report:#}");
}

/// A filesystem mounted after the follow-up pass replaced the provisional
/// pair gets its pair at the next pass; with `RECENT_START_MINUTES=0` the
/// pass does not look at started instances again.
async fn a_filesystem_mounted_late_gets_its_pair_at_the_next_follow_up(world: &World) {
    let id = world.launch(&[("Environment", "production")]).await;
    assert_eq!(world.handle_sample("ec2-running.json", &id).report(0)["created"], 2);
    publish(world, &id, "/").await;
    let report = world.handle_event(&follow_up_event(), &[]).report(0);
    assert_eq!((&report["created"], &report["deleted"]), (&json!(2), &json!(2)), "{report:#}");
    publish(world, &id, "/data").await;

    let alarm_reads = |report: &Value| report["api_calls"]["DescribeAlarms"].as_u64().unwrap_or(0);
    let off = world.handle_event(&follow_up_event(), &[("RECENT_START_MINUTES", "0")]).report(0);
    assert_eq!(off["created"], 0, "{off:#}");

    let report = world.handle_event(&follow_up_event(), &[]).report(0);
    assert_eq!(report["created"], 2, "{report:#}");
    // Looked at again: the instance's alarms read besides the provisional prefix.
    assert!(alarm_reads(&report) > alarm_reads(&off), "{off:#}\n{report:#}");
    let data: Vec<String> =
        world.alarm_names().await.into_iter().filter(|n| n.contains(&format!("{id}-data-"))).collect();
    assert_eq!(data.len(), 2, "{data:?}");
}

/// Our rules of `instance`.
async fn rules_of(world: &World, instance: &str) -> std::collections::BTreeMap<String, MuteRuleSeen> {
    world.mute_rules().await.into_iter().filter(|(name, _)| name.contains(instance)).collect()
}

#[tokio::test]
async fn protection_holds_between_writes() {
    let world = World::new("eu-central-2").await;
    an_instance_with_60_filesystems_is_muted_whole_in_rules_of_at_most_100_alarms(&world).await;
    a_rule_follows_its_alarms_from_the_provisional_pair_and_the_sweep_repairs_a_hand_edit(&world).await;
    a_filesystem_mounted_late_gets_its_pair_at_the_next_follow_up(&world).await;
}
