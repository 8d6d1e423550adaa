# Helpers for the scenarios in tests/vm/scenarios/ (sourced inside the VM,
# as root, in the chroot of the host's root; VM_REPO is the repo path).
# shellcheck shell=bash
set -euo pipefail

: "${VM_REPO:?VM_REPO is not set: run scenarios through tests/vm/run.sh}"
FIDOSIM=$VM_REPO/target/debug/fidosim
FIDOSIM_LOG=/tmp/fidosim.log
FIDOSIM_PID=
FIDO_DEV=
# Process creation is slow under TCG (~70 ms per exec), so helpers use bash
# builtins where they can (EPOCHREALTIME, read, mapfile).
_t0=${EPOCHREALTIME/./}

# step TEXT: announce a step, with the time since the scenario started
step() {
    local ms=$(( (${EPOCHREALTIME/./} - _t0) / 1000 ))
    printf '\n--- [%3d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*"
}
ok()   { printf 'ok: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# expect_grep PATTERN FILE WHAT: an extended-regex check that must match
expect_grep() {
    grep -Eq -- "$1" "$2" || { echo "--- $2:"; cat "$2"; fail "$3 (no match for /$1/)"; }
    ok "$3"
}

# run_logged FILE CMD...: run CMD with stdout+stderr in FILE, show it, fail on non-zero
run_logged() {
    local out=$1 rc=0; shift
    "$@" >"$out" 2>&1 || rc=$?
    sed 's/^/    /' "$out"
    [ "$rc" = 0 ] || fail "exit $rc: $*"
}

_on_exit() {
    local rc=$?
    if [ -n "$FIDOSIM_PID" ] && kill -0 "$FIDOSIM_PID" 2>/dev/null; then
        kill -TERM "$FIDOSIM_PID" 2>/dev/null || true
    fi
    if [ "$rc" != 0 ]; then
        echo "=== scenario failed (exit $rc); fidosim log:"
        [ -f "$FIDOSIM_LOG" ] && tail -n 60 "$FIDOSIM_LOG" | sed 's/^/    /'
        [ -d "${VM_RESULTS:-}" ] && cp "$FIDOSIM_LOG" "$VM_RESULTS/fidosim.log" 2>/dev/null
    fi
    exit "$rc"
}
trap _on_exit EXIT

# hidraw_of VID PID: prints /dev/hidrawN of the USB HID device VID:PID (hex, 4 digits)
hidraw_of() {
    local want d line
    want="HID_ID=0003:0000${1^^}:0000${2^^}"
    for d in /sys/class/hidraw/hidraw*; do
        [ -e "$d/device/uevent" ] || continue
        while IFS= read -r line; do
            if [ "$line" = "$want" ]; then
                echo "/dev/${d##*/}"
                return 0
            fi
        done < "$d/device/uevent"
    done
    return 1
}

# start_fidosim [ARGS...]: fidosim run ARGS in the background (with
# --ephemeral, a fresh key, unless ARGS name a --state file); waits for its
# hidraw node and sets FIDO_DEV
start_fidosim() {
    [ -x "$FIDOSIM" ] || fail "$FIDOSIM is missing: cargo build -p fidosim"
    case " $* " in *" --state "*) ;; *) set -- --ephemeral "$@" ;; esac
    case " $* " in *" --control-socket "*) ;; *) set -- --no-control "$@" ;; esac
    step "start: fidosim run $*"
    "$FIDOSIM" run "$@" >"$FIDOSIM_LOG" 2>&1 &
    FIDOSIM_PID=$!
    local i
    for i in $(seq 1 200); do
        if FIDO_DEV=$(hidraw_of 1209 0001) && [ -c "$FIDO_DEV" ]; then
            ok "fidosim (pid $FIDOSIM_PID) is $FIDO_DEV after ~$((i / 10)).$((i % 10))s"
            return 0
        fi
        kill -0 "$FIDOSIM_PID" 2>/dev/null || { cat "$FIDOSIM_LOG"; fail "fidosim exited early"; }
        sleep 0.1
    done
    fail "no hidraw node for 1209:0001 after 20 s"
}

# stop_fidosim: SIGTERM, expect exit status 0 and the hidraw node gone
stop_fidosim() {
    step "stop: SIGTERM to fidosim"
    local rc=0 dev=$FIDO_DEV i
    kill -TERM "$FIDOSIM_PID"
    wait "$FIDOSIM_PID" || rc=$?
    FIDOSIM_PID=
    [ "$rc" = 0 ] || { cat "$FIDOSIM_LOG"; fail "fidosim exited $rc after SIGTERM (expected 0)"; }
    ok "fidosim exited 0"
    for i in $(seq 1 50); do
        [ -e "$dev" ] || hidraw_of 1209 0001 >/dev/null || { ok "$dev is gone"; return 0; }
        sleep 0.1
    done
    fail "$dev still exists 5 s after fidosim exited"
}

# start_udevd: systemd-udevd in the background, so that browsers (which
# list HID devices through libudev) see keys come and go
start_udevd() {
    local exe
    exe=$(command -v systemd-udevd || echo /lib/systemd/systemd-udevd)
    [ -x "$exe" ] || fail "systemd-udevd is missing (tests/vm/prepare.sh installs udev)"
    mkdir -p /run/udev
    "$exe" >/tmp/udevd.log 2>&1 &
    sleep 1
    udevadm trigger --action=add >/dev/null 2>&1 || true
    udevadm settle --timeout=20 >/dev/null 2>&1 || true
    ok "systemd-udevd runs"
}

# rig_setup: what the browser rigs of tests/rigs need: a HOME, loopback,
# udevd, and a fresh key with its control socket at $FIDOSIM_CONTROL_SOCKET
rig_setup() {
    export HOME=/tmp/home PYTHONDONTWRITEBYTECODE=1
    mkdir -p "$HOME"
    ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null || true
    start_udevd
    export FIDOSIM_CONTROL_SOCKET=/tmp/fidosim/control.sock
    start_fidosim --control-socket "$FIDOSIM_CONTROL_SOCKET"
}
