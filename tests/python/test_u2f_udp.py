"""CTAP1/U2F over CTAPHID_MSG: python-fido2's Ctap1 against fidosim over UDP.

U2F_VERSION, U2F_REGISTER (attestation checked against the --write-ca CA),
U2F_AUTHENTICATE in its three modes, bad key handles, credentials shared
with CTAP2 in both directions, and the polled test of user presence.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from fido2.attestation import AttestationType, FidoU2FAttestation
from fido2.attestation import InvalidSignature as InvalidAttestationSignature
from fido2.cose import ES256
from fido2.ctap1 import APDU, ApduError, Ctap1, SignatureData
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY
from fido2.webauthn import AttestationObject

from fidosim_udp import open_udp_device

RP_ID = "example.com"
APP_PARAM = hashlib.sha256(RP_ID.encode()).digest()

SW_WRONG_LENGTH = 0x6700
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00

# U2F_AUTHENTICATE control byte dont-enforce-user-presence-and-sign.
DONT_ENFORCE_UP = 0x08


@pytest.fixture
def ctap1(device) -> Ctap1:
    return Ctap1(device)


def client_param() -> bytes:
    """A fresh challenge parameter (SHA-256 of some client data)."""
    return hashlib.sha256(os.urandom(32)).digest()


def auth_data(client: bytes, app: bytes, key_handle: bytes) -> bytes:
    return client + app + bytes([len(key_handle)]) + key_handle


def poll(call, timeout: float = 10.0, interval: float = 0.1):
    """Repeat a U2F request while the key answers "test of user presence
    required", as U2F clients do; returns the result and the number of tries."""
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        tries += 1
        try:
            return call(), tries
        except ApduError as e:
            if e.code != APDU.USE_NOT_SATISFIED or time.monotonic() > deadline:
                raise
        time.sleep(interval)


# ---------------------------------------------------------------- transport and version


def test_msg_capability_and_version(device, ctap1):
    assert not CAPABILITY.NMSG.supported(device.capabilities), "MSG is implemented"
    assert ctap1.get_version() == "U2F_V2"
    # Data with U2F_VERSION is a wrong length; unknown CLA and INS.
    with pytest.raises(ApduError) as e:
        ctap1.send_apdu(ins=Ctap1.INS.VERSION, data=b"\x00")
    assert e.value.code == SW_WRONG_LENGTH
    with pytest.raises(ApduError) as e:
        ctap1.send_apdu(cla=0x80, ins=Ctap1.INS.VERSION)
    assert e.value.code == SW_CLA_NOT_SUPPORTED
    with pytest.raises(ApduError) as e:
        ctap1.send_apdu(ins=0x44)
    assert e.value.code == SW_INS_NOT_SUPPORTED


# ---------------------------------------------------------------- register and authenticate


def test_register_verifies(daemon, ctap1):
    client = client_param()
    reg = ctap1.register(client, APP_PARAM)
    assert len(reg.public_key) == 65 and reg.public_key[0] == 0x04
    reg.verify(APP_PARAM, client)  # the attestation signature, with the certificate's key
    with pytest.raises(InvalidAttestationSignature):
        reg.verify(APP_PARAM, client_param())

    # The certificate is the batch certificate, issued by the --write-ca CA.
    ca = x509.load_pem_x509_certificate(Path(daemon.ca_pem_path).read_bytes())
    cert = x509.load_der_x509_certificate(reg.certificate)
    assert cert.issuer == ca.subject
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"

    # As a WebAuthn client turns it into fido-u2f attestation (CTAP 2.1 §10).
    att = AttestationObject.from_ctap1(APP_PARAM, reg)
    assert att.fmt == "fido-u2f"
    result = FidoU2FAttestation().verify(att.att_stmt, att.auth_data, client)
    assert result.attestation_type == AttestationType.BASIC


def test_authenticate_and_counter(ctap1):
    reg = ctap1.register(client_param(), APP_PARAM)
    last = 0
    for _ in range(3):
        client = client_param()
        sig = ctap1.authenticate(client, APP_PARAM, reg.key_handle)
        assert sig.user_presence == 0x01
        assert sig.counter > last
        last = sig.counter
        sig.verify(APP_PARAM, client, reg.public_key)
        with pytest.raises(InvalidSignature):
            sig.verify(APP_PARAM, client_param(), reg.public_key)

    # dont-enforce-user-presence-and-sign: signed, presence bit clear.
    client = client_param()
    raw = ctap1.send_apdu(
        ins=Ctap1.INS.AUTHENTICATE,
        p1=DONT_ENFORCE_UP,
        data=auth_data(client, APP_PARAM, reg.key_handle),
    )
    sig = SignatureData(raw)
    assert sig.user_presence == 0
    assert sig.counter == last + 1
    sig.verify(APP_PARAM, client, reg.public_key)


def test_check_only(ctap1):
    reg = ctap1.register(client_param(), APP_PARAM)
    # Ours: "test of user presence required", which is the yes answer.
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(client_param(), APP_PARAM, reg.key_handle, check_only=True)
    assert e.value.code == APDU.USE_NOT_SATISFIED
    # Not for this application parameter: bad key handle.
    other_app = hashlib.sha256(b"example.org").digest()
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(client_param(), other_app, reg.key_handle, check_only=True)
    assert e.value.code == APDU.WRONG_DATA
    # A check does not count.
    assert ctap1.authenticate(client_param(), APP_PARAM, reg.key_handle).counter == 1


def test_wrong_key_handle(ctap1):
    reg = ctap1.register(client_param(), APP_PARAM)
    tampered = bytearray(reg.key_handle)
    tampered[10] ^= 0x01
    other_app = hashlib.sha256(b"example.org").digest()
    for app, key_handle in [
        (APP_PARAM, bytes(tampered)),
        (APP_PARAM, os.urandom(len(reg.key_handle))),
        (APP_PARAM, b"\x01" * 16),
        (other_app, reg.key_handle),
    ]:
        with pytest.raises(ApduError) as e:
            ctap1.authenticate(client_param(), app, key_handle)
        assert e.value.code == APDU.WRONG_DATA


def test_wrong_key_handle_from_another_device(fidosim_factory):
    first = open_udp_device(*fidosim_factory().addr)
    second = open_udp_device(*fidosim_factory().addr)
    try:
        reg = Ctap1(first).register(client_param(), APP_PARAM)
        with pytest.raises(ApduError) as e:
            Ctap1(second).authenticate(client_param(), APP_PARAM, reg.key_handle)
        assert e.value.code == APDU.WRONG_DATA
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------- shared with CTAP2


def test_ctap2_credential_answers_u2f(device, ctap1):
    ctap2 = Ctap2(device)
    made = ctap2.make_credential(
        client_param(),
        {"id": RP_ID, "name": "Example"},
        {"id": os.urandom(16), "name": "alice"},
        [{"type": "public-key", "alg": ES256.ALGORITHM}],
    )
    cred = made.auth_data.credential_data
    assert cred is not None
    client = client_param()
    sig = ctap1.authenticate(client, APP_PARAM, cred.credential_id)
    assert sig.user_presence == 0x01
    # The credential's COSE key verifies the U2F signature.
    cred.public_key.verify(APP_PARAM + sig[:5] + client, sig.signature)
    # The same counter as CTAP2 getAssertion.
    assertion = ctap2.get_assertion(
        RP_ID, client_param(), [{"type": "public-key", "id": cred.credential_id}]
    )
    assert assertion.auth_data.counter == sig.counter + 1


def test_u2f_key_handle_answers_ctap2(device, ctap1):
    reg = ctap1.register(client_param(), APP_PARAM)
    ctap2 = Ctap2(device)
    cdh = client_param()
    assertion = ctap2.get_assertion(RP_ID, cdh, [{"type": "public-key", "id": reg.key_handle}])
    assert assertion.credential["id"] == reg.key_handle
    assert assertion.auth_data.rp_id_hash == APP_PARAM
    assert assertion.auth_data.is_user_present()
    ES256.from_ctap1(reg.public_key).verify(bytes(assertion.auth_data) + cdh, assertion.signature)
    sig = ctap1.authenticate(client_param(), APP_PARAM, reg.key_handle)
    assert sig.counter == assertion.auth_data.counter + 1


# ---------------------------------------------------------------- user presence


@pytest.mark.parametrize("daemon", [["--presence", "deny"]], indirect=True)
def test_presence_denied(ctap1):
    started = time.monotonic()
    with pytest.raises(ApduError) as e:
        ctap1.register(client_param(), APP_PARAM)
    assert e.value.code == APDU.USE_NOT_SATISFIED
    assert time.monotonic() - started < 2.0, "answered promptly, U2F clients poll"
    # A bad key handle is still a bad key handle, and version needs no touch.
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(client_param(), APP_PARAM, os.urandom(63))
    assert e.value.code == APDU.WRONG_DATA
    assert ctap1.get_version() == "U2F_V2"


@pytest.mark.parametrize("daemon", [["--presence", "delay:700"]], indirect=True)
def test_presence_delay_is_polled(ctap1):
    """With delay:MS the user touches MS after the first request of a polling
    run; every request before that is answered "not yet" at once."""
    client = client_param()
    started = time.monotonic()
    reg, tries = poll(lambda: ctap1.register(client, APP_PARAM))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.7
    assert tries > 3, "answered promptly, and polled"
    reg.verify(APP_PARAM, client)

    client = client_param()
    sig, tries = poll(lambda: ctap1.authenticate(client, APP_PARAM, reg.key_handle))
    assert tries > 3
    sig.verify(APP_PARAM, client, reg.public_key)
    # check-only needs no touch.
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(client_param(), APP_PARAM, reg.key_handle, check_only=True)
    assert e.value.code == APDU.USE_NOT_SATISFIED
