"""Fixtures for the reference RP tests: fidosim daemons over UDP (with a
control socket) that python-fido2 drives, and reference RP processes.

The fidosim binary is FIDOSIM_BIN, else $CARGO_TARGET_DIR/debug/fidosim when
CARGO_TARGET_DIR is set, else <repo>/target/debug/fidosim (`cargo build -p
fidosim`).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO_ROOT / "tests" / "python"))

from fidosim_udp import open_udp_device  # noqa: E402

READY_TIMEOUT = 15.0


def fidosim_bin() -> Path:
    env = os.environ.get("FIDOSIM_BIN")
    if env:
        return Path(env).resolve()
    target = os.environ.get("CARGO_TARGET_DIR")
    return Path(target).resolve() / "debug" / "fidosim" if target else REPO_ROOT / "target" / "debug" / "fidosim"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------
# fidosim
# ---------------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the daemon's control socket."""

    def __init__(self, path: str):
        super().__init__("fidosim", timeout=10)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.socket_path)


class Fidosim:
    """A running fidosim daemon: its UDP address and its control API."""

    def __init__(self, tmp: Path, *extra_args: str, state: Path | None = None):
        binary = fidosim_bin()
        if not binary.is_file():
            pytest.fail(f"fidosim not found at {binary}: `cargo build -p fidosim` or set FIDOSIM_BIN")
        self.control_socket = str(tmp / "control.sock")
        self.log_path = tmp / "fidosim.log"
        self.addr = ("127.0.0.1", _free_udp_port())
        env = dict(os.environ, NO_COLOR="1")
        env.pop("RUST_LOG", None)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [str(binary), "run", "--transport", "udp",
                 "--udp-listen", f"{self.addr[0]}:{self.addr[1]}",
                 *(["--state", str(state)] if state else ["--ephemeral"]),
                 "--control-socket", self.control_socket, *extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not ("listening on UDP" in self.log_path.read_text(errors="replace")
                   and os.path.exists(self.control_socket)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                _stop(self.process)
                pytest.fail(f"fidosim did not start:\n{self.log_path.read_text(errors='replace')}")
            time.sleep(0.02)

    def device(self):
        return open_udp_device(*self.addr)

    def control(self, method: str, path: str, body=None):
        conn = UnixHTTPConnection(self.control_socket)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"null")
        finally:
            conn.close()

    def stop(self) -> None:
        _stop(self.process)


@pytest.fixture(scope="session")
def fidosim(tmp_path_factory):
    """A key with packed attestation (signed over authData || clientDataHash)."""
    daemon = Fidosim(tmp_path_factory.mktemp("fidosim"))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def fidosim_none(tmp_path_factory):
    """A key with `none` attestation: no signature covers its registrations."""
    daemon = Fidosim(tmp_path_factory.mktemp("fidosim-none"), "--attestation", "none")
    yield daemon
    daemon.stop()


class TrustedKey:
    """A key's state file and its attestation CA (`fidosim run --state
    key.fidosim --write-ca ca.pem`), made once; the key is not left
    running, so rp-check can read the state (attestation_state)."""

    def __init__(self, tmp: Path):
        self.dir = tmp
        self.state = tmp / "key.fidosim"
        self.ca = tmp / "ca.pem"
        Fidosim(tmp, "--write-ca", str(self.ca), state=self.state).stop()
        assert self.ca.read_text().startswith("-----BEGIN CERTIFICATE-----")

    def run(self, *extra_args: str) -> Fidosim:
        """The key, running on its state (stop it before rp-check reads it)."""
        return Fidosim(self.dir, *extra_args, state=self.state)


@pytest.fixture(scope="session")
def trusted_key(tmp_path_factory):
    return TrustedKey(tmp_path_factory.mktemp("trusted-key"))


@pytest.fixture(scope="session")
def fidosim_eddsa(tmp_path_factory):
    daemon = Fidosim(tmp_path_factory.mktemp("fidosim-eddsa"), "--algorithms", "eddsa")
    yield daemon
    daemon.stop()


# ---------------------------------------------------------------------------
# reference RPs
# ---------------------------------------------------------------------------


class Response:
    def __init__(self, status: int, body, session: str | None):
        self.status, self.body, self.session = status, body, session

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body!r})"


class ReferenceRp:
    """A reference_rp.py process and a small JSON client for it."""

    def __init__(self, tmp: Path, *args: str):
        self.log_path = tmp / "rp.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(HERE / "reference_rp.py"), "--port", "0", *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
            )
        line = self.process.stdout.readline()  # the first line, flushed at start
        if not line.startswith(("listening on http://127.0.0.1:", "listening on https://127.0.0.1:")):
            _stop(self.process)
            pytest.fail(f"reference RP did not start: {line!r}\n{self.log_path.read_text()}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.scheme = line.split("://", 1)[0].rsplit(" ", 1)[1]
        self.origin = f"http://localhost:{self.port}"
        self.rp_id = "localhost"

    def post(self, path: str, body, session: str | None = None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"}
            if session is not None:
                headers["Cookie"] = f"session={session}"
            conn.request("POST", path, body=json.dumps(body), headers=headers)
            resp = conn.getresponse()
            data = json.loads(resp.read())
            cookie = SimpleCookie(resp.getheader("Set-Cookie") or "").get("session")
            return Response(resp.status, data, cookie.value if cookie else None)
        finally:
            conn.close()

    def stop(self) -> None:
        _stop(self.process)
        self.process.stdout.close()


@pytest.fixture(scope="module")
def rp_factory(tmp_path_factory):
    started: list[ReferenceRp] = []

    def start(*args: str) -> ReferenceRp:
        rp = ReferenceRp(tmp_path_factory.mktemp("rp"), *args)
        started.append(rp)
        return rp

    yield start
    for rp in started:
        rp.stop()
