"""Fixtures that run a fidosim daemon on the UDP transport.

``fidosim_factory`` starts daemons with extra command-line arguments;
``daemon`` is one daemon, whose extra arguments may be given by indirect
parametrisation::

    @pytest.mark.parametrize("daemon", [["--presence", "deny"]], indirect=True)
    def test_x(daemon): ...

Both give a ``Daemon(addr, ca_pem_path, process)`` named tuple.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fido2.client import DefaultClientDataCollector, Fido2Client  # noqa: E402

from fidosim_udp import open_udp_device  # noqa: E402

REPO_ROOT = HERE.parent.parent
READY_MARKER = "listening on UDP"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
EXIT_ADDRESS_IN_USE = 3  # "the transport cannot be used" (e.g. UDP address in use)
ORIGIN = "https://example.com"


class Daemon(NamedTuple):
    addr: tuple[str, int]
    ca_pem_path: Path
    process: subprocess.Popen


def fidosim_bin() -> Path:
    """FIDOSIM_BIN (relative: to the cwd, else to the repo root), or <repo>/target/debug/fidosim."""
    env = os.environ.get("FIDOSIM_BIN")
    if not env:
        return REPO_ROOT / "target" / "debug" / "fidosim"
    path = Path(env)
    if path.is_absolute() or path.exists():
        return path.resolve()
    return REPO_ROOT / path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(process: subprocess.Popen, n: int = 40) -> str:
    return "".join(getattr(process, "log_lines", [])[-n:])


def _start(binary: Path, extra_args: list[str], ca_pem_path: Path) -> Daemon | None:
    """Start one daemon; None if its port was taken in the meantime."""
    port = free_udp_port()
    addr = ("127.0.0.1", port)
    cmd = [
        str(binary), "run",
        "--transport", "udp",
        "--udp-listen", f"{addr[0]}:{port}",
        "--write-ca", str(ca_pem_path),
        *extra_args,
    ]
    if "--state" not in extra_args:
        cmd.append("--ephemeral")  # a fresh key each start
    if "--control-socket" not in extra_args:
        cmd.append("--no-control")  # most of these tests need no control API
    env = dict(os.environ)
    env.pop("RUST_LOG", None)  # the ready line is logged at INFO
    env["NO_COLOR"] = "1"
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        errors="replace",
        bufsize=1,
    )
    process.log_lines = []  # type: ignore[attr-defined]
    ready = threading.Event()

    def drain() -> None:
        # Keep reading stderr for the daemon's whole life so it never blocks on a full pipe.
        for line in process.stderr:  # type: ignore[union-attr]
            process.log_lines.append(line)  # type: ignore[attr-defined]
            if READY_MARKER in line:
                ready.set()

    thread = threading.Thread(target=drain, name=f"fidosim-stderr-{port}", daemon=True)
    thread.start()
    process.log_thread = thread  # type: ignore[attr-defined]

    deadline = time.monotonic() + READY_TIMEOUT
    while not ready.wait(0.02):
        if process.poll() is not None:
            thread.join(1)
            if process.returncode == EXIT_ADDRESS_IN_USE and "in use" in _log_tail(process).lower():
                return None
            raise RuntimeError(
                f"fidosim exited with status {process.returncode} before it was ready\n"
                f"command: {' '.join(cmd)}\n{_log_tail(process)}"
            )
        if time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError(
                f"fidosim not ready within {READY_TIMEOUT} s\n"
                f"command: {' '.join(cmd)}\n{_log_tail(process)}"
            )
    return Daemon(addr, ca_pem_path, process)


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    thread = getattr(process, "log_thread", None)
    if thread is not None:
        thread.join(1)
    return process.returncode


@pytest.fixture
def fidosim_factory(request, tmp_path):
    """Call with extra daemon arguments; returns a started, ready Daemon."""
    binary = fidosim_bin()
    if not binary.is_file():
        pytest.fail(f"fidosim binary not found at {binary}: run `cargo build -p fidosim` or set FIDOSIM_BIN")
    started: list[Daemon] = []
    request.node.fidosim_daemons = started  # for the failure report hook

    def start(*extra_args: str) -> Daemon:
        ca_pem_path = tmp_path / f"fidosim-ca-{len(started)}.pem"
        for _ in range(5):
            daemon = _start(binary, list(extra_args), ca_pem_path)
            if daemon is not None:
                started.append(daemon)
                return daemon
        raise RuntimeError("could not find a free UDP port for fidosim")

    yield start

    failures = []
    for daemon in started:
        status = _stop(daemon.process)
        if status != 0:
            failures.append(
                f"fidosim on {daemon.addr} exited with status {status} after SIGTERM, expected 0\n"
                f"{_log_tail(daemon.process)}"
            )
    if failures:
        pytest.fail("\n".join(failures))


@pytest.fixture
def daemon(request, fidosim_factory) -> Daemon:
    """One daemon; extra arguments from indirect parametrisation (a list of str)."""
    extra_args = getattr(request, "param", None) or []
    return fidosim_factory(*extra_args)


@pytest.fixture
def device(daemon):
    dev = open_udp_device(*daemon.addr)
    yield dev
    dev.close()


@pytest.fixture
def client(device) -> Fido2Client:
    return Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN))


def pytest_runtest_makereport(item, call):
    """On failure, attach the logs of the test's daemons to the report."""
    if call.excinfo is None:
        return
    for d in getattr(item, "fidosim_daemons", []):
        item.add_report_section(
            call.when, f"fidosim {d.addr[0]}:{d.addr[1]} log", _log_tail(d.process)
        )
