"""End-to-end WebAuthn tests: python-fido2 2.x client and server against fidosim over UDP."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fido2.attestation import (
    AttestationResult,
    AttestationType,
    AttestationVerifier,
    NoneAttestation,
    PackedAttestation,
    UntrustedAttestation,
)
from fido2.client import (
    ClientError,
    DefaultClientDataCollector,
    Fido2Client,
    UserInteraction,
)
from fido2.cose import EdDSA, ES256
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.hid import CAPABILITY
from fido2.server import Fido2Server
from fido2.webauthn import (
    Aaguid,
    AttestedCredentialData,
    AuthenticatorData,
    PublicKeyCredentialParameters,
    PublicKeyCredentialType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from fidosim_udp import open_udp_device

ORIGIN = "https://example.com"

RP = {"id": "example.com", "name": "Example"}
RP_ID_HASH = hashlib.sha256(b"example.com").digest()
AAGUID = Aaguid.parse("f1d0f1d0-5eed-4b1d-a7e5-000000000001")
OID_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")

ALGS = {"es256": ES256.ALGORITHM, "eddsa": EdDSA.ALGORITHM}  # -7, -8
assert ALGS == {"es256": -7, "eddsa": -8}

FLAG_UP = AuthenticatorData.FLAG.UP
FLAG_UV = AuthenticatorData.FLAG.UV
FLAG_AT = AuthenticatorData.FLAG.AT

DISCOURAGED = UserVerificationRequirement.DISCOURAGED
REQUIRED = UserVerificationRequirement.REQUIRED
PREFERRED = UserVerificationRequirement.PREFERRED


# ---------------------------------------------------------------- helpers


def load_ca(ca_pem_path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(ca_pem_path).read_bytes())


class CaVerifier(AttestationVerifier):
    """Trusts only the CA that the daemon wrote with --write-ca; records results."""

    def __init__(self, ca_pem_path: Path):
        super().__init__([PackedAttestation(), NoneAttestation()])
        self.ca_der = load_ca(ca_pem_path).public_bytes(serialization.Encoding.DER)
        self.results: list[AttestationResult] = []

    def ca_lookup(self, attestation_result, auth_data):
        self.results.append(attestation_result)
        return self.ca_der


def make_server(daemon, alg: int | None = None) -> tuple[Fido2Server, CaVerifier]:
    verifier = CaVerifier(daemon.ca_pem_path)
    server = Fido2Server(RP, attestation="direct", verify_attestation=verifier)
    if alg is not None:
        # Offer exactly one algorithm in pubKeyCredParams.
        server.allowed_algorithms = [
            PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)
        ]
    return server, verifier


def new_user(name: str = "alice") -> dict:
    return {"id": os.urandom(16), "name": name, "displayName": name.title()}


@dataclass
class Registration:
    user: dict
    response: object  # RegistrationResponse
    auth_data: AuthenticatorData  # as returned by register_complete
    cred: AttestedCredentialData


def register(
    client: Fido2Client,
    server: Fido2Server,
    user: dict | None = None,
    *,
    rk: bool = False,
    uv=DISCOURAGED,
    exclude=None,
) -> Registration:
    user = user or new_user()
    options, state = server.register_begin(
        user,
        credentials=exclude,
        resident_key_requirement=(
            ResidentKeyRequirement.REQUIRED if rk else ResidentKeyRequirement.DISCOURAGED
        ),
        user_verification=uv,
    )
    response = client.make_credential(options.public_key)
    # register_complete raises on a bad origin/challenge/RP ID hash/UP/UV or attestation.
    auth_data = server.register_complete(state, response)
    assert auth_data.credential_data is not None
    return Registration(user, response, auth_data, auth_data.credential_data)


def authenticate(client, server, reg: Registration | None, *, uv=DISCOURAGED, expected_creds=None):
    """Authenticate; reg=None for a username-less request (empty allow list)."""
    options, state = server.authenticate_begin(
        [reg.cred] if reg is not None else None, user_verification=uv
    )
    if reg is not None:
        assert options.public_key.allow_credentials
    else:
        assert not options.public_key.allow_credentials
    selection = client.get_assertion(options.public_key)
    response = selection.get_response(0)
    creds = expected_creds or [reg.cred]
    matched = server.authenticate_complete(state, creds, response)
    return selection, response, matched


def verify_assertion_signature(cred: AttestedCredentialData, response) -> None:
    """Check the assertion signature ourselves, over authData || SHA-256(clientDataJSON)."""
    auth_data = bytes(response.response.authenticator_data)
    client_data_json = bytes(response.response.client_data)
    signed = auth_data + hashlib.sha256(client_data_json).digest()
    signature = bytes(response.response.signature)
    cred.public_key.verify(signed, signature)  # raises InvalidSignature
    # And the check is real: a modified message or signature must not verify.
    with pytest.raises(InvalidSignature):
        cred.public_key.verify(signed[:-1] + bytes([signed[-1] ^ 1]), signature)
    with pytest.raises(InvalidSignature):
        cred.public_key.verify(signed, signature[:-1] + bytes([signature[-1] ^ 1]))


def check_packed_batch_attestation(reg: Registration, ca_pem_path: Path, verifier: CaVerifier):
    att_obj = reg.response.response.attestation_object
    client_data = reg.response.response.client_data
    assert att_obj.fmt == "packed"
    stmt = att_obj.att_stmt
    assert set(stmt) == {"alg", "sig", "x5c"}
    assert stmt["alg"] == ES256.ALGORITHM  # the batch key is P-256
    x5c = stmt["x5c"]
    assert len(x5c) == 1, "x5c should hold only the batch certificate"

    # register_complete ran the verifier, which accepted a BASIC (x5c) attestation.
    assert len(verifier.results) == 1
    assert verifier.results[0].attestation_type == AttestationType.BASIC
    assert verifier.results[0].trust_path == x5c

    ca = load_ca(ca_pem_path)
    leaf = x509.load_der_x509_certificate(bytes(x5c[0]))
    assert leaf != ca
    assert leaf.issuer == ca.subject
    # The leaf is signed by the CA (ECDSA with SHA-256 over the TBS certificate).
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    ca.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    # ... and not by the leaf itself (so the previous check means something).
    with pytest.raises(InvalidSignature):
        leaf.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))

    # WebAuthn packed attestation certificate requirements.
    assert leaf.version == x509.Version.v3
    ous = leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert [a.value for a in ous] == ["Authenticator Attestation"]
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ext = leaf.extensions.get_extension_for_oid(OID_AAGUID)
    assert not ext.critical
    der = ext.value.value  # an OCTET STRING holding the 16 AAGUID bytes
    assert der[:2] == b"\x04\x10" and len(der) == 18
    assert der[2:] == bytes(reg.cred.aaguid) == bytes(AAGUID)

    # The attestation signature, with the leaf's key, over authData || clientDataHash.
    leaf_key = ES256.from_cryptography_key(leaf.public_key())
    signed = bytes(att_obj.auth_data) + hashlib.sha256(bytes(client_data)).digest()
    leaf_key.verify(signed, bytes(stmt["sig"]))
    # Not signed with the credential key in batch mode (unless by fluke, impossible).
    if reg.cred.public_key.ALGORITHM == ES256.ALGORITHM:
        with pytest.raises(InvalidSignature):
            reg.cred.public_key.verify(signed, bytes(stmt["sig"]))


# ---------------------------------------------------------------- transport and getInfo


def test_hid_init_and_ping_over_udp(daemon, device):
    assert device.version == 2  # CTAPHID protocol version
    assert CAPABILITY.CBOR.supported(device.capabilities)
    # A ping longer than one report exercises fragmentation both ways.
    payload = os.urandom(300)
    assert device.ping(payload) == payload
    assert device.ping(b"") == b""
    # A second channel on the same daemon gets its own channel id.
    other = open_udp_device(*daemon.addr)
    try:
        assert other._channel_id != device._channel_id
        assert other.ping(b"hi") == b"hi"
    finally:
        other.close()


def test_get_info(device):
    ctap2 = Ctap2(device)
    info = ctap2.get_info()
    assert info.versions == ["U2F_V2", "FIDO_2_0", "FIDO_2_1"]
    assert info.aaguid == AAGUID
    assert info.options.get("rk") is True
    assert info.options.get("up") is True
    assert info.options.get("uv") is True
    # The defaults that keep browsers prompt-free: no PIN set, built-in UV,
    # makeCredUvNotRqd.
    assert info.options.get("clientPin") is False
    assert info.options.get("pinUvAuthToken") is True
    assert info.options.get("makeCredUvNotRqd") is True
    assert info.options.get("alwaysUv") is False
    for option in ("credMgmt", "largeBlobs", "authnrCfg", "setMinPINLength"):
        assert info.options.get(option) is True, option
    assert info.options.get("ep") is False
    assert info.pin_uv_protocols == [2, 1]
    assert info.extensions == [
        "credBlob", "credProtect", "hmac-secret", "hmac-secret-mc", "largeBlobKey", "minPinLength"
    ]
    assert info.min_pin_length == 4
    assert info.force_pin_change is False
    assert info.uv_modality == 2
    assert info.algorithms == [
        {"type": "public-key", "alg": -7},
        {"type": "public-key", "alg": -8},
    ]
    assert info.max_msg_size == 7609
    assert info.transports == ["usb"]

    raw = ctap2.send_cbor(Ctap2.CMD.GET_INFO)
    assert raw[0x03] == bytes(AAGUID)
    assert raw[0x06] == [2, 1]


@pytest.mark.parametrize("daemon", [["--uv", "none"]], indirect=True, ids=["uv-none"])
def test_without_builtin_uv(daemon, device, client):
    info = Ctap2(device).get_info()
    assert not info.options.get("uv")
    server, _ = make_server(daemon, ALGS["es256"])
    # UV required cannot be met: the client refuses.
    with pytest.raises(ClientError) as exc:
        register(client, server, uv=REQUIRED)
    assert exc.value.code == ClientError.ERR.CONFIGURATION_UNSUPPORTED
    # Without UV, registration and authentication work, with UV clear.
    reg = register(client, server, uv=DISCOURAGED)
    assert reg.auth_data.flags & FLAG_UP and not reg.auth_data.flags & FLAG_UV
    _, response, _ = authenticate(client, server, reg, uv=DISCOURAGED)
    assert not response.response.authenticator_data.flags & FLAG_UV


# ---------------------------------------------------------------- register and authenticate


@pytest.mark.parametrize(
    "uv", [DISCOURAGED, PREFERRED, REQUIRED], ids=["uv-discouraged", "uv-preferred", "uv-required"]
)
@pytest.mark.parametrize("rk", [False, True], ids=["non-discoverable", "discoverable"])
@pytest.mark.parametrize("alg_name", ["es256", "eddsa"])
def test_register_and_authenticate(daemon, client, alg_name, rk, uv):
    alg = ALGS[alg_name]
    server, verifier = make_server(daemon, alg)
    user = new_user()
    if rk and uv == DISCOURAGED:
        # A key protected by UV makes discoverable credentials only with UV,
        # even with makeCredUvNotRqd (CTAP 2.1 §6.1.2 step 7). Browsers ask
        # for UV then; python-fido2 2.2.1 does not, so the key refuses.
        with pytest.raises(ClientError) as exc:
            register(client, server, user, rk=True, uv=DISCOURAGED)
        assert exc.value.cause.code == CtapError.ERR.OPERATION_DENIED
        return
    reg = register(client, server, user, rk=rk, uv=uv)

    # Registration authenticator data.
    ad = reg.auth_data
    assert ad.rp_id_hash == RP_ID_HASH
    assert ad.flags & FLAG_UP
    assert ad.flags & FLAG_AT
    # makeCredUvNotRqd: a non-discoverable credential is made without UV
    # unless the RP asks for it; a discoverable one always needs UV on a
    # device protected by UV (CTAP 2.1 §6.1.2 step 7).
    if rk or uv != DISCOURAGED:
        assert ad.flags & FLAG_UV
    else:
        assert not ad.flags & FLAG_UV
    assert reg.cred.aaguid == AAGUID
    assert reg.response.raw_id == reg.cred.credential_id
    assert reg.cred.public_key.ALGORITHM == alg
    assert reg.cred.public_key[3] == alg
    assert isinstance(reg.cred.public_key, ES256 if alg == -7 else EdDSA)
    check_packed_batch_attestation(reg, daemon.ca_pem_path, verifier)

    # Authentication.
    if rk:
        selection, response, matched = authenticate(client, server, None, uv=uv, expected_creds=[reg.cred])
        assertions = selection.get_assertions()
        assert len(assertions) == 1, "only one discoverable credential exists for the RP"
        assert assertions[0].user["id"] == user["id"]
        assert response.response.user_handle == user["id"]
    else:
        selection, response, matched = authenticate(client, server, reg, uv=uv)
        if response.response.user_handle is not None:
            assert response.response.user_handle == user["id"]
    assert matched.credential_id == reg.cred.credential_id
    assert response.raw_id == reg.cred.credential_id

    ad = response.response.authenticator_data
    assert ad.rp_id_hash == RP_ID_HASH
    assert ad.flags & FLAG_UP
    assert not ad.flags & FLAG_AT
    if uv != DISCOURAGED:
        assert ad.flags & FLAG_UV
    else:
        assert not ad.flags & FLAG_UV, "UV flag set although UV was not requested"
    verify_assertion_signature(reg.cred, response)


@pytest.mark.parametrize("daemon", [["--account-choice", "platform"]], indirect=True, ids=["platform"])
def test_discoverable_credentials_of_two_users(daemon, client):
    """Username-less authentication, the platform choosing: every discoverable
    credential of the RP comes back (numberOfCredentials, getNextAssertion)."""
    server, _ = make_server(daemon, ALGS["es256"])
    alice = register(client, server, new_user("alice"), rk=True, uv=PREFERRED)
    bob = register(client, server, new_user("bob"), rk=True, uv=PREFERRED)
    register(client, server, new_user("carol"), rk=False)  # not discoverable
    other = Fido2Server({"id": "example.com", "name": "Example"}, attestation="none")
    selection, response, _ = authenticate(
        client, other, None, expected_creds=[alice.cred, bob.cred]
    )
    assertions = selection.get_assertions()
    assert len(assertions) == 2
    by_id = {a.credential["id"]: a.user["id"] for a in assertions}
    assert by_id == {
        alice.cred.credential_id: alice.user["id"],
        bob.cred.credential_id: bob.user["id"],
    }
    creds = {alice.cred.credential_id: alice.cred, bob.cred.credential_id: bob.cred}
    for i in range(2):
        r = selection.get_response(i)
        verify_assertion_signature(creds[r.raw_id], r)


def test_the_key_picks_the_newest_of_two_users_by_default(daemon, client):
    """Username-less authentication with the default account choice: the key
    answers with the newest credential alone, marked userSelected."""
    server, _ = make_server(daemon, ALGS["es256"])
    register(client, server, new_user("alice"), rk=True, uv=PREFERRED)
    bob = register(client, server, new_user("bob"), rk=True, uv=PREFERRED)
    selection, response, _ = authenticate(client, server, None, expected_creds=[bob.cred])
    assertions = selection.get_assertions()
    assert len(assertions) == 1
    assert assertions[0].credential["id"] == bob.cred.credential_id
    assert assertions[0].user_selected is True
    assert assertions[0].number_of_credentials is None
    assert assertions[0].user == {"id": bob.user["id"]}
    verify_assertion_signature(bob.cred, response)


def test_rig_helper_changes_the_account_choice(fidosim_factory, tmp_path):
    """tests/rigs/fidosim_control.py's set_account_choice, against a running key."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rigs"))
    from fidosim_control import Fidosim

    sock = tmp_path / "control.sock"
    daemon = fidosim_factory("--control-socket", str(sock))
    device = open_udp_device(*daemon.addr)
    try:
        client = Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN))
        server, _ = make_server(daemon, ALGS["es256"])
        alice = register(client, server, new_user("alice"), rk=True, uv=PREFERRED)
        bob = register(client, server, new_user("bob"), rk=True, uv=PREFERRED)
        control = Fidosim(str(sock))
        events = control.follow()
        try:
            assert control.set_account_choice("platform")["accountChoice"] == "platform"
            assert events.next("account.choice", timeout=10)["accountChoice"] == "platform"
            selection, _, _ = authenticate(
                client, server, None, expected_creds=[alice.cred, bob.cred]
            )
            assert len(selection.get_assertions()) == 2

            handle = base64.urlsafe_b64encode(alice.user["id"]).decode().rstrip("=")
            answer = control.set_account_choice(f"user:{handle}")
            assert answer["accountChoice"] == f"user:{handle},newest"
            selection, _, _ = authenticate(client, server, None, expected_creds=[alice.cred])
            (only,) = selection.get_assertions()
            assert only.credential["id"] == alice.cred.credential_id
            chosen = events.next("account.chosen", lambda e: e["outcome"] == "chosen", timeout=10)
            assert chosen["reason"] == "user-handle"
            assert chosen["userHandle"] == base64.b64encode(alice.user["id"]).decode()

            with pytest.raises(RuntimeError, match="accountChoice: `oldest`"):
                control.set_account_choice("oldest")
            assert control.request("GET", "")["accountChoice"] == f"user:{handle},newest"
        finally:
            events.close()
    finally:
        device.close()


def test_signature_counter_increments(daemon, client):
    """Per-credential counter: +1 for each getAssertion of the credential."""
    server, _ = make_server(daemon, ALGS["es256"])
    reg = register(client, server, rk=True, uv=PREFERRED)
    # Username-less requests: one getAssertion per authentication.
    _, first, _ = authenticate(client, server, None, expected_creds=[reg.cred])
    _, second, _ = authenticate(client, server, None, expected_creds=[reg.cred])
    c0 = reg.auth_data.counter
    c1 = first.response.authenticator_data.counter
    c2 = second.response.authenticator_data.counter
    assert c1 > c0
    assert c2 == c1 + 1
    verify_assertion_signature(reg.cred, second)
    # With an allow list, python-fido2 first probes the list with a silent
    # (up=false) getAssertion, which also counts: the counter still only grows.
    _, third, _ = authenticate(client, server, reg)
    c3 = third.response.authenticator_data.counter
    assert c3 > c2
    # Another credential's counter is independent.
    other = register(client, server)
    _, fourth, _ = authenticate(client, server, None, expected_creds=[reg.cred])
    assert fourth.response.authenticator_data.counter == c3 + 1
    _, o1, _ = authenticate(client, server, other)
    assert o1.response.authenticator_data.counter < fourth.response.authenticator_data.counter


def test_signature_counter_ctap2(device):
    """Two getAssertion requests of the same credential: counter + 1."""
    ctap2 = Ctap2(device)
    made = ctap2.make_credential(
        os.urandom(32),
        {"id": "example.com", "name": "Example"},
        {"id": b"user-1", "name": "alice"},
        [{"type": "public-key", "alg": -8}],
    )
    cred = made.auth_data.credential_data
    allow = [{"type": "public-key", "id": cred.credential_id}]
    counters = []
    for _ in range(3):
        cdh = os.urandom(32)
        a = ctap2.get_assertion("example.com", cdh, allow)
        cred.public_key.verify(bytes(a.auth_data) + cdh, a.signature)
        counters.append(a.auth_data.counter)
    assert counters[0] > made.auth_data.counter
    assert counters[1] == counters[0] + 1
    assert counters[2] == counters[1] + 1


def test_ctap2_flags_follow_options(device):
    """At the CTAP level, UP and UV are set exactly as requested."""
    ctap2 = Ctap2(device)
    rp = {"id": "example.com", "name": "Example"}
    user = {"id": b"user-1", "name": "alice"}
    params = [{"type": "public-key", "alg": -7}]

    plain = ctap2.make_credential(os.urandom(32), rp, user, params)
    assert plain.fmt == "packed"
    assert plain.auth_data.flags & FLAG_UP
    assert not plain.auth_data.flags & FLAG_UV
    verified = ctap2.make_credential(os.urandom(32), rp, user, params, options={"uv": True})
    assert verified.auth_data.flags & FLAG_UP
    assert verified.auth_data.flags & FLAG_UV

    cred = plain.auth_data.credential_data
    allow = [{"type": "public-key", "id": cred.credential_id}]
    for options, up, uv in (
        (None, True, False),
        ({"uv": True}, True, True),
        ({"up": False}, False, False),
    ):
        cdh = os.urandom(32)
        a = ctap2.get_assertion("example.com", cdh, allow, options=options)
        assert bool(a.auth_data.flags & FLAG_UP) == up, options
        assert bool(a.auth_data.flags & FLAG_UV) == uv, options
        cred.public_key.verify(bytes(a.auth_data) + cdh, a.signature)

    # An unknown credential: NO_CREDENTIALS.
    with pytest.raises(CtapError) as exc:
        ctap2.get_assertion(
            "example.com", os.urandom(32), [{"type": "public-key", "id": os.urandom(40)}]
        )
    assert exc.value.code == CtapError.ERR.NO_CREDENTIALS


# ---------------------------------------------------------------- attestation formats


@pytest.mark.parametrize("daemon", [["--attestation", "self"]], indirect=True, ids=["self"])
@pytest.mark.parametrize("alg_name", ["es256", "eddsa"])
def test_self_attestation(daemon, client, alg_name):
    alg = ALGS[alg_name]
    server, verifier = make_server(daemon, alg)
    reg = register(client, server)
    att_obj = reg.response.response.attestation_object
    assert att_obj.fmt == "packed"
    assert set(att_obj.att_stmt) == {"alg", "sig"}, "self attestation has no x5c"
    assert att_obj.att_stmt["alg"] == alg == reg.cred.public_key.ALGORITHM
    assert verifier.results[0].attestation_type == AttestationType.SELF
    # Signed with the credential's own key.
    client_data = reg.response.response.client_data
    signed = bytes(att_obj.auth_data) + hashlib.sha256(bytes(client_data)).digest()
    reg.cred.public_key.verify(signed, bytes(att_obj.att_stmt["sig"]))
    with pytest.raises(InvalidSignature):
        reg.cred.public_key.verify(signed + b"x", bytes(att_obj.att_stmt["sig"]))
    _, response, _ = authenticate(client, server, reg)
    verify_assertion_signature(reg.cred, response)


@pytest.mark.parametrize("daemon", [["--attestation", "none"]], indirect=True, ids=["none"])
def test_none_attestation(daemon, client):
    server, verifier = make_server(daemon, ALGS["es256"])
    reg = register(client, server)
    att_obj = reg.response.response.attestation_object
    assert att_obj.fmt == "none"
    assert att_obj.att_stmt == {}
    assert verifier.results[0].attestation_type == AttestationType.NONE
    _, response, _ = authenticate(client, server, reg)
    verify_assertion_signature(reg.cred, response)


def test_attestation_from_another_ca_is_rejected(daemon, fidosim_factory, client):
    """The trust check is real: a different daemon's CA does not validate this batch cert."""
    other = fidosim_factory()
    assert load_ca(other.ca_pem_path) != load_ca(daemon.ca_pem_path)
    verifier = CaVerifier(other.ca_pem_path)
    server = Fido2Server(RP, attestation="direct", verify_attestation=verifier)
    options, state = server.register_begin(new_user())
    response = client.make_credential(options.public_key)
    with pytest.raises(UntrustedAttestation):
        server.register_complete(state, response)
    # The same response is accepted with the right CA.
    verifier = CaVerifier(daemon.ca_pem_path)
    server._verify_attestation = verifier
    assert server.register_complete(state, response).credential_data is not None
    assert verifier.results[0].attestation_type == AttestationType.BASIC


# ---------------------------------------------------------------- errors and user presence


@pytest.mark.parametrize("daemon", [["--presence", "deny"]], indirect=True, ids=["deny"])
def test_presence_denied(daemon, client):
    server, _ = make_server(daemon, ALGS["es256"])
    options, _ = server.register_begin(new_user())
    with pytest.raises(ClientError) as exc:
        client.make_credential(options.public_key)
    cause = exc.value.cause
    assert isinstance(cause, CtapError), repr(exc.value)
    assert cause.code == CtapError.ERR.OPERATION_DENIED == 0x27
    assert exc.value.code == ClientError.ERR.BAD_REQUEST


class CountingInteraction(UserInteraction):
    def __init__(self):
        self.prompts = 0

    def prompt_up(self):
        self.prompts += 1


@pytest.mark.parametrize("daemon", [["--presence", "delay:300"]], indirect=True, ids=["delay300"])
def test_presence_delay_sends_keepalives(daemon, device):
    interaction = CountingInteraction()
    client = Fido2Client(device, DefaultClientDataCollector(ORIGIN), user_interaction=interaction)
    server, _ = make_server(daemon, ALGS["eddsa"])
    start = time.monotonic()
    reg = register(client, server)
    assert time.monotonic() - start >= 0.25
    assert interaction.prompts >= 1, "no KEEPALIVE(UPNEEDED) while waiting for the touch"
    assert reg.auth_data.flags & FLAG_UP


def test_exclude_list(daemon, client):
    server, _ = make_server(daemon, ALGS["es256"])
    user = new_user()
    reg = register(client, server, user)
    options, _ = server.register_begin(user, credentials=[reg.cred])
    assert [d.id for d in options.public_key.exclude_credentials] == [reg.cred.credential_id]
    with pytest.raises(ClientError) as exc:
        client.make_credential(options.public_key)
    assert exc.value.code == ClientError.ERR.DEVICE_INELIGIBLE
    assert isinstance(exc.value.cause, CtapError)
    assert exc.value.cause.code == CtapError.ERR.CREDENTIAL_EXCLUDED == 0x19
    # An unrelated credential in the exclude list does not prevent registration.
    options, state = server.register_begin(
        new_user("bob"),
        credentials=[{"type": "public-key", "id": os.urandom(len(reg.cred.credential_id))}],
    )
    response = client.make_credential(options.public_key)
    assert server.register_complete(state, response).credential_data is not None


@pytest.mark.parametrize("daemon", [["--algorithms", "eddsa"]], indirect=True, ids=["eddsa-only"])
def test_unsupported_algorithm(daemon, device, client):
    assert Ctap2(device).get_info().algorithms == [{"type": "public-key", "alg": -8}]
    server, _ = make_server(daemon, ALGS["es256"])
    options, _ = server.register_begin(new_user())
    with pytest.raises(ClientError) as exc:
        client.make_credential(options.public_key)
    assert exc.value.code == ClientError.ERR.CONFIGURATION_UNSUPPORTED
    assert exc.value.cause.code == CtapError.ERR.UNSUPPORTED_ALGORITHM
    # With both offered, the authenticator picks the one it supports.
    server, _ = make_server(daemon)
    server.allowed_algorithms = [
        PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=a) for a in (-7, -8)
    ]
    reg = register(client, server)
    assert reg.cred.public_key.ALGORITHM == -8


@pytest.mark.parametrize("daemon", [["--uv", "fail"]], indirect=True, ids=["uv-fail"])
def test_builtin_uv_failure(daemon, device, client):
    server, _ = make_server(daemon, ALGS["es256"])
    options, _ = server.register_begin(new_user(), user_verification=REQUIRED)
    with pytest.raises(ClientError) as exc:
        client.make_credential(options.public_key)
    assert isinstance(exc.value.cause, CtapError), repr(exc.value)
    # python-fido2 asks for a UV token (getPinUvAuthTokenUsingUvWithPermissions),
    # which fails with UV_INVALID (CTAP 2.1 §6.5.5.7.3).
    assert exc.value.cause.code == CtapError.ERR.UV_INVALID
    # Without UV the same authenticator registers fine (UP only).
    made = Ctap2(device).make_credential(
        os.urandom(32), RP, {"id": b"u", "name": "u"}, [{"type": "public-key", "alg": -7}]
    )
    assert made.auth_data.flags & FLAG_UP and not made.auth_data.flags & FLAG_UV


# ---------------------------------------------------------------- defaults


def test_uv_required_uses_the_builtin_uv_token(daemon, client):
    """UV "required" goes through getPinUvAuthTokenUsingUvWithPermissions
    (no PIN is set), and "discouraged" registers without UV."""
    server, _ = make_server(daemon, ALGS["es256"])
    reg = register(client, server, uv=DISCOURAGED)
    assert reg.auth_data.flags & FLAG_UP and not reg.auth_data.flags & FLAG_UV
    reg = register(client, server, uv=REQUIRED)
    assert reg.auth_data.flags & FLAG_UV
    log = "".join(daemon.process.log_lines)
    assert 'command="clientPIN"' in log, "the UV token came from authenticatorClientPIN"
