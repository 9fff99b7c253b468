#!/usr/bin/env bash
# Expand template.yaml (AWS SAM) into plain CloudFormation for a service-managed
# StackSet, which accepts no macros (the AWS::Serverless transform included):
# writes dist/stackset.yaml, whose function code comes from the S3 bucket
# <CodeBucketPrefix>-<Region> under <CodeKey>. Offline; installs the SAM
# translator into .venv/ (tests/support/requirements.txt).
#
# Usage: scripts/stackset-template.sh [--template FILE] [--output FILE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

ensure_venv
"$VENV_DIR/bin/python" scripts/stackset_template.py "$@"
