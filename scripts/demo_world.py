"""Sets up and shows the demo's world in the local emulator (see scripts/demo.sh).

  setup        create the two SNS topics, four Linux instances and one Windows
               instance; print shell assignments
  stop ID      stop an instance
  publish ID   publish the CloudWatch agent's disk series of a Linux instance:
               /, /data and a tmpfs on /run
  publish-windows ID   publish the CloudWatch agent's LogicalDisk % Free Space
               of a Windows instance: drives C: and D:, and the _Total series
  table        print every alarm in the Region as a table
  tags NAME    print the tags of one alarm
  launch NAME ENV   launch one more Linux instance tagged Name=NAME, Environment=ENV; print its id
  mutes        print every alarm mute rule in the Region
  event SAMPLE ID   print events/SAMPLE for instance ID, sent now; a Health
               event's window moves to two days from now, on the hour
"""
import datetime
import json
import os
import sys

import boto3

REGION = os.environ.get("AWS_REGION", "us-east-1")


def client(service):
    return boto3.client(service, region_name=REGION, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def images(ec2):
    """(Amazon Linux image, Windows Server image) from the emulator's catalogue.

    An instance takes its platform (`Platform: windows` in DescribeInstances)
    from its image, and the first image listed can be a Windows one.
    """
    def first(filters, windows):
        listed = ec2.describe_images(Filters=filters)["Images"]
        return next(i["ImageId"] for i in listed if (i.get("Platform") == "windows") == windows)

    linux = first([{"Name": "name", "Values": ["amzn*"]}], windows=False)
    windows = first([{"Name": "platform", "Values": ["windows"]}], windows=True)
    return linux, windows


def run_instance(ec2, image, name, env):
    tags = [{"Key": "Name", "Value": name}, {"Key": "Environment", "Value": env}]
    instance = ec2.run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    return instance["InstanceId"]


def setup():
    sns = client("sns")
    warning = sns.create_topic(Name="disk-warning")["TopicArn"]
    critical = sns.create_topic(Name="disk-critical")["TopicArn"]
    print(f"WARNING_TOPIC_ARN={warning}")
    print(f"CRITICAL_TOPIC_ARN={critical}")
    ec2 = client("ec2")
    linux, windows = images(ec2)
    for var, name, env, image in [
        ("WEB1", "web-1", "production", linux),
        ("WEB2", "web-2", "production", linux),
        ("DB1", "db-1", "production", linux),
        ("BATCH1", "batch-1", "staging", linux),
        ("WIN1", "win-1", "production", windows),
    ]:
        print(f"{var}={run_instance(ec2, image, name, env)}")


def launch(name, env):
    ec2 = client("ec2")
    linux, _ = images(ec2)
    print(run_instance(ec2, linux, name, env))


def stop(instance_id):
    client("ec2").stop_instances(InstanceIds=[instance_id])


def publish(instance_id):
    filesystems = [("/", "nvme0n1p1", "xfs", 31.0), ("/data", "nvme1n1", "ext4", 64.0), ("/run", "tmpfs", "tmpfs", 1.0)]
    client("cloudwatch").put_metric_data(Namespace="CWAgent", MetricData=[
        {
            "MetricName": "disk_used_percent",
            "Unit": "Percent",
            "Value": value,
            "Dimensions": [
                {"Name": "InstanceId", "Value": instance_id},
                {"Name": "path", "Value": path},
                {"Name": "device", "Value": device},
                {"Name": "fstype", "Value": fstype},
            ],
        }
        for path, device, fstype, value in filesystems
    ])


def publish_windows(instance_id):
    # Percent free: C: is 55 % free, D: 71 %; _Total is the agent's sum over all drives.
    volumes = [("C:", 55.0), ("D:", 71.0), ("_Total", 63.0)]
    client("cloudwatch").put_metric_data(Namespace="CWAgent", MetricData=[
        {
            "MetricName": "LogicalDisk % Free Space",
            "Unit": "Percent",
            "Value": value,
            "Dimensions": [
                {"Name": "instance", "Value": volume},
                {"Name": "objectname", "Value": "LogicalDisk"},
                {"Name": "InstanceId", "Value": instance_id},
            ],
        }
        for volume, value in volumes
    ])


OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanOrEqualToThreshold": "<=",
    "LessThanThreshold": "<",
}


def table():
    alarms = client("cloudwatch").describe_alarms()["MetricAlarms"]
    rows = [("ALARM", "METRIC", "DIMENSIONS", "FIRES AT", "ACTIONS")]
    for alarm in sorted(alarms, key=lambda a: a["AlarmName"]):
        dims = ",".join(f"{d['Name']}={d['Value']}" for d in alarm.get("Dimensions", []))
        actions = ",".join(a.rsplit(":", 1)[-1] for a in alarm.get("AlarmActions", []))
        operator = OPERATORS.get(alarm["ComparisonOperator"], alarm["ComparisonOperator"])
        rows.append((alarm["AlarmName"], f"{alarm['Namespace']}/{alarm['MetricName']}", dims,
                     f"{operator} {alarm['Threshold']:g}%", actions))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"({len(alarms)} alarms)")


def tags(name):
    cloudwatch = client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    listed = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    print(", ".join(f"{t['Key']}={t['Value']}" for t in listed))


def mutes():
    cloudwatch = client("cloudwatch")
    summaries = cloudwatch.list_alarm_mute_rules().get("AlarmMuteRuleSummaries", [])
    for summary in summaries:
        name = summary["AlarmMuteRuleArn"].rsplit(":", 1)[-1]
        rule = cloudwatch.get_alarm_mute_rule(AlarmMuteRuleName=name)
        schedule = rule["Rule"]["Schedule"]
        targets = ", ".join(rule.get("MuteTargets", {}).get("AlarmNames", []))
        print(f"{name}  {schedule['Expression']} for {schedule['Duration']}  {rule['Status']}  mutes {targets}")
    print(f"({len(summaries)} mute rules)")


def event(sample, instance_id):
    with open(os.path.join(os.path.dirname(__file__), "..", "events", sample)) as f:
        body = json.load(f)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    body = json.loads(json.dumps(body).replace("i-0123456789abcdef0", instance_id))
    body["time"] = now.isoformat().replace("+00:00", "Z")
    if body["source"] == "aws.health":
        start = now.replace(minute=0, second=0) + datetime.timedelta(days=2)
        body["detail"]["startTime"] = start.isoformat().replace("+00:00", "Z")
        body["detail"]["endTime"] = (start + datetime.timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    print(json.dumps(body))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "setup":
        setup()
    elif command == "stop" and len(sys.argv) == 3:
        stop(sys.argv[2])
    elif command == "publish" and len(sys.argv) == 3:
        publish(sys.argv[2])
    elif command == "publish-windows" and len(sys.argv) == 3:
        publish_windows(sys.argv[2])
    elif command == "table":
        table()
    elif command == "tags" and len(sys.argv) == 3:
        tags(sys.argv[2])
    elif command == "launch" and len(sys.argv) == 4:
        launch(sys.argv[2], sys.argv[3])
    elif command == "mutes":
        mutes()
    elif command == "event" and len(sys.argv) == 4:
        event(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
