"""The hand-written baseline for scripts/bench/first_event.py: the usual Python
Lambda function for per-instance disk alarms, run once per event as a fresh process.

Why it is shaped like this: it is the design of AWS's original sample and of
most hand-written versions of this job. On an EC2 `running` state-change event it
makes exactly two PutMetricAlarm calls, a warning alarm at 60 % to the warning
topic and a critical alarm at 80 % to the critical topic, on the CloudWatch
agent's `disk_used_percent` with assumed dimensions (InstanceId, path=/,
fstype=xfs). It makes no other call:

- it does not read the instance (no scope tag, no check that it still runs);
- it does not read existing alarms, so a duplicate event writes both alarms again;
- it does not discover which disk series the instance publishes.

So it is the cheapest correct-looking thing to compare against, not a strawman.
The alarms are configured like alarmctl's provisional pair for a fresh instance
(same metric, dimensions, statistic, period, evaluation periods, operator,
missing-data treatment, alarm and OK actions) with a one-line description, so
both sides send comparable requests.

A fresh process per event stands for a cold start: interpreter start,
`import boto3`, client creation (at module level, as in a Lambda function) and the
calls. Only the API-call counter below is extra; it exists for the benchmark.

Usage: python python_baseline.py EVENT_FILE   (or - for standard input)
Environment: WARNING_TOPIC_ARN, CRITICAL_TOPIC_ARN, AWS_REGION, and the usual AWS
settings (AWS_ENDPOINT_URL, credentials). Prints {"api_calls": {...}} on stdout.
"""
import json
import os
import sys

import boto3

cloudwatch = boto3.client("cloudwatch", region_name=os.environ.get("AWS_REGION"))

# For the benchmark only: count the API calls per operation, the way alarmctl's
# report does (one per operation call; the emulator never makes the SDK retry).
API_CALLS = {}


def _count(event_name, **_kwargs):
    operation = event_name.rsplit(".", 1)[-1]
    API_CALLS[operation] = API_CALLS.get(operation, 0) + 1


cloudwatch.meta.events.register("before-call.*.*", _count)


def lambda_handler(event, context=None):
    detail = event.get("detail") or {}
    if event.get("detail-type") != "EC2 Instance State-change Notification" or detail.get("state") != "running":
        return
    instance_id = detail["instance-id"]
    for severity, threshold, topic in (
        ("warning", 60.0, os.environ["WARNING_TOPIC_ARN"]),
        ("critical", 80.0, os.environ["CRITICAL_TOPIC_ARN"]),
    ):
        cloudwatch.put_metric_alarm(
            AlarmName=f"py-{instance_id}-{severity}",
            AlarmDescription=f"{severity}: disk / on {instance_id} at or above {threshold:g} % used",
            Namespace="CWAgent",
            MetricName="disk_used_percent",
            Dimensions=[
                {"Name": "InstanceId", "Value": instance_id},
                {"Name": "path", "Value": "/"},
                {"Name": "fstype", "Value": "xfs"},
            ],
            Statistic="Average",
            Period=300,
            EvaluationPeriods=2,
            Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="missing",
            AlarmActions=[topic],
            OKActions=[topic],
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if sys.argv[1] == "-":
        event = json.load(sys.stdin)
    else:
        with open(sys.argv[1], encoding="utf-8") as file:
            event = json.load(file)
    lambda_handler(event)
    print(json.dumps({"api_calls": API_CALLS}))
