"""CloudWatch alarm mute rules, in memory, for the local moto server.

Why this exists: moto 5.2.5 does not implement `PutAlarmMuteRule`,
`GetAlarmMuteRule`, `ListAlarmMuteRules` or `DeleteAlarmMuteRule`, so the
product's maintenance path (mute an instance's alarms for an AWS Health
maintenance window, clean up expired mutes) could not run end to end.
`moto_server.py` answers those four operations from the store below instead of
handing them to moto; this module knows nothing of wire protocols.

What it follows: botocore's CloudWatch service model for member names, types
and constraints (a broken constraint is a `ValidationError`, as AWS answers),
and the model's documentation for what the values mean (a value of the right
shape that means nothing, such as an unparseable schedule, is an
`InvalidParameterValue`).  Where the documentation is silent this errs on the
strict side, so that the product meets a refusal here before it meets one in
AWS.  Rules live per account and per Region, as moto keeps its own state.

Parameters come in as plain values (strings, numbers, lists, dicts), with
timestamps as epoch seconds; results go out the same way, typed by the model
by the caller.
"""

import base64
import binascii
import dataclasses
import datetime
import json
import re
import threading
import time
import zoneinfo

OPERATIONS = frozenset(
    {"PutAlarmMuteRule", "GetAlarmMuteRule", "ListAlarmMuteRules", "DeleteAlarmMuteRule"}
)

MIN_DURATION_SECONDS = 60  # PT1M
MAX_DURATION_SECONDS = 15 * 86_400  # P15D
DEFAULT_MAX_RECORDS = 50  # documented default of ListAlarmMuteRules' MaxRecords


# --- errors -------------------------------------------------------------------


class MuteRuleError(Exception):
    """An API error as the service model names it.

    `shape` is the error's shape name (what RPC v2 CBOR and JSON 1.0 carry in
    `__type`), `code` its query-protocol code (what the SDKs read from the
    `x-amzn-query-error` header, CloudWatch being query compatible), `status`
    its HTTP status, `members` any extra members of the error shape.
    """

    def __init__(self, shape, code, status, message, **members):
        super().__init__(message)
        self.shape, self.code, self.status, self.message = shape, code, status, message
        self.members = members


def validation_error(problems):
    """AWS's wording for broken model constraints, all of them in one message."""
    count = len(problems)
    head = f"{count} validation error{'s' if count > 1 else ''} detected: "
    return MuteRuleError("ValidationException", "ValidationError", 400, head + "; ".join(problems))


def invalid_value(message):
    return MuteRuleError("InvalidParameterValueException", "InvalidParameterValue", 400, message)


def not_found(name):
    return MuteRuleError(
        "ResourceNotFoundException", "ResourceNotFoundException", 404,
        f"Alarm mute rule {name} does not exist",
        ResourceType="AlarmMuteRule", ResourceId=name,
    )


def invalid_next_token():
    return MuteRuleError("InvalidNextToken", "InvalidNextToken", 400, "The NextToken is not valid")


# --- model constraints ---------------------------------------------------------


def lower_camel(name):
    """AWS names members this way in validation messages (`rule.schedule.duration`)."""
    return name[:1].lower() + name[1:]


def shown(value):
    """A value as a validation message quotes it, cut short so 101 names stay readable."""
    if value is None:
        return "null"
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = f"[{text}]" if isinstance(value, list) else text
    return f"'{text[:80]}...'" if len(text) > 80 else f"'{text}'"


def constraint_problems(value, shape, path):
    """Yield one message per model constraint `value` breaks (required, type, length, range, enum)."""
    def problem(rule):
        return f"Value {shown(value)} at '{path}' failed to satisfy constraint: {rule}"

    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            yield problem("Member must be a structure")
            return
        for name, member in shape.members.items():
            where = f"{path}.{lower_camel(name)}" if path else lower_camel(name)
            if value.get(name) is None:
                if name in shape.required_members:
                    yield f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
                continue
            yield from constraint_problems(value[name], member, where)
    elif kind == "list":
        if not isinstance(value, list):
            yield problem("Member must be a list")
            return
        if "max" in meta and len(value) > meta["max"]:
            yield problem(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            yield problem(f"Member must have length greater than or equal to {meta['min']}")
        for index, item in enumerate(value, start=1):
            yield from constraint_problems(item, shape.member, f"{path}.{index}.member")
    elif kind == "string":
        if not isinstance(value, str):
            yield problem("Member must be a string")
            return
        if "max" in meta and len(value) > meta["max"]:
            yield problem(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            yield problem(f"Member must have length greater than or equal to {meta['min']}")
        if shape.enum and value not in shape.enum:
            yield problem(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            yield problem("Member must be an integer")
            return
        if "max" in meta and value > meta["max"]:
            yield problem(f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta and value < meta["min"]:
            yield problem(f"Member must have value greater than or equal to {meta['min']}")
    elif kind == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            yield problem("Member must be a timestamp")


def check_constraints(model, operation, params):
    shape = model.operation_model(operation).input_shape
    problems = list(constraint_problems(params, shape, ""))
    if problems:
        raise validation_error(problems)


# --- schedules -----------------------------------------------------------------

AT_EXPRESSION = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})\)")
CRON_EXPRESSION = re.compile(r"cron\(([^()]*)\)")
# ISO 8601 durations without fractions; years and months are accepted only to be
# refused as too long, the way an out-of-range duration is.
ISO_DURATION = re.compile(
    r"P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
)
DURATION_UNITS = (365 * 86_400, 30 * 86_400, 7 * 86_400, 86_400, 3600, 60, 1)

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (name, lowest, highest, names for lowest.., in order) of the five documented fields.
CRON_FIELDS = (
    ("Minutes", 0, 59, ()),
    ("Hours", 0, 23, ()),
    ("Day-of-month", 1, 31, ()),
    ("Month", 1, 12, MONTHS),
    ("Day-of-week", 0, 6, WEEKDAYS),
)


def duration_seconds(text):
    """`PT2H40M` -> 9600; refuses what is not an ISO 8601 duration or not in PT1M..P15D."""
    match = ISO_DURATION.fullmatch(text)
    if not match:
        raise invalid_value(
            f"Invalid Duration '{text}': use an ISO 8601 duration such as PT2H, PT2H40M or P1DT30M"
        )
    seconds = sum(int(n) * unit for n, unit in zip(match.groups(), DURATION_UNITS) if n)
    if not MIN_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        raise invalid_value(f"Invalid Duration '{text}': it must be between PT1M and P15D")
    return seconds


def time_zone(name):
    """The schedule's time zone; UTC when none is given, as documented."""
    if name is None:
        return datetime.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid_value(f"Invalid Timezone '{name}': use an IANA time zone such as Europe/London") from None


def at_instant(match, zone, expression):
    """The epoch second an `at(yyyy-MM-ddThh:mm)` expression names, read in `zone`."""
    try:
        local = datetime.datetime(*map(int, match.groups()), tzinfo=zone)
    except ValueError:
        raise invalid_value(f"Invalid Expression '{expression}': no such date or time") from None
    return local.timestamp()


def cron_value(token, low, high, names):
    if token.upper() in names:
        return low + names.index(token.upper())
    if not token.isdigit() or not low <= int(token) <= high:
        raise ValueError(token)
    return int(token)


def cron_field(text, low, high, names):
    """The set of values one cron field allows; only `*`, `-` and `,` are documented."""
    if text == "*":
        return None  # any value
    allowed = set()
    for item in text.split(","):
        first, dash, last = item.partition("-")
        start = cron_value(first, low, high, names)
        end = cron_value(last, low, high, names) if dash else start
        if start > end:
            raise ValueError(item)
        allowed.update(range(start, end + 1))
    return allowed


def parse_cron(match, expression):
    """`cron(Minutes Hours Day-of-month Month Day-of-week)` -> five allowed-value sets (None: any)."""
    fields = match.group(1).split()
    if len(fields) != len(CRON_FIELDS):
        raise invalid_value(
            f"Invalid Expression '{expression}': a cron expression has five fields, "
            "Minutes Hours Day-of-month Month Day-of-week"
        )
    parsed = []
    for text, (name, low, high, names) in zip(fields, CRON_FIELDS):
        try:
            parsed.append(cron_field(text, low, high, names))
        except ValueError:
            raise invalid_value(f"Invalid Expression '{expression}': bad {name} field '{text}'") from None
    return tuple(parsed)


def cron_matches(fields, local):
    """Whether the cron fields select this local minute (classic cron: either day field may match)."""
    minutes, hours, days, months, weekdays = fields
    weekday = (local.weekday() + 1) % 7  # cron counts from Sunday = 0
    if minutes is not None and local.minute not in minutes:
        return False
    if hours is not None and local.hour not in hours:
        return False
    if months is not None and local.month not in months:
        return False
    if days is not None and weekdays is not None:
        return local.day in days or weekday in weekdays
    return (days is None or local.day in days) and (weekdays is None or weekday in weekdays)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A parsed schedule: a one-time window starting at `at`, or a cron rule, lasting `seconds`."""

    zone: datetime.tzinfo
    seconds: int
    at: float | None = None
    cron: tuple | None = None

    @property
    def mute_type(self):
        return "ONE_TIME" if self.at is not None else "RECURRING"

    def window_holds(self, now):
        """Whether some occurrence's mute window (occurrence + duration) contains `now`."""
        if self.at is not None:
            return self.at <= now < self.at + self.seconds
        minute = int(now // 60) * 60
        # Occurrences are whole minutes: walk back over the minutes whose window reaches now.
        while minute > now - self.seconds:
            if cron_matches(self.cron, datetime.datetime.fromtimestamp(minute, self.zone)):
                return True
            minute -= 60
        return False


def parse_schedule(schedule):
    """Schedule member of the request (already constraint-checked) -> Schedule, or InvalidParameterValue."""
    expression = schedule["Expression"]
    zone = time_zone(schedule.get("Timezone"))
    seconds = duration_seconds(schedule["Duration"])
    if match := AT_EXPRESSION.fullmatch(expression):
        return Schedule(zone=zone, seconds=seconds, at=at_instant(match, zone, expression))
    if match := CRON_EXPRESSION.fullmatch(expression):
        return Schedule(zone=zone, seconds=seconds, cron=parse_cron(match, expression))
    raise invalid_value(
        f"Invalid Expression '{expression}': use at(yyyy-MM-ddThh:mm) for a one-time mute "
        "or cron(Minutes Hours Day-of-month Month Day-of-week) for a recurring one"
    )


# --- rules and the store -------------------------------------------------------


@dataclasses.dataclass
class MuteRule:
    name: str
    arn: str
    rule: dict  # the Rule member as given
    schedule: Schedule
    updated: float
    description: str | None = None
    alarm_names: list | None = None
    tags: list | None = None
    start: float | None = None
    expire: float | None = None

    def status(self, now):
        """SCHEDULED, ACTIVE or EXPIRED, from the dates and the schedule at `now`.

        A one-time rule whose window has passed is EXPIRED as well: like a rule
        past its ExpireDate, it will never mute again.
        """
        if self.expire is not None and now >= self.expire:
            return "EXPIRED"
        if self.start is not None and now < self.start:
            return "SCHEDULED"
        if self.schedule.window_holds(now):
            return "ACTIVE"
        if self.schedule.at is not None and now >= self.schedule.at:
            return "EXPIRED"
        return "SCHEDULED"

    def targets(self, alarm):
        return alarm in (self.alarm_names or ())

    def details(self, now):
        """GetAlarmMuteRuleOutput; members that were never set are left out."""
        out = {
            "Name": self.name,
            "AlarmMuteRuleArn": self.arn,
            "Description": self.description,
            "Rule": self.rule,
            "MuteTargets": {"AlarmNames": self.alarm_names} if self.alarm_names is not None else None,
            "StartDate": self.start,
            "ExpireDate": self.expire,
            "Status": self.status(now),
            "LastUpdatedTimestamp": self.updated,
            "MuteType": self.schedule.mute_type,
        }
        return {k: v for k, v in out.items() if v is not None}

    def summary(self, now):
        """AlarmMuteRuleSummary: the rule is named only by its ARN."""
        out = {
            "AlarmMuteRuleArn": self.arn,
            "ExpireDate": self.expire,
            "Status": self.status(now),
            "MuteType": self.schedule.mute_type,
            "LastUpdatedTimestamp": self.updated,
        }
        return {k: v for k, v in out.items() if v is not None}


def rule_arn(account, region, name):
    return f"arn:aws:cloudwatch:{region}:{account}:alarm-mute-rule:{name}"


def encode_token(name):
    return base64.urlsafe_b64encode(json.dumps({"after": name}).encode()).decode()


def decode_token(token):
    """The name a previous page ended with; InvalidNextToken for anything this store did not hand out."""
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        raise invalid_next_token() from None
    if not isinstance(after, str):
        raise invalid_next_token()
    return after


class MuteRuleStore:
    """Mute rules per (account, Region), safe for the threaded server."""

    def __init__(self, model, clock=time.time):
        self.model = model
        self.clock = clock
        self.lock = threading.Lock()
        self.rules = {}  # (account, region) -> {name: MuteRule}

    def reset(self):
        """Forget every rule, as `POST /moto-api/reset` makes moto forget its state."""
        with self.lock:
            self.rules.clear()

    def handle(self, operation, params, account, region):
        """Run one of OPERATIONS; return its output members (None when it has no output)."""
        check_constraints(self.model, operation, params)
        now = self.clock()
        handler = {
            "PutAlarmMuteRule": self.put,
            "GetAlarmMuteRule": self.get,
            "ListAlarmMuteRules": self.list,
            "DeleteAlarmMuteRule": self.delete,
        }[operation]
        with self.lock:
            return handler(self.rules.setdefault((account, region), {}), params, account, region, now)

    def put(self, rules, params, account, region, now):
        """An upsert: the new configuration replaces the old one whole."""
        name = params["Name"]
        given = params["Rule"]["Schedule"]
        schedule = parse_schedule(given)
        start, expire = params.get("StartDate"), params.get("ExpireDate")
        if start is not None and expire is not None and expire <= start:
            raise invalid_value("ExpireDate must be later than StartDate")
        rules[name] = MuteRule(
            name=name,
            arn=rule_arn(account, region, name),
            # Echoed by Get as given, less nulls and members the model does not know.
            rule={"Schedule": {k: given[k] for k in ("Expression", "Duration", "Timezone") if given.get(k) is not None}},
            schedule=schedule,
            updated=now,
            description=params.get("Description"),
            alarm_names=(params.get("MuteTargets") or {}).get("AlarmNames"),
            tags=params.get("Tags"),
            start=float(start) if start is not None else None,
            expire=float(expire) if expire is not None else None,
        )
        return None

    def get(self, rules, params, account, region, now):
        name = params["AlarmMuteRuleName"]
        if name not in rules:
            raise not_found(name)
        return rules[name].details(now)

    def list(self, rules, params, account, region, now):
        """Sorted by name; the NextToken names the last rule handed out, so pages survive upserts."""
        alarm, statuses = params.get("AlarmName"), params.get("Statuses")
        after = decode_token(params["NextToken"]) if params.get("NextToken") else None
        limit = params.get("MaxRecords") or DEFAULT_MAX_RECORDS
        chosen = [
            rule for name, rule in sorted(rules.items())
            if (after is None or name > after)
            and (alarm is None or rule.targets(alarm))
            and (not statuses or rule.status(now) in statuses)
        ]
        page = chosen[:limit]
        out = {"AlarmMuteRuleSummaries": [rule.summary(now) for rule in page]}
        if len(chosen) > limit:
            out["NextToken"] = encode_token(page[-1].name)
        return out

    def delete(self, rules, params, account, region, now):
        """Idempotent, as documented: deleting a rule that does not exist succeeds."""
        rules.pop(params["AlarmMuteRuleName"], None)
        return None
