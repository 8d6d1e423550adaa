"""A small client for fidosim's control API (docs/control-api.md), for
browser tests in Python: reset the key, change it while it runs, and follow
its events to assert what the key itself saw.

    key = Fidosim()                    # $FIDOSIM_CONTROL_SOCKET or the default socket
    key = Fidosim(control="127.0.0.1:8112")  # loopback TCP (--control-listen); the token
                                       # is read from token_file, $FIDOSIM_CONTROL_TOKEN_FILE
                                       # or control.token beside the default socket
    key.request("POST", "/reset")      # paths below /v1/devices/NAME
    key.set_account_choice("platform") # the browser shows its account chooser
    events = key.follow()              # from now on
    created = events.next("credential.created")
    events.close()
"""

import http.client
import json
import os
import socket
import threading
import time
import urllib.parse


def default_socket():
    """The socket `fidosim run` serves by default (see `fidosim run --help`)."""
    if os.environ.get("FIDOSIM_CONTROL_SOCKET"):
        return os.environ["FIDOSIM_CONTROL_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = os.path.join(runtime, "fidosim") if runtime else f"/tmp/fidosim-{os.getuid()}"
    return os.path.join(base, "control.sock")


def default_token_file():
    """Where the TCP control token is: $FIDOSIM_CONTROL_TOKEN_FILE, else the
    file `fidosim run` writes beside its default socket (control.token)."""
    if os.environ.get("FIDOSIM_CONTROL_TOKEN_FILE"):
        return os.environ["FIDOSIM_CONTROL_TOKEN_FILE"]
    return os.path.splitext(default_socket())[0] + ".token"


def to_base64url(b64):
    """Credential IDs: the control API speaks standard base64, pages base64url."""
    return b64.replace("+", "-").replace("/", "_").rstrip("=")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("fidosim", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(self.unix_path)
        except OSError as e:
            raise RuntimeError(
                f"fidosim control socket {self.unix_path}: {e} (is `fidosim run` running?)"
            ) from e


class Fidosim:
    def __init__(self, socket_path=None, device="default", control=None, token_file=None):
        """The Unix socket (`socket_path`, default_socket()) needs no token.
        With `control="HOST:PORT"` requests go over TCP with the daemon's
        bearer token, read from `token_file` (default_token_file())."""
        self.socket = socket_path or default_socket()
        self.device = device
        self.control = control
        self.headers = {}
        if control:
            token_file = token_file or default_token_file()
            try:
                with open(token_file) as f:
                    token = f.read().strip()
            except OSError as e:
                raise RuntimeError(
                    f"fidosim control token {token_file}: {e} (the daemon started with "
                    "--control-listen writes it beside its socket; pass token_file=, or set "
                    "FIDOSIM_CONTROL_TOKEN_FILE)"
                ) from e
            self.headers["authorization"] = f"Bearer {token}"

    def _connection(self, timeout=30):
        if self.control:
            # The Host header is HOST:PORT, as the daemon requires.
            return http.client.HTTPConnection(self.control, timeout=timeout)
        return _UnixConnection(self.socket, timeout=timeout)

    def request(self, method, path, body=None):
        """One control request; `path` is below /v1/devices/NAME. Returns the JSON answer."""
        full = f"/v1/devices/{urllib.parse.quote(self.device, safe='')}{path}"
        conn = self._connection()
        try:
            data = None if body is None else json.dumps(body)
            headers = dict(self.headers)
            if data is not None:
                headers["content-type"] = "application/json"
            conn.request(method, full, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode()
        finally:
            conn.close()
        answer = json.loads(text) if text else None
        if resp.status >= 300:
            error = answer.get("error") if isinstance(answer, dict) else text
            raise RuntimeError(f"fidosim {method} {full}: {resp.status} {error}")
        return answer

    def set_account_choice(self, policy):
        """How the key picks among several passkeys of one site: "newest"
        (the default: no account chooser), "platform" (all of them go to the
        browser, which shows its chooser), "refuse", or "user:HANDLE" /
        "credential:ID" rules (base64), comma-separated, optionally ending in
        one of the first three. Returns the answer of PUT /presence, whose
        `accountChoice` is the policy now in force."""
        return self.request("PUT", "/presence", {"accountChoice": policy})

    def follow(self):
        """This key's events from now on (see Events)."""
        return Events(self)


class Events:
    """Follows a key's event stream in a thread. `next(type, pred)` returns
    the first event of that type (and matching `pred`) not yet taken,
    waiting up to `timeout` seconds; `all` holds every event seen."""

    def __init__(self, key):
        self.all = []
        self._taken = set()
        self._cond = threading.Condition()
        self._error = None
        self._conn = key._connection(timeout=None)
        self._conn.request(
            "GET", f"/v1/events?device={urllib.parse.quote(key.device, safe='')}", headers=key.headers
        )
        self._sock = self._conn.sock
        self._resp = self._conn.getresponse()  # subscribed from here on
        if self._resp.status != 200:
            raise RuntimeError(f"fidosim events: {self._resp.status} {self._resp.read()!r}")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for line in self._resp:
                if line.strip():
                    with self._cond:
                        self.all.append(json.loads(line))
                        self._cond.notify_all()
        except Exception as e:  # closed by close(), or the daemon went away
            with self._cond:
                self._error = e
                self._cond.notify_all()

    def next(self, type_, pred=lambda e: True, timeout=120):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, e in enumerate(self.all):
                    if i not in self._taken and e["type"] == type_ and pred(e):
                        self._taken.add(i)
                        return e
                left = deadline - time.monotonic()
                if self._error is not None or left <= 0:
                    seen = ", ".join(e["type"] for e in self.all) or "nothing"
                    why = f" ({self._error})" if self._error else ""
                    raise AssertionError(
                        f"no {type_} event from fidosim within {timeout} s{why}; saw: {seen}"
                    )
                self._cond.wait(left)

    def close(self):
        # Shut the socket down first: that ends the reader thread's blocking
        # read, which holds the response's buffer lock that close() needs.
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._conn.close()
