#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, the SAM template and
# its StackSet expansion (lint and assertions), the documentation's links, the
# module import cycles, unit / reconcile-loop / adapter tests, end-to-end tests
# of the real binaries against moto on 127.0.0.1, and the function under
# `sam local invoke` (scripts/sam-local.sh; skipped, saying why, on machines
# without podman, unless REQUIRE_SAM_LOCAL=1 as on CI).
# Installs what it needs into .venv/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

ensure_venv
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cfn-lint template.yaml" >&2
"$VENV_DIR/bin/cfn-lint" template.yaml
echo "== StackSet template (dist/stackset.yaml)" >&2
scripts/stackset-template.sh
echo "== cfn-lint dist/stackset.yaml" >&2
"$VENV_DIR/bin/cfn-lint" dist/stackset.yaml
echo "== template least-privilege assertions (template.yaml, dist/stackset.yaml)" >&2
"$VENV_DIR/bin/python" tests/support/check_template.py template.yaml dist/stackset.yaml
echo "== documentation links (README.md, docs/)" >&2
"$VENV_DIR/bin/python" scripts/check_docs.py
echo "== module import cycles" >&2
"$VENV_DIR/bin/python" scripts/check_module_cycles.py --self-test
"$VENV_DIR/bin/python" scripts/check_module_cycles.py
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets -- -D warnings

trap stop_moto EXIT
start_moto
echo "== CloudWatch CBOR shim self-check" >&2
"$VENV_DIR/bin/python" tests/support/check_cbor_proxy.py
echo "== alarm mute rules self-check" >&2
"$VENV_DIR/bin/python" tests/support/check_mute_rules.py
echo "== cargo test" >&2
cargo test --workspace
# The binary cargo test built, under the real `sam local invoke`, offline.
scripts/sam-local.sh test
