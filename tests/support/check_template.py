"""Least-privilege and self-monitoring assertions on the SAM template.

Parses template.yaml (or the template given as the only argument) and checks
that the function's permissions, the topics and the alarms on the reconciler
itself are what they are meant to be, so that a change cannot widen a
permission or drop an alarm without this script (and whoever edits it) noticing:

- the function role gets exactly the actions listed in EXPECTED_ACTIONS, each on
  exactly the resources listed there: alarm writes only under AlarmNamePrefix,
  "*" only where AWS offers no resource-level permission, Lambda only on the
  function itself, and no wildcard action, NotAction or NotResource;
- PutMetricAlarm may only point alarms at the stack's two topics;
- SAM adds nothing to the role beyond its basic logging policy and the
  on-failure queue (no managed policies, policy templates, or event sources and
  settings that make SAM attach more);
- both topics are KMS-encrypted, and only this account's CloudWatch alarms and
  the maintenance notice rule may publish to them;
- the alarms on the reconciler (errors, throttles, sweep heartbeat) exist with
  the intended metric, threshold and missing-data treatment, notify the right
  topic, and are not named under AlarmNamePrefix.

Standard library and PyYAML only. Prints one line per check and exits 1 if any
check fails (2 if the template cannot be read).

Usage: python tests/support/check_template.py [TEMPLATE]
"""

import json
import re
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "ReconcilerFunction"
WARNING_TOPIC = {"Ref": "WarningTopic"}
CRITICAL_TOPIC = {"Ref": "CriticalTopic"}

_ARN = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}"
OWN_ALARMS = {"Fn::Sub": f"{_ARN}:alarm:${{AlarmNamePrefix}}*"}
ACCOUNT_ALARMS = {"Fn::Sub": f"{_ARN}:alarm:*"}
# AWS documents the mute rule's resource type both as "alarm-mute-rule" and as
# "alarm-mute"; the template grants both forms.
OWN_MUTE_RULES = [
    {"Fn::Sub": f"{_ARN}:alarm-mute-rule:${{AlarmNamePrefix}}mute-*"},
    {"Fn::Sub": f"{_ARN}:alarm-mute:${{AlarmNamePrefix}}mute-*"},
]
ANY = "*"
SELF = "self"  # placeholder: the function's own ARN, derived from FunctionName

# Every action the role's statements may grant, and the only resources each may
# be granted on. Adding an action or a resource means editing this table.
EXPECTED_ACTIONS = {
    # No resource-level permissions.
    "ec2:DescribeInstances": [ANY],
    "autoscaling:DescribeAutoScalingInstances": [ANY],
    "autoscaling:DescribeAutoScalingGroups": [ANY],
    "cloudwatch:ListAlarmMuteRules": [ANY],
    "cloudwatch:ListMetrics": [ANY],
    # Read-only, this account's and Region's alarms.
    "cloudwatch:DescribeAlarms": [ACCOUNT_ALARMS, OWN_ALARMS],
    # Writes: only what the function owns.
    "cloudwatch:PutMetricAlarm": [OWN_ALARMS],
    "cloudwatch:DeleteAlarms": [OWN_ALARMS],
    # CloudWatch authorizes a mute rule against the rule and every alarm it targets.
    "cloudwatch:PutAlarmMuteRule": [*OWN_MUTE_RULES, OWN_ALARMS],
    "cloudwatch:GetAlarmMuteRule": OWN_MUTE_RULES,
    "cloudwatch:DeleteAlarmMuteRule": OWN_MUTE_RULES,
    # Sweep follow-ups.
    "lambda:InvokeFunction": [SELF],
}

# Actions that write alarms or mute rules: never on anything but the function's
# own alarms and mute rules, whatever EXPECTED_ACTIONS says.
PREFIX_SCOPED = {
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DeleteAlarms",
    "cloudwatch:PutAlarmMuteRule",
    "cloudwatch:DeleteAlarmMuteRule",
    "cloudwatch:GetAlarmMuteRule",
    "cloudwatch:TagResource",
    "cloudwatch:UntagResource",
}

# Actions AWS offers no resource-level permission for: the only ones that may
# have Resource "*".
STAR_RESOURCE_ALLOWED = {
    "ec2:DescribeInstances",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeAutoScalingGroups",
    "cloudwatch:ListAlarmMuteRules",
    "cloudwatch:ListMetrics",
}

# Function events that make SAM add nothing to the function's role.
ROLE_NEUTRAL_EVENTS = {"EventBridgeRule", "ScheduleV2", "Schedule", "CloudWatchEvent"}
# Function properties with which SAM attaches more policies to the role.
ROLE_WIDENING_PROPERTIES = ["Role", "ManagedPolicyArns", "DeadLetterQueue", "Tracing", "VpcConfig"]

def _function_metric_alarm(metric):
    """Any error (or throttle) of the function in 5 minutes, to the warning topic."""
    return {
        "Namespace": "AWS/Lambda",
        "MetricName": metric,
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": FUNCTION}}],
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [WARNING_TOPIC],
    }


# The alarms on the reconciler itself.
WATCHER_ALARMS = {
    "FunctionErrorsAlarm": _function_metric_alarm("Errors"),
    "FunctionThrottlesAlarm": _function_metric_alarm("Throttles"),
    "SweepHeartbeatAlarm": {
        "Namespace": "DiskAlarmReconciler",
        "MetricName": "SweepsSucceeded",
        "Dimensions": [{"Name": "Trigger", "Value": "sweep"}],
        "Statistic": "Sum",
        "Period": 3600,
        "EvaluationPeriods": 26,
        "DatapointsToAlarm": 26,
        "Threshold": 1,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "breaching",
        "AlarmActions": [CRITICAL_TOPIC],
    },
}


# --- Reading the template ---------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long form."""


def _short_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _short_tag)


def load_template(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


# --- Helpers ------------------------------------------------------------------


class Failed(Exception):
    pass


def show(value):
    return json.dumps(value, sort_keys=True)


def as_list(value):
    return value if isinstance(value, list) else [value]


def resources_of_type(template, type_name):
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if isinstance(resource, dict) and resource.get("Type") == type_name
    }


def resource(template, name, type_name):
    found = template.get("Resources", {}).get(name)
    if not isinstance(found, dict):
        raise Failed(f"resource {name} is missing")
    if found.get("Type") != type_name:
        raise Failed(f"{name} is {found.get('Type')}, expected {type_name}")
    return found


def function_properties(template):
    return resource(template, FUNCTION, "AWS::Serverless::Function").get("Properties", {})


def role_statements(template):
    """The statements of the function's inline policies, each with its Sid."""
    policies = function_properties(template).get("Policies")
    if policies is None:
        raise Failed(f"{FUNCTION} has no Policies")
    statements = []
    for index, policy in enumerate(as_list(policies)):
        if not isinstance(policy, dict) or "Statement" not in policy:
            # A string is a managed policy; a one-key mapping is a SAM policy template.
            raise Failed(f"Policies[{index}] is not an inline policy document: {show(policy)}")
        body = policy["Statement"]
        if not isinstance(body, list) or any(not isinstance(s, dict) for s in body):
            raise Failed(f"Policies[{index}].Statement is not a literal list of statements")
        statements.extend(body)
    return statements


def label(statement):
    return statement.get("Sid") or show(statement.get("Action"))


def actions_of(statement):
    actions = as_list(statement.get("Action", []))
    for action in actions:
        if not isinstance(action, str):
            raise Failed(f"statement {label(statement)}: action is not a literal string: {show(action)}")
    return actions


def canonical(action):
    """IAM action names are case-insensitive: map to EXPECTED_ACTIONS' spelling."""
    for known in (*EXPECTED_ACTIONS, *PREFIX_SCOPED):
        if known.lower() == action.lower():
            return known
    return action


def allowed_statements(template):
    return [s for s in role_statements(template) if s.get("Effect") == "Allow"]


def self_arn(template):
    name = function_properties(template).get("FunctionName")
    if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
        name = name["Fn::Sub"]
    if not isinstance(name, str):
        raise Failed(f"{FUNCTION}.FunctionName is not a literal or a plain !Sub: {show(name)}")
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"}


# --- Checks -------------------------------------------------------------------


def check_no_wildcards_or_negations(template):
    """no wildcard action, no NotAction / NotResource, only Allow or Deny"""
    problems = []
    for statement in role_statements(template):
        if statement.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"statement {label(statement)}: Effect {show(statement.get('Effect'))}")
        if statement.get("Effect") == "Allow":
            for key in ("NotAction", "NotResource", "NotPrincipal"):
                if key in statement:
                    problems.append(f"statement {label(statement)}: Allow with {key}")
        for action in actions_of(statement):
            if "*" in action or "?" in action:
                problems.append(f"statement {label(statement)}: wildcard action {action!r}")
    return problems


def check_action_set(template):
    """the role's actions are exactly EXPECTED_ACTIONS"""
    granted = {canonical(a) for s in allowed_statements(template) for a in actions_of(s)}
    problems = []
    extra = sorted(granted - set(EXPECTED_ACTIONS))
    missing = sorted(set(EXPECTED_ACTIONS) - granted)
    if extra:
        problems.append(f"actions not in EXPECTED_ACTIONS: {', '.join(extra)}")
    if missing:
        problems.append(f"expected actions no longer granted: {', '.join(missing)} (update EXPECTED_ACTIONS)")
    return problems


def check_read_only_ec2_autoscaling(template):
    """EC2 and Auto Scaling actions are Describe* only"""
    problems = []
    for statement in allowed_statements(template):
        for action in actions_of(statement):
            service, _, name = action.partition(":")
            if service.lower() in ("ec2", "autoscaling") and not name.lower().startswith("describe"):
                problems.append(f"statement {label(statement)}: {action} is not read-only")
    return problems


def check_resources(template):
    """every action only on its expected resources ("*" only where AWS has no resource-level permission)"""
    me = self_arn(template)
    problems = []
    for statement in allowed_statements(template):
        resources = as_list(statement.get("Resource", []))
        if not resources:
            problems.append(f"statement {label(statement)}: no Resource")
        for action in map(canonical, actions_of(statement)):
            allowed = [me if r == SELF else r for r in EXPECTED_ACTIONS.get(action, [])]
            for res in resources:
                if res == ANY and action not in STAR_RESOURCE_ALLOWED:
                    problems.append(f"statement {label(statement)}: {action} on \"*\"")
                elif res not in allowed:
                    problems.append(f"statement {label(statement)}: {action} on unexpected resource {show(res)}")
    return problems


def check_writes_prefix_scoped(template):
    """alarm and mute-rule writes only under ${AlarmNamePrefix}, never "*" """
    own = [OWN_ALARMS, *OWN_MUTE_RULES]
    problems = []
    seen = False
    for statement in allowed_statements(template):
        scoped = [a for a in map(canonical, actions_of(statement)) if a in PREFIX_SCOPED]
        if not scoped:
            continue
        seen = True
        for res in as_list(statement.get("Resource", [])):
            if res not in own:
                problems.append(f"statement {label(statement)}: {', '.join(scoped)} on {show(res)}")
    if not seen:
        problems.append("no statement grants an alarm write: the template changed shape, review this check")
    return problems


def check_put_metric_alarm_condition(template):
    """PutMetricAlarm may only set the stack's two topics as alarm actions"""
    want = sorted(map(show, [WARNING_TOPIC, CRITICAL_TOPIC]))
    problems = []
    statements = [
        s for s in allowed_statements(template) if "cloudwatch:PutMetricAlarm" in map(canonical, actions_of(s))
    ]
    if not statements:
        problems.append("no statement grants cloudwatch:PutMetricAlarm")
    for statement in statements:
        condition = statement.get("Condition") or {}
        found = None
        for operator, keys in condition.items():
            for key, values in (keys or {}).items():
                if key.lower() == "cloudwatch:alarmactions":
                    if operator not in ("ForAllValues:StringEquals", "ForAllValues:ArnEquals"):
                        problems.append(
                            f"statement {label(statement)}: cloudwatch:AlarmActions under {operator}, "
                            "expected ForAllValues:StringEquals"
                        )
                    found = sorted(map(show, as_list(values)))
        if found is None:
            problems.append(f"statement {label(statement)}: PutMetricAlarm without a cloudwatch:AlarmActions condition")
        elif found != want:
            problems.append(f"statement {label(statement)}: AlarmActions condition allows {found}, expected {want}")
    return problems


def check_sam_adds_nothing(template):
    """SAM adds only basic logging and the on-failure queue to the role"""
    props = function_properties(template)
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    problems = []
    for where, source in ((FUNCTION, props), ("Globals.Function", globals_)):
        for key in ROLE_WIDENING_PROPERTIES:
            if key in source:
                problems.append(f"{where}.{key} is set: it replaces or widens the function's role")
    if "Policies" in globals_:
        problems.append("Globals.Function.Policies is set")
    for name, event in (props.get("Events") or {}).items():
        if event.get("Type") not in ROLE_NEUTRAL_EVENTS:
            problems.append(f"event {name} of type {event.get('Type')} makes SAM add permissions to the role")
    destinations = (props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}
    for kind, destination in destinations.items():
        expected = {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailedInvocationQueue", "Arn"]}}
        if kind != "OnFailure" or destination != expected:
            problems.append(f"destination {kind} {show(destination)}: SAM grants the role access to it")
    if "Connectors" in resource(template, FUNCTION, "AWS::Serverless::Function"):
        problems.append(f"{FUNCTION} has Connectors: SAM adds their permissions to the role")
    for type_name in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::Serverless::Connector"):
        for name in resources_of_type(template, type_name):
            problems.append(f"{type_name} {name}: IAM resource outside the function's Policies, review this check")
    return problems


def check_prefix_parameter(template):
    """AlarmNamePrefix cannot contain an IAM wildcard"""
    parameter = (template.get("Parameters") or {}).get("AlarmNamePrefix")
    if not parameter:
        return ["parameter AlarmNamePrefix is missing"]
    pattern = parameter.get("AllowedPattern")
    if not pattern:
        return ["AlarmNamePrefix has no AllowedPattern: a prefix of \"*\" would grant every alarm"]
    problems = [f"AllowedPattern accepts {bad!r}" for bad in ("*", "?", "a*", "a?b") if re.fullmatch(pattern, bad)]
    default = parameter.get("Default", "")
    if not re.fullmatch(pattern, default):
        problems.append(f"AllowedPattern rejects the default {default!r}")
    return problems


def check_topics_encrypted(template):
    """both topics are KMS-encrypted with the stack's key"""
    topics = resources_of_type(template, "AWS::SNS::Topic")
    problems = []
    if sorted(topics) != ["CriticalTopic", "WarningTopic"]:
        problems.append(f"topics are {sorted(topics)}, expected CriticalTopic and WarningTopic")
    for name, topic in topics.items():
        key = (topic.get("Properties") or {}).get("KmsMasterKeyId")
        if not key:
            problems.append(f"{name} has no KmsMasterKeyId")
        elif key != {"Ref": "TopicKey"}:
            # CloudWatch cannot publish to a topic encrypted with alias/aws/sns.
            problems.append(f"{name} is encrypted with {show(key)}, expected the stack's TopicKey")
    return problems


def check_topic_policy(template):
    """only this account's CloudWatch alarms and the maintenance notice rule publish to the topics"""
    policies = resources_of_type(template, "AWS::SNS::TopicPolicy")
    problems = []
    if not policies:
        return ["no AWS::SNS::TopicPolicy"]
    topics = [WARNING_TOPIC, CRITICAL_TOPIC]
    alarm_arns = {"Fn::Sub": f"{_ARN}:alarm:*"}
    notice_rule = {"Fn::GetAtt": ["MaintenanceNoticeRule", "Arn"]}
    for policy_name, policy in policies.items():
        props = policy.get("Properties") or {}
        for topic in as_list(props.get("Topics", [])):
            if topic not in topics:
                problems.append(f"{policy_name} applies to {show(topic)}")
        for statement in as_list((props.get("PolicyDocument") or {}).get("Statement", [])):
            where = f"{policy_name} statement {statement.get('Sid')}"
            if statement.get("Effect") != "Allow":
                continue
            for key in ("NotAction", "NotResource", "NotPrincipal"):
                if key in statement:
                    problems.append(f"{where}: Allow with {key}")
            if [a.lower() for a in as_list(statement.get("Action", []))] != ["sns:publish"]:
                problems.append(f"{where}: actions {show(statement.get('Action'))}, expected sns:Publish only")
            condition = statement.get("Condition") or {}
            principal = statement.get("Principal")
            service = principal.get("Service") if isinstance(principal, dict) and len(principal) == 1 else None
            resources = as_list(statement.get("Resource", []))
            if service == "cloudwatch.amazonaws.com":
                if (condition.get("StringEquals") or {}).get("aws:SourceAccount") != {"Ref": "AWS::AccountId"}:
                    problems.append(f"{where}: CloudWatch without aws:SourceAccount = this account")
                if (condition.get("ArnLike") or {}).get("aws:SourceArn") != alarm_arns:
                    problems.append(f"{where}: CloudWatch without aws:SourceArn = this account's alarms")
                if any(r not in topics for r in resources):
                    problems.append(f"{where}: publishes to {show(resources)}")
            elif service == "events.amazonaws.com":
                source = (condition.get("ArnEquals") or {}).get("aws:SourceArn")
                if source != notice_rule:
                    problems.append(f"{where}: EventBridge with aws:SourceArn {show(source)}, expected the notice rule")
                if resources != [WARNING_TOPIC]:
                    problems.append(f"{where}: EventBridge publishes to {show(resources)}, expected WarningTopic only")
            else:
                problems.append(f"{where}: unexpected principal {show(principal)}")
    return problems


def check_no_open_principals(template):
    """no resource policy allows Principal "*" without a condition"""
    problems = []
    documents = {
        "AWS::SNS::TopicPolicy": "PolicyDocument",
        "AWS::SQS::QueuePolicy": "PolicyDocument",
        "AWS::KMS::Key": "KeyPolicy",
    }
    for type_name, field in documents.items():
        for name, res in resources_of_type(template, type_name).items():
            for statement in as_list(((res.get("Properties") or {}).get(field) or {}).get("Statement", [])):
                principal = statement.get("Principal")
                everyone = principal == "*" or (
                    isinstance(principal, dict) and any("*" in as_list(v) for v in principal.values())
                )
                if statement.get("Effect") == "Allow" and everyone and not statement.get("Condition"):
                    problems.append(f"{name} statement {statement.get('Sid')}: Principal \"*\" without a condition")
    return problems


def check_watcher_alarms(template):
    """errors, throttles and heartbeat alarms exist as intended"""
    problems = []
    for name, expected in WATCHER_ALARMS.items():
        try:
            props = resource(template, name, "AWS::CloudWatch::Alarm").get("Properties") or {}
        except Failed as e:
            problems.append(str(e))
            continue
        for key, want in expected.items():
            have = props.get(key)
            if isinstance(want, int) and not isinstance(have, bool) and isinstance(have, (int, float, str)):
                try:
                    have = float(have)
                    want = float(want)
                except ValueError:
                    pass
            if have != want:
                problems.append(f"{name}.{key} is {show(props.get(key))}, expected {show(expected[key])}")
        if props.get("ActionsEnabled") is False or str(props.get("ActionsEnabled")).lower() == "false":
            problems.append(f"{name}: ActionsEnabled is false")
        if not str(props.get("AlarmDescription") or "").strip():
            problems.append(f"{name}: no AlarmDescription")
    return problems


def check_alarm_names(template):
    """every alarm of the stack notifies a stack topic and is not named under AlarmNamePrefix"""
    default_prefix = ((template.get("Parameters") or {}).get("AlarmNamePrefix") or {}).get("Default", "")
    problems = []
    for name, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = alarm.get("Properties") or {}
        alarm_name = props.get("AlarmName")
        if alarm_name is not None:
            text = show(alarm_name)
            literal = alarm_name.get("Fn::Sub") if isinstance(alarm_name, dict) else alarm_name
            if "AlarmNamePrefix" in text or (default_prefix and str(literal).startswith(default_prefix)):
                problems.append(f"{name}: AlarmName {text} falls under the function's AlarmNamePrefix")
        actions = as_list(props.get("AlarmActions", []))
        if not actions:
            problems.append(f"{name}: no AlarmActions")
        for field in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for action in as_list(props.get(field, [])):
                if action not in (WARNING_TOPIC, CRITICAL_TOPIC):
                    problems.append(f"{name}.{field}: {show(action)} is not one of the stack's topics")
    return problems


def check_heartbeat_emitted():
    """the code emits the heartbeat metric the template alarms on"""
    problems = []
    app = REPO_ROOT / "handler/src/app.rs"
    report = REPO_ROOT / "handler/src/report.rs"
    try:
        if 'METRICS_NAMESPACE: &str = "DiskAlarmReconciler"' not in app.read_text(encoding="utf-8"):
            problems.append(f"{app.relative_to(REPO_ROOT)} no longer sets METRICS_NAMESPACE to DiskAlarmReconciler")
        if '"SweepsSucceeded"' not in report.read_text(encoding="utf-8"):
            problems.append(f"{report.relative_to(REPO_ROOT)} no longer emits SweepsSucceeded")
    except OSError as e:
        problems.append(f"cannot read the source: {e}")
    return problems


def check_sam_local_env_file(template):
    """scripts/sam-local-env.json sets every variable the function gets, and only those (plus AWS settings)"""
    path = REPO_ROOT / "scripts/sam-local-env.json"
    try:
        values = json.loads(path.read_text(encoding="utf-8"))[FUNCTION]
    except (OSError, ValueError, KeyError) as e:
        return [f"cannot read {path.relative_to(REPO_ROOT)} as {{\"{FUNCTION}\": {{...}}}}: {e}"]
    declared = set(function_properties(template)["Environment"]["Variables"])
    given = {name for name in values if not name.startswith("AWS_")}
    problems = [f"{name} is in the template but not in the env-vars file" for name in sorted(declared - given)]
    problems += [f"{name} is in the env-vars file but not in the template" for name in sorted(given - declared)]
    problems += [f"{name} is empty (the function refuses empty values)" for name, v in values.items() if v == ""]
    return problems


CHECKS = [
    check_no_wildcards_or_negations,
    check_action_set,
    check_read_only_ec2_autoscaling,
    check_resources,
    check_writes_prefix_scoped,
    check_put_metric_alarm_condition,
    check_sam_adds_nothing,
    check_prefix_parameter,
    check_topics_encrypted,
    check_topic_policy,
    check_no_open_principals,
    check_watcher_alarms,
    check_alarm_names,
    check_sam_local_env_file,
]


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / "template.yaml"
    try:
        template = load_template(path)
    except (OSError, yaml.YAMLError) as e:
        print(f"ERROR: cannot read {path}: {e}", file=sys.stderr)
        return 2
    if not isinstance(template, dict):
        print(f"ERROR: {path} is not a template", file=sys.stderr)
        return 2
    runs = [(check.__doc__.strip(), lambda check=check: check(template)) for check in CHECKS]
    runs.append((check_heartbeat_emitted.__doc__.strip(), check_heartbeat_emitted))
    failed = 0
    for title, run in runs:
        try:
            problems = run()
        except Failed as e:
            problems = [str(e)]
        except (AttributeError, KeyError, TypeError) as e:
            problems = [f"unexpected template shape: {type(e).__name__}: {e}"]
        if problems:
            failed += 1
            print(f"FAIL {title}")
            for problem in problems:
                print(f"       - {problem}")
        else:
            print(f"ok   {title}")
    if failed:
        print(f"{path}: {failed} of {len(runs)} template checks failed", file=sys.stderr)
        return 1
    print(f"{path}: all {len(runs)} template checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
