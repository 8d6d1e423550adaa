#!/usr/bin/env bash
# Playwright (@playwright/test, tests/rigs/) drives the system Chromium and
# Firefox through passkey sign-up and sign-in on the demo site, with
# fidosim over uhid as the key; the tests read the key's events through its
# control socket. This is docs/recipes/playwright.md, run for real.
. "$VM_REPO/tests/vm/guest-lib.sh"

RIGS=$VM_REPO/tests/rigs
[ -d "$RIGS/node_modules/@playwright/test" ] || fail "tests/rigs/node_modules is missing: run tests/vm/prepare.sh"
rig_setup

step "npx playwright test (chromium, firefox)"
cd "$RIGS"
# The repo is read-only in the VM: results go to the run directory.
PYTHON=$VM_REPO/.venv/bin/python PW_OUTPUT_DIR=${VM_RESULTS:-/tmp}/playwright-results \
    node node_modules/@playwright/test/cli.js test || fail "playwright test"
ok "playwright: chromium and firefox signed up and in, refused the rewound counter and ended a refused touch"
stop_fidosim
