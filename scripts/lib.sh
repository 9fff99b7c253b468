# shellcheck shell=bash
# Helpers sourced by scripts/test.sh and scripts/demo.sh: a Python venv with the
# test tools (moto, cbor2, cfn-lint) and a local moto server on 127.0.0.1.
# Safe under `set -euo pipefail`.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$REPO_ROOT/.venv"
REQUIREMENTS="$REPO_ROOT/tests/support/requirements.txt"
MOTO_LOG="$REPO_ROOT/target/moto-server.log"
MOTO_PID="${MOTO_PID:-}"

# Create .venv/ (git-ignored) and install tests/support/requirements.txt into it,
# or the requirements file given as $1 (tests/support/requirements-sam.txt),
# re-installing only when that file changed since its last install.
ensure_venv() {
    local requirements="${1:-$REQUIREMENTS}" stamp want have=""
    stamp="$VENV_DIR/.$(basename "$requirements" .txt).sha256"
    if [[ ! -x "$VENV_DIR/bin/python" ]]; then
        echo "creating $VENV_DIR" >&2
        # Debian's python3 without python3-venv has no ensurepip: fall back to a
        # pip-less venv that the system pip installs into (see below).
        python3 -m venv --clear "$VENV_DIR" 2>/dev/null || python3 -m venv --clear --without-pip "$VENV_DIR"
    fi
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [[ -f "$stamp" ]]; then have="$(cat "$stamp")"; fi
    if [[ "$want" != "$have" ]]; then
        echo "installing $(basename "$requirements") into $VENV_DIR" >&2
        if "$VENV_DIR/bin/python" -m pip --version >/dev/null 2>&1; then
            "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
        else
            python3 -m pip --python "$VENV_DIR/bin/python" install -q --disable-pip-version-check -r "$requirements"
        fi
        echo "$want" >"$stamp"
    fi
}

# Start moto (with the CloudWatch CBOR shim) on a free port, or on $1 when
# given, and point the AWS SDKs at it. Sets MOTO_PID and MOTO_PORT; exports
# AWS_ENDPOINT_URL and test credentials.
start_moto() {
    local port="${1:-}" deadline
    mkdir -p "$REPO_ROOT/target"
    if [[ -z "$port" ]]; then
        port="$(free_port)"
    fi
    "$VENV_DIR/bin/python" "$REPO_ROOT/tests/support/moto_server.py" --host 127.0.0.1 --port "$port" \
        >"$MOTO_LOG" 2>&1 &
    MOTO_PID=$!
    # shellcheck disable=SC2034 # read by the sourcing scripts
    MOTO_PORT="$port"

    # Any HTTP answer means it is listening; give up after ~30 s.
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then
            break # it died: no point waiting
        fi
        if emulator_answers "http://127.0.0.1:$port"; then
            export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
            export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
            export AWS_REGION="${AWS_REGION:-us-east-1}"
            unset AWS_PROFILE
            echo "moto listening on $AWS_ENDPOINT_URL (pid $MOTO_PID, log $MOTO_LOG)" >&2
            return 0
        fi
        sleep 0.2
    done

    echo "ERROR: moto server did not come up on 127.0.0.1:$port; last lines of $MOTO_LOG:" >&2
    tail -n 40 "$MOTO_LOG" >&2 || true
    stop_moto
    return 1
}

# Whether the emulator at the URL answers (any HTTP answer means it is listening).
emulator_answers() {
    "$VENV_DIR/bin/python" - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"{sys.argv[1]}/moto-api/", timeout=1)
except urllib.error.HTTPError:
    pass
EOF
}

# A free TCP port on 127.0.0.1.
free_port() {
    "$VENV_DIR/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Stop the moto server started by start_moto. Idempotent; meant for `trap stop_moto EXIT`.
stop_moto() {
    if [[ -n "${MOTO_PID:-}" ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
        MOTO_PID=""
    fi
}
