#!/usr/bin/env bash
# Selenium (WebDriver, tests/rigs/selenium/) drives the system Chromium
# (chromedriver) and Firefox (geckodriver) through passkey sign-up and
# sign-in on the demo site, with fidosim over uhid as the key; the tests
# read the key's events through its control socket. This is
# docs/recipes/selenium.md, run for real.
. "$VM_REPO/tests/vm/guest-lib.sh"

PY=$VM_REPO/.venv/bin/python
GECKODRIVER=$VM_REPO/tests/vm/cache/geckodriver/bin/geckodriver
"$PY" -c 'import selenium' 2>/dev/null || fail "selenium is not in .venv: run tests/vm/prepare.sh"
[ -x "$GECKODRIVER" ] || fail "$GECKODRIVER is missing: run tests/vm/prepare.sh"
command -v chromedriver >/dev/null || fail "chromedriver is missing (Debian package chromium-driver)"
export PYTHONUNBUFFERED=1 GECKODRIVER
rig_setup

step "pytest tests/rigs/selenium (chromium, firefox)"
"$PY" -m pytest -v -s -p no:cacheprovider -o faulthandler_timeout=240 "$VM_REPO/tests/rigs/selenium" || fail "selenium tests"
ok "selenium: chromium and firefox signed up and in, refused the rewound counter and ended a refused touch"
stop_fidosim
