"""A tiny relying party for browser tests.

Serves one page on http://localhost:PORT that registers a passkey and signs
in with it through navigator.credentials, and verifies every result on the
server with python-fido2's Fido2Server. Each verdict (and each error the
page reports) is appended as a JSON line to the verdict file, with the time
it was written ("t"), which is what the test driver reads: the browser's own
view is not trusted.

The driver steers the page through files next to the verdict file:
VERDICTS.go.CASE opens a case's gate, VERDICTS.abort.CASE makes the page
abort the case's pending WebAuthn request (AbortController).

Usage: rp_app.py PORT VERDICT_FILE
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from fido2.server import Fido2Server
from fido2.webauthn import (
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

PAGE = r"""<!doctype html>
<meta charset="utf-8">
<title>fidosim test RP</title>
<pre id="log"></pre>
<script>
const q = new URLSearchParams(location.search);
const log = (m) => { document.getElementById('log').textContent += m + '\n'; };
const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0));
const ub64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
async function post(path, body) {
  const r = await fetch(path, {method: 'POST', headers: {'content-type': 'application/json'},
                               body: JSON.stringify(body)});
  return r.json();
}
function regJSON(c) {
  return {id: c.id, rawId: ub64(c.rawId), type: c.type,
          response: {clientDataJSON: ub64(c.response.clientDataJSON),
                     attestationObject: ub64(c.response.attestationObject)},
          clientExtensionResults: c.getClientExtensionResults()};
}
function authJSON(c) {
  return {id: c.id, rawId: ub64(c.rawId), type: c.type,
          response: {clientDataJSON: ub64(c.response.clientDataJSON),
                     authenticatorData: ub64(c.response.authenticatorData),
                     signature: ub64(c.response.signature),
                     userHandle: c.response.userHandle ? ub64(c.response.userHandle) : null},
          clientExtensionResults: c.getClientExtensionResults()};
}
async function gate(name) {
  await post('/report', {case: name, error: 'waiting', message: 'at the gate'});
  while (!(await post('/wait', {case: name})).go) {
    await new Promise(r => setTimeout(r, 500));
  }
}
// The driver may abort the case's pending request (a key that refuses the
// touch, or waits for a PIN nobody can type headless).
function abortable(name) {
  const ctl = new AbortController();
  const timer = setInterval(async () => {
    if ((await post('/aborted', {case: name})).abort) { clearInterval(timer); ctl.abort(); }
  }, 1000);
  return {signal: ctl.signal, done: () => clearInterval(timer)};
}
// A page-level timeout (cfg.pagetimeout ms) for one create()/get() call, on
// top of the driver's abort: a browser that keeps a refused request open
// (headless Chromium) still ends it.
function withTimeout(cfg, signal) {
  return cfg.pagetimeout ? AbortSignal.any([signal, AbortSignal.timeout(cfg.pagetimeout)]) : signal;
}
async function register(cfg, signal, user) {
  const opts = await post('/register/begin', user ? {...cfg, user: user} : cfg);
  const pk = opts.publicKey;
  pk.challenge = b64(pk.challenge);
  pk.user.id = b64(pk.user.id);
  (pk.excludeCredentials || []).forEach(c => c.id = b64(c.id));
  const cred = await navigator.credentials.create({publicKey: pk, signal: withTimeout(cfg, signal)});
  const reg = await post('/register/complete', {case: cfg.case, credential: regJSON(cred)});
  log(cfg.case + ' register' + (user ? ' user ' + user : '') + ': ' + JSON.stringify(reg));
  return reg.ok;
}
async function signIn(cfg, signal, phase) {
  const aopts = await post('/login/begin', phase ? {...cfg, phase: phase} : cfg);
  const apk = aopts.publicKey;
  apk.challenge = b64(apk.challenge);
  (apk.allowCredentials || []).forEach(c => c.id = b64(c.id));
  const assertion = await navigator.credentials.get({publicKey: apk, signal: withTimeout(cfg, signal)});
  const login = await post('/login/complete', {case: cfg.case, credential: authJSON(assertion)});
  log(cfg.case + ' login' + (phase ? ' (' + phase + ')' : '') + ': ' + JSON.stringify(login));
}
// login 'accounts': two users register discoverable credentials on one key
// (the driver plugs it in at the gate), then three username-less sign-ins,
// each after a gate CASE.PHASE where the driver restarts the key with
// another --account-choice: 'newest' (the default), 'user' (the first
// user's handle), 'platform' (the browser's chooser waits; the driver
// aborts the request through CASE.platform). Each phase reports its own
// error under CASE.PHASE, so one that fails does not hide the next.
async function runAccounts(cfg) {
  await gate(cfg.case);
  const ab = abortable(cfg.case);
  try {
    for (const user of ['1', '2']) {
      if (!await register(cfg, ab.signal, user)) return;
    }
  } finally {
    ab.done();
  }
  for (const phase of ['newest', 'user', 'platform']) {
    const name = cfg.case + '.' + phase;
    if (phase !== 'newest') await gate(name);
    const pab = abortable(name);
    try {
      await signIn(cfg, pab.signal, phase);
    } catch (e) {
      log(name + ' error: ' + e.name + ': ' + e.message);
      await post('/report', {case: name, error: e.name, message: e.message});
    } finally {
      pab.done();
    }
  }
}
// login: 'yes' register and sign in; 'gate' wait for the driver, then both;
// 'pause' register, wait for the driver, sign in; 'gatereg' wait for the
// driver, then only register; 'reg' only register; 'login' only sign in;
// 'accounts' see runAccounts.
async function runCase(cfg) {
  if (cfg.login === 'accounts') {
    try {
      await runAccounts(cfg);
    } catch (e) {
      log(cfg.case + ' error: ' + e.name + ': ' + e.message);
      await post('/report', {case: cfg.case, error: e.name, message: e.message});
    }
    return;
  }
  const ab = abortable(cfg.case);
  try {
    if (cfg.login === 'gate' || cfg.login === 'gatereg') await gate(cfg.case);
    if (cfg.login !== 'login') {
      if (!await register(cfg, ab.signal)) return;
      if (cfg.login === 'reg' || cfg.login === 'gatereg') return;
      // The driver replugs the key now; sign in once it says go.
      if (cfg.login === 'pause') await gate(cfg.case);
    }
    await signIn(cfg, ab.signal);
  } catch (e) {
    log(cfg.case + ' error: ' + e.name + ': ' + e.message);
    await post('/report', {case: cfg.case, error: e.name, message: e.message});
  } finally {
    ab.done();
  }
}
// ?cases=name:alg:rk:uv[:login[:timeout[:pagetimeout]]],… — run one after the other.
async function run() {
  for (const spec of (q.get('cases') || '').split(',').filter(Boolean)) {
    const [name, alg, rk, uv, login, timeout, pagetimeout] = spec.split(':');
    await runCase({case: name, alg: Number(alg), rk: rk, uv: uv, login: login || 'yes',
                   timeout: timeout ? Number(timeout) : undefined,
                   pagetimeout: pagetimeout ? Number(pagetimeout) : undefined});
  }
  await post('/report', {case: '*', error: 'done', message: 'all cases ran'});
}
run();
</script>
"""


class App:
    def __init__(self, port, verdict_file):
        self.origin = f"http://localhost:{port}"
        self.verdict_file = verdict_file
        self.lock = threading.Lock()
        self.cases = {}  # case -> {"state":…, "credentials": [...], "user": …, "rk": …}

    def verdict(self, **fields):
        fields["t"] = round(time.time(), 3)
        with self.lock, open(self.verdict_file, "a") as f:
            f.write(json.dumps(fields) + "\n")

    def register_begin(self, cfg):
        case = cfg["case"]
        # A case registers one user, named after the case; with "user" in
        # cfg, one of several users of the case (the case's credentials
        # accumulate on one server, so a sign-in may match any of them).
        suffix = f"-{cfg['user']}" if cfg.get("user") else ""
        user = PublicKeyCredentialUserEntity(
            id=f"{case}{suffix}".encode()[:64], name=f"user-{case}{suffix}", display_name=f"User {case}{suffix}"
        )
        c = self.cases.get(case) if suffix else None
        if c is None:
            # One server per case, offering only the case's algorithm.
            server = Fido2Server(
                PublicKeyCredentialRpEntity(id="localhost", name="fidosim test RP"),
                attestation="direct",
                verify_origin=lambda o: o == self.origin,
            )
            server.allowed_algorithms = [a for a in server.allowed_algorithms if a.alg == cfg["alg"]]
            c = self.cases[case] = {"server": server, "credentials": [], "owners": {}}
        timeout = cfg.get("timeout")
        options, state = c["server"].register_begin(
            user,
            resident_key_requirement=ResidentKeyRequirement(cfg["rk"]),
            user_verification=UserVerificationRequirement(cfg["uv"]),
        )
        options = dict(options)
        if timeout:
            options["publicKey"] = dict(options["publicKey"], timeout=timeout)
        c.update(state=state, cfg=cfg, user=user)
        # when the page starts its request (the WebAuthn timeout counts from here)
        self.verdict(case=case, step="begin", ok=True, timeout=timeout)
        return options

    def register_complete(self, body):
        c = self.cases[body["case"]]
        try:
            auth_data = c["server"].register_complete(c["state"], body["credential"])
        except Exception as e:  # the verdict says why
            self.verdict(case=body["case"], step="register", ok=False, reason=repr(e))
            return {"ok": False, "reason": repr(e)}
        cred = auth_data.credential_data
        c["credentials"].append(cred)
        c["owners"][bytes(cred.credential_id)] = c["user"]
        out = {
            "case": body["case"],
            "step": "register",
            "ok": True,
            "user": c["user"].name,
            "alg": cred.public_key[3],
            "up": bool(auth_data.flags & 0x01),
            "uv": bool(auth_data.flags & 0x04),
            "aaguid": str(cred.aaguid),
        }
        self.verdict(**out)
        return out

    def login_begin(self, cfg):
        c = self.cases[cfg["case"]]
        creds = [] if cfg["rk"] == "required" else c["credentials"]
        options, state = c["server"].authenticate_begin(
            creds, user_verification=UserVerificationRequirement(cfg["uv"])
        )
        c["login_state"] = state
        c["phase"] = cfg.get("phase")
        return dict(options)

    def login_complete(self, body):
        c = self.cases[body["case"]]
        phase = {"phase": c["phase"]} if c.get("phase") else {}
        try:
            cred = c["server"].authenticate_complete(c["login_state"], c["credentials"], body["credential"])
        except Exception as e:
            self.verdict(case=body["case"], step="login", ok=False, reason=repr(e), **phase)
            return {"ok": False, "reason": repr(e)}
        from fido2.utils import websafe_decode
        from fido2.webauthn import AuthenticatorData

        # Who signed in: the owner of the credential the server verified.
        owner = c["owners"][bytes(cred.credential_id)]
        ad = AuthenticatorData(websafe_decode(body["credential"]["response"]["authenticatorData"]))
        handle = body["credential"]["response"].get("userHandle")
        out = {
            "case": body["case"],
            "step": "login",
            **phase,
            "ok": True,
            "user": owner.name,
            "up": bool(ad.flags & 0x01),
            "uv": bool(ad.flags & 0x04),
            "counter": ad.counter,
            "user_handle_matches": handle is None
            or websafe_decode(handle) == owner.id,
            "user_handle_present": handle is not None,
        }
        self.verdict(**out)
        return out


def main():
    port, verdict_file = int(sys.argv[1]), sys.argv[2]
    app = App(port, verdict_file)
    routes = {
        "/register/begin": app.register_begin,
        "/register/complete": app.register_complete,
        "/login/begin": app.login_begin,
        "/login/complete": app.login_complete,
        "/report": lambda b: app.verdict(step="error", ok=False, **b) or {"ok": True},
        "/wait": lambda b: {"go": os.path.exists(f"{verdict_file}.go.{b['case']}")},
        "/aborted": lambda b: {"abort": os.path.exists(f"{verdict_file}.abort.{b['case']}")},
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            if urlparse(self.path).path in ("/wait", "/aborted"):
                return  # the page polls these every second
            sys.stderr.write("rp_app: " + fmt % args + "\n")

        def do_GET(self):
            if urlparse(self.path).path != "/":
                self.send_error(404)
                return
            app.verdict(case="*", step="page-loaded", ok=True)
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            route = routes.get(urlparse(self.path).path)
            if route is None:
                self.send_error(404)
                return
            n = int(self.headers.get("content-length", 0))
            try:
                result = route(json.loads(self.rfile.read(n)))
                status = 200
            except Exception as e:
                result, status = {"ok": False, "reason": repr(e)}, 500
                app.verdict(step="server-error", ok=False, reason=repr(e))
            body = json.dumps(result).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
