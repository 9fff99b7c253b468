"""Run moto in server mode, with a shim that lets the Rust CloudWatch SDK talk to it.

Why this exists: `aws-sdk-cloudwatch` (1.140.x) speaks Smithy RPC v2 CBOR
(`POST /service/GraniteServiceVersion20100801/operation/<Op>`, `application/cbor`),
but moto 5.2.5 only answers CloudWatch in AWS JSON 1.0 and the query protocol
(getmoto/moto#9195).  The product keeps the current SDK; the protocol
translation lives here, in test support, and nowhere else.  A small WSGI
middleware turns each CBOR request into the equivalent JSON 1.0 request
(`X-Amz-Target: GraniteServiceVersion20100801.<Op>` to `/`), hands it to moto's
own app, and re-encodes moto's JSON answer as CBOR, typed by botocore's
CloudWatch model, because the SDK's CBOR decoder is strict: integers must be
CBOR ints, doubles CBOR floats, timestamps tag 1.  Every other request (EC2,
STS, ...) goes to moto untouched.

moto has no alarm mute rules at all, so `PutAlarmMuteRule`,
`GetAlarmMuteRule`, `ListAlarmMuteRules` and `DeleteAlarmMuteRule` never reach
it: this server answers them itself from an in-memory store (mute_rules.py),
in whichever protocol they come (CBOR, JSON 1.0 or query), per account and
Region the way moto resolves them, and forgets them on `POST /moto-api/reset`.

moto's STS lets anyone assume a role that does not exist (and hands out
credentials in the named account).  AWS refuses that with `AccessDenied`, and
`alarmctl fleet` must show such an account as an error row, so this server
refuses `AssumeRole` of a role the target account's IAM does not hold, the way
AWS answers; every other STS request (and every AssumeRole of a role that
exists) goes to moto unchanged.

Usage: python tests/support/moto_server.py [--host 127.0.0.1] --port PORT
"""

import argparse
import base64
import datetime
import gzip
import io
import json
import logging
import os
import signal
import sys
import uuid
from http import HTTPStatus
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import botocore.session
import cbor2
from moto.core.parse import QueryParser
from moto.core.responses import BaseResponse
from moto.core.serialize import QuerySerializer, SerializationContext
from moto.core.utils import get_service_model
from moto.iam.models import get_account_id_from, iam_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.serving import run_simple
from werkzeug.test import run_wsgi_app
from werkzeug.wsgi import get_input_stream

from mute_rules import OPERATIONS as MUTE_RULE_OPERATIONS
from mute_rules import MuteRuleError, MuteRuleStore

SERVICE = "GraniteServiceVersion20100801"
CBOR_PATH_PREFIX = f"/service/{SERVICE}/operation/"
XML_NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"
STS_XML_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


# --- request side: CBOR value -> JSON value ---------------------------------


def cbor_to_json(value):
    """Make a decoded CBOR value JSON-serialisable the way AWS JSON 1.0 expects."""
    if isinstance(value, dict):
        return {k: cbor_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cbor_to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        # cbor2 turns tag 1 (epoch) into an aware datetime; JSON 1.0 wants epoch seconds.
        # (moto's query parser gives naive datetimes, in UTC.)
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        return float(value.value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


# --- response side: JSON value -> CBOR value, typed by the service model -----


def epoch_seconds(value):
    """moto's JSON serializer emits unix timestamps; accept ISO 8601 strings too."""
    if isinstance(value, (int, float)):
        return float(value)
    text = value.replace("Z", "+00:00")
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def json_to_cbor(value, shape):
    """Convert a JSON value to what the SDK's CBOR decoder demands for `shape`.

    `shape` is None for members the installed botocore model does not know
    (the SDK may be newer); those keep their JSON types.
    """
    if value is None:
        return None
    type_name = shape.type_name if shape is not None else None
    if type_name == "structure" or (type_name is None and isinstance(value, dict)):
        members = shape.members if shape is not None else {}
        return {k: json_to_cbor(v, members.get(k)) for k, v in value.items()}
    if type_name == "map":
        return {k: json_to_cbor(v, shape.value) for k, v in value.items()}
    if type_name == "list" or (type_name is None and isinstance(value, list)):
        member = shape.member if shape is not None else None
        return [json_to_cbor(v, member) for v in value]
    if type_name == "timestamp":
        return cbor2.CBORTag(1, epoch_seconds(value))
    if type_name in ("double", "float"):
        return float(value)  # the SDK rejects a CBOR int where it wants a float
    if type_name in ("integer", "long", "short", "byte"):
        return int(value)  # ...and a CBOR float where it wants an int
    if type_name == "blob":
        return base64.b64decode(value)
    return value


# --- which account and Region a request is for, as moto decides ---------------


def request_region(environ):
    """The Region moto serves this request from (`BaseResponse.get_region_from_url`).

    A `.REGION.amazonaws.com` host, then a `region/...` user agent, then the
    SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`),
    then us-east-1.
    """
    url = environ.get("HTTP_HOST", "") + environ.get("PATH_INFO", "")
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if match := BaseResponse.region_regex.search(url):
        return match.group(1)
    if match := BaseResponse.region_from_useragent_regex.search(environ.get("HTTP_USER_AGENT", "")):
        return match.group(1)
    scope = authorization.split(",")[0].split("/")
    if "AWS4" in authorization and len(scope) > 2:
        return scope[2]
    return BaseResponse.default_region


def request_account(environ):
    """The account moto serves this request from (`BaseResponse.get_current_account`).

    MOTO_ACCOUNT_ID, then the `x-moto-account-id` header, then the account whose
    IAM holds the request's access key: moto's STS AssumeRole creates the
    temporary key in the role's account, so a rule put with assumed-role
    credentials lives where moto puts that role's alarms.  Any other key
    (e.g. `testing`) means the default account, 123456789012.
    """
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    match = BaseResponse.access_key_regex.search(environ.get("HTTP_AUTHORIZATION", ""))
    return get_account_id_from(match.group(1) if match else "AKIAEXAMPLE")


def role_exists(arn):
    """Whether the role `arn:PARTITION:iam::ACCOUNT:role[/path]/NAME` exists in that account's IAM."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return False
    partition, account, name = parts[1], parts[4], parts[5].rsplit("/", 1)[-1]
    try:
        roles = iam_backends[account][partition].roles.values()
    except KeyError:
        return False
    return any(role.name == name for role in roles)


def signing_service(environ):
    """The service of the SigV4 credential scope, e.g. `monitoring` for CloudWatch."""
    parts = environ.get("HTTP_AUTHORIZATION", "").split(",")[0].split("/")
    return parts[3] if len(parts) > 4 else None


def status_line(code):
    return f"{code} {HTTPStatus(code).phrase.upper()}"



def read_form(environ):
    """The parameters of a query-protocol request (query string and form body)
    and the raw body, which is put back so that moto can read it again."""
    raw = b""
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        raw = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
    values = MultiDict(
        parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        + parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    )
    return values, raw

class CborToJsonMiddleware:
    """Translate CloudWatch RPC v2 CBOR <-> AWS JSON 1.0 around moto's WSGI app,
    and answer the alarm mute rule operations moto lacks."""

    def __init__(self, app):
        self.app = app
        self.model = botocore.session.get_session().get_service_model("cloudwatch")
        self.mute_rules = MuteRuleStore(self.model)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            self.mute_rules.reset()
            return self.app(environ, start_response)
        if path.startswith(CBOR_PATH_PREFIX):
            return self.cbor(environ, start_response, path[len(CBOR_PATH_PREFIX):])
        service, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if service == SERVICE and operation in MUTE_RULE_OPERATIONS:
            return self.json_mute_rule(environ, start_response, operation)
        if signing_service(environ) == "monitoring":
            return self.query(environ, start_response)
        if signing_service(environ) == "sts":
            return self.sts(environ, start_response)
        return self.app(environ, start_response)

    # --- STS: AssumeRole of a role that does not exist is refused, as AWS does ----

    def sts(self, environ, start_response):
        values, _ = read_form(environ)
        if values.get("Action") != "AssumeRole" or role_exists(values.get("RoleArn", "")):
            return self.app(environ, start_response)
        caller = request_account(environ)
        message = (
            f"User: arn:aws:iam::{caller}:user/moto is not authorized to perform: "
            f"sts:AssumeRole on resource: {values.get('RoleArn', '')}"
        )
        request_id = str(uuid.uuid4())
        body = (
            f'<ErrorResponse xmlns="{STS_XML_NAMESPACE}"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode("utf-8")
        start_response(
            status_line(403),
            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))],
        )
        return [body]

    def run_mute_rule(self, environ, operation, params):
        """(HTTP status, output members or None, MuteRuleError or None) of one mute-rule call."""
        try:
            account, region = request_account(environ), request_region(environ)
            return 200, self.mute_rules.handle(operation, params, account, region), None
        except MuteRuleError as error:
            return error.status, None, error

    # --- RPC v2 CBOR (the Rust SDK, boto3) ---------------------------------------

    def cbor(self, environ, start_response, operation):
        raw = get_input_stream(environ).read()
        # The SDK gzips PutMetricData bodies of 10 KiB and more.
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        params = cbor_to_json(cbor2.loads(raw)) if raw else {}
        if operation in MUTE_RULE_OPERATIONS:
            status, headers, out_body = self.cbor_mute_rule(environ, operation, params)
        else:
            status, headers, out_body = self.cbor_via_moto(environ, operation, params)
        out_headers = [
            (k, v) for k, v in headers.items() if k.lower() not in ("content-type", "content-length")
        ]
        out_headers += [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(out_body))),
        ]
        start_response(status, out_headers)
        return [out_body]

    def cbor_mute_rule(self, environ, operation, params):
        status, result, error = self.run_mute_rule(environ, operation, params)
        headers = Headers([("x-amzn-RequestId", str(uuid.uuid4()))])
        if error is not None:
            # __type for the SDK's error parser; the query code in the header is
            # what error.code() then reports, as from AWS (CloudWatch is query compatible).
            headers.add("x-amzn-query-error", f"{error.code};Sender")
            body = cbor2.dumps({"__type": error.shape, "message": error.message, **error.members})
            return status_line(status), headers, body
        shape = self.model.operation_model(operation).output_shape
        if shape is None:
            return status_line(status), headers, b""  # no output: the SDK does not read the body
        return status_line(status), headers, cbor2.dumps(json_to_cbor(result or {}, shape))

    def cbor_via_moto(self, environ, operation, params):
        """Hand the call to moto as JSON 1.0; (status, headers, CBOR body) of its answer."""
        body = json.dumps(params).encode("utf-8")
        inner = dict(environ)
        for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_CONTENT_ENCODING", "HTTP_X_AMZN_QUERY_MODE"):
            inner.pop(key, None)
        inner.update(
            {
                "PATH_INFO": "/",
                "RAW_URI": "/",
                "REQUEST_URI": "/",
                "QUERY_STRING": "",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_ACCEPT": "application/x-amz-json-1.0",
                "HTTP_X_AMZ_TARGET": f"{SERVICE}.{operation}",
                "wsgi.input": io.BytesIO(body),
            }
        )
        try:
            app_iter, status, headers = run_wsgi_app(self.app, inner, buffered=True)
            reply = b"".join(app_iter)
            if hasattr(app_iter, "close"):
                app_iter.close()
        except Exception as error:
            # moto raises (e.g. NotImplementedError for an operation it lacks) and
            # werkzeug would answer with an HTML page the SDK cannot decode.
            # 501 rather than 500 for "not implemented": the SDK retries a 500.
            logging.getLogger("moto_server").warning("%s failed in moto: %r", operation, error)
            if isinstance(error, NotImplementedError):
                status, code = "501 NOT IMPLEMENTED", "NotImplemented"
            else:
                status, code = "500 INTERNAL SERVER ERROR", "InternalFailure"
            headers = Headers()
            reply = json.dumps({"__type": code, "message": f"{type(error).__name__}: {error}"}).encode()

        status_code = int(status.split(" ", 1)[0])
        return status, headers, self.translate_response(operation, status_code, headers, reply)

    def translate_response(self, operation, status_code, headers, reply):
        try:
            data = json.loads(reply) if reply.strip() else {}
        except ValueError:
            data = None  # e.g. moto's HTML page or plain-text "not implemented"

        if status_code >= 400:
            # The SDK reads the error code from `__type` (or the
            # x-amzn-query-error header, which is passed through) and the text
            # from `message`; a body that is not a CBOR map makes it fail to parse.
            data = data if isinstance(data, dict) else {}
            code = data.get("__type") or headers.get("X-Amzn-Errortype") or "InternalFailure"
            message = data.get("message") or data.get("Message") or reply.decode("utf-8", "replace")
            return cbor2.dumps({"__type": code, "message": message})

        try:
            shape = self.model.operation_model(operation).output_shape
        except Exception:  # an operation newer than the installed botocore model
            shape = None
        if shape is None and not data:
            return b""  # no output (e.g. DeleteAlarms): the SDK does not read the body
        # An empty map, not an empty body, when there is an output: the SDK
        # decodes the body as a CBOR map whenever the operation has output.
        return cbor2.dumps(json_to_cbor(data or {}, shape))

    # --- AWS JSON 1.0 (X-Amz-Target) ---------------------------------------------

    def json_mute_rule(self, environ, start_response, operation):
        raw = get_input_stream(environ).read()
        try:
            params = json.loads(raw) if raw.strip() else {}
        except ValueError:
            params = None
        if isinstance(params, dict):
            status, result, error = self.run_mute_rule(environ, operation, params)
        else:
            status, result = 400, None
            error = MuteRuleError("SerializationException", "SerializationException", 400, "Body is not a JSON object")
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        if error is not None:
            headers.append(("x-amzn-query-error", f"{error.code};Sender"))
            body = {"__type": error.shape, "message": error.message, **error.members}
        else:
            body = result or {}  # timestamps are already epoch seconds, JSON 1.0's default
        out_body = json.dumps(body).encode("utf-8")
        start_response(status_line(status), headers + [("Content-Length", str(len(out_body)))])
        return [out_body]

    # --- query protocol (Action=...) -----------------------------------------------

    def query(self, environ, start_response):
        """A CloudWatch request in neither CBOR nor JSON: answer mute-rule actions, pass the rest on.

        The form body has to be read to find the action, so it is put back for moto.
        """
        values, raw = read_form(environ)
        operation = values.get("Action")
        if operation not in MUTE_RULE_OPERATIONS:
            return self.app(environ, start_response)

        operation_model = get_service_model("cloudwatch").operation_model(operation)
        params = QueryParser(operation_model).parse(
            {"values": values, "headers": {}, "body": raw, "method": environ.get("REQUEST_METHOD", "POST"),
             "url_path": "/", "url_params": {}}
        )
        status, result, error = self.run_mute_rule(environ, operation, cbor_to_json(params))
        request_id = str(uuid.uuid4())
        if error is not None:
            body = (
                f'<ErrorResponse xmlns="{XML_NAMESPACE}"><Error><Type>Sender</Type>'
                f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        else:
            serializer = QuerySerializer(operation_model, context=SerializationContext(request_id))
            body = serializer.serialize(result or {})["body"]
        out_body = body.encode("utf-8")
        start_response(
            status_line(status),
            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id), ("Content-Length", str(len(out_body)))],
        )
        return [out_body]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    args = parser.parse_args(argv)

    # moto builds some resource URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.port)
    # Quiet: no banner, no per-request lines; only warnings and errors on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        CborToJsonMiddleware(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
