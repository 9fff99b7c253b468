"""What handling one EC2 `running` event costs: alarmctl against a hand-written
Python/boto3 function, side by side, in one run on the same emulator.

Four cases, each a fresh process per event, as a cold start would be:

  alarmctl, first event      `alarmctl handle EVENT` for an instance that has no alarms yet
  alarmctl, duplicate        the same event again (the alarms exist: reads only, no write)
  Python, first event        scripts/bench/python_baseline.py EVENT: two PutMetricAlarm calls
  Python, duplicate          the same event again: the same two calls again

On a first event both sides write the same two alarms: the instance publishes no
disk series yet, so alarmctl creates its provisional pair, on CWAgent
disk_used_percent with InstanceId, path=/ and fstype=xfs, exactly the Python
function's alarms. A fifth, reference row starts /bin/true the same way.

Every round creates two new instances (tagged Environment=production, publishing no
disk series yet, like an instance that has just started): one for alarmctl, one for
the Python function, so neither sees the other's alarms, and "first" really is the
first event for that instance. The cases are interleaved, and which side goes first
alternates from round to round. Warm-up rounds are run first and not reported.

Per process: wall time (spawn to exit, as seen by this harness), CPU time (user +
system, from os.wait4's rusage), peak RSS (ru_maxrss) and the AWS API calls it made
(alarmctl: the `api_calls` of its JSON report; Python: counted with a botocore
hook). The emulator's own CPU time is not in the CPU figures, but the time it
takes to answer is in the wall times.

Each process is started through GNU time (/usr/bin/time -f %M), which forks it,
waits for it with wait4 and writes its ru_maxrss. The harness cannot take
ru_maxrss from its own os.wait4: Linux carries the resident size of the image an
exec replaces into the new program's ru_maxrss, so every child of this harness
(about 100 MB with boto3 loaded) would report at least the harness's size. GNU
time is about 1 MB. Wall and CPU time come from the harness's os.wait4 of GNU
time, so they include GNU time itself; the reference row (`/bin/true` started
the same way) shows how much that is.

Needs a running emulator (AWS_ENDPOINT_URL), WARNING_TOPIC_ARN and
CRITICAL_TOPIC_ARN; scripts/bench-first-event.sh sets all that up.
Prints a Markdown table on stdout (progress on stderr) and writes the raw samples
to target/bench-first-event.json.

Usage: python scripts/bench/first_event.py --alarmctl PATH [--rounds 15] [--warmup 2] [--out FILE]
(ALARMCTL in the environment works too.)
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import boto3

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASELINE = os.path.join(REPO_ROOT, "scripts", "bench", "python_baseline.py")
SAMPLE_EVENT = os.path.join(REPO_ROOT, "events", "ec2-running.json")
SAMPLE_INSTANCE = "i-0123456789abcdef0"
PREFIX = "ec2-disk-"  # alarmctl's default ALARM_NAME_PREFIX
GNU_TIME = "/usr/bin/time"
TRUE = "/bin/true"

CASES = [
    ("rust-first", "alarmctl, first event"),
    ("rust-duplicate", "alarmctl, duplicate event"),
    ("python-first", "Python, first event"),
    ("python-duplicate", "Python, duplicate event"),
]
REFERENCE = ("reference", "reference: `/bin/true`, started the same way")


def fail(message):
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def child_environment():
    """The same explicit environment for both sides: region, endpoint, credentials, topics."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    region = os.environ.get("AWS_REGION", "us-east-1")
    env.update({
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,  # Lambda sets both
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "WARNING_TOPIC_ARN": os.environ["WARNING_TOPIC_ARN"],
        "CRITICAL_TOPIC_ARN": os.environ["CRITICAL_TOPIC_ARN"],
    })
    return env


def run(argv, env, workdir, tag):
    """Spawns argv under GNU time, waits with os.wait4; returns (exit code, stdout, stderr, sample)."""
    out_path = os.path.join(workdir, f"{tag}.out")
    err_path = os.path.join(workdir, f"{tag}.err")
    rss_path = os.path.join(workdir, f"{tag}.rss")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    full = [GNU_TIME, "-o", rss_path, "-f", "%M", *argv]
    start = time.perf_counter()
    pid = os.posix_spawn(full[0], full, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(out_path, encoding="utf-8", errors="replace") as f:
        stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    with open(rss_path, encoding="utf-8") as f:
        # "Command exited with non-zero status N" comes first when it failed.
        maxrss = f.read().split()[-1]
    sample = {
        "wall_ms": wall * 1000.0,
        "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000.0,
        "user_ms": usage.ru_utime * 1000.0,
        "sys_ms": usage.ru_stime * 1000.0,
        "maxrss_kib": int(maxrss),  # Linux: KiB
    }
    return os.waitstatus_to_exitcode(status), stdout, stderr, sample


def write_event(workdir, template, instance_id):
    """The sample running event, retargeted at the instance and dated now (as a fresh event is)."""
    text = template.replace(SAMPLE_INSTANCE, instance_id)
    event = json.loads(text)
    event["time"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = os.path.join(workdir, f"event-{instance_id}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(event, f)
    return path


class Bench:
    def __init__(self, alarmctl, python, workdir):
        self.alarmctl = alarmctl
        self.python = python
        self.workdir = workdir
        self.env = child_environment()
        region = self.env["AWS_REGION"]
        endpoint = self.env["AWS_ENDPOINT_URL"]
        self.ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
        self.cloudwatch = boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint)
        # A Linux image (the emulator lists Windows images first): a Windows
        # instance would get alarms on another metric than the Python function's.
        amazon_linux = self.ec2.describe_images(Filters=[{"Name": "name", "Values": ["amzn*"]}])["Images"]
        self.image = next(i["ImageId"] for i in amazon_linux if i.get("Platform") != "windows")
        with open(SAMPLE_EVENT, encoding="utf-8") as f:
            self.template = f.read()

    def new_instance(self, name):
        tags = [{"Key": "Name", "Value": name}, {"Key": "Environment", "Value": "production"}]
        instance = self.ec2.run_instances(
            ImageId=self.image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )["Instances"][0]
        return instance["InstanceId"]

    def rust(self, case, event_path, instance_id):
        code, stdout, stderr, sample = run([self.alarmctl, "handle", event_path], self.env, self.workdir, case)
        try:
            report = json.loads(stdout)
        except ValueError:
            fail(f"{case} ({instance_id}): alarmctl exited {code} without a JSON report:\n{stdout}{stderr}")
        if code != 0 or report.get("failures"):
            fail(f"{case} ({instance_id}): alarmctl exited {code}: {json.dumps(report.get('failures'))}\n{stderr}")
        counts = (report["created"], report["updated"], report["deleted"])
        if case == "rust-first" and (counts != (2, 0, 0) or report["unchanged"] != 0):
            fail(f"{case} ({instance_id}): expected 2 alarms created, got {counts}, unchanged {report['unchanged']}")
        if case == "rust-duplicate" and (counts != (0, 0, 0) or report["unchanged"] != 2):
            fail(f"{case} ({instance_id}): expected no write and 2 unchanged, got {counts}, unchanged {report['unchanged']}")
        sample["api_calls"] = dict(report["api_calls"])
        sample["writes"] = sum(counts)
        return sample

    def python_case(self, case, event_path, instance_id):
        code, stdout, stderr, sample = run([self.python, BASELINE, event_path], self.env, self.workdir, case)
        if code != 0:
            fail(f"{case} ({instance_id}): the Python function exited {code}:\n{stderr}")
        sample["api_calls"] = json.loads(stdout)["api_calls"]
        if sample["api_calls"] != {"PutMetricAlarm": 2}:
            fail(f"{case} ({instance_id}): expected exactly 2 PutMetricAlarm calls, got {sample['api_calls']}")
        sample["writes"] = 2
        return sample

    def check_alarms(self, rust_instance, python_instance):
        """After a round: each instance holds exactly its own two alarms."""
        for prefix, want in (
            (f"{PREFIX}provisional-{rust_instance}-", 2),
            (f"{PREFIX}{rust_instance}-", 0),
            (f"py-{python_instance}-", 2),
            (f"{PREFIX}provisional-{python_instance}-", 0),
            (f"py-{rust_instance}-", 0),
        ):
            alarms = self.cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
            if len(alarms) != want:
                fail(f"expected {want} alarms named {prefix}*, found {[a['AlarmName'] for a in alarms]}")

    def round(self, number):
        rust_instance = self.new_instance(f"bench-rust-{number}")
        python_instance = self.new_instance(f"bench-python-{number}")
        rust_event = write_event(self.workdir, self.template, rust_instance)
        python_event = write_event(self.workdir, self.template, python_instance)
        steps = {
            "rust-first": lambda: self.rust("rust-first", rust_event, rust_instance),
            "rust-duplicate": lambda: self.rust("rust-duplicate", rust_event, rust_instance),
            "python-first": lambda: self.python_case("python-first", python_event, python_instance),
            "python-duplicate": lambda: self.python_case("python-duplicate", python_event, python_instance),
        }
        if number % 2 == 0:
            order = ["rust-first", "python-first", "rust-duplicate", "python-duplicate"]
        else:
            order = ["python-first", "rust-first", "python-duplicate", "rust-duplicate"]
        samples = {}
        code, _, stderr, samples["reference"] = run([TRUE], self.env, self.workdir, "reference")
        if code != 0:
            fail(f"{TRUE} under {GNU_TIME} exited {code}: {stderr}")
        samples["reference"]["api_calls"] = {}
        samples["reference"]["writes"] = 0
        for case in order:
            samples[case] = steps[case]()
            samples[case]["instance"] = rust_instance if case.startswith("rust") else python_instance
            samples[case]["position"] = order.index(case)
        self.check_alarms(rust_instance, python_instance)
        return samples


def summary(values):
    return min(values), statistics.median(values), max(values)


def fmt_triple(values, digits):
    low, mid, high = summary(values)
    return f"{low:.{digits}f} / {mid:.{digits}f} / {high:.{digits}f}"


def calls_text(samples):
    """Total calls (min / median / max) and the calls per operation (each distinct mix, if they vary)."""
    low, mid, high = summary([sum(s["api_calls"].values()) for s in samples])
    mixes = sorted({json.dumps(s["api_calls"], sort_keys=True) for s in samples})
    parts = [", ".join(f"{op} {n}" for op, n in sorted(json.loads(mix).items())) for mix in mixes]
    return f"{low:g} / {mid:g} / {high:g}", "; ".join(p for p in parts if p) or "–"


def markdown(results, meta):
    load_start, load_end = meta["loadavg_start"][0], meta["loadavg_end"][0]
    lines = [
        f"{meta['rounds']} rounds after {meta['warmup']} warm-up rounds, cases interleaved, one new instance per "
        f"side per round; alarmctl `{meta['alarmctl_display']}` ({meta['build']} build), Python "
        f"{meta['python_version']} with boto3 {meta['boto3_version']}; moto {meta['moto_version']} on 127.0.0.1; "
        f"{meta['cpus']} CPUs, load average {load_start:.1f} at the start and {load_end:.1f} at the end; {meta['date']}. "
        "Each cell: min / median / max.",
        "",
        "| case | wall time, ms | CPU time (user + sys), ms | peak RSS, MiB | AWS API calls | calls per operation | alarm writes |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for case, label in CASES + [REFERENCE]:
        samples = results[case]
        total, mix = calls_text(samples)
        writes = ", ".join(str(w) for w in sorted({s["writes"] for s in samples}))
        lines.append(
            f"| {label} | {fmt_triple([s['wall_ms'] for s in samples], 1)} "
            f"| {fmt_triple([s['cpu_ms'] for s in samples], 1)} "
            f"| {fmt_triple([s['maxrss_kib'] / 1024.0 for s in samples], 1)} "
            f"| {total} | {mix} | {writes} |"
        )
    lines += [
        "",
        "| alarmctl ÷ Python, medians | wall time | CPU time | peak RSS | AWS API calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, label in (("first", "first event"), ("duplicate", "duplicate event")):
        rust, python = results[f"rust-{kind}"], results[f"python-{kind}"]

        def ratio(key):
            return statistics.median(key(s) for s in rust) / statistics.median(key(s) for s in python)

        lines.append(
            f"| {label} | {ratio(lambda s: s['wall_ms']):.2f} | {ratio(lambda s: s['cpu_ms']):.2f} "
            f"| {ratio(lambda s: s['maxrss_kib']):.2f} | {ratio(lambda s: sum(s['api_calls'].values())):.2f} |"
        )
    return "\n".join(lines)


def versions():
    from importlib import metadata

    def version(package):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {"python_version": platform.python_version(), "boto3_version": version("boto3"),
            "botocore_version": version("botocore"), "moto_version": version("moto")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alarmctl", default=os.environ.get("ALARMCTL"), help="the alarmctl binary (default: $ALARMCTL)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the Python function (default: this one)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "target", "bench-first-event.json"))
    args = parser.parse_args()
    if not args.alarmctl:
        fail("no alarmctl: pass --alarmctl PATH or set ALARMCTL")
    alarmctl = os.path.abspath(args.alarmctl)
    if not os.access(alarmctl, os.X_OK):
        fail(f"{alarmctl} is not an executable file")
    for var in ("AWS_ENDPOINT_URL", "WARNING_TOPIC_ARN", "CRITICAL_TOPIC_ARN"):
        if not os.environ.get(var):
            fail(f"{var} is not set (scripts/bench-first-event.sh sets up the emulator and the topics)")
    if args.rounds < 1 or args.warmup < 0:
        fail("--rounds must be at least 1 and --warmup at least 0")
    python = os.path.abspath(args.python)
    if not os.access(GNU_TIME, os.X_OK):
        fail(f"{GNU_TIME} (GNU time; Debian/Ubuntu package `time`) is needed to read each process's peak RSS")

    with open(alarmctl, "rb") as f:
        binary_sha256 = hashlib.sha256(f.read()).hexdigest()
    relative = os.path.relpath(alarmctl, REPO_ROOT)
    build = "release" if "/release/" in alarmctl else "debug" if "/debug/" in alarmctl else "unknown"
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "alarmctl": alarmctl,
        "alarmctl_display": relative if not relative.startswith("..") else alarmctl,
        "alarmctl_sha256": binary_sha256,
        "alarmctl_bytes": os.path.getsize(alarmctl),
        "build": build,
        "python": python,
        "gnu_time": GNU_TIME,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "loadavg_start": os.getloadavg(),
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
        **versions(),
    }

    results = {case: [] for case, _ in CASES + [REFERENCE]}
    warmups = []
    with tempfile.TemporaryDirectory(prefix="bench-first-event-") as workdir:
        bench = Bench(alarmctl, python, workdir)
        total = args.warmup + args.rounds
        for number in range(total):
            warm = number < args.warmup
            samples = bench.round(number)
            if warm:
                warmups.append(samples)
            else:
                for case, sample in samples.items():
                    sample["round"] = number - args.warmup
                    results[case].append(sample)
            line = ", ".join(f"{case} {samples[case]['wall_ms']:.0f} ms" for case, _ in CASES)
            print(f"{'warm-up' if warm else 'round'} {number + 1 - (0 if warm else args.warmup)}/"
                  f"{args.warmup if warm else args.rounds}: {line}", file=sys.stderr)
    meta["loadavg_end"] = os.getloadavg()

    table = markdown(results, meta)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "samples": results, "warmup_samples": warmups, "table": table}, f, indent=1)
        f.write("\n")
    print(table)
    print(f"(raw samples: {os.path.relpath(os.path.abspath(args.out), os.getcwd())})", file=sys.stderr)


if __name__ == "__main__":
    main()
