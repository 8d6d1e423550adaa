"""A small passkey site for the browser-rig recipes (docs/recipes/).

One page on http://localhost:PORT: a username field, "Sign up" (makes a
discoverable credential, a passkey) and "Sign in" (username-less: the
browser asks the key which passkeys it holds for this site). The server
verifies both with python-fido2's Fido2Server and, like a careful relying
party, refuses a sign-in whose signature counter did not go up (WebAuthn
Level 3 §7.2 step 21: a sign of a cloned authenticator).

What the page shows is what a test reads:
  #status      "Signed up as NAME", "Signed in as NAME" or "Error: ..."
  #credential  the credential ID (base64url) of the last sign-up or sign-in
  #counter     the signature counter of the last sign-in

Usage: app.py PORT   (python-fido2 must be importable; Ctrl-C stops it)
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AuthenticatorData,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

PAGE = r"""<!doctype html>
<meta charset="utf-8">
<title>Passkey demo</title>
<h1>Passkey demo</h1>
<label>Username <input id="username" autocomplete="username webauthn"></label>
<button id="signup">Sign up</button>
<button id="signin">Sign in</button>
<p id="status">Signed out</p>
<p>Credential: <code id="credential"></code> Counter: <code id="counter"></code></p>
<script>
const $ = (id) => document.getElementById(id);
async function post(path, body) {
  const r = await fetch(path, {method: 'POST', headers: {'content-type': 'application/json'},
                               body: JSON.stringify(body)});
  const out = await r.json();
  if (!r.ok) throw new Error(out.error);
  return out;
}
function show(text, credential, counter) {
  $('status').textContent = text;
  $('credential').textContent = credential ?? '';
  $('counter').textContent = counter ?? '';
}
$('signup').onclick = async () => {
  try {
    show('Signing up...');
    const options = await post('/signup/begin', {username: $('username').value});
    const cred = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)});
    const out = await post('/signup/complete', cred.toJSON());
    show('Signed up as ' + out.username, out.credentialId);
  } catch (e) {
    show('Error: ' + e.name + ': ' + e.message);
  }
};
$('signin').onclick = async () => {
  try {
    show('Signing in...');
    const options = await post('/signin/begin', {});
    const cred = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)});
    const out = await post('/signin/complete', cred.toJSON());
    show('Signed in as ' + out.username, out.credentialId, out.signCount);
  } catch (e) {
    show('Error: ' + e.name + ': ' + e.message);
  }
};
</script>
"""


class Refused(Exception):
    """A request the site refuses; the page shows the message."""


class Site:
    def __init__(self, port):
        origin = f"http://localhost:{port}"
        self.server = Fido2Server(
            PublicKeyCredentialRpEntity(id="localhost", name="Passkey demo"),
            verify_origin=lambda o: o == origin,
        )
        self.lock = threading.Lock()
        self.pending = None  # ("sign-up" or "sign-in", username, state) under way
        self.accounts = {}  # credential ID -> {"username", "credential", "signCount"}

    def signup_begin(self, body):
        username = str(body.get("username", "")).strip()
        if not username:
            raise Refused("choose a username")
        user = PublicKeyCredentialUserEntity(
            id=username.encode(), name=username, display_name=username
        )
        options, state = self.server.register_begin(
            user,
            credentials=[a["credential"] for a in self.accounts.values()],
            resident_key_requirement=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        self.pending = ("sign-up", username, state)
        return dict(options)

    def take_pending(self, kind):
        """The username and state of the `kind` under way, once."""
        pending, self.pending = self.pending, None
        if pending is None or pending[0] != kind:
            raise Refused(f"no {kind} under way")
        return pending[1], pending[2]

    def signup_complete(self, body):
        username, state = self.take_pending("sign-up")
        auth_data = self.server.register_complete(state, body)
        cred = auth_data.credential_data
        self.accounts[cred.credential_id] = {
            "username": username,
            "credential": cred,
            "signCount": auth_data.counter,
        }
        return {"username": username, "credentialId": websafe_encode(cred.credential_id)}

    def signin_begin(self, _body):
        options, state = self.server.authenticate_begin(
            user_verification=UserVerificationRequirement.PREFERRED
        )
        self.pending = ("sign-in", None, state)
        return dict(options)

    def signin_complete(self, body):
        _, state = self.take_pending("sign-in")
        creds = [a["credential"] for a in self.accounts.values()]
        found = self.server.authenticate_complete(state, creds, body)
        account = self.accounts[found.credential_id]
        count = AuthenticatorData(websafe_decode(body["response"]["authenticatorData"])).counter
        # WebAuthn L3 §7.2 step 21: a counter that does not go up (when
        # either value is non-zero) may mean a cloned authenticator.
        if (count or account["signCount"]) and count <= account["signCount"]:
            raise Refused(
                f"signature counter {count} is not above {account['signCount']}: "
                "this may be a cloned authenticator"
            )
        account["signCount"] = count
        return {
            "username": account["username"],
            "credentialId": websafe_encode(found.credential_id),
            "signCount": count,
        }


def main():
    port = int(sys.argv[1])
    site = Site(port)
    routes = {
        "/signup/begin": site.signup_begin,
        "/signup/complete": site.signup_complete,
        "/signin/begin": site.signin_begin,
        "/signin/complete": site.signin_complete,
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("app: " + fmt % args + "\n")

        def reply(self, status, ctype, body):
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != "/":
                self.send_error(404)
                return
            self.reply(200, "text/html; charset=utf-8", PAGE.encode())

        def do_POST(self):
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                with site.lock:
                    result, status = route(body), 200
            except Exception as e:  # every refusal reaches the page with its reason
                result, status = {"error": str(e) or repr(e)}, 400
                sys.stderr.write(f"app: {self.path} refused: {e!r}\n")
            self.reply(status, "application/json", json.dumps(result).encode())

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
