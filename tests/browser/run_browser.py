"""Drive a real browser through passkey registration and sign-in against
fidosim on the uhid transport (inside the VM, where the kernel has uhid).

For each run: start `fidosim run` (unless --hotplug starts it later), the
test RP (rp_app.py), then the browser headless on the RP's page with a list
of cases; wait for the RP's server-side verdicts with a wall-clock deadline;
kill the browser's process group; check every verdict against what the case
expects. Exit status 0 only when every case got exactly its expected verdicts.

Usage:
  run_browser.py --browser chromium|firefox --fidosim BIN [--presence P]
                 [--expect-error NotAllowedError] [--hotplug] [--replug]
                 CASE...
  CASE = name:alg:rk:uv   alg -7|-8, rk required|discouraged, uv discouraged|required|preferred
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_PY = os.path.join(HERE, "..", "..", ".venv", "bin", "python")
PORT = 8765
AAGUID = "f1d0f1d0-5eed-4b1d-a7e5-000000000001"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def start(cmd, **kw):
    log("start: " + " ".join(cmd))
    return subprocess.Popen(cmd, start_new_session=True, **kw)


def stop(proc, sig=signal.SIGTERM, wait=10):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(5)


def wait_for(pred, deadline, what):
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    log(f"timed out waiting for {what}")
    return False


def hidraw_count():
    return len(glob.glob("/sys/class/hidraw/hidraw*"))


def browser_cmd(browser, url, profile):
    if browser == "chromium":
        exe = shutil.which("chromium") or "/usr/bin/chromium"
        return [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--vmodule=device_event_log_impl=2,*/device/fido/*=2",
            url,
        ]
    exe = shutil.which("firefox-esr") or shutil.which("firefox")
    with open(os.path.join(profile, "user.js"), "w") as f:
        f.write('user_pref("security.webauth.webauthn_enable_usbtoken", true);\n')
        # "direct" attestation otherwise waits for a consent prompt nobody
        # can answer headless.
        f.write('user_pref("security.webauthn.always_allow_direct_attestation", true);\n')
        f.write('user_pref("browser.shell.checkDefaultBrowser", false);\n')
        f.write('user_pref("datareporting.policy.dataSubmissionEnabled", false);\n')
        f.write('user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);\n')
    return [exe, "-headless", "-no-remote", "-profile", profile, url]


def read_verdicts(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def check(cases, verdicts, expect_error, per_case=None):
    failures = []
    for name, alg, rk, uv, mode in cases:
        mine = [v for v in verdicts if v.get("case") == name]
        errors = [
            v for v in mine
            if v.get("step") in ("error", "server-error") and v.get("error") != "waiting"
        ]
        expect_error = (per_case or {}).get(name, expect_error)
        if expect_error:
            if not any(v.get("error") == expect_error for v in errors):
                failures.append(f"{name}: expected {expect_error}, got {mine}")
            continue
        if errors:
            failures.append(f"{name}: {errors}")
            continue
        reg = [v for v in mine if v.get("step") == "register"]
        login = [v for v in mine if v.get("step") == "login"]
        if mode in ("yes", "reg", "pause", "gate"):
            if not (reg and reg[0]["ok"]):
                failures.append(f"{name}: registration not verified: {reg}")
                continue
            r = reg[0]
            if r["alg"] != alg or not r["up"] or r["aaguid"] != AAGUID:
                failures.append(f"{name}: registration verdict wrong: {r}")
            if uv == "required" and not r["uv"]:
                failures.append(f"{name}: UV required but not set: {r}")
        if mode in ("yes", "login", "pause", "gate"):
            if not (login and login[0]["ok"]):
                failures.append(f"{name}: sign-in not verified: {login}")
                continue
            a = login[0]
            if not a["up"] or a["counter"] < 1:
                failures.append(f"{name}: sign-in verdict wrong: {a}")
            if uv == "required" and not a["uv"]:
                failures.append(f"{name}: UV required but not set at sign-in: {a}")
            # Browsers ask for UV on discoverable sign-ins whatever the RP
            # says; for server-side credentials the key must not set UV unasked.
            if uv == "discouraged" and rk != "required" and a["uv"]:
                failures.append(f"{name}: UV discouraged but set at sign-in: {a}")
            if rk == "required" and not (a["user_handle_present"] and a["user_handle_matches"]):
                failures.append(f"{name}: username-less sign-in without the right user handle: {a}")
    return failures


def wait_page(verdict_file, cases, load_s=300.0, per_case_s=60.0):
    """Waits for the browser to load the page (slow under TCG), then for
    the cases to finish; both bounded by wall-clock deadlines."""
    loaded = lambda: any(v.get("step") == "page-loaded" for v in read_verdicts(verdict_file))
    if not wait_for(loaded, time.monotonic() + load_s, "the browser to load the page"):
        return False
    done = lambda: any(v.get("error") == "done" for v in read_verdicts(verdict_file))
    return wait_for(done, time.monotonic() + per_case_s * len(cases), "the page to finish")


def wait_page_until(verdict_file, pred, what, load_s=300.0, within_s=90.0):
    loaded = lambda: any(v.get("step") == "page-loaded" for v in read_verdicts(verdict_file))
    if not wait_for(loaded, time.monotonic() + load_s, "the browser to load the page"):
        return False
    return wait_for(pred, time.monotonic() + within_s, what)


BROWSER_LOG = None
KEY_LOG = None


def run_page(args, cases):
    profile = tempfile.mkdtemp(prefix=f"{args.browser}-profile-")
    spec = ",".join(f"{n}:{a}:{r}:{u}:{m}" for n, a, r, u, m in cases)
    url = f"http://localhost:{PORT}/?cases={spec}"
    global BROWSER_LOG
    BROWSER_LOG = os.path.join(args.logdir, f"{args.browser}-{int(time.time() * 1000)}.log")
    blog = open(BROWSER_LOG, "w")
    br = start(browser_cmd(args.browser, url, profile), stdout=blog, stderr=subprocess.STDOUT)
    return br


def gate_reached(verdict_file, name):
    return any(
        v.get("case") == name and v.get("error") == "waiting" for v in read_verdicts(verdict_file)
    )


def open_gate(verdict_file, name):
    open(f"{verdict_file}.go.{name}", "w").close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--browser", choices=["chromium", "firefox"], required=True)
    p.add_argument("--fidosim", required=True)
    p.add_argument("--presence", default="approve")
    p.add_argument("--expect-error")
    p.add_argument(
        "--plug-flow",
        action="store_true",
        help="with udevd: plug the key in after the browser started, run the cases, register, "
        "replug, sign in, then swap in a key that denies presence",
    )
    p.add_argument("--logdir", default=tempfile.gettempdir())
    p.add_argument("cases", nargs="*")
    args = p.parse_args()
    cases = []
    for c in args.cases:
        name, alg, rk, uv = c.split(":")
        cases.append((name, int(alg), rk, uv, "yes"))
    if args.plug_flow:
        # After the given cases: register, replug, sign in; then a key that
        # refuses the touch. Server-side credentials, so a discoverable one
        # among the given cases stays the only one on the key.
        cases += [("plug", -8, "discouraged", "discouraged", "pause"),
                  ("denied", -7, "discouraged", "discouraged", "gate")]

    verdict_file = tempfile.mktemp(prefix="verdicts-", suffix=".jsonl")
    rp = start([VENV_PY, os.path.join(HERE, "rp_app.py"), str(PORT), verdict_file])
    key = None
    br = None
    udevd = None
    rc = 1
    refusal_seen = False
    try:
        before = hidraw_count()

        def plug(presence):
            global KEY_LOG
            KEY_LOG = os.path.join(args.logdir, f"fidosim-{presence.replace(':', '-')}.log")
            k = start([args.fidosim, "run", "--presence", presence],
                      stdout=subprocess.DEVNULL, stderr=open(KEY_LOG, "w"))
            if not wait_for(lambda: hidraw_count() > before, time.monotonic() + 30, "the hidraw node"):
                raise RuntimeError("the key did not appear")
            return k

        if args.plug_flow:
            exe = shutil.which("systemd-udevd") or "/lib/systemd/systemd-udevd"
            os.makedirs("/run/udev", exist_ok=True)
            udevd = start([exe])
            time.sleep(1.0)
            subprocess.run(["udevadm", "trigger", "--action=add"], check=False)
            subprocess.run(["udevadm", "settle", "--timeout=20"], check=False)
            br = run_page(args, cases)
            if not wait_page_until(verdict_file, lambda: True, "the page"):
                raise RuntimeError("the page did not load")
            time.sleep(3)  # the browser now waits for a key
            log("hot-plug: the key arrives after the browser started")
            key = plug(args.presence)
            within = 60 * len(cases)
            if wait_for(lambda: gate_reached(verdict_file, "plug"), time.monotonic() + within, "registration"):
                log("replug (SIGUSR1) between registration and sign-in")
                os.kill(key.pid, signal.SIGUSR1)
                time.sleep(1.5)
                wait_for(lambda: hidraw_count() > before, time.monotonic() + 30, "the replugged key")
                open_gate(verdict_file, "plug")
            if wait_for(lambda: gate_reached(verdict_file, "denied"), time.monotonic() + 120, "sign-in"):
                log("swap in a key that denies presence")
                status = stop(key)
                if status != 0:
                    log(f"fidosim exited with {status}")
                    return 1
                time.sleep(1.5)
                key = plug("deny")
                open_gate(verdict_file, "denied")
            # The refusing key answers CTAP2_ERR_OPERATION_DENIED (0x27).
            # Neither browser turns that into a prompt NotAllowedError
            # headless: Chromium shows an error sheet that waits for the
            # user; Firefox retries the request until the user cancels.
            # So the check is that the browser got the refusal and the RP
            # got no registration.
            refused = lambda: "CTAP2_ERR_OPERATION_DENIED" in open(KEY_LOG).read()
            if wait_for(refused, time.monotonic() + 90, "the browser to meet the refusing key"):
                log("the browser received CTAP2_ERR_OPERATION_DENIED (0x27)")
                refusal_seen = True
                time.sleep(3)
        else:
            key = plug(args.presence)
            br = run_page(args, cases)
            wait_page(verdict_file, cases)
        stop(br, signal.SIGKILL)
        verdicts = read_verdicts(verdict_file)
        for v in verdicts:
            log("verdict: " + json.dumps(v))
        if args.plug_flow:
            failures = check([c for c in cases if c[0] != "denied"], verdicts, args.expect_error)
            if not refusal_seen:
                failures.append("denied: the refusing key never answered the browser")
            if any(v.get("case") == "denied" and v.get("step") == "register" for v in verdicts):
                failures.append("denied: the RP got a registration although the touch was refused")
        else:
            failures = check(cases, verdicts, args.expect_error)
        for f in failures:
            log("FAIL " + f)
        if not failures:
            log(f"PASS {args.browser}: {len(cases)} case(s)")
        rc = 1 if failures else 0
    except RuntimeError as e:
        log(f"FAIL {e}")
    finally:
        stop(br, signal.SIGKILL)
        status = stop(key)
        if key is not None and status not in (0, None):
            log(f"fidosim exited with {status}")
            rc = 1
        stop(rp)
        stop(udevd)
    return rc


if __name__ == "__main__":
    sys.exit(main())
