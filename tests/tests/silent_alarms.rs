//! Silent alarms end to end: an owned alarm set to `INSUFFICIENT_DATA`
//! (CloudWatch `SetAlarmState`; the emulator starts new alarms in `OK`) is,
//! with `SILENT_AFTER_MINUTES=0`, shown by `alarmctl explain`, counted and
//! listed by a sweep, and counted by `alarmctl fleet`.

use aws_sdk_cloudwatch::types::StateValue;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use e2e_tests::World;
use serde_json::{json, Value};

/// A Region no other end-to-end test uses (they have every commercial one):
/// the sweeps here converge every instance of the Region.
const REGION: &str = "ap-southeast-3";
const FUNCTION: &str = "disk-alarm-reconciler";
const ROLE: &str = "silent-alarms-reconciler-role";
const NOW_ENOUGH: [(&str, &str); 1] = [("SILENT_AFTER_MINUTES", "0")];

/// The function `alarmctl fleet` reads its configuration from, in the caller's own account.
async fn deploy_function(world: &World, env: &[(String, String)]) {
    let sdk = world.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = match iam.create_role().role_name(ROLE).assume_role_policy_document(trust).send().await {
        Ok(created) => created.role().map(|r| r.arn().to_owned()).expect("the role's ARN"),
        Err(error) if error.code() == Some("EntityAlreadyExists") => {
            let got = iam.get_role().role_name(ROLE).send().await.expect("GetRole");
            got.role().map(|r| r.arn().to_owned()).expect("the role's ARN")
        }
        Err(error) => panic!("CreateRole: {error:?}"),
    };
    let variables =
        env.iter().fold(aws_sdk_lambda::types::Environment::builder(), |b, (k, v)| b.variables(k, v));
    // An empty zip archive: the function is never invoked, only its configuration read.
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend([0u8; 18]);
    aws_sdk_lambda::Client::new(&sdk)
        .create_function()
        .function_name(FUNCTION)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder().zip_file(aws_smithy_types::Blob::new(zip)).build(),
        )
        .environment(variables.build())
        .send()
        .await
        .expect("CreateFunction");
}

#[tokio::test]
async fn an_alarm_in_insufficient_data_is_explained_reported_and_counted_as_silent() {
    let world = World::new(REGION).await;
    let id = world.launch(&[("Environment", "production")]).await;
    world.put_disk_metric(&[("InstanceId", &id), ("path", "/"), ("fstype", "xfs")], 42.0).await;
    let made = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(made["created"], 2, "{made:#}");
    let (warning, critical) = (format!("ec2-disk-{id}-root-warning"), format!("ec2-disk-{id}-root-critical"));

    // The emulator starts the alarms in OK: nothing is silent, even at once.
    let quiet = world.alarmctl_with_env(&["sweep", "--json"], b"", &NOW_ENOUGH).report(0);
    assert_eq!((quiet["alarms_silent"].clone(), quiet["silent"].clone()), (json!(0), json!([])), "{quiet:#}");

    world
        .cloudwatch
        .set_alarm_state()
        .alarm_name(&warning)
        .state_value(StateValue::InsufficientData)
        .state_reason("no data points from the agent")
        .send()
        .await
        .expect("SetAlarmState");

    // explain: each alarm's state and since when, and the likely cause of the silent one.
    let explained = world.alarmctl_with_env(&["explain", &id], b"", &NOW_ENOUGH);
    assert_eq!(explained.code(), 0, "{}", explained.stderr());
    let text = explained.stdout();
    // The actual alarms' lines (the desired ones are `<name>: ...`).
    let line = |name: &str| {
        let actual = format!("{name} (owned)");
        text.lines().find(|l| l.trim_start().starts_with(&actual)).unwrap_or_default().to_owned()
    };
    assert!(line(&warning).contains("INSUFFICIENT_DATA since 20"), "{text}");
    assert!(line(&critical).contains(", OK since 20"), "{text}");
    assert!(
        text.contains("SILENT: protects nothing; likely cause: its series was published in the last 3 hours"),
        "{text}"
    );
    assert_eq!(text.matches("SILENT").count(), 1, "{text}");

    // Before the default threshold of an hour, nothing is silent.
    let default = world.alarmctl(&["sweep", "--json"], b"").report(0);
    assert_eq!(default["alarms_silent"], 0, "{default:#}");

    let sweep = world.alarmctl_with_env(&["sweep", "--json"], b"", &NOW_ENOUGH).report(0);
    assert_eq!(sweep["alarms_silent"], 1, "{sweep:#}");
    let silent = sweep["silent"].as_array().expect("a list");
    assert_eq!(silent.len(), 1, "{sweep:#}");
    assert_eq!(
        (silent[0]["instance"].as_str(), silent[0]["alarm"].as_str()),
        (Some(id.as_str()), Some(warning.as_str()))
    );
    let since = silent[0]["since"].as_str().expect("since");
    assert!(since.len() == 20 && since.ends_with('Z') && since.as_bytes()[10] == b'T', "RFC 3339: {since}");
    assert!(silent[0]["reason"].as_str().unwrap().starts_with("its series was published"), "{sweep:#}");
    // A finding, not a change: the sweep writes nothing for it.
    assert_eq!(
        (sweep["created"].clone(), sweep["updated"].clone(), sweep["deleted"].clone()),
        (json!(0), json!(0), json!(0))
    );
    assert!(sweep["api_calls"].get("PutMetricAlarm").is_none(), "{sweep:#}");
    let text = world.alarmctl_with_env(&["sweep"], b"", &NOW_ENOUGH).stdout();
    assert!(text.contains("Silent: 1 alarm(s)"), "{text}");

    // The fleet view, judged by the function's own configuration.
    let mut env = world.env();
    env.retain(|(k, _)| !k.starts_with("AWS_"));
    env.push(("SILENT_AFTER_MINUTES".into(), "0".into()));
    deploy_function(&world, &env).await;
    let run =
        world.alarmctl(&["fleet", "--json", "--regions", REGION, "--accounts", e2e_tests::ACCOUNT], b"");
    let report: Value =
        serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stderr()));
    let row = &report["rows"][0];
    assert_eq!(row["error"], Value::Null, "{report:#}");
    assert_eq!(row["alarms_silent"], 1, "{report:#}");
    assert_eq!(report["totals"]["alarms_silent"], 1, "{report:#}");
    // The silent alarm protects nothing: the instance has half its pair.
    assert_eq!((row["covered"].clone(), row["partial"].clone()), (json!(0), json!(1)), "{report:#}");
    assert_eq!(run.code(), 0, "{report:#}");
    let table =
        world.alarmctl(&["fleet", "--regions", REGION, "--accounts", e2e_tests::ACCOUNT], b"").stdout();
    assert!(table.lines().next().unwrap_or_default().contains("SILENT"), "{table}");
}
