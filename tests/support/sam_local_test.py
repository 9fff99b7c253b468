"""The function under `sam local invoke`, end to end, on the sample events.

Run by `scripts/sam-local.sh test` inside its network namespace, once the
podman service, the network and the emulator are up (their addresses come in
the environment, see start_inside there). Each step runs the real

    sam local invoke ReconcilerFunction -e <event> --env-vars <file> ...

and then asserts on the emulator's state, read through its published port:

1. a `running` event creates the instance's provisional alarm pair;
2. the same event again writes nothing (no PutMetricAlarm, alarms untouched);
3. a `stopped` event deletes the pair;
4. the scheduled sweep creates the pair of a running instance no event reached;
5. a malformed event is answered {"status": "rejected"} and changes nothing.

The env-vars file is scripts/sam-local-env.json with the demo's topics and the
emulator's address as the function's container sees it.

Usage: python tests/support/sam_local_test.py [--env-vars-only FILE]
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import demo_world  # noqa: E402 - the demo's world: topics, instances, sample events

FUNCTION = "ReconcilerFunction"
WORK = Path(os.environ.get("SAM_WORK_DIR", REPO_ROOT / "target/sam-local"))
ENV_VARS = WORK / "env.json"


def write_env_vars(path, warning_topic, critical_topic):
    """scripts/sam-local-env.json, pointed at the emulator and the given topics."""
    values = json.loads((REPO_ROOT / "scripts/sam-local-env.json").read_text(encoding="utf-8"))
    values[FUNCTION].update(
        AWS_ENDPOINT_URL=os.environ["FUNCTION_ENDPOINT"],
        WARNING_TOPIC_ARN=warning_topic,
        CRITICAL_TOPIC_ARN=critical_topic,
    )
    path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")


def sample(name, instance_id):
    """events/<name> for the instance, sent now (as the demo sends it)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        demo_world.event(name, instance_id)
    return json.loads(out.getvalue())


class Failed(AssertionError):
    pass


def check(condition, message, *details):
    if not condition:
        raise Failed("\n".join([message, *map(str, details)]))


def invoke(step, event):
    """`sam local invoke` with the event; returns (response, seconds)."""
    event_file = WORK / f"event-{step}.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    command = [
        "sam", "local", "invoke", FUNCTION,
        "--template", os.environ["SAM_TEMPLATE"],
        "--event", str(event_file),
        "--env-vars", str(ENV_VARS),
        "--parameter-overrides", f"Architecture={os.environ['SAM_ARCHITECTURE']}",
        "--docker-network", os.environ["SAM_NETWORK"],
        "--invoke-image", os.environ["SAM_IMAGE"],
        "--skip-pull-image",
    ]
    # SAM's lock files go to TMPDIR: keep them with the test's files.
    environment = {**os.environ, "TMPDIR": str(WORK)}
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=environment)
    seconds = time.monotonic() - started
    (WORK / f"sam-{step}.log").write_text(run.stderr, encoding="utf-8")
    check(run.returncode == 0, f"{step}: sam local invoke exited {run.returncode}", run.stdout, run.stderr[-4000:])
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    check(lines, f"{step}: no response on stdout", run.stderr[-4000:])
    try:
        response = json.loads(lines[-1])
    except ValueError:
        raise Failed(f"{step}: the response is not JSON: {lines[-1]}\n{run.stderr[-4000:]}") from None
    print(f"  {step}: {seconds:.1f} s, {json.dumps(response)[:160]}", file=sys.stderr)
    return response, seconds


def alarms(cloudwatch):
    """Name -> configuration timestamp of every alarm in the emulator."""
    listed = cloudwatch.describe_alarms()["MetricAlarms"]
    return {a["AlarmName"]: a["AlarmConfigurationUpdatedTimestamp"] for a in listed}


def pair(instance_id):
    return {f"ec2-disk-provisional-{instance_id}-critical", f"ec2-disk-provisional-{instance_id}-warning"}


def main(argv):
    ec2 = demo_world.client("ec2")
    cloudwatch = demo_world.client("cloudwatch")
    sns = demo_world.client("sns")
    warning = sns.create_topic(Name="disk-warning")["TopicArn"]
    critical = sns.create_topic(Name="disk-critical")["TopicArn"]
    if argv[1:2] == ["--env-vars-only"]:
        write_env_vars(Path(argv[2]), warning, critical)
        return 0
    WORK.mkdir(parents=True, exist_ok=True)
    write_env_vars(ENV_VARS, warning, critical)
    linux, _ = demo_world.images(ec2)
    web = demo_world.run_instance(ec2, linux, "web-1", "production")
    seconds = []

    response, took = invoke("running", sample("ec2-running.json", web))
    seconds.append(took)
    check(response.get("created") == 2, "running: expected created 2", response)
    before = alarms(cloudwatch)
    check(set(before) == pair(web), "running: expected exactly the provisional pair", sorted(before))

    response, took = invoke("running-again", sample("ec2-running.json", web))
    seconds.append(took)
    check((response.get("created"), response.get("unchanged")) == (0, 2), "running again: expected unchanged 2", response)
    writes = [call for call in response.get("api_calls", {}) if not call.startswith(("Describe", "List", "Get"))]
    check(not writes, f"running again: write calls {writes}", response)
    check(alarms(cloudwatch) == before, "running again: the alarms changed", before, alarms(cloudwatch))

    demo_world.stop(web)
    response, took = invoke("stopped", sample("ec2-stopped.json", web))
    seconds.append(took)
    check(response.get("deleted") == 2, "stopped: expected deleted 2", response)
    check(alarms(cloudwatch) == {}, "stopped: alarms left", alarms(cloudwatch))

    missed = demo_world.run_instance(ec2, linux, "web-2", "production")
    response, took = invoke("sweep", sample("scheduled-sweep.json", missed))
    seconds.append(took)
    check((response.get("trigger"), response.get("created")) == ("sweep", 2), "sweep: expected created 2", response)
    check(set(alarms(cloudwatch)) == pair(missed), "sweep: expected the missed instance's pair", alarms(cloudwatch))

    before = alarms(cloudwatch)
    malformed = sample("ec2-running.json", missed)
    malformed["detail"]["instance-id"] = "web-1"
    response, took = invoke("malformed", malformed)
    seconds.append(took)
    check(response.get("status") == "rejected", 'malformed: expected {"status": "rejected"}', response)
    check(alarms(cloudwatch) == before, "malformed: the alarms changed", before, alarms(cloudwatch))

    print(
        f"sam local invoke: 5 of 5 checks passed; per invoke {min(seconds):.1f}-{max(seconds):.1f} s "
        f"(mean {sum(seconds) / len(seconds):.1f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Failed as e:
        print(f"FAIL {e}", file=sys.stderr)
        sys.exit(1)
