"""Secrets never reach the key's log or its event log (docs/security.md).

A daemon traced at the most verbose level (-vv) with a state file and a
control socket goes through the ceremonies that carry secrets: setPIN and
changePIN, PIN/UV auth tokens, a discoverable credential with credBlob,
largeBlobKey and hmac-secret (prf), a large-blob write and read, credential
management, and an export of the private keys through the control API.
Then the daemon's stderr and NAME.events.jsonl are searched for every
secret, in hex (either case), standard and URL-safe base64, and as text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap2 import Ctap2
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocolV2
from fido2.server import Fido2Server
from fido2.utils import websafe_decode
from fido2.webauthn import (
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from conftest import ORIGIN, fidosim_bin
from fidosim_udp import open_udp_device

RP = {"id": "example.com", "name": "Example"}
# Not digits alone: a number could turn up in a timing by chance.
FIRST_PIN = "first-Qx7-pin"
PIN = "Zebra-kite-4271"
P = ClientPin.PERMISSION


class PinEntry(UserInteraction):
    def request_pin(self, permissions, rp_id):
        return PIN

    def request_uv(self, permissions, rp_id):
        return True


def forms(secret: bytes) -> list[str]:
    """The ways a log could spell `secret`."""
    out = [
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        # Rust's {:?} of a byte slice: [1, 2, 3]
        ", ".join(str(b) for b in secret[:12]),
        # {:02x?}: [01, 02, 03]
        ", ".join(f"{b:02x}" for b in secret[:12]),
    ]
    try:
        text = secret.decode()
        if text.isprintable():
            out.append(text)
    except UnicodeDecodeError:
        pass
    return out


def test_no_secret_in_the_trace_log_or_the_event_log(fidosim_factory, tmp_path):
    state = tmp_path / "key.redb"
    sock = tmp_path / "control.sock"
    daemon = fidosim_factory("--state", str(state), "--control-socket", str(sock), "--uv", "none", "-vv")
    device = open_udp_device(*daemon.addr)
    try:
        ctap = Ctap2(device)
        pin = ClientPin(ctap, PinProtocolV2())
        pin.set_pin(FIRST_PIN)
        pin.change_pin(FIRST_PIN, PIN)
        token = pin.get_pin_token(PIN, P.MAKE_CREDENTIAL | P.GET_ASSERTION | P.LARGE_BLOB_WRITE, RP["id"])

        client = Fido2Client(
            device,
            client_data_collector=DefaultClientDataCollector(ORIGIN),
            user_interaction=PinEntry(),
        )
        server = Fido2Server(RP, attestation="none")
        cred_blob = os.urandom(32)
        options, state_ = server.register_begin(
            {"id": os.urandom(16), "name": "alice", "displayName": "Alice"},
            resident_key_requirement=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
            extensions={"credBlob": cred_blob, "largeBlob": {"support": "required"}, "prf": {}},
        )
        made = client.make_credential(options.public_key)
        server.register_complete(state_, made)

        def get(extensions):
            options, _ = server.authenticate_begin(
                [PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=made.raw_id)],
                user_verification=UserVerificationRequirement.REQUIRED,
                extensions=extensions,
            )
            return client.get_assertion(options.public_key)

        blob = os.urandom(300)
        assert get({"largeBlob": {"write": blob}}).get_response(0).client_extension_results["largeBlob"][
            "written"
        ]
        selection = get({"largeBlob": {"read": True}, "getCredBlob": True, "prf": {"eval": {"first": os.urandom(32)}}})
        raw = selection.get_assertions()[0]
        large_blob_key = raw.large_blob_key
        assert large_blob_key and len(large_blob_key) == 32
        assert raw.auth_data.extensions.get("credBlob") == cred_blob
        prf = selection.get_response(0).client_extension_results["prf"]["results"]["first"]

        cm_token = pin.get_pin_token(PIN, P.CREDENTIAL_MGMT)
        creds = CredentialManagement(ctap, pin.protocol, cm_token).enumerate_creds(
            hashlib.sha256(RP["id"].encode()).digest()
        )
        assert len(creds) == 1
    finally:
        device.close()

    # The daemon is ready on UDP first; the control API follows.
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert time.monotonic() < deadline, f"no control socket {sock}"
        time.sleep(0.02)
    exported = subprocess.run(
        [str(fidosim_bin()), "credentials", "export", "--socket", str(sock)],
        capture_output=True, text=True, check=True,
    )
    private_keys = []
    for c in json.loads(exported.stdout):
        der = base64.b64decode(c["privateKey"])
        key = serialization.load_der_private_key(der, password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            scalar = key.private_numbers().private_value.to_bytes(32, "big")
        else:
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            scalar = key.private_bytes_raw()
        private_keys += [der, scalar]
    assert private_keys

    secrets = {
        "first PIN": FIRST_PIN.encode(),
        "PIN": PIN.encode(),
        "PIN hash": hashlib.sha256(PIN.encode()).digest()[:16],
        "pinUvAuthToken": token,
        "credential management token": cm_token,
        "credBlob": cred_blob,
        "largeBlobKey": large_blob_key,
        "large blob": blob,
        "prf output": websafe_decode(prf),
        **{f"private key {i}": k for i, k in enumerate(private_keys)},
    }
    daemon.process.terminate()
    daemon.process.wait(5)
    daemon.process.log_thread.join(2)
    log = "".join(daemon.process.log_lines)
    events = (tmp_path / "key.events.jsonl").read_text()
    # The trace level is on and the log names what happened, by name only.
    assert "→ host" in log and "← host" in log, log[-2000:]
    assert 'subcommand="changePIN"' in log, log[-2000:]
    assert 'subcommand="enumerateCredentialsBegin"' in log
    assert "credential.created" in events or "credential" in events, events[:2000]
    for where, text in (("the daemon's log", log), ("the event log", events)):
        for name, secret in secrets.items():
            for form in forms(secret):
                assert form not in text, f"{name} ({form}) appears in {where}"
