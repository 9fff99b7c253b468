"""Self-check of the alarm mute rules that tests/support/moto_server.py answers itself.

moto has no alarm mute rules; the server keeps them in memory (mute_rules.py).
This starts nothing: it talks to the server at $AWS_ENDPOINT_URL (see
scripts/lib.sh start_moto) with hand-built RPC v2 CBOR requests carrying the
headers the Rust SDK sends, as check_cbor_proxy.py does, and asserts on the
decoded answers: round trip and upsert, the AlarmName and Statuses filters,
pagination, isolation per Region and per account (including credentials from
STS AssumeRole), every validation error, and the same calls in JSON 1.0, the
query protocol and through boto3.  Its rules live in Regions no other test
uses and are deleted again; the last step resets the server
(`POST /moto-api/reset`), which checks that the reset forgets mute rules and
leaves the server as freshly started.  Exits non-zero on the first mismatch.

Usage: AWS_ENDPOINT_URL=http://127.0.0.1:PORT python tests/support/check_mute_rules.py
"""

import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

import check_cbor_proxy
from check_cbor_proxy import CheckFailed, check, is_timestamp

REGION = "eu-central-2"  # Regions no other test uses
OTHER_REGION = "ap-southeast-3"
DEFAULT_ACCOUNT = "123456789012"
HEADER_ACCOUNT = "111111111111"  # via x-moto-account-id
ROLE_ACCOUNT = "222222222222"  # via credentials from STS AssumeRole
PREFIX = "mute-check-"
XMLNS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"


def call(operation, params, region=REGION, **kwargs):
    """check_cbor_proxy's CBOR request, in this check's Region unless told otherwise."""
    return check_cbor_proxy.call(operation, params, region=region, **kwargs)


def endpoint():
    return os.environ["AWS_ENDPOINT_URL"].rstrip("/")


def ok(operation, params, **kwargs):
    status, _, raw, decoded = call(operation, params, **kwargs)
    check(status == 200, f"{operation}: expected HTTP 200, got {status}: {decoded!r}")
    return decoded


def fails(operation, params, status, code, **kwargs):
    """The call is refused with `status` and query error `code`; return the decoded error map."""
    got, headers, raw, decoded = call(operation, params, **kwargs)
    where = f"{operation} {json.dumps(params, default=str)[:160]}"
    check(got == status, f"{where}: expected HTTP {status}, got {got}: {decoded!r}")
    check(isinstance(decoded, dict) and isinstance(decoded.get("__type"), str)
          and isinstance(decoded.get("message"), str), f"{where}: error body {decoded!r}")
    query_error = headers.get("x-amzn-query-error", "")
    check(query_error == f"{code};Sender", f"{where}: x-amzn-query-error {query_error!r}, want {code};Sender")
    return decoded


def arn(name, region=REGION, account=DEFAULT_ACCOUNT):
    return f"arn:aws:cloudwatch:{region}:{account}:alarm-mute-rule:{name}"


def at(epoch):
    """The product's schedule: at(yyyy-MM-ddThh:mm) in UTC."""
    return "at(" + datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M") + ")"


def minute(epoch):
    return int(epoch // 60) * 60


def rule(expression="at(2099-01-01T00:00)", duration="PT2H", **schedule):
    return {"Schedule": {"Expression": expression, "Duration": duration, **schedule}}


def put(name, rule_value, alarms=None, **kwargs):
    params = {"Name": name, "Rule": rule_value}
    if alarms is not None:
        params["MuteTargets"] = {"AlarmNames": alarms}
    call_kwargs = {k: kwargs.pop(k) for k in ("region", "access_key", "extra_headers") if k in kwargs}
    params.update(kwargs)
    out = ok("PutAlarmMuteRule", params, **call_kwargs)
    check(out is None, f"PutAlarmMuteRule {name}: the body must be empty (no output), got {out!r}")


def get(name, **kwargs):
    return ok("GetAlarmMuteRule", {"AlarmMuteRuleName": name}, **kwargs)


def list_all(params=None, **kwargs):
    """Every summary, following NextToken; only this check's rules."""
    params, summaries, pages = dict(params or {}), [], 0
    while True:
        out = ok("ListAlarmMuteRules", params, **kwargs)
        check(isinstance(out, dict) and isinstance(out.get("AlarmMuteRuleSummaries"), list),
              f"ListAlarmMuteRules: {out!r}")
        summaries += out["AlarmMuteRuleSummaries"]
        pages += 1
        if not out.get("NextToken"):
            break
        params["NextToken"] = out["NextToken"]
    return [s for s in summaries if s["AlarmMuteRuleArn"].rsplit(":", 1)[1].startswith(PREFIX)], pages


def names_of(summaries):
    return [s["AlarmMuteRuleArn"].rsplit(":", 1)[1] for s in summaries]


def post(path, body, headers):
    request = urllib.request.Request(f"{endpoint()}{path}", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def sigv4(service, region=REGION, access_key="testing"):
    return (f"AWS4-HMAC-SHA256 Credential={access_key}/20250101/{region}/{service}/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, Signature=0000")


# --- the checks ----------------------------------------------------------------


def check_round_trip_and_upsert(now):
    name = f"{PREFIX}maintenance"
    start, end = minute(now) + 3600, minute(now) + 3600 + 2 * 3600 + 40 * 60
    put(name, rule(at(start), "PT2H40M"), ["disk-root-warning", "disk-root-critical"],
        Description="Maintenance of i-0abc (managed)", ExpireDate=float(end), Tags=[{"Key": "k", "Value": "v"}])
    got = get(name)
    want_keys = {"Name", "AlarmMuteRuleArn", "Description", "Rule", "MuteTargets", "ExpireDate", "Status",
                 "LastUpdatedTimestamp", "MuteType"}
    check(set(got) == want_keys, f"GetAlarmMuteRule members {sorted(got)}, want {sorted(want_keys)}")
    check(got["Name"] == name and got["AlarmMuteRuleArn"] == arn(name), f"Get: name/ARN {got!r}")
    check(got["Description"] == "Maintenance of i-0abc (managed)", f"Get: Description {got['Description']!r}")
    check(got["Rule"] == rule(at(start), "PT2H40M"), f"Get: Rule {got['Rule']!r}")
    check(got["MuteTargets"] == {"AlarmNames": ["disk-root-warning", "disk-root-critical"]}, f"Get: {got['MuteTargets']!r}")
    for key in ("ExpireDate", "LastUpdatedTimestamp"):
        check(is_timestamp(got[key]), f"Get: {key} must be CBOR tag 1 with a number: {got[key]!r}")
    check(got["ExpireDate"].value == end, f"Get: ExpireDate {got['ExpireDate'].value} != {end}")
    check(abs(got["LastUpdatedTimestamp"].value - now) < 60, f"Get: LastUpdatedTimestamp {got['LastUpdatedTimestamp']!r}")
    check(got["Status"] == "SCHEDULED" and got["MuteType"] == "ONE_TIME", f"Get: Status/MuteType {got!r}")
    print(f"  round trip: {name} {got['Status']} {got['MuteType']} {got['AlarmMuteRuleArn']}")

    # Same name again: the new configuration replaces the old one whole.
    time.sleep(0.01)
    put(name, rule(at(minute(now) - 600), "PT1H"), ["disk-data-warning"])
    again = get(name)
    check(again["MuteTargets"] == {"AlarmNames": ["disk-data-warning"]}, f"upsert: MuteTargets {again!r}")
    check("Description" not in again and "ExpireDate" not in again, f"upsert: old members kept {again!r}")
    check(again["Status"] == "ACTIVE", f"upsert: at() 10 minutes ago for PT1H must be ACTIVE: {again['Status']}")
    check(again["LastUpdatedTimestamp"].value > got["LastUpdatedTimestamp"].value, "upsert: LastUpdatedTimestamp not moved")
    check(again["AlarmMuteRuleArn"] == arn(name), f"upsert: ARN {again['AlarmMuteRuleArn']}")
    summaries, _ = list_all()
    check(names_of(summaries).count(name) == 1, f"upsert: listed {names_of(summaries)}")
    print(f"  upsert: {name} now {again['Status']}, targets {again['MuteTargets']['AlarmNames']}")
    return name


def check_statuses_and_list(now, first):
    """Rules in every status; List's members, filters and pages."""
    past = minute(now) - 3 * 3600
    other_minute = (datetime.datetime.fromtimestamp(now, datetime.timezone.utc).minute + 30) % 60
    rules = {
        f"{PREFIX}window-over": (rule(at(past), "PT1H"), ["disk-data-warning"], {}, "EXPIRED", "ONE_TIME"),
        f"{PREFIX}expired": (rule(at(minute(now) + 3600), "PT1H"), ["disk-root-warning"],
                             {"ExpireDate": float(now - 60)}, "EXPIRED", "ONE_TIME"),
        f"{PREFIX}not-started": (rule(at(minute(now) - 600), "PT1H"), ["disk-root-warning"],
                                 {"StartDate": float(now + 3600), "ExpireDate": float(now + 7200)}, "SCHEDULED", "ONE_TIME"),
        f"{PREFIX}cron-every-minute": (rule("cron(* * * * *)", "PT1M"), ["disk-root-critical"], {}, "ACTIVE", "RECURRING"),
        f"{PREFIX}cron-later": (rule(f"cron({other_minute} * * * *)", "PT1M"), None, {}, "SCHEDULED", "RECURRING"),
        f"{PREFIX}cron-named": (rule("cron(0 2 1,15 JAN-MAR SUN)", "P1DT30M", Timezone="America/New_York"),
                                ["disk-root-critical"], {}, None, "RECURRING"),
    }
    for name, (rule_value, alarms, extra, _, _) in rules.items():
        put(name, rule_value, alarms, **extra)
    for name, (_, _, _, status, mute_type) in rules.items():
        got = get(name)
        check(status is None or got["Status"] == status, f"{name}: Status {got['Status']}, want {status}")
        check(got["MuteType"] == mute_type, f"{name}: MuteType {got['MuteType']}, want {mute_type}")

    summaries, pages = list_all()
    expected = sorted([first, *rules])
    check(names_of(summaries) == expected, f"List: {names_of(summaries)}, want {expected}")
    for summary in summaries:
        name = summary["AlarmMuteRuleArn"].rsplit(":", 1)[1]
        allowed = {"AlarmMuteRuleArn", "ExpireDate", "Status", "MuteType", "LastUpdatedTimestamp"}
        check(set(summary) <= allowed and {"AlarmMuteRuleArn", "Status", "MuteType", "LastUpdatedTimestamp"} <= set(summary),
              f"List: summary members {sorted(summary)}")
        check(summary["AlarmMuteRuleArn"] == arn(name), f"List: ARN {summary['AlarmMuteRuleArn']}")
        check(is_timestamp(summary["LastUpdatedTimestamp"]), f"List: LastUpdatedTimestamp {summary!r}")
        check(("ExpireDate" in summary) == ("ExpireDate" in get(name)), f"List: ExpireDate only when set: {summary!r}")
        check("ExpireDate" not in summary or is_timestamp(summary["ExpireDate"]), f"List: ExpireDate {summary!r}")
        check(summary["Status"] == get(name)["Status"], f"List: {name} Status differs from Get")
    print("  statuses: " + ", ".join(f"{names_of([s])[0][len(PREFIX):]}={s['Status']}/{s['MuteType']}" for s in summaries))

    # AlarmName: only rules whose MuteTargets name the alarm.
    targeted, _ = list_all({"AlarmName": "disk-root-critical"})
    check(names_of(targeted) == sorted([f"{PREFIX}cron-every-minute", f"{PREFIX}cron-named"]),
          f"List AlarmName=disk-root-critical: {names_of(targeted)}")
    none, _ = list_all({"AlarmName": "no-such-alarm"})
    check(none == [], f"List AlarmName=no-such-alarm: {names_of(none)}")
    active, _ = list_all({"Statuses": ["ACTIVE"]})
    check(names_of(active) == sorted([first, f"{PREFIX}cron-every-minute"]), f"List Statuses=ACTIVE: {names_of(active)}")
    print(f"  AlarmName filter: {names_of(targeted)}; Statuses=[ACTIVE]: {names_of(active)}")

    # Pages of two: the same rules, in order, none twice.
    paged, pages = list_all({"MaxRecords": 2})
    check(names_of(paged) == expected and pages >= 4, f"List MaxRecords=2: {pages} pages, {names_of(paged)}")
    out = ok("ListAlarmMuteRules", {"MaxRecords": 2})
    check(isinstance(out.get("NextToken"), str) and len(out["AlarmMuteRuleSummaries"]) == 2, f"first page {out!r}")
    fails("ListAlarmMuteRules", {"NextToken": "not-a-token"}, 400, "InvalidNextToken")
    print(f"  pagination: MaxRecords=2 gave {pages} pages")
    return list(rules)


def check_regions():
    name = f"{PREFIX}maintenance"
    fails("GetAlarmMuteRule", {"AlarmMuteRuleName": name}, 404, "ResourceNotFoundException", region=OTHER_REGION)
    listed, _ = list_all(region=OTHER_REGION)
    check(listed == [], f"{OTHER_REGION} lists {names_of(listed)}")
    put(name, rule(), ["elsewhere"], region=OTHER_REGION)
    there, here = get(name, region=OTHER_REGION), get(name)
    check(there["AlarmMuteRuleArn"] == arn(name, OTHER_REGION), f"{OTHER_REGION}: ARN {there['AlarmMuteRuleArn']}")
    check(there["MuteTargets"]["AlarmNames"] == ["elsewhere"], f"{OTHER_REGION}: {there!r}")
    check(here["MuteTargets"]["AlarmNames"] == ["disk-data-warning"], f"{REGION} changed by a put in {OTHER_REGION}")
    ok("DeleteAlarmMuteRule", {"AlarmMuteRuleName": name}, region=OTHER_REGION)
    get(name)  # still there in REGION
    print(f"  Regions: {name} in {OTHER_REGION} is another rule; deleting it there leaves {REGION}'s")


def create_role(account, name):
    """An IAM role in `account` (via x-moto-account-id) that anyone may assume."""
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},'
             '"Action":"sts:AssumeRole"}]}')
    form = urllib.parse.urlencode({
        "Action": "CreateRole", "Version": "2010-05-08", "RoleName": name, "AssumeRolePolicyDocument": trust,
    }).encode()
    status, _, raw = post("/", form, {"Content-Type": "application/x-www-form-urlencoded",
                                      "X-Amz-Date": "20250101T000000Z", "Authorization": sigv4("iam"),
                                      "x-moto-account-id": account})
    # A second run against the same server finds the role already there.
    check(status == 200 or b"EntityAlreadyExists" in raw, f"CreateRole: HTTP {status} {raw[:300]!r}")


def assume_role(account):
    """Temporary credentials from moto's STS, for a role in `account`. The test server,
    like AWS, refuses to let anyone assume a role that does not exist: the role is made first."""
    create_role(account, "mute-check")
    form = urllib.parse.urlencode({
        "Action": "AssumeRole", "Version": "2011-06-15", "RoleSessionName": "mute-check",
        "RoleArn": f"arn:aws:iam::{account}:role/mute-check",
    }).encode()
    status, _, raw = post("/", form, {"Content-Type": "application/x-www-form-urlencoded",
                                      "X-Amz-Date": "20250101T000000Z", "Authorization": sigv4("sts")})
    check(status == 200, f"AssumeRole: HTTP {status} {raw[:300]!r}")
    key = ElementTree.fromstring(raw).find(".//{https://sts.amazonaws.com/doc/2011-06-15/}AccessKeyId")
    check(key is not None and key.text, f"AssumeRole: no AccessKeyId in {raw[:300]!r}")
    return key.text


def check_accounts():
    name = f"{PREFIX}account"
    by_header = {"extra_headers": {"x-moto-account-id": HEADER_ACCOUNT}}
    put(name, rule(), ["a"], **by_header)
    check(get(name, **by_header)["AlarmMuteRuleArn"] == arn(name, account=HEADER_ACCOUNT), "x-moto-account-id: ARN")
    fails("GetAlarmMuteRule", {"AlarmMuteRuleName": name}, 404, "ResourceNotFoundException")
    print(f"  x-moto-account-id {HEADER_ACCOUNT}: rule only there")

    key = assume_role(ROLE_ACCOUNT)
    as_role = {"access_key": key}
    put(name, rule(), ["b"], **as_role)
    got = get(name, **as_role)
    check(got["AlarmMuteRuleArn"] == arn(name, account=ROLE_ACCOUNT), f"assumed role: ARN {got['AlarmMuteRuleArn']}")
    check(got["MuteTargets"]["AlarmNames"] == ["b"], f"assumed role: {got!r}")
    check(get(name, **by_header)["MuteTargets"]["AlarmNames"] == ["a"], "assumed role: wrote into the header's account")
    fails("GetAlarmMuteRule", {"AlarmMuteRuleName": name}, 404, "ResourceNotFoundException")
    # moto puts an alarm made with those credentials in the same account.
    alarm = f"{PREFIX}role-alarm"
    ok("PutMetricAlarm", {"AlarmName": alarm, "Namespace": "CWAgent", "MetricName": "disk_used_percent",
                          "Statistic": "Average", "Period": 300, "EvaluationPeriods": 1, "Threshold": 90.0,
                          "ComparisonOperator": "GreaterThanThreshold"}, **as_role)
    alarms = ok("DescribeAlarms", {"AlarmNames": [alarm]}, **as_role).get("MetricAlarms", [])
    check([a["AlarmArn"].split(":")[4] for a in alarms] == [ROLE_ACCOUNT], f"moto's alarm account: {alarms!r}")
    ok("DeleteAlarms", {"AlarmNames": [alarm]}, **as_role)
    for kwargs in (by_header, as_role):
        ok("DeleteAlarmMuteRule", {"AlarmMuteRuleName": name}, **kwargs)
    print(f"  AssumeRole into {ROLE_ACCOUNT} ({key}): rule and moto's alarm both in {ROLE_ACCOUNT}")


def check_validation():
    good = rule()
    cases = [
        # (what, operation, params, HTTP status, query error code)
        ("no Name", "PutAlarmMuteRule", {"Rule": good}, 400, "ValidationError"),
        ("empty Name", "PutAlarmMuteRule", {"Name": "", "Rule": good}, 400, "ValidationError"),
        ("Name of 256", "PutAlarmMuteRule", {"Name": "n" * 256, "Rule": good}, 400, "ValidationError"),
        ("no Rule", "PutAlarmMuteRule", {"Name": f"{PREFIX}v"}, 400, "ValidationError"),
        ("no Schedule", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": {}}, 400, "ValidationError"),
        ("no Expression", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": {"Schedule": {"Duration": "PT1H"}}}, 400, "ValidationError"),
        ("no Duration", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": {"Schedule": {"Expression": "at(2099-01-01T00:00)"}}}, 400, "ValidationError"),
        ("Name not a string", "PutAlarmMuteRule", {"Name": 7, "Rule": good}, 400, "ValidationError"),
        ("101 alarms", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": good,
                                            "MuteTargets": {"AlarmNames": [f"a{i}" for i in range(101)]}}, 400, "ValidationError"),
        ("MuteTargets without AlarmNames", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": good, "MuteTargets": {}}, 400, "ValidationError"),
        ("empty alarm name", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": good, "MuteTargets": {"AlarmNames": [""]}}, 400, "ValidationError"),
        ("Description of 1025", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": good, "Description": "d" * 1025}, 400, "ValidationError"),
        ("Get without name", "GetAlarmMuteRule", {}, 400, "ValidationError"),
        ("Delete without name", "DeleteAlarmMuteRule", {}, 400, "ValidationError"),
        ("MaxRecords 0", "ListAlarmMuteRules", {"MaxRecords": 0}, 400, "ValidationError"),
        ("MaxRecords 101", "ListAlarmMuteRules", {"MaxRecords": 101}, 400, "ValidationError"),
        ("unknown status", "ListAlarmMuteRules", {"Statuses": ["DONE"]}, 400, "ValidationError"),
    ]
    for expression in ("at(2099-01-01T00:00:00)", "at(2099-01-01 00:00)", "at(2099-1-1T00:00)", "at(2099-13-01T00:00)",
                       "at(2099-02-30T00:00)", "at(2099-01-01T24:00)", "at(2099-01-01T00:00Z)", "AT(2099-01-01T00:00)",
                       "rate(5 minutes)", "cron(0 2 * *)", "cron(0 2 * * * *)", "cron(60 2 * * *)", "cron(0 2 * * FUNDAY)",
                       "cron(0 2 ? * MON)", "cron(*/5 * * * *)", "cron(0 5-2 * * *)", "tomorrow"):
        cases.append((f"Expression {expression}", "PutAlarmMuteRule",
                      {"Name": f"{PREFIX}v", "Rule": rule(expression)}, 400, "InvalidParameterValue"))
    for duration in ("2h", "P", "PT", "P1DT", "PT1.5H", "pt1h", "PT2H40", "-PT1H",  # not ISO 8601
                     "PT0M", "PT59S", "P15DT1M", "P16D", "P3W", "P1M", "P1Y"):  # outside PT1M..P15D
        cases.append((f"Duration {duration}", "PutAlarmMuteRule",
                      {"Name": f"{PREFIX}v", "Rule": rule(duration=duration)}, 400, "InvalidParameterValue"))
    cases += [
        ("unknown Timezone", "PutAlarmMuteRule", {"Name": f"{PREFIX}v", "Rule": rule(Timezone="Mars/Olympus")}, 400, "InvalidParameterValue"),
        ("ExpireDate before StartDate", "PutAlarmMuteRule",
         {"Name": f"{PREFIX}v", "Rule": good, "StartDate": 4102444800.0, "ExpireDate": 4102441200.0}, 400, "InvalidParameterValue"),
    ]
    for what, operation, params, status, code in cases:
        error = fails(operation, params, status, code)
        if what in ("no Name", "Name of 256", "101 alarms", "Duration P15DT1M", "Expression at(2099-01-01T00:00:00)"):
            print(f"  {what}: HTTP {status} {code} ({error['__type']}): {error['message']}")
    listed, _ = list_all()
    check(f"{PREFIX}v" not in names_of(listed), "a refused put left a rule behind")

    # The edges that are allowed, and the product's own durations.
    edges = [("n" * 255, rule()), (f"{PREFIX}100-alarms", rule()), (f"{PREFIX}pt1m", rule(duration="PT1M")),
             (f"{PREFIX}p15d", rule(duration="P15D")), (f"{PREFIX}p1dt30m", rule(duration="P1DT30M")),
             (f"{PREFIX}pt360h", rule(duration="PT360H")), (f"{PREFIX}p2w1d", rule(duration="P2W1D"))]
    for name, rule_value in edges:
        alarms = [f"a{i}" for i in range(100)] if name.endswith("100-alarms") else None
        put(name, rule_value, alarms)
        ok("DeleteAlarmMuteRule", {"AlarmMuteRuleName": name})
    print(f"  {len(cases)} refusals; allowed: Name of 255, 100 alarms, PT1M, P15D, P1DT30M, PT360H, P2W1D")


def check_not_found():
    name = f"{PREFIX}no-such-rule"
    error = fails("GetAlarmMuteRule", {"AlarmMuteRuleName": name}, 404, "ResourceNotFoundException")
    check(error["__type"] == "ResourceNotFoundException" and error.get("ResourceId") == name, f"Get unknown: {error!r}")
    # Documented as idempotent: deleting a rule that does not exist succeeds.
    out = ok("DeleteAlarmMuteRule", {"AlarmMuteRuleName": name})
    check(out is None, f"DeleteAlarmMuteRule: the body must be empty (no output), got {out!r}")
    print(f"  Get unknown: HTTP 404 ResourceNotFoundException: {error['message']}; Delete unknown: HTTP 200")


def json_call(operation, params):
    status, headers, raw = post("/", json.dumps(params).encode(), {
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"GraniteServiceVersion20100801.{operation}",
        "X-Amz-Date": "20250101T000000Z", "Authorization": sigv4("monitoring")})
    return status, headers, json.loads(raw) if raw else None


def query_call(operation, params):
    form = urllib.parse.urlencode({"Action": operation, "Version": "2010-08-01", **params}).encode()
    status, headers, raw = post("/", form, {"Content-Type": "application/x-www-form-urlencoded",
                                            "X-Amz-Date": "20250101T000000Z", "Authorization": sigv4("monitoring")})
    return status, headers, ElementTree.fromstring(raw)


def check_other_protocols():
    """The same store answers AWS JSON 1.0 and the query protocol."""
    name = f"{PREFIX}protocols"
    status, _, body = json_call("PutAlarmMuteRule", {"Name": name, "Rule": rule(), "MuteTargets": {"AlarmNames": ["j"]},
                                                    "ExpireDate": 4102448400})
    check(status == 200 and body == {}, f"JSON Put: {status} {body!r}")
    status, _, body = json_call("GetAlarmMuteRule", {"AlarmMuteRuleName": name})
    check(status == 200 and body["AlarmMuteRuleArn"] == arn(name) and body["ExpireDate"] == 4102448400
          and isinstance(body["LastUpdatedTimestamp"], float), f"JSON Get: {status} {body!r}")
    status, headers, body = json_call("GetAlarmMuteRule", {"AlarmMuteRuleName": f"{PREFIX}nope"})
    check(status == 404 and body["__type"] == "ResourceNotFoundException"
          and headers.get("x-amzn-query-error") == "ResourceNotFoundException;Sender", f"JSON Get unknown: {status} {body!r}")
    status, headers, body = json_call("PutAlarmMuteRule", {"Name": name, "Rule": rule(duration="P16D")})
    check(status == 400 and headers.get("x-amzn-query-error") == "InvalidParameterValue;Sender", f"JSON bad Duration: {status} {body!r}")

    status, _, root = query_call("GetAlarmMuteRule", {"AlarmMuteRuleName": name})
    result = root.find(f"{XMLNS}GetAlarmMuteRuleResult")
    check(status == 200 and result is not None and result.findtext(f"{XMLNS}AlarmMuteRuleArn") == arn(name)
          and result.findtext(f"{XMLNS}ExpireDate") == "2100-01-01T01:00:00Z"
          and result.findtext(f"{XMLNS}MuteTargets/{XMLNS}AlarmNames/{XMLNS}member") == "j",
          f"query Get: {status} {ElementTree.tostring(root)[:400]!r}")
    status, _, root = query_call("PutAlarmMuteRule", {
        "Name": name, "Rule.Schedule.Expression": "cron(0 3 * * *)", "Rule.Schedule.Duration": "PT1H",
        "MuteTargets.AlarmNames.member.1": "q1", "MuteTargets.AlarmNames.member.2": "q2",
        "ExpireDate": "2100-01-01T00:00:00Z"})
    check(status == 200, f"query Put: {status} {ElementTree.tostring(root)[:300]!r}")
    status, _, root = query_call("ListAlarmMuteRules", {"AlarmName": "q2"})
    arns = [e.text for e in root.iter(f"{XMLNS}AlarmMuteRuleArn")]
    check(status == 200 and arns == [arn(name)], f"query List: {status} {arns}")
    status, _, root = query_call("GetAlarmMuteRule", {"AlarmMuteRuleName": f"{PREFIX}nope"})
    check(status == 404 and root.findtext(f"{XMLNS}Error/{XMLNS}Code") == "ResourceNotFoundException",
          f"query Get unknown: {status} {ElementTree.tostring(root)[:300]!r}")
    status, _, root = query_call("DeleteAlarmMuteRule", {"AlarmMuteRuleName": name})
    check(status == 200, f"query Delete: {status}")
    check(json_call("GetAlarmMuteRule", {"AlarmMuteRuleName": name})[0] == 404, "query Delete left the rule")
    # Other query actions still reach moto, body intact.
    status, _, root = query_call("DescribeAlarms", {"AlarmNamePrefix": PREFIX})
    check(status == 200 and root.find(f"{XMLNS}DescribeAlarmsResult") is not None,
          f"query DescribeAlarms via moto: {status} {ElementTree.tostring(root)[:300]!r}")
    print("  JSON 1.0 and query: put/get/list/delete and errors answered from the same store; other actions reach moto")


def check_boto3():
    """A real SDK's CBOR decoder accepts the answers (boto3 speaks RPC v2 CBOR to CloudWatch too)."""
    import boto3

    client = boto3.client("cloudwatch", region_name=REGION, endpoint_url=endpoint(),
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"{PREFIX}boto3"
    expire = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
    client.put_alarm_mute_rule(Name=name, Rule=rule(), MuteTargets={"AlarmNames": ["b3"]}, ExpireDate=expire)
    got = client.get_alarm_mute_rule(AlarmMuteRuleName=name)
    check(got["ExpireDate"] == expire and isinstance(got["LastUpdatedTimestamp"], datetime.datetime)
          and got["AlarmMuteRuleArn"] == arn(name), f"boto3 Get: {got!r}")
    pages = client.get_paginator("list_alarm_mute_rules").paginate(AlarmName="b3", PaginationConfig={"PageSize": 1})
    check([s["AlarmMuteRuleArn"] for p in pages for s in p["AlarmMuteRuleSummaries"]] == [arn(name)], "boto3 List")
    try:
        client.get_alarm_mute_rule(AlarmMuteRuleName=f"{PREFIX}nope")
        check(False, "boto3 Get unknown succeeded")
    except client.exceptions.ResourceNotFoundException as error:
        check(error.response["Error"]["Code"] == "ResourceNotFoundException", f"boto3 error {error.response!r}")
    client.delete_alarm_mute_rule(AlarmMuteRuleName=name)
    print("  boto3: put/get/paginated list/typed not-found/delete")


def check_delete_and_reset(names):
    for name in names:
        ok("DeleteAlarmMuteRule", {"AlarmMuteRuleName": name})
        fails("GetAlarmMuteRule", {"AlarmMuteRuleName": name}, 404, "ResourceNotFoundException")
    listed, _ = list_all()
    check(listed == [], f"after deleting everything: {names_of(listed)}")
    print(f"  deleted {len(names)} rules; none listed")

    put(f"{PREFIX}before-reset", rule())
    status, _, raw = post("/moto-api/reset", b"", {})
    check(status == 200, f"reset: HTTP {status} {raw[:200]!r}")
    fails("GetAlarmMuteRule", {"AlarmMuteRuleName": f"{PREFIX}before-reset"}, 404, "ResourceNotFoundException")
    print("  POST /moto-api/reset forgot the mute rules")


def main():
    now = time.time()
    first = check_round_trip_and_upsert(now)
    others = check_statuses_and_list(now, first)
    check_regions()
    check_accounts()
    check_validation()
    check_not_found()
    check_other_protocols()
    check_boto3()
    check_delete_and_reset([first, *others])
    print("check_mute_rules: all checks passed")


if __name__ == "__main__":
    if not os.environ.get("AWS_ENDPOINT_URL"):
        sys.exit("check_mute_rules: AWS_ENDPOINT_URL is not set (start moto with scripts/lib.sh start_moto)")
    try:
        main()
    except CheckFailed as failure:
        sys.exit(f"check_mute_rules: FAILED: {failure}")
