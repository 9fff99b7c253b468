//! `alarmctl fleet` across three accounts of an Organization and two Regions:
//! each account's reconciler (`alarmctl sweep` with that account's
//! credentials and function environment) makes its alarms, the world is
//! broken on purpose, and the audit reports exactly that, reading only.

use std::collections::{BTreeMap, BTreeSet};

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use e2e_tests::{MotoAccount, World};
use serde_json::{json, Value};

/// Regions no other end-to-end test uses.
const REGIONS: [&str; 2] = ["us-east-1", "eu-central-2"];
const ROLE: &str = "disk-alarm-audit";
const FUNCTION: &str = "disk-alarm-reconciler";
const CALLER: &str = "123456789012";

/// An empty zip archive (its end-of-central-directory record) with `comment`:
/// a different comment is a different build.
fn zip(comment: &str) -> Vec<u8> {
    let mut bytes = b"PK\x05\x06".to_vec();
    bytes.extend([0u8; 16]);
    bytes.extend(u16::try_from(comment.len()).unwrap().to_le_bytes());
    bytes.extend(comment.as_bytes());
    bytes
}

struct Clients {
    sts: aws_sdk_sts::Client,
    organizations: aws_sdk_organizations::Client,
}

async fn clients() -> Clients {
    let sdk = World::new(REGIONS[0]).await.sdk_config().await;
    Clients { sts: aws_sdk_sts::Client::new(&sdk), organizations: aws_sdk_organizations::Client::new(&sdk) }
}

/// One account and Region: its world, topics and function.
struct Row {
    account: String,
    world: World,
    env: Vec<(String, String)>,
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;

async fn create_account(c: &Clients, name: &str) -> String {
    let created = c
        .organizations
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .expect("CreateAccount");
    let account =
        created.create_account_status().and_then(|s| s.account_id()).expect("account id").to_owned();
    let iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&World::new(REGIONS[0]).await.sdk_config().await)
            .interceptor(MotoAccount(account.clone()))
            .build(),
    );
    for role in [ROLE, "disk-alarm-reconciler-role"] {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .expect("CreateRole");
    }
    account
}

/// Topics and the function in one account and Region, with `build` as its code.
async fn deploy(account: &str, region: &str, build: &str) -> Row {
    let world = World::in_account(region, account).await;
    let sdk = world.sdk_config().await;
    let interceptor = MotoAccount(account.to_owned());
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&sdk).interceptor(interceptor.clone()).build(),
    );
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&sdk).interceptor(interceptor).build(),
    );
    let mut env = Vec::new();
    for (var, name) in [("WARNING_TOPIC_ARN", "disk-warning"), ("CRITICAL_TOPIC_ARN", "disk-critical")] {
        let topic = sns.create_topic().name(name).send().await.expect("CreateTopic");
        env.push((var.to_owned(), topic.topic_arn().expect("topic ARN").to_owned()));
    }
    let variables =
        env.iter().fold(aws_sdk_lambda::types::Environment::builder(), |b, (k, v)| b.variables(k, v));
    lambda
        .create_function()
        .function_name(FUNCTION)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(format!("arn:aws:iam::{account}:role/disk-alarm-reconciler-role"))
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(zip(build)))
                .build(),
        )
        .environment(variables.build())
        .send()
        .await
        .expect("CreateFunction");
    Row { account: account.to_owned(), world, env }
}

impl Row {
    /// This account's reconciler: `alarmctl sweep` with its credentials and function environment.
    async fn sweep(&self, c: &Clients) {
        let role = format!("arn:aws:iam::{}:role/{ROLE}", self.account);
        let assumed =
            c.sts.assume_role().role_arn(role).role_session_name("sweep").send().await.expect("AssumeRole");
        let creds = assumed.credentials().expect("credentials");
        let mut extra: Vec<(&str, &str)> = vec![
            ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
            ("AWS_SESSION_TOKEN", creds.session_token()),
        ];
        extra.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let run = self.world.alarmctl_with_env(&["sweep", "--json"], b"", &extra);
        assert_eq!(run.code(), 0, "{}", run.stderr());
    }

    /// A production instance that publishes `/`, so it gets a discovered pair.
    async fn launch_publishing(&self) -> String {
        let id = self.world.launch(&[("Environment", "production")]).await;
        self.world.put_disk_metric(&[("InstanceId", &id), ("path", "/"), ("fstype", "xfs")], 42.0).await;
        id
    }

    /// Every alarm as DescribeAlarms returns it, to compare before and after.
    async fn alarms_as_described(&self) -> String {
        format!(
            "{:?}",
            self.world.cloudwatch.describe_alarms().send().await.expect("DescribeAlarms").metric_alarms()
        )
    }
}

fn fleet(world: &World, args: &[&str]) -> (i32, Value) {
    let run = world.alarmctl(&[&["fleet", "--json", "--regions", &REGIONS.join(",")], args].concat(), b"");
    let report = serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stderr()));
    (run.code(), report)
}

#[tokio::test]
async fn fleet_reports_every_account_and_region_and_writes_nothing() {
    let c = clients().await;
    match c.organizations.create_organization().send().await {
        Ok(_) => {}
        Err(error) if error.code() == Some("AlreadyInOrganizationException") => {}
        Err(error) => panic!("CreateOrganization: {error:?}"),
    }
    let suffix = e2e_tests::unix_now();
    let mut accounts = Vec::new();
    for name in ["fleet-a", "fleet-b", "fleet-c"] {
        accounts.push(create_account(&c, &format!("{name}-{suffix}")).await);
    }
    let [a, b, gone] = [accounts[0].clone(), accounts[1].clone(), accounts[2].clone()];

    // moto lets anyone assume a role that does not exist; the test server refuses it, as AWS does.
    let refused =
        c.sts.assume_role().role_arn(format!("arn:aws:iam::{a}:role/no-such-role")).role_session_name("x");
    let error = refused.send().await.expect_err("a role that does not exist cannot be assumed");
    assert_eq!(error.code(), Some("AccessDenied"), "{error:?}");
    let allowed =
        c.sts.assume_role().role_arn(format!("arn:aws:iam::{a}:role/{ROLE}")).role_session_name("x");
    allowed.send().await.expect("a role that exists can be assumed");

    let mut rows = BTreeMap::new();
    for account in &accounts {
        for region in REGIONS {
            // One Region of account b runs another build.
            let build = if *account == b && region == REGIONS[1] { "build-2" } else { "build-1" };
            let row = deploy(account, region, build).await;
            row.launch_publishing().await;
            row.world.launch(&[("Environment", "staging")]).await;
            rows.insert((account.clone(), region), row);
        }
    }
    // a's second Region: an instance that publishes nothing yet (its provisional pair).
    rows[&(a.clone(), REGIONS[1])].world.launch(&[("Environment", "production")]).await;
    for row in rows.values() {
        row.sweep(&c).await;
    }

    // Broken on purpose: an instance launched since the sweep, a hand-edited
    // alarm, an account whose audit role is gone; a heartbeat in one row.
    rows[&(a.clone(), REGIONS[0])].world.launch(&[("Environment", "production")]).await;
    let edited_world = &rows[&(a.clone(), REGIONS[1])].world;
    let alarms = edited_world.alarms().await;
    let (name, alarm) = alarms.iter().find(|(n, _)| n.ends_with("-root-warning")).expect("a discovered pair");
    edited_world
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .set_alarm_description(alarm.alarm_description().map(str::to_owned))
        .set_namespace(alarm.namespace().map(str::to_owned))
        .set_metric_name(alarm.metric_name().map(str::to_owned))
        .set_dimensions(Some(alarm.dimensions().to_vec()))
        .set_statistic(alarm.statistic().cloned())
        .set_period(alarm.period())
        .set_evaluation_periods(alarm.evaluation_periods())
        .threshold(70.0)
        .set_comparison_operator(alarm.comparison_operator().cloned())
        .set_treat_missing_data(alarm.treat_missing_data().map(str::to_owned))
        .set_alarm_actions(Some(alarm.alarm_actions().to_vec()))
        .set_ok_actions(Some(alarm.ok_actions().to_vec()))
        .send()
        .await
        .expect("PutMetricAlarm by hand");
    let gone_iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&edited_world.sdk_config().await)
            .interceptor(MotoAccount(gone.clone()))
            .build(),
    );
    gone_iam.delete_role().role_name(ROLE).send().await.expect("DeleteRole");
    let heartbeat = rows[&(a.clone(), REGIONS[0])]
        .world
        .cloudwatch
        .put_metric_data()
        .namespace("DiskAlarmReconciler")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("SweepsSucceeded")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("FunctionName")
                        .value(FUNCTION)
                        .build(),
                )
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder().name("Trigger").value("sweep").build(),
                )
                .timestamp(aws_smithy_types::DateTime::from_secs(e2e_tests::unix_now() - 600))
                .value(1.0)
                .build(),
        );
    heartbeat.send().await.expect("PutMetricData");

    let mut before = BTreeMap::new();
    for (key, row) in &rows {
        before.insert(key.clone(), row.alarms_as_described().await);
    }
    let caller_world = World::new(REGIONS[0]).await;
    let (code, report) = fleet(&caller_world, &["--accounts", &accounts.join(",")]);
    assert_eq!(code, 1, "{report:#}");

    let numbers = |running: u64,
                   in_scope: u64,
                   covered: u64,
                   provisional: u64,
                   unprotected: u64,
                   create: u64,
                   update: u64| {
        json!({
            "instances_running": running, "in_scope_running": in_scope, "covered": covered,
            "provisional": provisional, "partial": 0, "unprotected": unprotected, "to_create": create,
            "to_update": update, "to_delete": 0, "conflicts": 0, "mutes_active": 0, "error": null,
        })
    };
    let expected: BTreeMap<(String, &str), Value> = [
        ((a.clone(), REGIONS[0]), numbers(3, 2, 1, 0, 1, 2, 0)),
        ((a.clone(), REGIONS[1]), numbers(3, 2, 1, 1, 0, 0, 1)),
        ((b.clone(), REGIONS[0]), numbers(2, 1, 1, 0, 0, 0, 0)),
        ((b.clone(), REGIONS[1]), numbers(2, 1, 1, 0, 0, 0, 0)),
    ]
    .into();
    let got = report["rows"].as_array().expect("rows");
    assert_eq!(got.len(), 6, "{report:#}");
    let mut builds = BTreeMap::new();
    for row in got {
        let key = (row["account"].as_str().unwrap().to_owned(), row["region"].as_str().unwrap());
        let region = *REGIONS.iter().find(|r| **r == key.1).unwrap();
        match expected.get(&(key.0.clone(), region)) {
            Some(numbers) => {
                for (field, value) in numbers.as_object().unwrap() {
                    assert_eq!(&row[field], value, "{field} of {key:?}: {row:#}");
                }
                builds.insert(key.clone(), row["code_sha256"].as_str().expect("a build").to_owned());
                let swept = row["last_sweep"].is_string();
                assert_eq!(swept, key.0 == a && region == REGIONS[0], "last_sweep of {key:?}: {row:#}");
            }
            None => {
                assert_eq!(key.0, gone);
                let error = row["error"].as_str().expect("an error row");
                assert!(error.contains("AccessDenied") && error.contains(ROLE), "{error}");
                assert!(
                    row["covered"].is_null() && row["code_sha256"].is_null() && row["last_sweep"].is_null()
                );
            }
        }
    }
    let distinct: BTreeSet<&String> = builds.values().collect();
    assert_eq!(distinct.len(), 2, "{builds:?}");
    assert_ne!(builds[&(b.clone(), REGIONS[1])], builds[&(a.clone(), REGIONS[0])]);
    let totals = &report["totals"];
    assert_eq!(
        (
            &totals["rows"],
            &totals["rows_failed"],
            &totals["in_scope_running"],
            &totals["covered"],
            &totals["unprotected"]
        ),
        (&json!(6), &json!(2), &json!(6), &json!(4), &json!(1)),
        "{totals:#}"
    );

    // --org: the Organization's ACTIVE accounts.
    let (code, report) = fleet(&caller_world, &["--org"]);
    assert_eq!(code, 1);
    let listed: BTreeSet<String> = {
        let mut pages = c.organizations.list_accounts().into_paginator().send();
        let mut ids = BTreeSet::new();
        while let Some(page) = pages.next().await {
            ids.extend(
                page.expect("ListAccounts").accounts().iter().filter_map(|a| a.id().map(str::to_owned)),
            );
        }
        ids
    };
    let reported: BTreeSet<String> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reported, listed);
    assert!(reported.contains(CALLER) && accounts.iter().all(|a| reported.contains(a)));

    // fleet wrote nothing.
    for (key, row) in &rows {
        assert_eq!(row.alarms_as_described().await, before[key], "alarms of {key:?} changed");
    }
}
