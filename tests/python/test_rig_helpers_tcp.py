"""The rig helpers (tests/rigs/fidosim_control.py and fidosim.mjs) reach a key
whose control API listens on loopback TCP: they read the bearer token the
daemon wrote beside its socket, and say where the token should be when it is
missing. A wrong token is refused (401) and changes nothing."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests" / "rigs"))
from fidosim_control import Fidosim  # noqa: E402


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tcp_key(fidosim_factory, tmp_path):
    sock = tmp_path / "control.sock"
    listen = f"127.0.0.1:{free_tcp_port()}"
    fidosim_factory("--control-socket", str(sock), "--control-listen", listen)
    # The daemon is ready on UDP first; the control API follows.
    token_file = tmp_path / "control.token"
    deadline = time.monotonic() + 10
    while not (token_file.exists() and token_file.read_text().strip()):
        assert time.monotonic() < deadline, f"no {token_file} 10 s after the start"
        time.sleep(0.02)
    return listen, token_file


def test_python_helper_over_tcp(tcp_key, tmp_path):
    listen, token_file = tcp_key
    key = Fidosim(control=listen, token_file=str(token_file))
    events = key.follow()
    try:
        assert key.set_account_choice("platform")["accountChoice"] == "platform"
        assert events.next("account.choice", timeout=10)["accountChoice"] == "platform"
        key.request("POST", "/replug")
        events.next("device.replugged", timeout=10)
    finally:
        events.close()

    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token\n")
    with pytest.raises(RuntimeError, match="401"):
        Fidosim(control=listen, token_file=str(wrong)).set_account_choice("refuse")
    assert key.request("GET", "")["accountChoice"] == "platform", "the refused request changed nothing"

    with pytest.raises(RuntimeError, match="missing.token.*FIDOSIM_CONTROL_TOKEN_FILE"):
        Fidosim(control=listen, token_file=str(tmp_path / "missing.token"))


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_node_helper_over_tcp(tcp_key, tmp_path):
    listen, token_file = tcp_key
    script = tmp_path / "rig.mjs"
    script.write_text(textwrap.dedent(f"""
        import {{ Fidosim }} from {json.dumps(str(REPO_ROOT / "tests" / "rigs" / "fidosim.mjs"))};
        const key = new Fidosim({{ control: {json.dumps(listen)} }});
        const events = key.follow();
        await events.ready;
        const set = await key.setAccountChoice('newest');
        const seen = await events.next('account.choice', () => true, 10_000);
        events.close();
        let refused = '';
        try {{
          await new Fidosim({{ control: {json.dumps(listen)}, tokenFile: {json.dumps(str(token_file) + ".nope")} }})
            .setAccountChoice('refuse');
        }} catch (e) {{
          refused = e.message;
        }}
        console.log(JSON.stringify({{ set: set.accountChoice, seen: seen.accountChoice, refused }}));
    """))
    # The token file is found through the environment, as a rig would.
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "FIDOSIM_CONTROL_TOKEN_FILE": str(token_file)}
    out = subprocess.run(["node", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["set"] == result["seen"] == "newest"
    assert ".nope" in result["refused"] and "FIDOSIM_CONTROL_TOKEN_FILE" in result["refused"]
