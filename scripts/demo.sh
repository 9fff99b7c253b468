#!/usr/bin/env bash
# The product's main job, locally: moto on 127.0.0.1, two SNS topics, four
# instances (production and staging, one stopped later), the CloudWatch agent's
# disk series of some of them, the sample events from events/ fed to the same
# code the Lambda runs (`alarmctl handle`), and the resulting alarms as a table.
# Stops everything it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

ensure_venv
echo "== building alarmctl (the first build of the AWS SDK takes a few minutes)" >&2
cargo build -q -p handler --bin alarmctl
ALARMCTL=target/debug/alarmctl

trap stop_moto EXIT
start_moto
export AWS_REGION=us-east-1
py() { "$VENV_DIR/bin/python" scripts/demo_world.py "$@"; }

eval "$(py setup)"
export WARNING_TOPIC_ARN CRITICAL_TOPIC_ARN
echo
echo "Instances: web-1 $WEB1, web-2 $WEB2, db-1 $DB1 (production); batch-1 $BATCH1 (staging)"

# Feeds events/<sample> retargeted at an instance and prints the report's counts.
feed() {
    local sample=$1 instance=$2
    printf '%-22s %-21s -> ' "$sample" "$instance"
    sed "s/i-0123456789abcdef0/$instance/g" "events/$sample" | "$ALARMCTL" handle - |
        "$VENV_DIR/bin/python" -c 'import json,sys; r=json.load(sys.stdin); print("created %(created)s, updated %(updated)s, deleted %(deleted)s, unchanged %(unchanged)s" % r + ("" if not r.get("skipped") else ", skipped: " + r["skipped"]))'
}

echo "web-1 publishes its disk series (/, /data, tmpfs /run); the others have not yet"
py publish "$WEB1"

echo
echo "== events"
for instance in "$WEB1" "$WEB2" "$DB1" "$BATCH1"; do feed ec2-running.json "$instance"; done
echo "(duplicate delivery)"
feed ec2-running.json "$WEB1"
py stop "$DB1"
feed ec2-stopped.json "$DB1"

echo
echo "== alarms in CloudWatch (web-2 is on its provisional pair)"
py table

echo
echo "== web-2's agent starts publishing; the 5-minute follow-up pass replaces its provisional pair"
py publish "$WEB2"
feed provisional-follow-up.json -
py table

echo
echo "== why has batch-1 no alarms?"
"$ALARMCTL" explain "$BATCH1"

echo
echo "== which disk series does web-1 publish, and which get alarms?"
"$ALARMCTL" explain "$WEB1" | sed -n '/series:/,/desired:/p'
