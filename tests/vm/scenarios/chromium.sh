#!/usr/bin/env bash
# Chromium (headless) against fidosim over uhid: see tests/vm/browser-lib.sh.
BROWSER=chromium
. "$VM_REPO/tests/vm/browser-lib.sh"
command -v chromium >/dev/null || fail "chromium is not installed (tests/vm/prepare.sh installs it)"
browser_scenarios
