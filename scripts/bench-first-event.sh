#!/usr/bin/env bash
# What handling one EC2 `running` event costs, alarmctl against a minimal
# Python/boto3 function, in one run on the same local emulator: builds alarmctl
# in release mode, starts moto on 127.0.0.1, creates the two SNS topics and runs
# scripts/bench/first_event.py, which prints a Markdown table and writes the raw
# samples to target/bench-first-event.json. Stops everything it started.
# Needs GNU time (/usr/bin/time) besides Rust and Python 3.
#
#   scripts/bench-first-event.sh                      # 15 rounds after 2 warm-up rounds
#   scripts/bench-first-event.sh --rounds 5           # arguments go to the harness
#   ALARMCTL=target/debug/alarmctl scripts/bench-first-event.sh   # another binary, no build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

ensure_venv
if [[ -z "${ALARMCTL:-}" ]]; then
    echo "== building alarmctl (release; the first build of the AWS SDK takes several minutes)" >&2
    cargo build -q --release -p handler --bin alarmctl
    ALARMCTL=target/release/alarmctl
fi
if [[ ! -x "$ALARMCTL" ]]; then
    echo "ERROR: $ALARMCTL is not an executable file" >&2
    exit 2
fi

trap stop_moto EXIT
start_moto
export AWS_REGION="${AWS_REGION:-us-east-1}"

topics="$("$VENV_DIR/bin/python" - <<'EOF'
import os
import boto3
sns = boto3.client("sns", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
print("WARNING_TOPIC_ARN=" + sns.create_topic(Name="disk-warning")["TopicArn"])
print("CRITICAL_TOPIC_ARN=" + sns.create_topic(Name="disk-critical")["TopicArn"])
EOF
)"
eval "$topics"
export WARNING_TOPIC_ARN CRITICAL_TOPIC_ARN

"$VENV_DIR/bin/python" scripts/bench/first_event.py --alarmctl "$ALARMCTL" "$@"
