#!/usr/bin/env bash
# python-fido2 (the host's .venv, fido2==2.2.1) against fidosim over
# /dev/hidraw*, inside the VM: see python_fido2_hidraw.py.
. "$VM_REPO/tests/vm/guest-lib.sh"

PY=$VM_REPO/.venv/bin/python
SCRIPT=$VM_REPO/tests/vm/scenarios/python_fido2_hidraw.py
[ -x "$PY" ] || fail "$PY missing: run tests/vm/prepare.sh on the host"
export PYTHONDONTWRITEBYTECODE=1     # the host root is read-only in the VM

# python-fido2 is the platform here and chooses among the discoverable
# credentials itself (numberOfCredentials, getNextAssertion), so the key
# leaves the account choice to it: --account-choice platform.

# 1. fidosim without built-in UV (and no PIN)
start_fidosim --uv none --account-choice platform --write-ca /tmp/fidosim-ca.pem
[ -s /tmp/fidosim-ca.pem ] || fail "fidosim did not write its CA with --write-ca"
step "python-fido2 (stock) against fidosim --uv none over $FIDO_DEV"
"$PY" "$SCRIPT" stock "$FIDO_DEV" /tmp/fidosim-ca.pem
stop_fidosim

# 2. fidosim's defaults (built-in UV, no PIN), then ClientPin: set a PIN
#    and use it
start_fidosim --account-choice platform --write-ca /tmp/fidosim-ca.pem
# `fidosim doctor` on a kernel with uhid and a key plugged in: all green.
step "fidosim doctor with the key plugged in"
"$FIDOSIM" doctor --json > /tmp/doctor.json || { cat /tmp/doctor.json; fail "fidosim doctor failed with uhid present"; }
"$PY" - /tmp/doctor.json <<'PYEOF' || fail "fidosim doctor did not report what it should"
import json, sys
report = json.load(open(sys.argv[1]))
status = {}
for c in report["checks"]:
    status.setdefault(c["check"], []).append(c["status"])
    print(f"    {c['status']:4} {c['check']}: {c['detail']}")
assert report["ok"], report
for name in ("kernel uhid", "uhid access", "hidraw node", "hidraw access"):
    assert status.get(name) == ["pass"], (name, status.get(name))
PYEOF
ok "doctor: uhid, the key's hidraw node (USB, usage page 0xF1D0) and its access all pass"
step "python-fido2 against fidosim (built-in UV, then a PIN) over $FIDO_DEV"
"$PY" "$SCRIPT" builtin-uv "$FIDO_DEV" /tmp/fidosim-ca.pem
stop_fidosim

step "python-fido2 scenario passed"
