"""`fidosim run --persona NAME`: what python-fido2 sees of each built-in
persona over UDP, a flag given beside a persona winning over it, a persona
file of one's own, and `fidosim personas` listing them."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin
from fido2.server import Fido2Server
from fido2.webauthn import ResidentKeyRequirement, UserVerificationRequirement

from conftest import fidosim_bin
from fidosim_udp import open_udp_device

ORIGIN = "https://example.com"
RP = {"id": "example.com", "name": "Example"}

BE, BS = 0x08, 0x10


def info_of(daemon):
    device = open_udp_device(*daemon.addr)
    try:
        return Ctap2(device).get_info()
    finally:
        device.close()


def register_and_sign_in(daemon):
    """A registration and a sign-in: the responses."""
    device = open_udp_device(*daemon.addr)
    try:
        client = Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN))
        server = Fido2Server(RP, attestation="direct")
        options, state = server.register_begin(
            {"id": os.urandom(16), "name": "alice"},
            resident_key_requirement=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        made = client.make_credential(options.public_key)
        auth_data = server.register_complete(state, made)
        options, state = server.authenticate_begin([auth_data.credential_data])
        asserted = client.get_assertion(options.public_key).get_response(0)
        return made, asserted
    finally:
        device.close()


def test_ctap21_pin_has_no_built_in_uv(fidosim_factory):
    info = info_of(fidosim_factory("--persona", "ctap21-pin"))
    assert "uv" not in info.options
    assert info.options["clientPin"] is False


def test_ctap21_fingerprint_has_a_sensor_without_fingers(fidosim_factory):
    info = info_of(fidosim_factory("--persona", "ctap21-fingerprint"))
    assert info.options["bioEnroll"] is False and info.options["uv"] is False


def test_hardware_quirks_answer_pin_not_set_for_the_retries(fidosim_factory):
    daemon = fidosim_factory("--persona", "hardware-quirks")
    device = open_udp_device(*daemon.addr)
    try:
        pin = ClientPin(Ctap2(device))
        with pytest.raises(CtapError) as exc:
            pin.get_pin_retries()
        assert exc.value.code == CtapError.ERR.PIN_NOT_SET
        pin.set_pin("4321")
        assert pin.get_pin_retries()[0] == 8
    finally:
        device.close()


def test_synced_passkey_and_a_flag_beside_it(fidosim_factory):
    daemon = fidosim_factory("--persona", "synced-passkey")
    info = info_of(daemon)
    assert str(info.aaguid) == "f1d0f1d0-5eed-4b1d-a7e5-000000000002"
    made, asserted = register_and_sign_in(daemon)
    assert made.response.attestation_object.fmt == "none"
    flags = made.response.attestation_object.auth_data.flags
    assert flags & BE and flags & BS
    assert asserted.response.authenticator_data.counter == 0
    # --counter given beside the persona wins over its `zero` (the client's
    # silent pre-flight getAssertion moves the counter too).
    daemon = fidosim_factory("--persona", "synced-passkey", "--counter", "per-credential")
    _, asserted = register_and_sign_in(daemon)
    assert asserted.response.authenticator_data.counter > 0
    assert asserted.response.authenticator_data.flags & BS


def test_a_persona_file_of_ones_own(fidosim_factory, tmp_path):
    file = tmp_path / "personas.toml"
    file.write_text(
        '[persona.eddsa-only]\ndescription = "an EdDSA-only key"\n'
        '[persona.eddsa-only.settings]\nalgorithms = ["eddsa"]\nuv = "none"\n'
    )
    info = info_of(fidosim_factory("--persona", "eddsa-only", "--persona-file", str(file)))
    assert [a["alg"] for a in info.algorithms] == [-8]
    assert "uv" not in info.options
    listed = subprocess.run([str(fidosim_bin()), "personas", "--json", "--persona-file", str(file)],
                            capture_output=True, text=True, timeout=30, check=True)
    personas = {p["name"]: p for p in json.loads(listed.stdout)}
    assert personas["eddsa-only"]["settings"] == {"algorithms": ["eddsa"], "uv": "none"}
    assert personas["eddsa-only"]["source"] == str(file)
    assert {"fidosim", "ctap21-pin", "ctap21-fingerprint", "synced-passkey",
            "hardware-quirks"} <= set(personas)
    assert all(p["description"] for p in personas.values())


@pytest.mark.parametrize("args, says", [
    (["--persona", "nobody"], "unknown persona `nobody`"),
    (["--persona", "x", "--persona-file", "/nonexistent/p.toml"], "cannot read the persona file"),
])
def test_persona_mistakes_are_explained(args, says):
    out = subprocess.run([str(fidosim_bin()), "run", "--ephemeral", "--transport", "udp",
                          "--udp-listen", "127.0.0.1:0", "--no-control", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert says in out.stderr
