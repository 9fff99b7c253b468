"""Self-check of the CloudWatch CBOR shim in tests/support/moto_server.py.

Starts nothing: it talks to the moto server at $AWS_ENDPOINT_URL (see
scripts/lib.sh start_moto) with hand-built RPC v2 CBOR requests carrying the
headers the Rust SDK sends, and asserts on the decoded CBOR answers, including
the exact CBOR types the SDK's strict decoder needs.  It uses a region of its
own (moto picks the backend from the credential scope) so it leaves the state
other tests see alone.  Exits non-zero with a message on the first mismatch.

Usage: AWS_ENDPOINT_URL=http://127.0.0.1:PORT python tests/support/check_cbor_proxy.py
"""

import datetime
import os
import sys
import urllib.error
import urllib.request

import cbor2

REGION = "eu-north-1"
ACCOUNT = "123456789012"
PREFIX = "cbor-check-i-0abc123-"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:disk-alerts"
DIMENSIONS = [
    {"Name": "InstanceId", "Value": "i-0abc123"},
    {"Name": "path", "Value": "/"},
    {"Name": "device", "Value": "nvme0n1p1"},
    {"Name": "fstype", "Value": "xfs"},
]


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def call(operation, params, region=REGION, access_key="testing", extra_headers=None):
    """POST one CBOR request as the Rust SDK would; return (status, headers, raw body, decoded).

    Only the credential scope and the access key matter to moto: the scope
    selects service and region, the key the account (see check_mute_rules.py).
    """
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    body = cbor2.dumps(params)
    request = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "x-amzn-query-mode": "true",
            "X-Amz-Date": "20250101T000000Z",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={access_key}/20250101/{region}/monitoring/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date, Signature=0000"
            ),
            **(extra_headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()

    where = f"{operation} (HTTP {status}, body {raw[:300]!r})"
    check(headers.get("smithy-protocol") == "rpc-v2-cbor", f"{where}: smithy-protocol header is {headers.get('smithy-protocol')!r}")
    check(headers.get("Content-Type") == "application/cbor", f"{where}: Content-Type is {headers.get('Content-Type')!r}")
    check(headers.get("Content-Length") == str(len(raw)), f"{where}: Content-Length {headers.get('Content-Length')!r} != {len(raw)}")
    # Keep tag 1 visible (instead of cbor2's datetime) so the test can see its number type.
    decoded = cbor2.loads(raw, semantic_decoders={1: lambda value, *_: cbor2.CBORTag(1, value)}) if raw else None
    return status, headers, raw, decoded


def ok(operation, params):
    status, _, raw, decoded = call(operation, params)
    check(status == 200, f"{operation}: expected HTTP 200, got {status}: {decoded!r} / {raw[:300]!r}")
    return decoded


def is_timestamp(value):
    return isinstance(value, cbor2.CBORTag) and value.tag == 1 and isinstance(value.value, (int, float))


def alarm_params(name):
    return {
        "AlarmName": name,
        "AlarmDescription": "Disk used on / of i-0abc123 (managed)",
        "Namespace": "CWAgent",
        "MetricName": "disk_used_percent",
        "Dimensions": DIMENSIONS,
        "Statistic": "Average",
        "Period": 300,
        "EvaluationPeriods": 2,
        "Threshold": 60.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
        "ActionsEnabled": True,
        "AlarmActions": [TOPIC],
        "OKActions": [TOPIC],
    }


def main():
    names = [f"{PREFIX}disk-root", f"{PREFIX}disk-data"]
    other = "cbor-check-other-alarm"

    # PutMetricAlarm: output-less operation, body may be empty.
    for name in names + [other]:
        check(ok("PutMetricAlarm", alarm_params(name)) in (None, {}), "PutMetricAlarm: unexpected body")

    # DescribeAlarms by prefix: only ours, fully typed.
    out = ok("DescribeAlarms", {"AlarmNamePrefix": PREFIX, "AlarmTypes": ["MetricAlarm"]})
    alarms = out.get("MetricAlarms", [])
    check(sorted(a["AlarmName"] for a in alarms) == sorted(names), f"DescribeAlarms prefix: got {[a['AlarmName'] for a in alarms]}")
    alarm = next(a for a in alarms if a["AlarmName"] == names[0])
    expected = alarm_params(names[0])
    for key in ("AlarmDescription", "Namespace", "MetricName", "Statistic", "ComparisonOperator",
                "TreatMissingData", "AlarmActions", "OKActions", "ActionsEnabled"):
        check(alarm.get(key) == expected[key], f"DescribeAlarms: {key} is {alarm.get(key)!r}, want {expected[key]!r}")
    check(sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == sorted(DIMENSIONS, key=lambda d: d["Name"]),
          f"DescribeAlarms: Dimensions {alarm['Dimensions']!r}")
    check(type(alarm["Threshold"]) is float and alarm["Threshold"] == 60.0, f"Threshold must be a CBOR float: {alarm['Threshold']!r}")
    for key, want in (("Period", 300), ("EvaluationPeriods", 2)):
        check(type(alarm[key]) is int and alarm[key] == want, f"{key} must be a CBOR int {want}: {alarm[key]!r}")
    for key in ("AlarmConfigurationUpdatedTimestamp", "StateUpdatedTimestamp"):
        check(is_timestamp(alarm.get(key)), f"{key} must be CBOR tag 1 with a number: {alarm.get(key)!r}")
    check(alarm.get("StateValue") in ("OK", "ALARM", "INSUFFICIENT_DATA"), f"StateValue {alarm.get('StateValue')!r}")
    check(alarm.get("AlarmArn", "").startswith(f"arn:aws:cloudwatch:{REGION}:"), f"AlarmArn {alarm.get('AlarmArn')!r}")

    # DescribeAlarms by names.
    out = ok("DescribeAlarms", {"AlarmNames": [names[1]]})
    check([a["AlarmName"] for a in out.get("MetricAlarms", [])] == [names[1]], f"DescribeAlarms names: {out!r}")

    # PutMetricData with a tag-1 timestamp in the request, then ListMetrics finds it.
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    ok("PutMetricData", {
        "Namespace": "CWAgent",
        "MetricData": [{
            "MetricName": "disk_used_percent",
            "Dimensions": DIMENSIONS,
            "Timestamp": cbor2.CBORTag(1, now),
            "Value": 42.5,
            "Unit": "Percent",
        }],
    })
    out = ok("ListMetrics", {"Namespace": "CWAgent", "MetricName": "disk_used_percent"})
    metrics = out.get("Metrics", [])
    check(any(sorted(m.get("Dimensions", []), key=lambda d: d["Name"]) == sorted(DIMENSIONS, key=lambda d: d["Name"])
              for m in metrics), f"ListMetrics: {metrics!r}")

    # DeleteAlarms, then the prefix finds nothing (but an empty map decodes).
    ok("DeleteAlarms", {"AlarmNames": names + [other]})
    out = ok("DescribeAlarms", {"AlarmNamePrefix": PREFIX})
    check(isinstance(out, dict) and not out.get("MetricAlarms"), f"DescribeAlarms after delete: {out!r}")

    # Errors: a CBOR map with __type and message, HTTP status kept.
    for operation, params in (
        ("GetDashboard", {"DashboardName": "cbor-check-no-such-dashboard"}),
        ("DescribeAnomalyDetectors", {}),  # not implemented by moto: 501
    ):
        status, headers, raw, decoded = call(operation, params)
        check(status >= 400, f"{operation}: expected an error status, got {status}: {decoded!r}")
        check(isinstance(decoded, dict) and isinstance(decoded.get("__type"), str) and decoded["__type"]
              and isinstance(decoded.get("message"), str), f"{operation}: error body {decoded!r}")
        print(f"  {operation}: HTTP {status} {decoded['__type']}: {decoded['message'][:80]}"
              f" (x-amzn-query-error: {headers.get('x-amzn-query-error')})")

    print("check_cbor_proxy: all checks passed")


if __name__ == "__main__":
    if not os.environ.get("AWS_ENDPOINT_URL"):
        sys.exit("check_cbor_proxy: AWS_ENDPOINT_URL is not set (start moto with scripts/lib.sh start_moto)")
    try:
        main()
    except CheckFailed as failure:
        sys.exit(f"check_cbor_proxy: FAILED: {failure}")
