//! Support for the end-to-end tests: a moto server on 127.0.0.1 (started by
//! `scripts/test.sh`, which exports `AWS_ENDPOINT_URL`), SDK clients to set up
//! and inspect the world, and a runner for the real `alarmctl` binary.
//!
//! Tests run in parallel against one server; each test uses a Region of its
//! own, which moto keeps separate, instead of resetting shared state.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_cloudwatch::types::MetricAlarm;
use aws_sdk_ec2::types::{
    Filter, InstanceType, RequestLaunchTemplateData, ResourceType, Tag, TagSpecification,
};
use serde_json::Value;

/// Two of moto's built-in images, present in every Region: Amazon Linux, and
/// Windows Server (its instances say `Platform: windows`).
const IMAGE_ID: &str = "ami-760aaa0f";
const WINDOWS_IMAGE_ID: &str = "ami-03cf127a";
pub const ACCOUNT: &str = "123456789012";

pub struct World {
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    endpoint: String,
}

impl World {
    pub async fn new(region: &str) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(
            "AWS_ENDPOINT_URL is not set: run the end-to-end tests through scripts/test.sh, which starts moto",
        );
        assert!(
            endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
            "refusing to run end-to-end tests against {endpoint}: only a local emulator is allowed"
        );
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(&endpoint)
            .test_credentials()
            .load()
            .await;
        Self {
            region: region.to_owned(),
            ec2: aws_sdk_ec2::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            autoscaling: aws_sdk_autoscaling::Client::new(&sdk),
            endpoint,
        }
    }

    /// A world in `account` (one the test created, e.g. with Organizations'
    /// `CreateAccount`): every request carries moto's `x-moto-account-id`
    /// header, so the test's own credentials set it up. The product never sends it.
    pub async fn in_account(region: &str, account: &str) -> Self {
        let mut world = Self::new(region).await;
        let sdk = world.sdk_config().await;
        let interceptor = MotoAccount(account.to_owned());
        world.ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk).interceptor(interceptor.clone()).build(),
        );
        world.cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&sdk).interceptor(interceptor.clone()).build(),
        );
        world.autoscaling = aws_sdk_autoscaling::Client::from_conf(
            aws_sdk_autoscaling::config::Builder::from(&sdk).interceptor(interceptor).build(),
        );
        world
    }

    /// The SDK configuration of this world's Region and the emulator, with the test's credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .test_credentials()
            .load()
            .await
    }

    pub fn topic(&self, name: &str) -> String {
        format!("arn:aws:sns:{}:{ACCOUNT}:{name}", self.region)
    }

    /// Launches one Linux instance with the given tags and returns its id.
    pub async fn launch(&self, tags: &[(&str, &str)]) -> String {
        self.launch_image(IMAGE_ID, tags).await
    }

    /// Launches one Windows instance with the given tags and returns its id.
    pub async fn launch_windows(&self, tags: &[(&str, &str)]) -> String {
        self.launch_image(WINDOWS_IMAGE_ID, tags).await
    }

    async fn launch_image(&self, image: &str, tags: &[(&str, &str)]) -> String {
        let mut request = self
            .ec2
            .run_instances()
            .image_id(image)
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1);
        if !tags.is_empty() {
            let mut spec = TagSpecification::builder().resource_type(ResourceType::Instance);
            for (key, value) in tags {
                spec = spec.tags(Tag::builder().key(*key).value(*value).build());
            }
            request = request.tag_specifications(spec.build());
        }
        let output = request.send().await.expect("RunInstances");
        output.instances()[0].instance_id().expect("instance id").to_owned()
    }

    pub async fn stop(&self, id: &str) {
        self.ec2.stop_instances().instance_ids(id).send().await.expect("StopInstances");
    }

    pub async fn terminate(&self, id: &str) {
        self.ec2.terminate_instances().instance_ids(id).send().await.expect("TerminateInstances");
    }

    /// EC2 `CreateTags` on a resource (an instance, a subnet): sets `key` to `value`.
    pub async fn tag(&self, id: &str, key: &str, value: &str) {
        self.ec2
            .create_tags()
            .resources(id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .expect("CreateTags");
    }

    /// An instance's tags, by key.
    pub async fn instance_tags(&self, id: &str) -> BTreeMap<String, String> {
        let output = self
            .ec2
            .describe_tags()
            .filters(Filter::builder().name("resource-id").values(id).build())
            .send()
            .await
            .expect("DescribeTags");
        output
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect()
    }

    /// An instance's state name (`running`, `terminated`, ...).
    pub async fn instance_state(&self, id: &str) -> String {
        let output = self.ec2.describe_instances().instance_ids(id).send().await.expect("DescribeInstances");
        let instance = output.reservations().iter().flat_map(|r| r.instances()).next().expect("instance");
        let state = instance.state().and_then(|s| s.name()).expect("instance state");
        state.as_str().to_owned()
    }

    /// An instance's `StateTransitionReason` (`User initiated (… UTC)` after a stop).
    pub async fn state_transition_reason(&self, id: &str) -> String {
        let output = self.ec2.describe_instances().instance_ids(id).send().await.expect("DescribeInstances");
        let instance = output.reservations().iter().flat_map(|r| r.instances()).next().expect("instance");
        instance.state_transition_reason().unwrap_or_default().to_owned()
    }

    /// A launch template for moto's built-in image on t3.micro; returns its id.
    pub async fn create_launch_template(&self, name: &str) -> String {
        let data = RequestLaunchTemplateData::builder()
            .image_id(IMAGE_ID)
            .instance_type(InstanceType::T3Micro)
            .build();
        let output = self
            .ec2
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(data)
            .send()
            .await
            .expect("CreateLaunchTemplate");
        output.launch_template().and_then(|t| t.launch_template_id()).expect("launch template id").to_owned()
    }

    /// An Auto Scaling group of `desired` instances from the launch template
    /// `template`, in this Region's first zone, with `tags` on the group
    /// only (`PropagateAtLaunch=false`).
    pub async fn create_group(&self, name: &str, template: &str, desired: i32, tags: &[(&str, &str)]) {
        let template =
            LaunchTemplateSpecification::builder().launch_template_name(template).version("$Latest").build();
        let mut request = self
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(template)
            .min_size(0)
            .max_size(desired.max(1) * 2)
            .desired_capacity(desired)
            .availability_zones(format!("{}a", self.region));
        for (key, value) in tags {
            request = request.tags(
                aws_sdk_autoscaling::types::Tag::builder()
                    .resource_id(name)
                    .resource_type("auto-scaling-group")
                    .key(*key)
                    .value(*value)
                    .propagate_at_launch(false)
                    .build(),
            );
        }
        request.send().await.expect("CreateAutoScalingGroup");
    }

    /// The ids of the instances in a group, sorted.
    pub async fn group_instances(&self, name: &str) -> Vec<String> {
        let output = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .expect("DescribeAutoScalingGroups");
        let group = output.auto_scaling_groups().first().unwrap_or_else(|| panic!("no group {name}"));
        let mut ids: Vec<String> =
            group.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
        ids.sort();
        ids
    }

    pub async fn set_desired_capacity(&self, name: &str, desired: i32) {
        self.autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(name)
            .desired_capacity(desired)
            .send()
            .await
            .expect("SetDesiredCapacity");
    }

    /// Every alarm in this Region, by name.
    pub async fn alarms(&self) -> BTreeMap<String, MetricAlarm> {
        let output = self.cloudwatch.describe_alarms().send().await.expect("DescribeAlarms");
        output
            .metric_alarms()
            .iter()
            .map(|a| (a.alarm_name().unwrap_or_default().to_owned(), a.clone()))
            .collect()
    }

    pub async fn alarm_names(&self) -> Vec<String> {
        self.alarms().await.into_keys().collect()
    }

    /// The alarm's tags as `ListTagsForResource` returns them, `key=value` in order.
    pub async fn alarm_tags(&self, alarm: &MetricAlarm) -> Vec<String> {
        let arn = alarm.alarm_arn().expect("alarm ARN");
        let output = self
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource");
        output
            .tags()
            .iter()
            .map(|t| format!("{}={}", t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect()
    }

    /// Every alarm mute rule in this Region, by name.
    pub async fn mute_rules(&self) -> BTreeMap<String, MuteRuleSeen> {
        let mut pages = self.cloudwatch.list_alarm_mute_rules().into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            for summary in page.expect("ListAlarmMuteRules").alarm_mute_rule_summaries() {
                let arn = summary.alarm_mute_rule_arn().expect("rule ARN");
                names.push(arn.rsplit(':').next().expect("name in ARN").to_owned());
            }
        }
        let mut rules = BTreeMap::new();
        for name in names {
            let rule = self
                .cloudwatch
                .get_alarm_mute_rule()
                .alarm_mute_rule_name(&name)
                .send()
                .await
                .expect("GetAlarmMuteRule");
            let schedule = rule.rule().and_then(|r| r.schedule()).expect("schedule");
            let mut alarms: Vec<String> =
                rule.mute_targets().map(|t| t.alarm_names().to_vec()).unwrap_or_default();
            alarms.sort();
            let seen = MuteRuleSeen {
                expression: schedule.expression().unwrap_or_default().to_owned(),
                duration: schedule.duration().unwrap_or_default().to_owned(),
                alarms,
                expires: rule.expire_date().map(|t| t.secs()),
            };
            rules.insert(name, seen);
        }
        rules
    }

    /// Writes a mute rule directly, as a person or an earlier run would have.
    pub async fn put_mute_rule(
        &self,
        name: &str,
        expression: &str,
        duration: &str,
        alarms: &[String],
        expires: i64,
    ) {
        let schedule =
            aws_sdk_cloudwatch::types::Schedule::builder().expression(expression).duration(duration).build();
        self.cloudwatch
            .put_alarm_mute_rule()
            .name(name)
            .rule(aws_sdk_cloudwatch::types::Rule::builder().schedule(schedule).build())
            .mute_targets(
                aws_sdk_cloudwatch::types::MuteTargets::builder()
                    .set_alarm_names(Some(alarms.to_vec()))
                    .build(),
            )
            .expire_date(aws_smithy_types::DateTime::from_secs(expires))
            .send()
            .await
            .expect("PutAlarmMuteRule");
    }

    /// One data point of the CloudWatch agent's disk metric (namespace
    /// `CWAgent`, `disk_used_percent`) with exactly `dimensions`, as the agent
    /// publishes it; the series then shows in `ListMetrics`.
    pub async fn put_disk_metric(&self, dimensions: &[(&str, &str)], value: f64) {
        self.put_metric(DISK_METRIC, dimensions, value).await;
    }

    /// One data point of the Windows agent's `LogicalDisk % Free Space` for
    /// `volume` (`C:`, `_Total`, ...) of `instance`, with `append_dimensions`.
    pub async fn put_windows_disk_metric(&self, instance: &str, volume: &str, free: f64) {
        let dimensions = [("instance", volume), ("objectname", "LogicalDisk"), ("InstanceId", instance)];
        self.put_metric(WINDOWS_DISK_METRIC, &dimensions, free).await;
    }

    async fn put_metric(&self, metric: &str, dimensions: &[(&str, &str)], value: f64) {
        let datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
            .metric_name(metric)
            .set_dimensions(Some(
                dimensions
                    .iter()
                    .map(|(name, value)| {
                        aws_sdk_cloudwatch::types::Dimension::builder().name(*name).value(*value).build()
                    })
                    .collect(),
            ))
            .value(value)
            .unit(aws_sdk_cloudwatch::types::StandardUnit::Percent)
            .build();
        self.cloudwatch
            .put_metric_data()
            .namespace(DISK_NAMESPACE)
            .metric_data(datum)
            .send()
            .await
            .expect("PutMetricData");
    }

    /// The dimension sets of the disk series an instance published, as
    /// `ListMetrics` reports them: each sorted, the list sorted and deduplicated.
    pub async fn published_series(&self, instance: &str) -> Vec<Vec<(String, String)>> {
        let filter =
            aws_sdk_cloudwatch::types::DimensionFilter::builder().name("InstanceId").value(instance).build();
        let mut pages = self
            .cloudwatch
            .list_metrics()
            .namespace(DISK_NAMESPACE)
            .metric_name(DISK_METRIC)
            .dimensions(filter)
            .into_paginator()
            .send();
        let mut series = Vec::new();
        while let Some(page) = pages.next().await {
            for metric in page.expect("ListMetrics").metrics() {
                series.push(dimension_set(
                    metric
                        .dimensions()
                        .iter()
                        .map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default())),
                ));
            }
        }
        series.sort();
        series.dedup();
        series
    }

    /// The configuration environment the Lambda gets from the SAM template.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("WARNING_TOPIC_ARN".into(), self.topic("disk-warning")),
            ("CRITICAL_TOPIC_ARN".into(), self.topic("disk-critical")),
        ]
    }

    /// Runs `alarmctl <args>` with `stdin` as standard input.
    pub fn alarmctl(&self, args: &[&str], stdin: &[u8]) -> Run {
        self.alarmctl_with_env(args, stdin, &[])
    }

    /// [`Self::alarmctl`] with `extra` set in its environment on top of (and
    /// overriding) [`Self::env`], e.g. `APPEND_GROUP_DIMENSION=true`.
    pub fn alarmctl_with_env(&self, args: &[&str], stdin: &[u8], extra: &[(&str, &str)]) -> Run {
        let mut child = Command::new(alarmctl_path())
            .args(args)
            .env_remove("AWS_PROFILE")
            .envs(self.env())
            .envs(extra.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("alarmctl starts");
        child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
        Run(child.wait_with_output().expect("alarmctl runs"))
    }

    /// Feeds a sample event from `events/`, retargeted at `instance`, to `alarmctl handle -`.
    pub fn handle_sample(&self, sample: &str, instance: &str) -> Run {
        let event = sample_event(sample, instance);
        self.alarmctl(&["handle", "-"], event.to_string().as_bytes())
    }

    /// Feeds `event` to `alarmctl handle -`, with `extra` environment variables.
    pub fn handle_event(&self, event: &Value, extra: &[(&str, &str)]) -> Run {
        self.alarmctl_with_env(&["handle", "-"], event.to_string().as_bytes(), extra)
    }
}

/// Adds moto's `x-moto-account-id` header to every request: moto then serves
/// it from that account, whatever the credentials.
#[derive(Debug, Clone)]
pub struct MotoAccount(pub String);

impl aws_smithy_runtime_api::client::interceptors::Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "MotoAccount"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        context.request_mut().headers_mut().insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
}

/// What `GetAlarmMuteRule` says of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteRuleSeen {
    pub expression: String,
    pub duration: String,
    /// Sorted.
    pub alarms: Vec<String>,
    pub expires: Option<i64>,
}

/// The provisional pair of an instance that publishes no disk series (moto's
/// instances publish none), sorted as [`World::alarms`] sorts them.
pub fn provisional_pair(instance: &str) -> Vec<String> {
    vec![
        format!("ec2-disk-provisional-{instance}-critical"),
        format!("ec2-disk-provisional-{instance}-warning"),
    ]
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    let elapsed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit")
}

/// The CloudWatch agent's disk metric, which the alarms watch.
pub const DISK_NAMESPACE: &str = "CWAgent";
pub const DISK_METRIC: &str = "disk_used_percent";
pub const WINDOWS_DISK_METRIC: &str = "LogicalDisk % Free Space";

/// An alarm's dimensions as sorted (name, value) pairs: CloudWatch treats them as a set.
pub fn dimensions(alarm: &MetricAlarm) -> Vec<(String, String)> {
    dimension_set(
        alarm.dimensions().iter().map(|d| (d.name().unwrap_or_default(), d.value().unwrap_or_default())),
    )
}

/// (name, value) pairs as a sorted list, the form [`dimensions`] returns.
pub fn dimension_set<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut dims: Vec<(String, String)> =
        pairs.into_iter().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
    dims.sort();
    dims
}

/// A sample from `events/` with its instance id replaced by `instance`.
pub fn sample_event(sample: &str, instance: &str) -> Value {
    sample_event_with(sample, &[("i-0123456789abcdef0", instance)])
}

/// The Auto Scaling group the samples `events/autoscaling-*.json` name.
pub const SAMPLE_GROUP: &str = "web-production";

/// An `events/autoscaling-*.json` sample retargeted at `instance` in `group`.
pub fn autoscaling_event(sample: &str, instance: &str, group: &str) -> Value {
    sample_event_with(sample, &[("i-0123456789abcdef0", instance), (SAMPLE_GROUP, group)])
}

/// `events/tag-change.json` for `instance`: the keys `changed` changed, and the
/// instance now has `tags` (all of them, as EC2 reports them after the change).
pub fn tag_change_event(instance: &str, changed: &[&str], tags: &BTreeMap<String, String>) -> Value {
    let mut event = sample_event("tag-change.json", instance);
    event["detail"]["changed-tag-keys"] = serde_json::json!(changed);
    event["detail"]["tags"] = serde_json::json!(tags);
    event
}

/// A Health sample moved to now: sent now, its window two hours long and two
/// days from now, starting on the hour. The samples' own dates are fixed, and
/// a window that has passed asks for an unmute instead of a mute.
pub fn in_two_days(mut event: Value) -> Value {
    let start = (unix_now() / 3600 + 48) * 3600;
    event["time"] = serde_json::json!(reconciler_core::UnixTime(unix_now()).to_string());
    event["detail"]["startTime"] = serde_json::json!(reconciler_core::UnixTime(start).to_string());
    event["detail"]["endTime"] = serde_json::json!(reconciler_core::UnixTime(start + 2 * 3600).to_string());
    event
}

/// `events/provisional-follow-up.json`, the follow-up schedule's event.
pub fn follow_up_event() -> Value {
    sample_event_with("provisional-follow-up.json", &[])
}

/// A sample from `events/` with each `(from, to)` text replacement applied.
pub fn sample_event_with(sample: &str, replacements: &[(&str, &str)]) -> Value {
    let path = workspace_root().join("events").join(sample);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).expect("sample is JSON")
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// The JSON report on stdout, after checking the exit code.
    pub fn report(&self, expected_code: i32) -> Value {
        assert_eq!(self.code(), expected_code, "stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("report is not JSON ({e}): {}", self.stdout()))
    }
}

/// `target/debug/alarmctl`, built by `cargo test --workspace` before any test runs.
pub fn alarmctl_path() -> PathBuf {
    if let Ok(path) = std::env::var("ALARMCTL_BIN") {
        return PathBuf::from(path);
    }
    binary_path("alarmctl")
}

/// A binary of the workspace in the test binary's profile directory.
fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} not found: build it with `cargo build -p handler` first", path.display());
    path
}

/// (action, alarm, instance, reason) of every change in a JSON report.
pub fn change_set(report: &Value) -> BTreeSet<(String, String, String, String)> {
    report["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes array: {report:#}"))
        .iter()
        .map(|c| {
            let field = |name: &str| c[name].as_str().unwrap_or_default().to_owned();
            (field("action"), field("alarm"), field("instance"), field("reason"))
        })
        .collect()
}

/// The Lambda function as it ships, `disk-alarm-reconciler`, served by a real
/// Lambda Runtime API emulator: `cargo lambda watch --only-lambda-apis` on a
/// free port of 127.0.0.1, with the binary `cargo test` built started against
/// it (a nested `cargo build` inside `cargo test` would wait on its lock).
/// Invocations go through `cargo lambda invoke`, as a user would send them.
pub struct LambdaFunction {
    emulator: std::process::Child,
    function: std::process::Child,
    port: u16,
    pub log: PathBuf,
}

pub const FUNCTION_NAME: &str = "disk-alarm-reconciler";

/// What `cargo lambda invoke` printed, and its exit status.
pub struct Invocation {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Invocation {
    /// The function's JSON response, after checking the invocation succeeded.
    pub fn response(&self) -> Value {
        assert_eq!(self.code, 0, "invocation failed:\n{}\n{}", self.stdout, self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.stdout))
    }
}

impl LambdaFunction {
    /// Starts the emulator and the function with the world's configuration plus `extra`.
    pub fn start(world: &World, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let emulator = Command::new(cargo_lambda_path())
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda watch starts (installed into .venv by scripts/test.sh)");
        wait_for_port(port);
        let log = workspace_root().join(format!("target/lambda-{}-{port}.log", world.region));
        let log_file = std::fs::File::create(&log).expect("function log file");
        let function = Command::new(binary_path(FUNCTION_NAME))
            .env_remove("AWS_PROFILE")
            // As the template leaves it by default: the level is Lambda's.
            .env_remove("RUST_LOG")
            .envs(world.env())
            .envs(extra.iter().copied())
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt/{FUNCTION_NAME}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("the function starts");
        Self { emulator, function, port, log }
    }

    /// Sends `event` with `cargo lambda invoke`.
    pub fn invoke(&self, event: &Value) -> Invocation {
        self.invoke_raw(&event.to_string())
    }

    /// Sends `payload` as it is (it need not be JSON).
    pub fn invoke_raw(&self, payload: &str) -> Invocation {
        let output = Command::new(cargo_lambda_path())
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .args(["--data-ascii", payload, "--color", "never", FUNCTION_NAME])
            .current_dir(workspace_root())
            .output()
            .expect("cargo lambda invoke runs");
        Invocation {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The function's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the function process has exited (it refuses to start on bad configuration).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.function.try_wait().expect("function status")
    }
}

impl Drop for LambdaFunction {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.emulator] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cargo-lambda` from `.venv/` (where scripts/test.sh installs it), or `CARGO_LAMBDA_BIN`.
fn cargo_lambda_path() -> PathBuf {
    if let Ok(path) = std::env::var("CARGO_LAMBDA_BIN") {
        return PathBuf::from(path);
    }
    let path = workspace_root().join(".venv/bin/cargo-lambda");
    assert!(path.exists(), "{} not found: run the tests through scripts/test.sh", path.display());
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the Lambda emulator did not listen on {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
