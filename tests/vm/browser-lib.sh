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
    # with udevd so the browser sees keys come and go; see run_browser.py:
    # - the key is plugged in after the browser started; it waits 1.5 s
    #   before each touch, so the browser lives on keepalives meanwhile;
    # - fidosim's defaults (built-in UV, no PIN, makeCredUvNotRqd): ES256
    #   and EdDSA, server-side and discoverable (username-less sign-in), UV
    #   discouraged, preferred and required, each with the UV flag the RP
    #   must see; a replug between one registration and its sign-in; one
    #   discoverable credential per key (with two, a browser shows an
    #   account chooser, as for a real key), so fresh keys come in;
    # - two users' discoverable credentials on one key (state file), then
    #   username-less sign-ins with UV required under three account-choice
    #   policies (CTAP 2.1 §6.2.2 step 12.2): newest (the default; the
    #   second user signs in, no chooser), user:HANDLE (the first user),
    #   platform (numberOfCredentials 2: the browser's chooser waits, the
    #   RP gets nothing, the page aborts);
    # - a key that refuses the touch: the browser must receive
    #   CTAP2_ERR_OPERATION_DENIED and the RP must get nothing; Firefox
    #   rejects with NotAllowedError, headless Chromium keeps the request
    #   open, so the page's own AbortSignal.timeout(10000) ends it with
    #   TimeoutError (the workaround docs/recipes/ describe);
    # - a key with a PIN: the browser must ask the key about its PIN and the
    #   RP get no registration with UV required (nobody types the PIN).
    browser_run "hot-plug, UV discouraged/preferred/required, replug, fresh keys, account choice, refused touch, PIN" \
        --presence delay:1500 ${PIN_KEY_ARGS:+--pin-key-args "$PIN_KEY_ARGS"} \
        es-nr-pref:-7:discouraged:preferred \
        ed-nr-req:-8:discouraged:required \
        ed-nr-disc:-8:discouraged:discouraged:pause \
        es-rk-req:-7:required:required \
        ed-rk-pref:-8:required:preferred:fresh \
        es-rk-disc:-7:required:discouraged:fresh \
        accounts:-7:required:required:accounts \
        denied:-7:discouraged:discouraged:denied::10000 \
        pin:-7:discouraged:required:pin
}
