"""Drive a real browser through passkey registration and sign-in against
fidosim on the uhid transport (inside the VM, where the kernel has uhid).

One browser session, headless, on the test RP's page (rp_app.py) with a list
of cases that the page runs one after the other. systemd-udevd runs so the
browser sees keys come and go. The key is plugged in only after the browser
started; cases with a mode make the driver change the key at a gate first
(see CASE below). The RP verifies every result on its server side and writes
verdicts; the driver checks those, not the browser's view, and exits 0 only
when every case got exactly its expected verdicts.

Usage:
  run_browser.py --browser chromium|firefox --fidosim BIN [--presence P]
                 [--pin-key-args ARGS] CASE...
  CASE = name:alg:rk:uv[:mode[:timeout[:pagetimeout]]]
    alg   -7 (ES256) or -8 (EdDSA)
    rk    required (discoverable, username-less sign-in) or discouraged
    uv    discouraged, preferred or required
    mode  yes     register and sign in (default)
          pause   register; the driver replugs the key (SIGUSR1); sign in
          fresh   the driver plugs in a new key without credentials; then
                  register and sign in (a browser shows an account chooser,
                  as for a real key, when the RP has two discoverable
                  credentials on the key)
          denied  the driver plugs in a key that refuses the touch; the
                  browser must receive CTAP2_ERR_OPERATION_DENIED and the RP
                  no registration; then the driver aborts the request
          pin     the driver plugs in a key started with --pin-key-args
                  (default "--pin 1234 --uv none": the PIN is its only UV);
                  the key must get exactly the requests measured for the
                  browser (BROWSER_FACTS: Chromium asks for the PIN retries)
                  and the RP no registration within --pin-wait seconds
                  (headless, nobody types a PIN); then the driver aborts the
                  request (Firefox ignores that: the case must come last)
          accounts
                  the driver plugs in a new key with a state file; two users
                  register discoverable credentials on it, then the page
                  signs in three times without allowCredentials, each time
                  with the key (re)started with another --account-choice
                  (CTAP 2.1 §6.2.2 step 12.2): newest (the default: the
                  second user, no account chooser), user:HANDLE of the
                  first user (that user), platform (the key sends
                  numberOfCredentials 2, the browser's chooser waits: the
                  RP must get nothing for --chooser-wait seconds, then the
                  driver aborts). The RP says who signed in, the key's
                  event log (account.chosen) what the key chose
    timeout  the WebAuthn timeout option (milliseconds) the page passes
    pagetimeout
             a page-level timeout (milliseconds): the page adds
             AbortSignal.timeout(pagetimeout) to the signal of each
             create()/get() call, the workaround for a browser that keeps
             a refused request open (mode denied: the page must then end
             with PAGE_TIMEOUT_ERROR unless the browser rejects first)

Expected UV flags (registration and sign-in): set when UV is preferred or
required, and for discoverable credentials at registration (a key protected
by UV makes them only with UV, CTAP 2.1 §6.1.2 step 7); clear for a
server-side credential with UV discouraged. At a username-less sign-in with
UV discouraged it depends on the browser (BROWSER_FACTS).
"""

import argparse
import base64
import datetime
import glob
import json
import os
import re
import shlex
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
MODES = ("yes", "pause", "fresh", "denied", "pin", "accounts")
# how a request ends when the page's AbortSignal.timeout(ms) fires (the
# signal's reason, which WebAuthn rejects with)
PAGE_TIMEOUT_ERROR = "TimeoutError"
# what the page does for each mode (rp_app.py runCase)
PAGE_MODE = {"yes": "yes", "pause": "pause", "fresh": "gate", "denied": "gatereg", "pin": "gatereg",
             "accounts": "accounts"}
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


# What each browser does, as measured (Chromium 156, Firefox ESR 153) and
# checked exactly, so that a change in the key or the browser shows up.
BROWSER_FACTS = {
    "chromium": {
        # username-less sign-in with UV discouraged: Chromium still asks for UV
        "rk_signin_uv_when_discouraged": True,
        # a key whose only UV is a PIN, registration with UV required:
        # Chromium asks how many PIN retries are left, then waits for the
        # PIN at its prompt; an AbortSignal ends the request
        "pin_key_requests": ["getInfo", "clientPIN getPINRetries"],
        "pin_abort": True,
        # a refused touch: Chromium shows an error sheet and keeps the
        # request open until the page aborts it (or someone closes the
        # sheet). Its own timeout does not end it either: a WebAuthn timeout
        # below 3 min becomes 180 s (10000 ms measured), and then the sheet
        # only turns into a timeout sheet (still pending 235 s after the
        # start). A presence timeout (--presence timeout:MS) is the same
        # refusal; with UV preferred the key answers the UV token request
        # CTAP2_ERR_USER_ACTION_TIMEOUT, which Chromium ignores ("Ignoring
        # status 47"): it waits for another touch, again until the page
        # aborts. So no NotAllowedError reaches the page headless. Measured
        # again with Chromium 156.0.8078.129: still open 60 s after the
        # refusal; a page-level AbortSignal.timeout(10000) ended it with
        # TimeoutError at +10.5 s.
        "denied_ends_with": None,
        # two discoverable credentials and --account-choice platform: the
        # key answers numberOfCredentials 2, Chromium fetches the second
        # assertion and waits at its account chooser until the page aborts
        "chooser_fetches_next": True,
    },
    "firefox": {
        # Firefox asks for no UV there, and the key does not need it
        # (credProtect level 1)
        "rk_signin_uv_when_discouraged": False,
        # Firefox sees clientPin=true in getInfo and asks for the PIN
        # before it sends anything else; the page cannot abort that request
        "pin_key_requests": ["getInfo"],
        "pin_abort": False,
        # a refused touch: Firefox gives up by itself, 1-3 s later
        "denied_ends_with": "NotAllowedError",
        # Firefox too fetches the second assertion and waits at its account
        # chooser; there, unlike at its PIN prompt, the AbortSignal ends it
        "chooser_fetches_next": True,
    },
}


def want_uv(browser, rk, uv, step):
    """The UV flag the RP must see: set when UV is preferred or required, and
    for discoverable credentials (a key protected by UV makes them only with
    UV, CTAP 2.1 §6.1.2 step 7); at a username-less sign-in with UV
    discouraged it depends on the browser."""
    if uv != "discouraged":
        return True
    if rk != "required":
        return False
    return step == "register" or BROWSER_FACTS[browser]["rk_signin_uv_when_discouraged"]


def check(browser, cases, verdicts):
    """Failures of the cases that must register and sign in."""
    failures = []
    for name, alg, rk, uv, mode in cases:
        mine = [v for v in verdicts if v.get("case") == name]
        errors = [
            v for v in mine
            if v.get("step") in ("error", "server-error") and v.get("error") != "waiting"
        ]
        if errors:
            failures.append(f"{name}: {errors}")
            continue
        reg = [v for v in mine if v.get("step") == "register"]
        login = [v for v in mine if v.get("step") == "login"]
        uv_flag = want_uv(browser, rk, uv, "register")
        if not (reg and reg[0]["ok"]):
            failures.append(f"{name}: registration not verified: {reg}")
            continue
        r = reg[0]
        if r["alg"] != alg or not r["up"] or r["aaguid"] != AAGUID:
            failures.append(f"{name}: registration verdict wrong: {r}")
        if r["uv"] != uv_flag:
            failures.append(f"{name}: registration UV flag {r['uv']}, expected {uv_flag}: {r}")
        if not (login and login[0]["ok"]):
            failures.append(f"{name}: sign-in not verified: {login}")
            continue
        a = login[0]
        uv_flag = want_uv(browser, rk, uv, "login")
        if not a["up"] or a["counter"] < 1:
            failures.append(f"{name}: sign-in verdict wrong: {a}")
        if a["uv"] != uv_flag:
            failures.append(f"{name}: sign-in UV flag {a['uv']}, expected {uv_flag}: {a}")
        if rk == "required" and not (a["user_handle_present"] and a["user_handle_matches"]):
            failures.append(f"{name}: username-less sign-in without the right user handle: {a}")
    return failures


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--browser", choices=["chromium", "firefox"], required=True)
    p.add_argument("--fidosim", required=True)
    p.add_argument("--presence", default="approve", help="--presence of the first key")
    p.add_argument("--pin-key-args", default="--pin 1234 --uv none")
    p.add_argument("--denied-presence", default="deny",
                   help="--presence of the key that refuses the touch: deny or timeout:MS")
    p.add_argument("--denied-wait", type=float,
                   help="seconds the page may take to hear of the refusal by itself (default: 15, or 3 "
                        "when BROWSER_FACTS says the browser keeps the request open), then the page aborts")
    p.add_argument("--pin-wait", type=float, default=10.0,
                   help="seconds the RP must get nothing from the PIN key after the browser asked it about its PIN")
    p.add_argument("--chooser-wait", type=float, default=5.0,
                   help="seconds the RP must get nothing while the browser's account chooser waits "
                        "(mode accounts, --account-choice platform), then the page aborts")
    p.add_argument("--logdir", default=tempfile.gettempdir())
    p.add_argument("cases", nargs="+")
    args = p.parse_args()
    cases = []
    timeouts = {}  # case -> the WebAuthn timeout (ms) for the page, "" for none
    page_timeouts = {}  # case -> the page-level AbortSignal.timeout (ms), "" for none
    for c in args.cases:
        name, alg, rk, uv, *rest = c.split(":")
        mode = rest[0] if rest else "yes"
        if mode not in MODES:
            p.error(f"{c}: mode must be one of {MODES}")
        timeouts[name] = rest[1] if len(rest) > 1 else ""
        page_timeouts[name] = rest[2] if len(rest) > 2 else ""
        cases.append((name, int(alg), rk, uv, mode))

    verdict_file = tempfile.mktemp(prefix="verdicts-", suffix=".jsonl")
    verdicts = lambda: read_verdicts(verdict_file)
    rp = start([VENV_PY, os.path.join(HERE, "rp_app.py"), str(PORT), verdict_file])
    key = None
    key_log = None
    br = None
    udevd = None
    failures = []
    plugs = 0
    page_stuck = False
    t0 = time.monotonic()

    def plug(extra, label, state=None):
        """Plug in a key: fresh (--ephemeral), or from the state file."""
        nonlocal key, key_log, plugs
        before = hidraw_count()
        plugs += 1
        key_log = os.path.join(args.logdir, f"fidosim-{plugs}-{label}.log")
        where = ["--state", state] if state else ["--ephemeral"]
        key = start([args.fidosim, "run", *where, "--no-control", *extra],
                    stdout=subprocess.DEVNULL, stderr=open(key_log, "w"))
        if not wait_for(lambda: hidraw_count() > before, time.monotonic() + 30, "the hidraw node"):
            raise RuntimeError("the key did not appear")

    def unplug():
        before = hidraw_count()
        status = stop(key)
        if status != 0:
            raise RuntimeError(f"fidosim exited with {status}")
        wait_for(lambda: hidraw_count() < before, time.monotonic() + 10, "the hidraw node to go")
        time.sleep(1.0)  # let the browser notice

    def gate_reached(name):
        return any(v.get("case") == name and v.get("error") == "waiting" for v in verdicts())

    def case_settled(name):
        return any(v.get("case") == name and v.get("step") in ("register", "error") and v.get("error") != "waiting"
                   for v in verdicts())

    def key_log_text():
        with open(key_log, errors="replace") as f:
            return f.read()

    def key_requests():
        """The current key's requests: "command" for CTAP2_OK, else
        "command STATUS"; clientPIN, credentialManagement and config with
        the subcommand the key logs beside the command."""
        out = []
        for cmd, sub, status in re.findall(
                r'command="(\w+)"(?: subcommand="(\w+)")? .*?status=(\w+)', key_log_text()):
            cmd = " ".join(filter(None, (cmd, sub)))
            out.append(cmd if status == "CTAP2_OK" else f"{cmd} {status}")
        return out

    def case_error(name):
        """How the case's request ended: the page's error, or "registered"."""
        mine = [v for v in verdicts() if v.get("case") == name and v.get("error") != "waiting"
                and v.get("step") in ("error", "register")]
        if not mine:
            return None
        return mine[-1].get("error") if mine[-1]["step"] == "error" else "registered"

    def denied_timing(name):
        """When the key refused and the page heard of it, relative to the
        start of the page's request (rp_app's "begin" verdict)."""
        begun = [v["t"] for v in verdicts() if v.get("case") == name and v.get("step") == "begin"]
        ended = [v["t"] for v in verdicts() if v.get("case") == name and v.get("error") != "waiting"
                 and v.get("step") in ("error", "register")]
        m = re.search(r"^(\S+)Z .*status=(CTAP2_ERR_OPERATION_DENIED|CTAP2_ERR_USER_ACTION_TIMEOUT)",
                      key_log_text(), re.M)
        if not begun or not m:
            return "(timing unknown)"
        refused_at = datetime.datetime.fromisoformat(m.group(1)).replace(
            tzinfo=datetime.timezone.utc).timestamp()
        out = f"(request start +{refused_at - begun[0]:.1f}s: the key refused"
        if ended:
            out += f"; +{ended[-1] - begun[0]:.1f}s: the page heard, {ended[-1] - refused_at:.1f}s after the refusal"
        return out + ")"

    def abort(name, works=True):
        """Abort the case's pending request; the page must report an
        AbortError (or, when works is False, must still be waiting: the
        browser ignores the AbortSignal). Returns whether the page moved on."""
        log(f"{name}: abort the request")
        open(f"{verdict_file}.abort.{name}", "w").close()
        settled = wait_for(lambda: case_settled(name), time.monotonic() + (30 if works else 5),
                           f"{name}: the page to abort")
        if settled:
            log(f"{name}: the page reports {case_error(name)}")
        if works and not (settled and case_error(name) == "AbortError"):
            failures.append(f"{name}: the request did not end with an AbortError: {case_error(name)}")
        if not works:
            if settled:
                failures.append(f"{name}: the request ended ({case_error(name)}), although "
                                f"{args.browser} used to ignore the AbortSignal here: update BROWSER_FACTS")
            else:
                log(f"{name}: {args.browser} ignores the AbortSignal while it waits for the PIN (as measured)")
        return settled

    def accounts(name, state):
        """Mode accounts: two users of the RP register discoverable
        credentials on one key; then three username-less sign-ins with UV
        required, the key restarted from its state file with another
        --account-choice before each of the last two (CTAP 2.1 §6.2.2 step
        12.2). The RP's verdict says who signed in; the key's event log
        (beside its state file) says what the key chose."""
        events_path = os.path.splitext(state)[0] + ".events.jsonl"
        handle = {u: base64.b64encode(f"{name}-{u}".encode()).decode() for u in ("1", "2")}
        user = {u: f"user-{name}-{u}" for u in ("1", "2")}
        checked = 0  # account.chosen events looked at so far

        def chosen_events():
            return [e for e in read_verdicts(events_path) if e.get("type") == "account.chosen"]

        def next_chosen(phase):
            """The next account.chosen event (the key's choice for this
            phase's getAssertion), or None."""
            nonlocal checked
            if not wait_for(lambda: len(chosen_events()) > checked, time.monotonic() + 90,
                            f"{name}.{phase}: the key's account.chosen event"):
                return None
            ev = chosen_events()[checked]
            checked += 1
            log(f"{name}.{phase}: the key: {json.dumps(ev)}")
            return ev

        def phase_logins(phase):
            return [v for v in verdicts() if v.get("case") == name and v.get("step") == "login"
                    and v.get("phase") == phase]

        def phase_errors(phase):
            return [v for v in verdicts() if v.get("case") in (name, f"{name}.{phase}")
                    and v.get("step") in ("error", "server-error") and v.get("error") != "waiting"]

        def expect_chosen(phase, ev, who, reason):
            want = {"type": "account.chosen", "rpId": "localhost", "candidates": 2, "outcome": "chosen",
                    "userHandle": handle[who], "reason": reason}
            got = {k: ev.get(k) for k in want} if ev else None
            if got != want:
                failures.append(f"{name}.{phase}: the key's choice {got}, expected {want}")

        def signed_in(phase, who, reason):
            """The page's sign-in for this phase must complete by itself, as
            the named user, with UV; the key must have chosen that user and
            sent no further assertions (no getNextAssertion)."""
            ended = lambda: phase_logins(phase) or phase_errors(phase)
            if not wait_for(ended, time.monotonic() + 180, f"{name}.{phase}: the sign-in"):
                failures.append(f"{name}.{phase}: no sign-in within 180 s (an account chooser?)")
                return False
            expect_chosen(phase, next_chosen(phase), who, reason)
            got = key_requests()
            log(f"{name}.{phase}: requests the key got: {', '.join(got)}")
            if "getNextAssertion" in got:
                failures.append(f"{name}.{phase}: the browser sent getNextAssertion: {got}")
            if phase_errors(phase):
                failures.append(f"{name}.{phase}: {phase_errors(phase)}")
                return False
            a = phase_logins(phase)[0]
            want = {"ok": True, "user": user[who], "up": True, "uv": True,
                    "user_handle_present": True, "user_handle_matches": True}
            if {k: a.get(k) for k in want} != want:
                failures.append(f"{name}.{phase}: sign-in verdict {a}, expected {want}")
                return False
            log(f"{name}.{phase}: the RP signed in {a['user']} (no account chooser)")
            return True

        def restart(phase, policy):
            gate = f"{name}.{phase}"
            if not wait_for(lambda: gate_reached(gate), time.monotonic() + 120, f"{gate}: its gate"):
                raise RuntimeError(f"{gate}: the page never reached the gate")
            log(f"{gate}: restart the key from its state with --account-choice {policy}")
            unplug()
            plug(["--account-choice", policy], gate, state)
            open(f"{verdict_file}.go.{gate}", "w").close()

        # newest (the default): the newest credential, user 2's, comes back alone
        if not signed_in("newest", "2", "newest"):
            return
        regs = [v for v in verdicts() if v.get("case") == name and v.get("step") == "register"]
        if [(r.get("ok"), r.get("user"), r.get("uv")) for r in regs] != [(True, user["1"], True), (True, user["2"], True)]:
            failures.append(f"{name}: registrations {regs}, expected {user['1']} then {user['2']}, with UV")

        # user:HANDLE: the first user's credential, although it is older
        restart("user", f"user:{handle['1']}")
        if not signed_in("user", "1", "user-handle"):
            return

        # platform: the key sends numberOfCredentials 2 and leaves the choice
        # to the browser, whose chooser nobody can click headless
        restart("platform", "platform")
        phase = "platform"
        ev = next_chosen(phase)
        want = {"type": "account.chosen", "rpId": "localhost", "candidates": 2, "outcome": "platform"}
        if ev is None or {k: ev.get(k) for k in want} != want:
            failures.append(f"{name}.{phase}: the key's choice {ev}, expected {want}")
        ended = lambda: phase_logins(phase) or phase_errors(phase)
        wait_for(ended, time.monotonic() + args.chooser_wait, f"{name}.{phase}: nothing (as expected)")
        got = key_requests()
        log(f"{name}.{phase}: requests the key got: {', '.join(got)}")
        fetches = BROWSER_FACTS[args.browser]["chooser_fetches_next"]
        if ("getNextAssertion" in got) != fetches:
            failures.append(f"{name}.{phase}: getNextAssertion {'missing' if fetches else 'sent'}: {got}")
        if phase_logins(phase):
            failures.append(f"{name}.{phase}: the RP got a sign-in although the choice was the browser's: "
                            f"{phase_logins(phase)}")
        elif phase_errors(phase):
            failures.append(f"{name}.{phase}: the request ended by itself: {phase_errors(phase)}")
        else:
            log(f"{name}.{phase}: no sign-in for {args.chooser_wait:.0f}s: the browser's chooser waits")
            abort(f"{name}.{phase}")
            if phase_logins(phase):
                failures.append(f"{name}.{phase}: the RP got a sign-in: {phase_logins(phase)}")

    try:
        exe = shutil.which("systemd-udevd") or "/lib/systemd/systemd-udevd"
        os.makedirs("/run/udev", exist_ok=True)
        udevd = start([exe])
        time.sleep(1.0)
        subprocess.run(["udevadm", "trigger", "--action=add"], check=False)
        subprocess.run(["udevadm", "settle", "--timeout=20"], check=False)

        profile = tempfile.mkdtemp(prefix=f"{args.browser}-profile-")
        spec = ",".join(f"{n}:{a}:{r}:{u}:{PAGE_MODE[m]}:{timeouts[n]}:{page_timeouts[n]}".rstrip(":")
                        for n, a, r, u, m in cases)
        browser_log = os.path.join(args.logdir, f"{args.browser}-{int(time.time() * 1000)}.log")
        br = start(browser_cmd(args.browser, f"http://localhost:{PORT}/?cases={spec}", profile),
                   stdout=open(browser_log, "w"), stderr=subprocess.STDOUT)
        loaded = lambda: any(v.get("step") == "page-loaded" for v in verdicts())
        if not wait_for(loaded, time.monotonic() + 300, "the browser to load the page"):
            raise RuntimeError("the page did not load")
        log(f"page loaded after {time.monotonic() - t0:.0f}s")
        time.sleep(3)  # the browser now waits for a key
        log("hot-plug: the key arrives after the browser started")
        plug(["--presence", args.presence], "first")

        for name, alg, rk, uv, mode in cases:
            if mode == "yes":
                continue
            if not wait_for(lambda: gate_reached(name), time.monotonic() + 180, f"{name}: its gate"):
                raise RuntimeError(f"{name}: the page never reached the gate")
            if mode == "pause":
                log(f"{name}: replug (SIGUSR1) between registration and sign-in")
                before = hidraw_count()
                os.kill(key.pid, signal.SIGUSR1)
                time.sleep(1.5)
                wait_for(lambda: hidraw_count() >= before, time.monotonic() + 30, "the replugged key")
            elif mode == "fresh":
                log(f"{name}: a new key without credentials")
                unplug()
                plug([], name)
            elif mode == "denied":
                log(f"{name}: a key that refuses the touch")
                unplug()
                plug(["--presence", args.denied_presence], name)
            elif mode == "pin":
                log(f"{name}: a key started with {args.pin_key_args}")
                unplug()
                plug(shlex.split(args.pin_key_args), name)
            elif mode == "accounts":
                accounts_state = os.path.join(tempfile.mkdtemp(prefix="fidosim-accounts-"), "key.redb")
                log(f"{name}: a new key with a state file, default account choice (newest)")
                unplug()
                plug([], name, accounts_state)
            open(f"{verdict_file}.go.{name}", "w").close()

            if mode == "accounts":
                accounts(name, accounts_state)

            if mode == "denied":
                # The refusing key answers once: makeCredential gets
                # CTAP2_ERR_OPERATION_DENIED (0x27), also for timeout:MS
                # (CTAP 2.1 §6.1.2 step 14); with UV preferred or required
                # the built-in UV token request gets the refusal first,
                # CTAP2_ERR_USER_ACTION_TIMEOUT (0x2F) for timeout:MS. The RP
                # must get nothing. The page must hear of it by itself as
                # BROWSER_FACTS says; else, with a page-level timeout, the
                # page's AbortSignal.timeout must end it (PAGE_TIMEOUT_ERROR),
                # and without one the driver aborts the request.
                refusal = re.compile(r"status=(CTAP2_ERR_OPERATION_DENIED|CTAP2_ERR_USER_ACTION_TIMEOUT)")
                refused = lambda: refusal.search(key_log_text())
                ends_with = BROWSER_FACTS[args.browser]["denied_ends_with"]
                page_ms = int(page_timeouts[name] or 0)
                if page_ms and not ends_with:
                    ends_with = PAGE_TIMEOUT_ERROR
                wait = args.denied_wait if args.denied_wait is not None else (15 if ends_with else 3)
                if page_ms:
                    wait = max(wait, page_ms / 1000 + 15)
                if wait_for(refused, time.monotonic() + 90, f"{name}: the browser to meet the refusing key"):
                    status = refused().group(1)
                    log(f"{name}: the browser received {status}")
                    settled = wait_for(lambda: case_settled(name), time.monotonic() + wait,
                                       f"{name}: the page to hear of it")
                    timing = denied_timing(name)
                    if settled:
                        by = (f"from its {page_ms} ms page timeout "
                              if page_ms and case_error(name) == PAGE_TIMEOUT_ERROR else "by itself ")
                        log(f"{name}: the page got {case_error(name)} {by}{timing}")
                    else:
                        log(f"{name}: the page heard nothing for {wait:.0f}s {timing}")
                    if ends_with and case_error(name) != ends_with:
                        failures.append(f"{name}: the page got {case_error(name)}, expected {ends_with}")
                    elif settled and not ends_with:
                        failures.append(f"{name}: the page got {case_error(name)} by itself; "
                                        f"{args.browser} used to keep the request open: update BROWSER_FACTS")
                    elif not settled:
                        abort(name)
                else:
                    failures.append(f"{name}: the refusing key never answered the browser")
                if any(v.get("case") == name and v.get("step") == "register" for v in verdicts()):
                    failures.append(f"{name}: the RP got a registration although the touch was refused")
                got = key_requests()
                log(f"{name}: requests the key got: {', '.join(got) or 'none'}")
                if (args.denied_presence, uv) == ("deny", "discouraged") and \
                        got != ["getInfo", "makeCredential CTAP2_ERR_OPERATION_DENIED"]:
                    failures.append(f"{name}: the refusing key got {got}")
            elif mode == "pin":
                # The browser talks to the new key (getInfo first); from
                # then on the RP must get nothing for --pin-wait seconds.
                talked = lambda: 'command="getInfo"' in key_log_text()
                if wait_for(talked, time.monotonic() + 90, f"{name}: the browser to talk to the key with a PIN"):
                    log(f"{name}: the browser talks to the key; the RP must get nothing for {args.pin_wait:.0f}s")
                    wait_for(lambda: case_settled(name), time.monotonic() + args.pin_wait,
                             f"{name}: nothing (as expected)")
                else:
                    failures.append(f"{name}: the browser never talked to the key with a PIN")
                got = key_requests()
                log(f"{name}: requests the key got: {', '.join(got) or 'none'}")
                want = BROWSER_FACTS[args.browser]["pin_key_requests"]
                if got != want:
                    failures.append(f"{name}: the key got {got}, expected {want}")
                if any(v.get("case") == name and v.get("step") == "register" for v in verdicts()):
                    failures.append(f"{name}: the RP got a registration without the PIN")
                if not abort(name, BROWSER_FACTS[args.browser]["pin_abort"]):
                    if name != cases[-1][0]:
                        failures.append(f"{name}: the page is stuck, so it must be the last case")
                    page_stuck = True
                    break

        done = lambda: any(v.get("error") == "done" for v in verdicts())
        if not page_stuck and not wait_for(done, time.monotonic() + 120, "the page to finish"):
            failures.append("the page did not finish its cases")
        stop(br, signal.SIGKILL)
        br = None
        vs = verdicts()
        t_prev = None
        for v in vs:
            t = v.pop("t", None)
            at = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 10) % 10}" if t else "?"
            dt = f"+{t - t_prev:5.1f}s" if t is not None and t_prev is not None else " " * 7
            t_prev = t if t is not None else t_prev
            log(f"verdict {at} {dt} {json.dumps(v)}")
        failures += check(args.browser, [c for c in cases if c[4] not in ("denied", "pin", "accounts")], vs)
    except RuntimeError as e:
        failures.append(str(e))
    finally:
        stop(br, signal.SIGKILL)
        status = stop(key)
        if key is not None and status not in (0, None):
            failures.append(f"fidosim exited with {status}")
        stop(rp)
        stop(udevd)
    for f in failures:
        log("FAIL " + f)
    if not failures:
        log(f"PASS {args.browser}: {len(cases)} case(s) in {time.monotonic() - t0:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
