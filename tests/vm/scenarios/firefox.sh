#!/usr/bin/env bash
# Firefox ESR (headless) against fidosim over uhid: see tests/vm/browser-lib.sh.
BROWSER=firefox
. "$VM_REPO/tests/vm/browser-lib.sh"
command -v firefox-esr >/dev/null || fail "firefox-esr is not installed (tests/vm/prepare.sh installs it)"
browser_scenarios
