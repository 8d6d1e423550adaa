# Browser scenarios (sourced by scenarios/chromium.sh and firefox.sh inside
# the VM): a real browser, headless, registers passkeys and signs in on the
# test RP in tests/browser/, with fidosim on the uhid transport. The RP
# verifies every result on its server side; tests/browser/run_browser.py
# checks those verdicts.
# shellcheck shell=bash
. "$VM_REPO/tests/vm/guest-lib.sh"

export HOME=/tmp/home
mkdir -p "$HOME"
ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null || true
PY=$VM_REPO/.venv/bin/python
[ -x "$PY" ] || fail "$PY is missing: run tests/vm/prepare.sh"

# browser_run NAME ARGS...: one run of the driver, logged, must pass
browser_run() {
    local name=$1; shift
    step "$BROWSER: $name"
    "$PY" "$VM_REPO/tests/browser/run_browser.py" --browser "$BROWSER" \
        --fidosim "$FIDOSIM" --logdir "${VM_RESULTS:-/tmp}" "$@" \
        || fail "$BROWSER: $name"
    ok "$BROWSER: $name"
}

browser_scenarios() {
    # One browser session (browser start-up dominates the time under TCG),
    # with udevd so the browser sees keys come and go:
    # - the key is plugged in after the browser started;
    # - ES256 and EdDSA, server-side and discoverable (username-less) sign-in,
    #   UV discouraged and required; the key waits 1.5 s before each touch,
    #   so the browser lives on keepalives (STATUS_UPNEEDED) meanwhile; one
    #   discoverable credential per key (with two, a browser shows an account
    #   chooser, as for a real key);
    # - a registration, a replug, then sign-in with that credential;
    # - a key that refuses the touch: the browser must receive
    #   CTAP2_ERR_OPERATION_DENIED and the RP must get nothing. (Headless,
    #   neither browser turns it into a prompt NotAllowedError: Chromium
    #   shows an error sheet, Firefox retries until the user cancels.)
    browser_run "hot-plug, register and sign in, replug, refused touch" \
        --plug-flow --presence delay:1500 \
        es-nr-disc:-7:discouraged:discouraged ed-nr-req:-8:discouraged:required \
        es-rk-req:-7:required:required
}
