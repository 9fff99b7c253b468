#!/usr/bin/env bash
# `sam local invoke` offline, on podman (see docs/running-locally.md).
#
#   scripts/sam-local.sh test    the end-to-end test scripts/test.sh runs: the
#                                real `sam local invoke` on the sample events
#                                against the emulator, assertions on its state
#   scripts/sam-local.sh shell   the same setup with the demo's world in the
#                                emulator, and a shell to run `sam local invoke`
#                                by hand; everything stops when the shell exits
#
# Both build, once, a stand-in for the Lambda base image (public.ecr.aws/lambda/
# provided:al2023 cannot be fetched here): a minimal Debian root filesystem
# (mmdebstrap from deb.debian.org) with CA certificates, Python and the emulator
# (moto from PyPI). It is NOT Amazon Linux 2023; the function only needs a C
# library, CA certificates and /bin/sh (for SAM's Runtime Interface Emulator).
# The function's artifact is laid out from template.yaml the way `sam build`
# does, with the binary `cargo build` made (target/debug) as `bootstrap`.
#
# Network: everything runs in a network namespace of its own (unshare --net),
# with no interface but loopback and the container networks podman makes
# inside it. The emulator (tests/support/moto_server.py, mounted read-only) runs
# in a container on a network this script creates, published on 127.0.0.1
# inside the namespace; the function's container joins that network
# (--docker-network) and reaches the emulator by its container name. Nothing
# can reach the machine's own networks, the internet, or real AWS.
#
# Needs root, podman with runc, netavark, aardvark-dns, mmdebstrap (first build
# only), and unshare/ip (util-linux, iproute2); installs the SAM CLI
# (tests/support/requirements-sam.txt) into .venv/. Without them `test` prints
# why it is skipped and passes, unless REQUIRE_SAM_LOCAL=1 (CI), where it fails.
# podman's settings come from tests/support/containers.conf (CONTAINERS_CONF).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh

CACHE_DIR="$REPO_ROOT/.local/sam-local" # root filesystems, kept between runs
WORK_DIR="$REPO_ROOT/target/sam-local"  # artifact, env-vars file, events, logs
SAM_REQUIREMENTS="$REPO_ROOT/tests/support/requirements-sam.txt"
export CONTAINERS_CONF="$REPO_ROOT/tests/support/containers.conf"
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
PACKAGES=ca-certificates,python3,tzdata
EMULATOR_PORT=5000

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Why this machine cannot run it, or nothing.
missing_prerequisite() {
    local tool
    for tool in podman runc netavark unshare ip; do
        if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x "/usr/lib/podman/$tool" ]]; then
            if [[ "$tool" == podman ]] && command -v docker >/dev/null 2>&1; then
                echo "podman is not installed (this test drives podman, not Docker; see docs/running-locally.md)"
            else
                echo "$tool is not installed (see docs/running-locally.md)"
            fi
            return
        fi
    done
    if [[ "$(id -u)" != 0 ]]; then
        echo "it needs root (podman's networks inside a network namespace of its own)"
    elif ! unshare --net true 2>/dev/null; then
        echo "this machine does not let it make a network namespace (unshare --net)"
    elif ! podman image exists "$IMAGE" 2>/dev/null && ! command -v mmdebstrap >/dev/null 2>&1; then
        echo "mmdebstrap is not installed (it builds the stand-in image once)"
    fi
}

# The image: its name changes whenever what goes into it does.
image_recipe() {
    printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES"
    grep -E '^(moto|cbor2)\b' "$REQUIREMENTS"
}
IMAGE_ID="$(image_recipe | sha256sum | cut -c1-12)"
IMAGE="localhost/disk-alarm-reconciler-sam-$IMAGE_ID:latest"

# Builds the stand-in image unless it exists. Network: deb.debian.org and PyPI only.
build_image() {
    if podman image exists "$IMAGE"; then
        echo "stand-in image $IMAGE exists" >&2
        return
    fi
    local rootfs="$CACHE_DIR/rootfs-$IMAGE_ID.tar" started=$SECONDS
    mkdir -p "$CACHE_DIR"
    if [[ ! -f "$rootfs" ]]; then
        local pins site="$CACHE_DIR/emulator-$IMAGE_ID" platforms=() version
        # shellcheck disable=SC2207 # one requirement per line, no spaces in them
        pins=($(grep -E '^(moto|cbor2)\b' "$REQUIREMENTS"))
        echo "building the stand-in root filesystem ($SUITE: ${PACKAGES//,/, }; ${pins[*]}) into $rootfs" >&2
        # The emulator's packages for the image's Python (Debian 12: CPython 3.11,
        # glibc 2.36), fetched by .venv's pip, which knows this machine's PyPI settings.
        for version in $(seq 17 36); do platforms+=(--platform "manylinux_2_${version}_$(uname -m)"); done
        rm -rf "$site"
        "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts \
            --target "$site" --python-version 3.11 --implementation cp --abi cp311 "${platforms[@]}" \
            --only-binary=:all: "${pins[@]}"
        # ... and into /opt/emulator (PYTHONPATH), away from Debian's packages.
        rm -rf "$rootfs.partial"
        mmdebstrap --quiet --format=tar --variant=essential --include="$PACKAGES" \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --customize-hook="mkdir -p \"\$1/opt/emulator\" && cp -a \"$site/.\" \"\$1/opt/emulator/\"" \
            "$SUITE" "$rootfs.partial" "$MIRROR"
        mv "$rootfs.partial" "$rootfs"
        rm -rf "$site"
    fi
    podman import --quiet --change 'CMD ["/bin/sh"]' "$rootfs" "$IMAGE" >/dev/null
    echo "stand-in image $IMAGE built in $((SECONDS - started)) s" >&2
}

# The function's architecture on this machine (the template's default is arm64).
architecture() {
    case "$(uname -m)" in
        aarch64 | arm64) echo arm64 ;;
        *) echo x86_64 ;;
    esac
}

# --- Inside the network namespace ------------------------------------------

SERVICE_PID="" NETWORK="" EMULATOR=""
cleanup_inside() {
    local ids
    if [[ -n "$EMULATOR" ]]; then
        podman logs "$EMULATOR" >"$WORK_DIR/emulator.log" 2>&1 || true
    fi
    if [[ -n "$NETWORK" ]]; then
        # SAM removes its containers after each invoke; this catches an interrupted one.
        ids="$(podman ps -aq --filter "network=$NETWORK" 2>/dev/null || true)"
        if [[ -n "$ids" ]]; then
            # shellcheck disable=SC2086 # one id per word
            podman rm -f -t 0 $ids >/dev/null 2>&1 || true
        fi
        podman network rm -f "$NETWORK" >/dev/null 2>&1 || true
    fi
    if [[ -n "$SERVICE_PID" ]]; then
        kill "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
    fi
    if [[ -n "${SOCKET_DIR:-}" ]]; then rm -rf "$SOCKET_DIR"; fi
}

# Loopback, podman's Docker API, the network and the emulator. Exports
# DOCKER_HOST and the emulator's addresses (EMULATOR_URL for this namespace,
# FUNCTION_ENDPOINT for the function's container).
start_inside() {
    trap cleanup_inside EXIT
    ip link set lo up
    SOCKET_DIR="$(mktemp -d /tmp/disk-alarm-sam.XXXXXX)"
    podman system service --time=0 "unix://$SOCKET_DIR/podman.sock" >"$WORK_DIR/podman-service.log" 2>&1 &
    SERVICE_PID=$!
    export DOCKER_HOST="unix://$SOCKET_DIR/podman.sock"
    for _ in $(seq 1 100); do
        if [[ -S "$SOCKET_DIR/podman.sock" ]]; then break; fi
        kill -0 "$SERVICE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -S "$SOCKET_DIR/podman.sock" ]]; then
        echo "ERROR: podman system service did not start; $WORK_DIR/podman-service.log:" >&2
        tail -n 20 "$WORK_DIR/podman-service.log" >&2
        return 1
    fi

    NETWORK="disk-alarm-sam-$$"
    EMULATOR="disk-alarm-emulator-$$"
    podman network create "$NETWORK" >/dev/null
    # (conmon's complaint that it has no syslog goes to the log, with any real error)
    if ! podman run -d --name "$EMULATOR" --network "$NETWORK" -p "127.0.0.1:$EMULATOR_PORT:5000" \
        -v "$REPO_ROOT/tests/support:/support:ro" -e PYTHONPATH=/opt/emulator \
        "$IMAGE" python3 /support/moto_server.py --host 0.0.0.0 --port 5000 >/dev/null 2>"$WORK_DIR/emulator-start.log"; then
        cat "$WORK_DIR/emulator-start.log" >&2
        return 1
    fi
    export EMULATOR_URL="http://127.0.0.1:$EMULATOR_PORT" FUNCTION_ENDPOINT="http://$EMULATOR:5000"
    export SAM_NETWORK="$NETWORK" SAM_IMAGE="$IMAGE"
    local deadline=$((SECONDS + 30))
    until emulator_answers "$EMULATOR_URL"; do
        if ((SECONDS > deadline)); then
            echo "ERROR: the emulator did not answer on $EMULATOR_URL; its log:" >&2
            podman logs "$EMULATOR" >&2 || true
            return 1
        fi
        sleep 0.2
    done
    # The sam CLI signs with these (never real credentials) and passes them on.
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 AWS_ENDPOINT_URL="$EMULATOR_URL"
    unset AWS_PROFILE AWS_SESSION_TOKEN
    export SAM_ARCHITECTURE
    SAM_ARCHITECTURE="$(architecture)"
    export SAM_TEMPLATE="$WORK_DIR/build/template.yaml" SAM_WORK_DIR="$WORK_DIR"
    export PATH="$VENV_DIR/bin:$PATH"
}

inside_test() {
    start_inside
    python tests/support/sam_local_test.py
}

inside_shell() {
    start_inside
    local env_file="$WORK_DIR/demo.env"
    # WARNING_TOPIC_ARN, CRITICAL_TOPIC_ARN, WEB1, WEB2, DB1, BATCH1, WIN1
    eval "$(python scripts/demo_world.py setup)"
    WEB3="$(python scripts/demo_world.py launch web-3 production)"
    python tests/support/sam_local_test.py --env-vars-only "$WORK_DIR/env.json"
    # shellcheck disable=SC2153 # assigned by the eval above
    cat >"$env_file" <<EOF
export DOCKER_HOST=$DOCKER_HOST
export AWS_ENDPOINT_URL=$EMULATOR_URL AWS_REGION=$AWS_REGION AWS_DEFAULT_REGION=$AWS_REGION
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing SAM_CLI_TELEMETRY=0
export WARNING_TOPIC_ARN=$WARNING_TOPIC_ARN CRITICAL_TOPIC_ARN=$CRITICAL_TOPIC_ARN
export WEB1=$WEB1 WEB2=$WEB2 DB1=$DB1 BATCH1=$BATCH1 WIN1=$WIN1 WEB3=$WEB3
export SAM_NETWORK=$NETWORK SAM_IMAGE=$IMAGE SAM_ARCHITECTURE=$SAM_ARCHITECTURE
export PATH="$VENV_DIR/bin:\$PATH"
EOF
    cat >&2 <<EOF

The emulator runs in container $EMULATOR on network $NETWORK with the demo's
world (web-3 $WEB3 is launched and has no alarms yet); in this shell it answers
on $EMULATOR_URL, and the function reaches it as $FUNCTION_ENDPOINT
(target/sam-local/env.json). Settings: $env_file. Exit the shell to stop everything.
EOF
    PS1='(sam-local) \w\$ ' bash --norc -i || true
}

# --- Entry -------------------------------------------------------------------

command="${1:-}"
case "$command" in
    __inside-test) inside_test; exit ;;
    __inside-shell) inside_shell; exit ;;
    test | shell) ;;
    *) usage ;;
esac

reason="$(missing_prerequisite)"
if [[ -n "$reason" ]]; then
    if [[ "${REQUIRE_SAM_LOCAL:-}" == 1 || "$command" == shell ]]; then
        echo "ERROR: the sam local invoke test cannot run: $reason" >&2
        exit 1
    fi
    echo "== sam local invoke: SKIPPED, $reason; set REQUIRE_SAM_LOCAL=1 to make this an error" >&2
    exit 0
fi
if [[ "$command" == test ]]; then echo "== sam local invoke (offline, podman)" >&2; fi

started=$SECONDS
ensure_venv
ensure_venv "$SAM_REQUIREMENTS"
mkdir -p "$WORK_DIR"
build_image
"$VENV_DIR/bin/python" tests/support/sam_artifact.py --output "$WORK_DIR/build" >/dev/null
unshare --net -- "$0" "__inside-$command"
if [[ "$command" == test ]]; then
    echo "sam local invoke test passed in $((SECONDS - started)) s" >&2
fi
