"""Least-privilege and self-monitoring assertions on the SAM template.

Parses template.yaml and dist/stackset.yaml (its expansion into plain
CloudFormation for StackSets, made by scripts/stackset-template.sh), or the
templates given as arguments, and checks in each that the function's
permissions, the audit role, the topics, the dashboard and the alarms on the
reconciler itself are what they are meant to be, so that a change cannot widen
a permission or drop an alarm without this script (and whoever edits it)
noticing. In the expanded template the same assertions find the function's
statements in the generated role (ReconcilerFunctionRole) and its properties on
the AWS::Lambda::Function:

- the function role gets exactly the actions listed in EXPECTED_ACTIONS, each on
  exactly the resources listed there: alarm writes only under AlarmNamePrefix,
  "*" only where AWS offers no resource-level permission, Lambda only on the
  function itself, and no wildcard action, NotAction or NotResource;
- PutMetricAlarm may only point alarms at the stack's two topics;
- SAM adds nothing to the role beyond its basic logging policy and the
  on-failure queue (no managed policies, policy templates, or event sources and
  settings that make SAM attach more);
- EC2 instance tag changes of the scope key, Name and disk-alarms:* keys reach
  the function through one rule, with the state-change rule's retry policy and
  dead-letter queue, which accepts them;
- both topics are KMS-encrypted, and only this account's CloudWatch alarms and
  the maintenance notice rule may publish to them;
- alarm tagging (TagResource) only on the alarms under AlarmNamePrefix;
- the optional audit role can write nothing: only the read actions of
  AUDIT_READ_ACTIONS, each on its expected resources, trusted by the audit
  account only, no managed policies, created in one Region only;
- the alarms on the reconciler (errors, throttles, sweep heartbeat, silent disk alarms) exist with
  the intended metric, dimensions, threshold and missing-data treatment, notify
  the right topic, and are not named under AlarmNamePrefix;
- the dashboard charts metrics the code emits, for this stack's function, and
  shows the stack's own alarms;
- the function runs on the Architecture parameter (arm64 by default, x86_64
  allowed), logs at its Lambda logging level unless LogLevel sets a filter of
  its own (RUST_LOG), and declares AWS_ENDPOINT_URL without ever setting it
  (so that `sam local invoke --env-vars` can, and a deployed stack never does);
- the expanded template has no Transform, takes its code from the S3
  parameters, adds no permission beyond what SAM adds for template.yaml, and is
  what expanding the current template.yaml gives.

Standard library and PyYAML only (the freshness check of the expanded template
imports the SAM translator from .venv). Prints one line per check and exits 1
if any check fails, 2 if a template is missing or cannot be read.

Usage: python tests/support/check_template.py [TEMPLATE...]
"""

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SAM_TEMPLATE = REPO_ROOT / "template.yaml"
STACKSET_TEMPLATE = REPO_ROOT / "dist/stackset.yaml"
STACKSET_SCRIPT = REPO_ROOT / "scripts/stackset_template.py"
FUNCTION = "ReconcilerFunction"
# The role SAM generates for the function in the expanded template; its inline
# policies from the function's Policies are named <FUNCTION>RolePolicy<N>.
FUNCTION_ROLE = f"{FUNCTION}Role"
AUDIT_ROLE = "AuditRole"
METRICS_NAMESPACE = "DiskAlarmReconciler"
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
    # Tags (ALARM_TAGS): tagging at creation needs TagResource; the re-tag pass reads tags.
    "cloudwatch:TagResource": [OWN_ALARMS],
    "cloudwatch:ListTagsForResource": [OWN_ALARMS],
    # Sweep follow-ups.
    "lambda:InvokeFunction": [SELF],
}

# The audit role (alarmctl fleet): read actions only, every Region of the account.
_ANY_REGION = "arn:${AWS::Partition}:cloudwatch:*:${AWS::AccountId}"
AUDIT_READ_ACTIONS = {
    "ec2:DescribeInstances": [ANY],
    "autoscaling:DescribeAutoScalingInstances": [ANY],
    "autoscaling:DescribeAutoScalingGroups": [ANY],
    "cloudwatch:ListMetrics": [ANY],
    "cloudwatch:GetMetricStatistics": [ANY],
    "cloudwatch:ListAlarmMuteRules": [ANY],
    "cloudwatch:DescribeAlarms": [{"Fn::Sub": f"{_ANY_REGION}:alarm:*"}],
    "cloudwatch:GetAlarmMuteRule": [
        {"Fn::Sub": f"{_ANY_REGION}:alarm-mute-rule:${{AlarmNamePrefix}}mute-*"},
        {"Fn::Sub": f"{_ANY_REGION}:alarm-mute:${{AlarmNamePrefix}}mute-*"},
    ],
    "lambda:GetFunctionConfiguration": [
        {"Fn::Sub": "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:${FunctionName}"}
    ],
}
AUDIT_TRUST_PRINCIPAL = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AuditAccountId}:root"}}
AUDIT_ROLE_CONDITION = {
    "Fn::And": [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "AuditAccountId"}, ""]}]},
        {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "AuditRoleRegion"}]},
    ]
}

# Parameters that end up in IAM resource ARNs: none may hold a wildcard.
ARN_PARAMETERS = {
    "AlarmNamePrefix": ["*", "?", "a*", "a?b"],
    "FunctionName": ["*", "?", "a*", "a?b"],
    "AuditAccountId": ["*", "?", "12345678901*", "*23456789012"],
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

# Resource types that grant or carry permissions.
IAM_RESOURCE_TYPES = (
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::RolePolicy",
    "AWS::IAM::User",
    "AWS::IAM::Group",
    "AWS::Serverless::Connector",
)
# The one managed policy SAM attaches to the function's role (logging).
BASIC_EXECUTION = {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}

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
        "Dimensions": [
            {"Name": "FunctionName", "Value": {"Ref": FUNCTION}},
            {"Name": "Trigger", "Value": "sweep"},
        ],
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


# The alarm on silent disk alarms: any in the last sweep, to the warning topic;
# hours without a sweep keep its state.
SILENT_ALARMS_ALARM = {
    "Namespace": "DiskAlarmReconciler",
    "MetricName": "AlarmsSilent",
    "Dimensions": [
        {"Name": "FunctionName", "Value": {"Ref": FUNCTION}},
        {"Name": "Trigger", "Value": "sweep"},
    ],
    "Statistic": "Maximum",
    "Period": 3600,
    "EvaluationPeriods": 1,
    "Threshold": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "ignore",
    "AlarmActions": [WARNING_TOPIC],
    "OKActions": [WARNING_TOPIC],
}


# --- Reading the template ---------------------------------------------------


def _stackset_module():
    """scripts/stackset_template.py, whose YAML loader (CloudFormation short tags
    in their long form) and expansion the checks reuse."""
    spec = importlib.util.spec_from_file_location("stackset_template", STACKSET_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STACKSET = _stackset_module()
CfnLoader = STACKSET.CfnLoader


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


SAM_FUNCTION = "AWS::Serverless::Function"
PLAIN_FUNCTION = "AWS::Lambda::Function"


def is_sam(template):
    """template.yaml (SAM) or its expansion (plain CloudFormation)?"""
    found = template.get("Resources", {}).get(FUNCTION)
    if not isinstance(found, dict) or found.get("Type") not in (SAM_FUNCTION, PLAIN_FUNCTION):
        raise Failed(f"resource {FUNCTION} ({SAM_FUNCTION} or {PLAIN_FUNCTION}) is missing")
    return found["Type"] == SAM_FUNCTION


def function_properties(template):
    kind = SAM_FUNCTION if is_sam(template) else PLAIN_FUNCTION
    return resource(template, FUNCTION, kind).get("Properties", {})


def statement_list(document, where):
    body = (document or {}).get("Statement") if isinstance(document, dict) else None
    if not isinstance(body, list) or any(not isinstance(s, dict) for s in body):
        raise Failed(f"{where}.Statement is not a literal list of statements")
    return body


def role_statements(template):
    """The statements of the function's inline policies (its Policies in
    template.yaml; the generated role's <FUNCTION>RolePolicy<N> once expanded)."""
    if not is_sam(template):
        role = resource(template, FUNCTION_ROLE, "AWS::IAM::Role").get("Properties") or {}
        own = [p for p in role.get("Policies") or [] if re.fullmatch(rf"{FUNCTION}RolePolicy\d+", str(p.get("PolicyName")))]
        if not own:
            raise Failed(f"{FUNCTION_ROLE} has no {FUNCTION}RolePolicy<N>: the translator changed, review this check")
        statements = []
        for policy in own:
            statements.extend(statement_list(policy.get("PolicyDocument"), f"{FUNCTION_ROLE} {policy['PolicyName']}"))
        return statements
    policies = function_properties(template).get("Policies")
    if policies is None:
        raise Failed(f"{FUNCTION} has no Policies")
    statements = []
    for index, policy in enumerate(as_list(policies)):
        if not isinstance(policy, dict) or "Statement" not in policy:
            # A string is a managed policy; a one-key mapping is a SAM policy template.
            raise Failed(f"Policies[{index}] is not an inline policy document: {show(policy)}")
        statements.extend(statement_list(policy, f"Policies[{index}]"))
    return statements


def every_iam_statement(template):
    """(where, statement) of every identity policy in the template: the
    function's Policies, every role's inline policies, every IAM policy resource."""
    found = []
    if is_sam(template):
        found += [(f"{FUNCTION} Policies", s) for s in role_statements(template)]
    for name, res in resources_of_type(template, "AWS::IAM::Role").items():
        for policy in (res.get("Properties") or {}).get("Policies") or []:
            where = f"{name} {policy.get('PolicyName')}"
            found += [(where, s) for s in statement_list(policy.get("PolicyDocument"), where)]
    for type_name in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
        for name, res in resources_of_type(template, type_name).items():
            found += [(name, s) for s in statement_list((res.get("Properties") or {}).get("PolicyDocument"), name)]
    return found


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
    elif isinstance(name, dict) and set(name) == {"Ref"} and name["Ref"] in (template.get("Parameters") or {}):
        name = f"${{{name['Ref']}}}"
    if not isinstance(name, str):
        raise Failed(f"{FUNCTION}.FunctionName is not a literal, a plain !Sub or a parameter: {show(name)}")
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
    for type_name in IAM_RESOURCE_TYPES:
        for name in resources_of_type(template, type_name):
            if (type_name, name) != ("AWS::IAM::Role", AUDIT_ROLE):
                problems.append(f"{type_name} {name}: IAM resource outside the function's Policies, review this check")
    return problems


def _trusts_only_service(role, service):
    statements = statement_list((role.get("Properties") or {}).get("AssumeRolePolicyDocument"), "trust policy")
    if len(statements) != 1:
        return False
    only = statements[0]
    return (
        only.get("Effect") == "Allow"
        and as_list(only.get("Action")) == ["sts:AssumeRole"]
        and only.get("Principal") == {"Service": [service]}
        and "NotPrincipal" not in only
    )


def _grants(statements, allowed):
    """Problems with statements that grant anything beyond `allowed`: (action, resource) pairs."""
    problems = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        for key in ("NotAction", "NotResource"):
            if key in statement:
                problems.append(f"Allow with {key}")
        for action in actions_of(statement):
            for res in as_list(statement.get("Resource", [])):
                if (action.lower(), show(res)) not in {(a.lower(), show(r)) for a, r in allowed}:
                    problems.append(f"{action} on {show(res)}")
    return problems


def check_generated_roles(template):
    """the generated roles add only basic logging, the on-failure queue and the schedules' invoke (expanded)"""
    problems = []
    props = function_properties(template)
    if props.get("Role") != {"Fn::GetAtt": [FUNCTION_ROLE, "Arn"]}:
        problems.append(f"{FUNCTION}.Role is {show(props.get('Role'))}, expected {FUNCTION_ROLE}")
    for key in ("VpcConfig", "TracingConfig", "DeadLetterConfig", "FileSystemConfigs"):
        if key in props:
            problems.append(f"{FUNCTION}.{key} is set: it needs more permissions in the role")
    role = resource(template, FUNCTION_ROLE, "AWS::IAM::Role")
    role_props = role.get("Properties") or {}
    if not _trusts_only_service(role, "lambda.amazonaws.com"):
        problems.append(f"{FUNCTION_ROLE} is not trusted by lambda.amazonaws.com alone")
    if role_props.get("ManagedPolicyArns") != [BASIC_EXECUTION]:
        problems.append(
            f"{FUNCTION_ROLE} managed policies {show(role_props.get('ManagedPolicyArns'))}, "
            f"expected only {show(BASIC_EXECUTION)}"
        )
    on_failure = [("sqs:SendMessage", {"Fn::GetAtt": ["FailedInvocationQueue", "Arn"]})]
    for policy in role_props.get("Policies") or []:
        name = str(policy.get("PolicyName"))
        if re.fullmatch(rf"{FUNCTION}RolePolicy\d+", name):
            continue  # the function's own Policies, checked by the other checks
        where = f"{FUNCTION_ROLE} {name}"
        problems += [f"{where}: {p}" for p in _grants(statement_list(policy.get("PolicyDocument"), where), on_failure)]
    schedule_roles = {
        show(((res.get("Properties") or {}).get("Target") or {}).get("RoleArn"))
        for res in resources_of_type(template, "AWS::Scheduler::Schedule").values()
    }
    schedule_grants = [
        ("lambda:InvokeFunction", {"Fn::GetAtt": [FUNCTION, "Arn"]}),
        ("sqs:SendMessage", {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}),
    ]
    for name, res in resources_of_type(template, "AWS::IAM::Role").items():
        if name in (FUNCTION_ROLE, AUDIT_ROLE):
            continue
        if show({"Fn::GetAtt": [name, "Arn"]}) not in schedule_roles:
            problems.append(f"AWS::IAM::Role {name}: neither the function's, the audit role nor a schedule's")
            continue
        if not _trusts_only_service(res, "scheduler.amazonaws.com"):
            problems.append(f"{name} is not trusted by scheduler.amazonaws.com alone")
        if (res.get("Properties") or {}).get("ManagedPolicyArns"):
            problems.append(f"{name} has managed policies")
        for policy in (res.get("Properties") or {}).get("Policies") or []:
            where = f"{name} {policy.get('PolicyName')}"
            problems += [f"{where}: {p}" for p in _grants(statement_list(policy.get("PolicyDocument"), where), schedule_grants)]
    for type_name in IAM_RESOURCE_TYPES:
        if type_name != "AWS::IAM::Role":
            problems += [f"{type_name} {name}: review this check" for name in resources_of_type(template, type_name)]
    rules = set(resources_of_type(template, "AWS::Events::Rule"))
    for name, res in resources_of_type(template, "AWS::Lambda::Permission").items():
        p = res.get("Properties") or {}
        source = p.get("SourceArn")
        if p.get("Principal") != "events.amazonaws.com" or not (
            isinstance(source, dict) and (source.get("Fn::GetAtt") or [None])[0] in rules
        ):
            problems.append(f"{name}: lets {show(p.get('Principal'))} invoke the function from {show(source)}")
    return problems


def check_stackset_form(template):
    """no Transform, no SAM resource, code from CodeBucketPrefix-<Region> / CodeKey (expanded)"""
    problems = []
    if "Transform" in template:
        problems.append(f"Transform {show(template['Transform'])}: StackSets accept no macros")
    problems += [
        f"{name} is {res.get('Type')}"
        for name, res in template.get("Resources", {}).items()
        if str(res.get("Type", "")).startswith("AWS::Serverless::")
    ]
    parameters = template.get("Parameters") or {}
    problems += [f"parameter {name} is missing" for name in ("CodeBucketPrefix", "CodeKey") if name not in parameters]
    code = function_properties(template).get("Code")
    expected = {"S3Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"}, "S3Key": {"Ref": "CodeKey"}}
    if code != expected:
        problems.append(f"{FUNCTION}.Code is {show(code)}, expected {show(expected)}")
    return problems


def check_stackset_current(template):
    """the expanded template is what scripts/stackset-template.sh makes of the current template.yaml (expanded)"""
    module = STACKSET
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    try:
        fresh = module.expand(load_template(SAM_TEMPLATE))
    except ImportError as e:
        return [f"the SAM translator is not installed (tests/support/requirements.txt): {e}"]
    # Through YAML and back, as the script writes it.
    fresh = yaml.load(yaml.dump(fresh, Dumper=module.CfnDumper, sort_keys=False), Loader=CfnLoader)
    differing = []
    for section in sorted(set(fresh) | set(template)):
        new, old = fresh.get(section), template.get(section)
        if new == old:
            continue
        if isinstance(new, dict) and isinstance(old, dict):
            differing += [f"{section}.{key}" for key in sorted(set(new) | set(old)) if new.get(key) != old.get(key)]
        else:
            differing.append(section)
    if not differing:
        return []
    return [f"out of date, run scripts/stackset-template.sh; differs in {', '.join(differing[:8])}"]


def check_prefix_parameter(template):
    """AlarmNamePrefix, FunctionName and AuditAccountId (parts of IAM ARNs) cannot contain an IAM wildcard"""
    problems = []
    for name, bad_values in ARN_PARAMETERS.items():
        parameter = (template.get("Parameters") or {}).get(name)
        if not parameter:
            problems.append(f"parameter {name} is missing")
            continue
        pattern = parameter.get("AllowedPattern")
        if not pattern:
            problems.append(f"{name} has no AllowedPattern: a value of \"*\" would widen an IAM grant")
            continue
        problems += [f"{name}: AllowedPattern accepts {bad!r}" for bad in bad_values if re.fullmatch(pattern, bad)]
        default = str(parameter.get("Default", ""))
        if not re.fullmatch(pattern, default):
            problems.append(f"{name}: AllowedPattern rejects the default {default!r}")
    return problems


def _matches(pattern, action):
    """Does the IAM action pattern (with * and ?) cover the action?"""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, action, flags=re.IGNORECASE) is not None


def check_tagging_prefix_scoped(template):
    """cloudwatch:TagResource only on the alarms under ${AlarmNamePrefix}, in every policy, never on "*" """
    problems = []
    granted = False
    for where, statement in every_iam_statement(template):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            problems.append(f"{where} statement {label(statement)}: Allow with NotAction may cover TagResource")
            continue
        actions = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
        if not any(_matches(a, "cloudwatch:TagResource") for a in actions):
            continue
        granted = True
        if "NotResource" in statement:
            problems.append(f"{where} statement {label(statement)}: TagResource with NotResource")
        for res in as_list(statement.get("Resource", [])):
            if res != OWN_ALARMS:
                problems.append(f"{where} statement {label(statement)}: TagResource on {show(res)}")
    if not granted:
        problems.append("no statement grants cloudwatch:TagResource: tagging at creation (ALARM_TAGS) would fail")
    return problems


def check_audit_role(template):
    """the audit role can write nothing: read actions only, trusted by the audit account alone, one Region"""
    problems = []
    try:
        role = resource(template, AUDIT_ROLE, "AWS::IAM::Role")
    except Failed as e:
        return [str(e)]
    props = role.get("Properties") or {}
    if role.get("Condition") != "CreateAuditRole":
        problems.append(f"{AUDIT_ROLE}.Condition is {show(role.get('Condition'))}, expected CreateAuditRole")
    condition = (template.get("Conditions") or {}).get("CreateAuditRole")
    if condition != AUDIT_ROLE_CONDITION:
        problems.append(f"condition CreateAuditRole is {show(condition)}, expected {show(AUDIT_ROLE_CONDITION)}")
    if props.get("RoleName") != {"Ref": "AuditRoleName"}:
        problems.append(f"{AUDIT_ROLE}.RoleName is {show(props.get('RoleName'))}, expected the AuditRoleName parameter")
    if props.get("ManagedPolicyArns"):
        problems.append(f"{AUDIT_ROLE} has managed policies {show(props['ManagedPolicyArns'])}")
    # Nothing else may attach a policy to it.
    for type_name in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
        for name, res in resources_of_type(template, type_name).items():
            p = res.get("Properties") or {}
            targets = as_list(p.get("Roles", [])) + as_list(p.get("RoleName", []))
            if any(t in ({"Ref": AUDIT_ROLE}, {"Ref": "AuditRoleName"}) for t in targets):
                problems.append(f"{type_name} {name} attaches permissions to {AUDIT_ROLE}")
    trust = statement_list(props.get("AssumeRolePolicyDocument"), f"{AUDIT_ROLE} trust policy")
    for statement in trust:
        where = f"{AUDIT_ROLE} trust statement {label(statement)}"
        if statement.get("Effect") != "Allow":
            continue
        if "NotPrincipal" in statement or "NotAction" in statement:
            problems.append(f"{where}: Allow with NotPrincipal or NotAction")
        if statement.get("Principal") != AUDIT_TRUST_PRINCIPAL:
            problems.append(f"{where}: trusts {show(statement.get('Principal'))}, expected {show(AUDIT_TRUST_PRINCIPAL)} only")
        if [a.lower() for a in as_list(statement.get("Action", []))] != ["sts:assumerole"]:
            problems.append(f"{where}: actions {show(statement.get('Action'))}, expected sts:AssumeRole only")
    if not any(s.get("Effect") == "Allow" for s in trust):
        problems.append(f"{AUDIT_ROLE} trusts nobody")
    allowed = {a.lower(): [show(r) for r in rs] for a, rs in AUDIT_READ_ACTIONS.items()}
    granted = set()
    for policy in props.get("Policies") or []:
        where = f"{AUDIT_ROLE} {policy.get('PolicyName')}"
        for statement in statement_list(policy.get("PolicyDocument"), where):
            if statement.get("Effect") != "Allow":
                continue
            for key in ("NotAction", "NotResource"):
                if key in statement:
                    problems.append(f"{where} statement {label(statement)}: Allow with {key}")
            for action in as_list(statement.get("Action", [])):
                name = str(action).partition(":")[2]
                if not isinstance(action, str) or "*" in action or "?" in action:
                    problems.append(f"{where} statement {label(statement)}: wildcard or non-literal action {show(action)}")
                    continue
                if action.lower() not in allowed or not re.match(r"(Describe|List|Get)[A-Z]", name):
                    problems.append(f"{where} statement {label(statement)}: {action} is not an allowed read action")
                    continue
                granted.add(action.lower())
                for res in as_list(statement.get("Resource", [])):
                    if show(res) not in allowed[action.lower()]:
                        problems.append(f"{where} statement {label(statement)}: {action} on unexpected resource {show(res)}")
    missing = sorted(a for a in AUDIT_READ_ACTIONS if a.lower() not in granted)
    if missing:
        problems.append(f"the audit role lacks {', '.join(missing)} (alarmctl fleet reads them)")
    return problems


def _dashboard_body(template):
    """The dashboard's name and its body as JSON, each ${Name} of the !Sub
    replaced by <Name> (and ${!Literal} by ${Literal}, as !Sub does)."""
    dashboards = resources_of_type(template, "AWS::CloudWatch::Dashboard")
    if len(dashboards) != 1:
        raise Failed(f"{len(dashboards)} dashboards, expected one")
    name, dashboard = next(iter(dashboards.items()))
    body = (dashboard.get("Properties") or {}).get("DashboardBody")
    if not (isinstance(body, dict) and isinstance(body.get("Fn::Sub"), str)):
        raise Failed(f"{name}.DashboardBody is not a plain !Sub string")
    plain = re.sub(r"\$\{([^}]*)\}", lambda m: "${" + m[1][1:] + "}" if m[1].startswith("!") else f"<{m[1]}>", body["Fn::Sub"])
    try:
        return name, json.loads(plain)
    except ValueError as e:
        raise Failed(f"{name}.DashboardBody is not JSON once substituted: {e}") from e


def check_dashboard(template):
    """the dashboard charts metrics the code emits, for this stack's function, and shows the stack's alarms"""
    name, body = _dashboard_body(template)
    me = f"<{FUNCTION}>"
    problems = []
    try:
        report = (REPO_ROOT / "handler/src/report.rs").read_text(encoding="utf-8")
        source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO_ROOT / "handler/src").rglob("*.rs")))
    except OSError as e:
        return [f"cannot read the source: {e}"]
    charted, alarms = [], []
    for widget in body.get("widgets", []):
        props = widget.get("properties") or {}
        if widget.get("type") == "alarm":
            alarms += props.get("alarms", [])
        for metric in props.get("metrics", []):
            if metric and isinstance(metric[0], dict):
                expression = metric[0].get("expression", "")
                if METRICS_NAMESPACE in expression:
                    if f'FunctionName="{me}"' not in expression:
                        problems.append(f"expression {expression!r} is not limited to FunctionName = this function")
                    charted += re.findall(r'MetricName="([^"]+)"', expression)
                continue
            dims = dict(zip(metric[2::2], metric[3::2]))
            if metric[0] == "AWS/Lambda" and dims != {"FunctionName": me}:
                problems.append(f"AWS/Lambda {metric[1]}: dimensions {show(dims)}, expected FunctionName = this function")
            if metric[0] != METRICS_NAMESPACE:
                continue
            charted.append(metric[1])
            if set(dims) != {"FunctionName", "Trigger"} or dims["FunctionName"] != me:
                problems.append(f"{metric[1]}: dimensions {show(dims)}, expected FunctionName = this function and Trigger")
            elif f'"{dims["Trigger"]}"' not in source:
                problems.append(f"{metric[1]}: Trigger {dims['Trigger']!r} is not a trigger the code reports")
    if not charted:
        problems.append(f"{name} charts no {METRICS_NAMESPACE} metric")
    for metric in sorted(set(charted)):
        if f'"{metric}"' not in report:
            problems.append(f"{metric} is charted but handler/src/report.rs does not emit it")
    expected = sorted(f"<{alarm}.Arn>" for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm"))
    if sorted(alarms) != expected:
        problems.append(f"alarm widget shows {alarms}, expected the stack's alarms {expected}")
    return problems


def _function_rules(template):
    """(rule, pattern, target settings) of every EventBridge rule that invokes the
    function: its EventBridgeRule events in template.yaml (SAM names each rule
    <FUNCTION><event name>), the AWS::Events::Rule resources targeting it once
    expanded. The target settings are its RetryPolicy and DeadLetterConfig."""
    settings = ("RetryPolicy", "DeadLetterConfig")
    rules = []
    if is_sam(template):
        for name, event in (function_properties(template).get("Events") or {}).items():
            if event.get("Type") == "EventBridgeRule":
                props = event.get("Properties") or {}
                rules.append((FUNCTION + name, props.get("Pattern") or {}, {k: props.get(k) for k in settings}))
        return rules
    for name, rule in resources_of_type(template, "AWS::Events::Rule").items():
        props = rule.get("Properties") or {}
        for target in props.get("Targets") or []:
            if target.get("Arn") == {"Fn::GetAtt": [FUNCTION, "Arn"]}:
                rules.append((name, props.get("EventPattern") or {}, {k: target.get(k) for k in settings}))
    return rules


def _tag_keys_sorted(pattern):
    """The pattern with detail.changed-tag-keys in a canonical order (the order does not matter)."""
    pattern = json.loads(json.dumps(pattern))
    detail = pattern.get("detail")
    if isinstance(detail, dict) and isinstance(detail.get("changed-tag-keys"), list):
        detail["changed-tag-keys"] = sorted(detail["changed-tag-keys"], key=show)
    return pattern


def check_tag_change_rule(template):
    """one rule sends EC2 instance tag changes of the scope key, Name and disk-alarms:* to the function, retried and dead-lettered like state changes"""
    variables = (function_properties(template).get("Environment") or {}).get("Variables") or {}
    scope = variables.get("SCOPE_TAG_KEY")
    if not (isinstance(scope, dict) and set(scope) == {"Ref"} and scope["Ref"] in (template.get("Parameters") or {})):
        return [f"SCOPE_TAG_KEY is {show(scope)}, expected a !Ref to a template parameter"]
    rules = _function_rules(template)
    tag_rules = [rule for rule in rules if rule[1].get("source") == ["aws.tag"]]
    state_rules = [rule for rule in rules if rule[1].get("source") == ["aws.ec2"]]
    if len(tag_rules) != 1 or len(state_rules) != 1:
        return [f"{len(tag_rules)} aws.tag and {len(state_rules)} aws.ec2 rules invoke the function, expected one each"]
    name, pattern, target = tag_rules[0]
    problems = []
    expected = {
        "source": ["aws.tag"],
        "detail-type": ["Tag Change on Resource"],
        "detail": {
            "service": ["ec2"],
            "resource-type": ["instance"],
            # The scope key (the parameter that sets SCOPE_TAG_KEY), Name (in
            # every alarm description), and the per-instance override tags.
            "changed-tag-keys": [scope, "Name", {"prefix": "disk-alarms:"}],
        },
    }
    if _tag_keys_sorted(pattern) != _tag_keys_sorted(expected):
        problems.append(f"{name} pattern is {show(pattern)}, expected {show(expected)}")
    state_name, _, state_target = state_rules[0]
    if target != state_target:
        problems.append(f"{name} retries and dead-letters as {show(target)}, {state_name} as {show(state_target)}")
    if not all(target.values()):
        problems.append(f"{name} has no RetryPolicy or no DeadLetterConfig: {show(target)}")
    queue = target.get("DeadLetterConfig") or {}
    if queue.get("Arn") == {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}:
        allowed = []
        for res in resources_of_type(template, "AWS::SQS::QueuePolicy").values():
            for statement in as_list(((res.get("Properties") or {}).get("PolicyDocument") or {}).get("Statement", [])):
                allowed += as_list(((statement.get("Condition") or {}).get("ArnEquals") or {}).get("aws:SourceArn", []))
        if {"Fn::GetAtt": [name, "Arn"]} not in allowed:
            problems.append(f"the delivery dead-letter queue's policy does not let {name} send to it")
    return problems


def check_silent_alarms(template):
    """silent disk alarms are alarmed on after a sweep, charted, and SILENT_AFTER_MINUTES is a parameter"""
    problems = _alarm_problems(template, "SilentAlarmsAlarm", SILENT_ALARMS_ALARM)
    _, body = _dashboard_body(template)
    me = f"<{FUNCTION}>"
    charted = False
    for widget in body.get("widgets", []):
        for metric in (widget.get("properties") or {}).get("metrics", []):
            if metric[:2] == [METRICS_NAMESPACE, "AlarmsSilent"]:
                dims = dict(zip(metric[2::2], metric[3::2]))
                if dims == {"FunctionName": me, "Trigger": "sweep"}:
                    charted = True
                else:
                    problems.append(f"AlarmsSilent is charted with dimensions {show(dims)}, expected this function and Trigger sweep")
    if not charted:
        problems.append("the dashboard does not chart AlarmsSilent of this function's sweeps")
    variables = (function_properties(template).get("Environment") or {}).get("Variables") or {}
    if variables.get("SILENT_AFTER_MINUTES") != {"Ref": "SilentAfterMinutes"}:
        problems.append(f"SILENT_AFTER_MINUTES is {show(variables.get('SILENT_AFTER_MINUTES'))}, expected !Ref SilentAfterMinutes")
    parameter = (template.get("Parameters") or {}).get("SilentAfterMinutes")
    if not isinstance(parameter, dict):
        problems.append("no SilentAfterMinutes parameter")
    else:
        have = (parameter.get("Type"), str(parameter.get("Default")), str(parameter.get("MinValue")))
        if have != ("Number", "60", "0"):
            problems.append(f"SilentAfterMinutes is (Type, Default, MinValue) = {have}, expected ('Number', '60', '0')")
    try:
        report = (REPO_ROOT / "handler/src/report.rs").read_text(encoding="utf-8")
    except OSError as e:
        return problems + [f"cannot read the source: {e}"]
    if '"AlarmsSilent"' not in report:
        problems.append("handler/src/report.rs does not emit AlarmsSilent")
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


def _alarm_problems(template, name, expected):
    """How the alarm `name` differs from `expected` (its properties), if at all."""
    try:
        props = resource(template, name, "AWS::CloudWatch::Alarm").get("Properties") or {}
    except Failed as e:
        return [str(e)]
    problems = []
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


def check_watcher_alarms(template):
    """errors, throttles and heartbeat alarms exist as intended"""
    problems = []
    for name, expected in WATCHER_ALARMS.items():
        problems += _alarm_problems(template, name, expected)
    for name, alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").items():
        props = alarm.get("Properties") or {}
        if props.get("Namespace") == METRICS_NAMESPACE:
            dims = {d.get("Name"): d.get("Value") for d in props.get("Dimensions") or []}
            if dims.get("FunctionName") != {"Ref": FUNCTION} or "Trigger" not in dims:
                problems.append(f"{name}: {METRICS_NAMESPACE} alarm without FunctionName = this function and Trigger")
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
    report = REPO_ROOT / "handler/src/report.rs"
    try:
        text = report.read_text(encoding="utf-8")
        if 'METRICS_NAMESPACE: &str = "DiskAlarmReconciler"' not in text:
            problems.append(f"{report.relative_to(REPO_ROOT)} no longer sets METRICS_NAMESPACE to DiskAlarmReconciler")
        if '"SweepsSucceeded"' not in text:
            problems.append(f"{report.relative_to(REPO_ROOT)} no longer emits SweepsSucceeded")
        # The alarms and the dashboard select this stack's function by this dimension.
        if '"FunctionName"' not in text:
            problems.append(f"{report.relative_to(REPO_ROOT)} does not emit the FunctionName dimension")
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
    # AWS_ settings the template does not declare (credentials, Region) are
    # the local run's own; the ones it declares (AWS_ENDPOINT_URL) must be given.
    given = {name for name in values if name in declared or not name.startswith("AWS_")}
    problems = [f"{name} is in the template but not in the env-vars file" for name in sorted(declared - given)]
    problems += [f"{name} is in the env-vars file but not in the template" for name in sorted(given - declared)]
    problems += [f"{name} is empty (the function refuses empty values)" for name, v in values.items() if v == ""]
    return problems


NO_VALUE = {"Ref": "AWS::NoValue"}


def check_architecture_parameter(template):
    """the function runs on the Architecture parameter: arm64 by default, x86_64 allowed"""
    problems = []
    parameter = (template.get("Parameters") or {}).get("Architecture")
    if not isinstance(parameter, dict):
        return ["parameter Architecture is missing"]
    if parameter.get("Default") != "arm64":
        problems.append(f"Architecture defaults to {show(parameter.get('Default'))}, expected \"arm64\"")
    if sorted(parameter.get("AllowedValues") or []) != ["arm64", "x86_64"]:
        problems.append(f"Architecture allows {show(parameter.get('AllowedValues'))}, expected arm64 and x86_64")
    architectures = function_properties(template).get("Architectures")
    if architectures != [{"Ref": "Architecture"}]:
        problems.append(f"{FUNCTION}.Architectures is {show(architectures)}, expected [{{\"Ref\": \"Architecture\"}}]")
    return problems


def check_logging_follows_lambda(template):
    """by default the function logs at its Lambda logging level: RUST_LOG only from a non-empty LogLevel"""
    problems = []
    parameter = (template.get("Parameters") or {}).get("LogLevel")
    if not isinstance(parameter, dict):
        return ["parameter LogLevel is missing"]
    if parameter.get("Default") != "":
        problems.append(f"LogLevel defaults to {show(parameter.get('Default'))}: RUST_LOG would override Lambda's level")
    condition = (template.get("Conditions") or {}).get("HasLogFilter")
    if condition != {"Fn::Not": [{"Fn::Equals": [{"Ref": "LogLevel"}, ""]}]}:
        problems.append(f"condition HasLogFilter is {show(condition)}, expected LogLevel not empty")
    properties = function_properties(template)
    rust_log = properties["Environment"]["Variables"].get("RUST_LOG")
    expected = {"Fn::If": ["HasLogFilter", {"Ref": "LogLevel"}, NO_VALUE]}
    if rust_log != expected:
        problems.append(f"RUST_LOG is {show(rust_log)}, expected {show(expected)}")
    logging = properties.get("LoggingConfig") or {}
    if logging.get("LogFormat") != "JSON":
        problems.append(f"LoggingConfig.LogFormat is {show(logging.get('LogFormat'))}: Lambda filters levels of JSON logs only")
    level = logging.get("ApplicationLogLevel")
    expected = {"Fn::If": ["HasLogFilter", "TRACE", NO_VALUE]}
    if level is not None and level != expected:
        problems.append(f"LoggingConfig.ApplicationLogLevel is {show(level)}, expected absent or {show(expected)}")
    return problems


def check_endpoint_only_local(template):
    """AWS_ENDPOINT_URL is declared (sam local --env-vars can set it) and a deployed stack never gets it"""
    value = function_properties(template)["Environment"]["Variables"].get("AWS_ENDPOINT_URL", "absent")
    if value != NO_VALUE:
        return [f"AWS_ENDPOINT_URL is {show(value)}, expected {show(NO_VALUE)}"]
    return []


BOTH, SAM, EXPANDED = "both", "sam", "expanded"

# Each check, and the form of template it applies to.
CHECKS = [
    (check_no_wildcards_or_negations, BOTH),
    (check_action_set, BOTH),
    (check_read_only_ec2_autoscaling, BOTH),
    (check_resources, BOTH),
    (check_writes_prefix_scoped, BOTH),
    (check_put_metric_alarm_condition, BOTH),
    (check_sam_adds_nothing, SAM),
    (check_generated_roles, EXPANDED),
    (check_prefix_parameter, BOTH),
    (check_tag_change_rule, BOTH),
    (check_topics_encrypted, BOTH),
    (check_topic_policy, BOTH),
    (check_no_open_principals, BOTH),
    (check_watcher_alarms, BOTH),
    (check_silent_alarms, BOTH),
    (check_alarm_names, BOTH),
    (check_sam_local_env_file, BOTH),
    (check_architecture_parameter, BOTH),
    (check_logging_follows_lambda, BOTH),
    (check_endpoint_only_local, BOTH),
    (check_tagging_prefix_scoped, BOTH),
    (check_audit_role, BOTH),
    (check_dashboard, BOTH),
    (check_stackset_form, EXPANDED),
    (check_stackset_current, EXPANDED),
]


def run(title, check):
    """Runs one check, prints its line(s); True if it passed."""
    try:
        problems = check()
    except Failed as e:
        problems = [str(e)]
    except (AttributeError, KeyError, TypeError, IndexError) as e:
        problems = [f"unexpected template shape: {type(e).__name__}: {e}"]
    if not problems:
        print(f"ok   {title}")
        return True
    print(f"FAIL {title}")
    for problem in problems:
        print(f"       - {problem}")
    return False


def main(argv):
    paths = [Path(a) for a in argv[1:]] or [SAM_TEMPLATE, STACKSET_TEMPLATE]
    templates = []
    for path in paths:
        if not path.is_file():
            hint = " (run scripts/stackset-template.sh to make it)" if path.resolve() == STACKSET_TEMPLATE else ""
            print(f"ERROR: template {path} is missing{hint}", file=sys.stderr)
            return 2
        try:
            template = load_template(path)
        except (OSError, yaml.YAMLError) as e:
            print(f"ERROR: cannot read {path}: {e}", file=sys.stderr)
            return 2
        if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
            print(f"ERROR: {path} is not a template", file=sys.stderr)
            return 2
        templates.append((path, template))
    failed = total = 0
    for path, template in templates:
        try:
            form = SAM if is_sam(template) else EXPANDED
        except Failed as e:
            print(f"ERROR: {path}: {e}", file=sys.stderr)
            return 2
        print(f"== {path} ({'SAM' if form == SAM else 'expanded, plain CloudFormation'})")
        for check, applies in CHECKS:
            if applies in (BOTH, form):
                total += 1
                failed += not run(check.__doc__.strip(), lambda check=check: check(template))
    print("== source")
    total += 1
    failed += not run(check_heartbeat_emitted.__doc__.strip(), check_heartbeat_emitted)
    names = ", ".join(str(p) for p, _ in templates)
    if failed:
        print(f"{names}: {failed} of {total} template checks failed", file=sys.stderr)
        return 1
    print(f"{names}: all {total} template checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
