"""Every credential algorithm through python-fido2 over UDP.

One daemon offers all the algorithms this build implements (``--algorithms``)
with packed self attestation, so each registration is signed by the new
credential's own key (WebAuthn §8.2). python-fido2's COSE classes check the
key's fields (kty, crv) and verify the signatures with ``cryptography``; the
server verifies the attestation and the assertion too.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from fido2 import cose
from fido2.attestation import AttestationType, AttestationVerifier, PackedAttestation
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.server import Fido2Server
from fido2.webauthn import (
    PublicKeyCredentialParameters,
    PublicKeyCredentialType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

RP = {"id": "example.com", "name": "Example"}

# fidosim's name -> (COSE algorithm, python-fido2's class, COSE key type,
# crv, or for AKP keys (RFC 9964) the length of the FIPS 204 public key in -1).
# cryptography verifies every one, ML-DSA through its mldsa module (46+).
ALGORITHMS = {
    "es256": (-7, cose.ES256, 2, 1),
    "eddsa": (-8, cose.EdDSA, 1, 6),
    "es384": (-35, cose.ES384, 2, 2),
    "es512": (-36, cose.ES512, 2, 3),
    "es256k": (-47, cose.ES256K, 2, 8),
    "mldsa44": (-48, cose.MLDSA44, 7, 1312),
    "mldsa65": (-49, cose.MLDSA65, 7, 1952),
    "mldsa87": (-50, cose.MLDSA87, 7, 2592),
}
ALL = ",".join(ALGORITHMS)


class _Recorder(AttestationVerifier):
    """Verifies the statement's signature (python-fido2's packed format);
    records the result. Self attestation has no chain, so the root it
    returns (the daemon's CA) is never used."""

    def __init__(self, ca_pem_path: Path):
        super().__init__([PackedAttestation()])
        self.ca_der = x509.load_pem_x509_certificate(Path(ca_pem_path).read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        self.results = []

    def ca_lookup(self, attestation_result, auth_data):
        self.results.append(attestation_result)
        return self.ca_der


def _server(daemon, alg: int):
    verifier = _Recorder(daemon.ca_pem_path)
    server = Fido2Server(RP, attestation="direct", verify_attestation=verifier)
    server.allowed_algorithms = [
        PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)
    ]
    return server, verifier


@pytest.mark.parametrize("daemon", [["--algorithms", ALL, "--attestation", "self"]], indirect=True)
@pytest.mark.parametrize("rk", [False, True], ids=["non-discoverable", "discoverable"])
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_register_and_assert_with_each_algorithm(daemon, client, name, rk):
    alg, cls, kty, crv = ALGORITHMS[name]
    server, verifier = _server(daemon, alg)
    user = {"id": os.urandom(16), "name": "alice", "displayName": "Alice"}
    options, state = server.register_begin(
        user,
        resident_key_requirement=(
            ResidentKeyRequirement.REQUIRED if rk else ResidentKeyRequirement.DISCOURAGED
        ),
        user_verification=(
            UserVerificationRequirement.REQUIRED if rk else UserVerificationRequirement.DISCOURAGED
        ),
    )
    response = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, response)  # verifies the self attestation
    assert verifier.results[0].attestation_type == AttestationType.SELF
    cred = auth_data.credential_data
    assert isinstance(cred.public_key, cls)
    assert cred.public_key[1] == kty and cred.public_key[3] == alg
    if kty == 7:
        assert len(cred.public_key[-1]) == crv
    else:
        assert cred.public_key[-1] == crv

    # The attestation signature, checked here too (and a bad one refused).
    att = response.response.attestation_object
    assert att.att_stmt["alg"] == alg and "x5c" not in att.att_stmt
    signed = bytes(att.auth_data) + hashlib.sha256(bytes(response.response.client_data)).digest()
    cred.public_key.verify(signed, bytes(att.att_stmt["sig"]))
    with pytest.raises(InvalidSignature):
        cred.public_key.verify(signed + b"x", bytes(att.att_stmt["sig"]))

    # An assertion, by credential ID or (discoverable) without an allow list.
    req, state = server.authenticate_begin(
        None if rk else [cred],
        user_verification=(
            UserVerificationRequirement.REQUIRED if rk else UserVerificationRequirement.DISCOURAGED
        ),
    )
    assertion = client.get_assertion(req.public_key).get_response(0)
    server.authenticate_complete(state, [cred], assertion)
    signed = bytes(assertion.response.authenticator_data) + hashlib.sha256(
        bytes(assertion.response.client_data)
    ).digest()
    cred.public_key.verify(signed, bytes(assertion.response.signature))
    with pytest.raises(InvalidSignature):
        cred.public_key.verify(signed[:-1] + bytes([signed[-1] ^ 1]), bytes(assertion.response.signature))


@pytest.mark.parametrize("daemon", [["--algorithms", ALL]], indirect=True)
def test_get_info_lists_exactly_the_configured_algorithms(device):
    info = Ctap2(device).info
    assert [a["alg"] for a in info.algorithms] == [a for a, *_ in ALGORITHMS.values()]
    assert all(a["type"] == "public-key" for a in info.algorithms)


def test_the_default_is_es256_and_eddsa_and_others_are_refused(device):
    ctap2 = Ctap2(device)
    assert [a["alg"] for a in ctap2.info.algorithms] == [-7, -8]
    for alg in (-35, -36, -47, -48, -49, -50):
        with pytest.raises(CtapError) as exc:
            ctap2.make_credential(
                os.urandom(32),
                RP,
                {"id": b"u", "name": "u"},
                [{"type": "public-key", "alg": alg}],
            )
        assert exc.value.code == CtapError.ERR.UNSUPPORTED_ALGORITHM


@pytest.mark.parametrize("daemon", [["--algorithms", "es384,es256k"]], indirect=True)
def test_the_first_of_the_rps_choices_the_key_supports(device):
    """CTAP 2.1 §6.1.2 step 3: the RP's order, not the key's."""
    ctap2 = Ctap2(device)
    made = ctap2.make_credential(
        os.urandom(32),
        RP,
        {"id": b"u", "name": "u"},
        [{"type": "public-key", "alg": a} for a in (-7, -47, -35)],
    )
    cred = made.auth_data.credential_data
    assert isinstance(cred.public_key, cose.ES256K)


def test_an_unknown_algorithm_name_is_refused(fidosim_factory):
    with pytest.raises(RuntimeError, match="unknown algorithm `rs1024`"):
        fidosim_factory("--algorithms", "es256,rs1024")

