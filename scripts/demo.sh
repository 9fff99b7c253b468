#!/usr/bin/env bash
# The product's main job, locally: moto on 127.0.0.1, two SNS topics, five
# instances (four Linux, production and staging, one stopped later; one Windows),
# the CloudWatch agent's disk series of some of them (disk_used_percent on Linux,
# LogicalDisk % Free Space on Windows), and the sample events from events/ sent to the
# Lambda function as it ships (`disk-alarm-reconciler`) through a Lambda
# Runtime API emulator (`cargo lambda watch` / `cargo lambda invoke`), then the
# resulting alarms and mute rules as tables.
#
#   scripts/demo.sh          stops everything it started at the end
#   scripts/demo.sh --keep   leaves the emulator on 127.0.0.1:5000 with the demo's
#                            world, and writes target/demo.env for
#                            docs/running-locally.md
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

KEEP=false
if [[ "${1:-}" == "--keep" ]]; then KEEP=true; fi

ensure_venv
echo "== building the function and alarmctl (the first build of the AWS SDK takes a few minutes)" >&2
cargo build -q -p handler --bins
FUNCTION=target/debug/disk-alarm-reconciler
ALARMCTL=target/debug/alarmctl
CARGO_LAMBDA="$VENV_DIR/bin/cargo-lambda"
FUNCTION_LOG=target/demo-function.log

EMULATOR_PID="" FUNCTION_PID=""
stop_all() {
    for pid in "$FUNCTION_PID" "$EMULATOR_PID"; do
        if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
    done
    stop_moto
}
if $KEEP; then
    start_moto 5000
else
    trap stop_all EXIT
    start_moto
fi
export AWS_REGION=us-east-1
py() { "$VENV_DIR/bin/python" scripts/demo_world.py "$@"; }

eval "$(py setup)"
export WARNING_TOPIC_ARN CRITICAL_TOPIC_ARN
echo
echo "Instances: web-1 $WEB1, web-2 $WEB2, db-1 $DB1 (production, Linux); batch-1 $BATCH1 (staging, Linux);"
echo "           win-1 $WIN1 (production, Windows)"

# The Runtime API emulator, and the function started against it with the
# environment the SAM template gives it (topics, Region, endpoint).
LAMBDA_PORT="$(free_port)"
"$CARGO_LAMBDA" lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
    >target/demo-emulator.log 2>&1 &
EMULATOR_PID=$!
for _ in $(seq 1 150); do
    if (echo >"/dev/tcp/127.0.0.1/$LAMBDA_PORT") 2>/dev/null; then break; fi
    sleep 0.2
done
AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$LAMBDA_PORT/.rt/disk-alarm-reconciler" \
    AWS_LAMBDA_FUNCTION_NAME=disk-alarm-reconciler AWS_LAMBDA_FUNCTION_VERSION=1 \
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 "$FUNCTION" >"$FUNCTION_LOG" 2>&1 &
FUNCTION_PID=$!
echo "Lambda Runtime API emulator on 127.0.0.1:$LAMBDA_PORT, function log in $FUNCTION_LOG"

# Invokes the function with events/<sample> retargeted at an instance and prints the response's counts.
feed() {
    local sample=$1 instance=$2
    printf '%-40s %-21s -> ' "$sample" "$instance"
    "$CARGO_LAMBDA" lambda invoke --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --color never \
        --data-ascii "$(py event "$sample" "$instance")" disk-alarm-reconciler |
        "$VENV_DIR/bin/python" -c 'import json,sys; r=json.load(sys.stdin); print("created %(created)s, updated %(updated)s, deleted %(deleted)s, unchanged %(unchanged)s, muted %(mutes_set)s, unmuted %(mutes_removed)s" % r + ("" if not r.get("skipped") else ", skipped: " + r["skipped"]))'
}

echo "web-1 publishes its disk series (/, /data, tmpfs /run), win-1 its drives (C:, D:, _Total); the others have not yet"
py publish "$WEB1"
py publish-windows "$WIN1"

echo
echo "== events, through cargo lambda invoke"
for instance in "$WEB1" "$WEB2" "$DB1" "$BATCH1" "$WIN1"; do feed ec2-running.json "$instance"; done
echo "(duplicate delivery)"
feed ec2-running.json "$WEB1"
py stop "$DB1"
feed ec2-stopped.json "$DB1"

echo
echo "== alarms in CloudWatch (web-2 is on its provisional pair; win-1's drives alarm on free space)"
py table
echo "tags of ec2-disk-$WIN1-c-warning: $(py tags "ec2-disk-$WIN1-c-warning")"

echo
echo "== web-2's agent starts publishing; the 5-minute follow-up pass replaces its provisional pair"
py publish "$WEB2"
feed provisional-follow-up.json -
py table

echo
echo "== AWS Health announces maintenance of web-1 in two days: its alarms are muted for the window"
feed health-reboot-maintenance-upcoming.json "$WEB1"
py mutes

echo
echo "== why has batch-1 no alarms?"
"$ALARMCTL" explain "$BATCH1"

echo
echo "== which disk series does web-1 publish, and which get alarms?"
"$ALARMCTL" explain "$WEB1" | sed -n '/series:/,/desired:/p'

echo
echo "== win-1 is a Windows instance: which drives does it publish, and which get alarms?"
"$ALARMCTL" explain "$WIN1" | sed -n '/platform:/p;/series:/,/desired:/p'

echo
echo "== opting in to the forecast alarm (FILL_FORECAST_HOURS=24): what the sweep would add, and what it would cost"
FILL_FORECAST_HOURS=24 "$ALARMCTL" plan

if $KEEP; then
    kill "$FUNCTION_PID" "$EMULATOR_PID" 2>/dev/null || true
    WEB3="$(py launch web-3 production)"
    echo
    echo "web-3 $WEB3 (production) is launched and has seen no event yet: it has no alarms."
    cat >target/demo.env <<EOF
export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=$AWS_REGION
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export WARNING_TOPIC_ARN=$WARNING_TOPIC_ARN CRITICAL_TOPIC_ARN=$CRITICAL_TOPIC_ARN
export WEB1=$WEB1 WEB2=$WEB2 DB1=$DB1 BATCH1=$BATCH1 WIN1=$WIN1 WEB3=$WEB3
EOF
    echo
    echo "The emulator keeps running on $AWS_ENDPOINT_URL (pid $MOTO_PID; stop it with: kill $MOTO_PID)."
    echo "Its settings are in target/demo.env: see docs/running-locally.md."
fi
