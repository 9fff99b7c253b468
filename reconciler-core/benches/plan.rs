//! `plan()` for a 10 000-instance account: `cargo bench -p reconciler-core --bench plan`.
//!
//! The fleet is the one the sweep benchmark simulates: 70 % production running
//! (two alarms each), 10 % production stopped, 10 % staging, 5 % untagged,
//! 5 % terminated (14 000 desired alarms); the `all_in_scope` cases put all
//! 10 000 instances in scope (20 000 alarms). The time is `plan()` itself:
//! dropping the returned plan happens outside the measurement, except in the
//! `with_drop` case, which shows what freeing 14 000 planned creates adds.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use reconciler_core::{
    desired_alarms, Desire, InstanceFacts, InstanceId, InstanceState, MetricProfile, Naming, ObservedAlarm,
    PassInput, Plan, Policy, SeverityPolicy, Subject, TopicArn, UnixTime,
};

const INSTANCES: u64 = 10_000;

fn policy() -> Policy {
    let topic = |name: &str| TopicArn::parse(&format!("arn:aws:sns:us-east-1:123456789012:{name}")).unwrap();
    Policy {
        scope_tag_key: "Environment".into(),
        scope_tag_values: ["production".to_owned()].into(),
        warning: SeverityPolicy { threshold: 60.0, topic: topic("disk-warning") },
        critical: SeverityPolicy { threshold: 80.0, topic: topic("disk-critical") },
        forecast: reconciler_core::ForecastPolicy::OFF,
        linux: MetricProfile::cwagent(None),
        windows: MetricProfile::windows(None),
        statistic: reconciler_core::Statistic::Average,
        period_seconds: 300,
        evaluation_periods: 2,
        treat_missing_data: reconciler_core::MissingData::Missing,
        naming: Naming::new("ec2-disk-").unwrap(),
        alarm_tags: Vec::new(),
    }
}

/// A deterministic pseudo-random id for instance number `n` (splitmix64).
fn instance_id(n: u64) -> InstanceId {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    InstanceId::parse(&format!("i-0{z:016x}")).unwrap()
}

fn subject(n: u64, mixed: bool) -> Subject {
    let bucket = if mixed { n % 20 } else { 0 };
    let (environment, state) = match bucket {
        0..=13 => (Some("production"), InstanceState::Running),
        14 | 15 => (Some("production"), InstanceState::Stopped),
        16 | 17 => (Some("staging"), InstanceState::Running),
        18 => (None, InstanceState::Running),
        _ => (Some("production"), InstanceState::Terminated),
    };
    let mut tags = BTreeMap::from([("Name".to_owned(), format!("web-{n:05}"))]);
    if let Some(environment) = environment {
        tags.insert("Environment".to_owned(), environment.to_owned());
    }
    Subject::Present(InstanceFacts {
        id: instance_id(n),
        state,
        tags,
        platform: Default::default(),
        launch_time: Some(UnixTime(1_795_663_020)),
        state_since: None,
        group: None,
        series: None,
    })
}

/// The alarms a previous, successful reconcile left behind.
fn existing(policy: &Policy, subjects: &[Subject]) -> Vec<ObservedAlarm> {
    subjects
        .iter()
        .flat_map(|subject| match desired_alarms(policy, subject) {
            Desire::Alarms { alarms, .. } => alarms,
            Desire::None { .. } => Vec::new(),
        })
        .map(|alarm| ObservedAlarm { name: alarm.name, config: alarm.config, arn: None, state: None })
        .collect()
}

/// The pass's one plan, for an observation of alarms and instances only.
fn plan(policy: &Policy, subjects: &[Subject], alarms: &[ObservedAlarm]) -> Plan {
    reconciler_core::plan(policy, &PassInput::new(subjects, alarms, UnixTime(0)))
}

fn bench_plan(c: &mut Criterion) {
    let policy = policy();
    let mixed: Vec<Subject> = (0..INSTANCES).map(|n| subject(n, true)).collect();
    let all_in_scope: Vec<Subject> = (0..INSTANCES).map(|n| subject(n, false)).collect();
    let mixed_alarms = existing(&policy, &mixed);
    let all_alarms = existing(&policy, &all_in_scope);
    let none: &[ObservedAlarm] = &[];

    // Check once that the cases are what their names say.
    let steady = plan(&policy, &mixed, &mixed_alarms);
    assert!(steady.changes.is_empty() && steady.unchanged.len() == 14_000);
    assert_eq!(plan(&policy, &mixed, none).changes.len(), 14_000);
    assert!(plan(&policy, &all_in_scope, &all_alarms).unchanged.len() == 20_000);

    let mut group = c.benchmark_group("plan_10k_instances");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(6));
    group.bench_function("steady_state_14k_alarms_present", |b| {
        b.iter_with_large_drop(|| plan(black_box(&policy), black_box(&mixed), black_box(&mixed_alarms)))
    });
    group.bench_function("all_missing_14k_creates", |b| {
        b.iter_with_large_drop(|| plan(black_box(&policy), black_box(&mixed), black_box(none)))
    });
    group.bench_function("all_missing_14k_creates_with_drop", |b| {
        b.iter(|| plan(black_box(&policy), black_box(&mixed), black_box(none)))
    });
    group.bench_function("steady_state_all_in_scope_20k_alarms", |b| {
        b.iter_with_large_drop(|| plan(black_box(&policy), black_box(&all_in_scope), black_box(&all_alarms)))
    });
    group.bench_function("all_missing_all_in_scope_20k_creates", |b| {
        b.iter_with_large_drop(|| plan(black_box(&policy), black_box(&all_in_scope), black_box(none)))
    });
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
