"""CTAP 2.1 features through python-fido2's own classes, against fidosim over UDP:
ClientPin (both PIN/UV auth protocols), CredentialManagement, Config, LargeBlobs,
and the hmac-secret (prf), credProtect, credBlob and minPinLength extensions."""

from __future__ import annotations

import os

import pytest
from cryptography import x509
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.blob import LargeBlobs
from fido2.ctap2.config import Config
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.server import Fido2Server
from fido2.utils import websafe_decode
from fido2.webauthn import (
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

ORIGIN = "https://example.com"
RP = {"id": "example.com", "name": "Example"}
PIN = "4321"
PROTOCOLS = [PinProtocolV1, PinProtocolV2]
P = ClientPin.PERMISSION


class PinEntry(UserInteraction):
    """Types the PIN when the client asks for it."""

    def __init__(self, pin: str = PIN):
        self.pin = pin
        self.asked = 0

    def request_pin(self, permissions, rp_id):
        self.asked += 1
        return self.pin

    def request_uv(self, permissions, rp_id):
        return True


def client_for(device, interaction=None) -> Fido2Client:
    return Fido2Client(
        device,
        client_data_collector=DefaultClientDataCollector(ORIGIN),
        user_interaction=interaction or PinEntry(),
    )


def user(name: str) -> dict:
    return {"id": os.urandom(16), "name": name, "displayName": name.title()}


def create(client, name="alice", *, rk=True, uv="preferred", extensions=None):
    server = Fido2Server(RP, attestation="none")
    options, state = server.register_begin(
        user(name),
        resident_key_requirement=(
            ResidentKeyRequirement.REQUIRED if rk else ResidentKeyRequirement.DISCOURAGED
        ),
        user_verification=UserVerificationRequirement(uv),
        extensions=extensions,
    )
    response = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, response)
    return response, auth_data


def get(client, cred_ids=None, *, uv="preferred", extensions=None):
    server = Fido2Server(RP, attestation="none")
    allow = [
        PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=i)
        for i in cred_ids or []
    ]
    options, _ = server.authenticate_begin(
        allow or None, user_verification=UserVerificationRequirement(uv), extensions=extensions
    )
    return client.get_assertion(options.public_key).get_response(0)


# ------------------------------------------------------------------ ClientPin


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_client_pin_set_change_and_retries(device, protocol):
    ctap = Ctap2(device)
    pin = ClientPin(ctap, protocol())
    assert pin.get_pin_retries()[0] == 8
    pin.set_pin(PIN)
    assert ctap.get_info().options["clientPin"] is True
    token = pin.get_pin_token(PIN, P.MAKE_CREDENTIAL | P.GET_ASSERTION, "example.com")
    assert len(token) == 32
    # A wrong PIN costs a retry and is PIN_INVALID; the right one restores them.
    with pytest.raises(CtapError) as exc:
        pin.get_pin_token("0000", P.GET_ASSERTION)
    assert exc.value.code == CtapError.ERR.PIN_INVALID
    assert pin.get_pin_retries()[0] == 7
    pin.get_pin_token(PIN, P.GET_ASSERTION)
    assert pin.get_pin_retries()[0] == 8
    # changePIN needs the current PIN.
    pin.change_pin(PIN, "98765")
    with pytest.raises(CtapError) as exc:
        pin.get_pin_token(PIN, P.GET_ASSERTION)
    assert exc.value.code == CtapError.ERR.PIN_INVALID
    pin.get_pin_token("98765", P.GET_ASSERTION)
    # Setting a PIN twice is refused.
    with pytest.raises(CtapError) as exc:
        pin.set_pin(PIN)
    assert exc.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_three_wrong_pins_need_a_replug(device):
    pin = ClientPin(Ctap2(device))
    pin.set_pin(PIN)
    codes = []
    for _ in range(3):
        with pytest.raises(CtapError) as exc:
            pin.get_pin_token("0000", P.GET_ASSERTION)
        codes.append(exc.value.code)
    assert codes == [CtapError.ERR.PIN_INVALID, CtapError.ERR.PIN_INVALID, CtapError.ERR.PIN_AUTH_BLOCKED]
    retries, power_cycle = pin.get_pin_retries()
    assert retries == 5 and power_cycle
    with pytest.raises(CtapError) as exc:
        pin.get_pin_token(PIN, P.GET_ASSERTION)
    assert exc.value.code == CtapError.ERR.PIN_AUTH_BLOCKED


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=["v1", "v2"])
def test_builtin_uv_token(device, protocol):
    pin = ClientPin(Ctap2(device), protocol())
    assert pin.get_uv_retries() == 5
    token = pin.get_uv_token(P.MAKE_CREDENTIAL, "example.com")
    assert len(token) == 32


@pytest.mark.parametrize("daemon", [["--pin", PIN, "--uv", "none"]], indirect=True, ids=["pin"])
def test_client_with_a_pin_set(daemon, device):
    """With a PIN set (and no built-in UV) the key behaves like a real key with
    a PIN: the client asks for it, and the credential is user-verified."""
    interaction = PinEntry()
    client = client_for(device, interaction)
    response, auth_data = create(client, uv="required")
    assert interaction.asked >= 1
    assert auth_data.is_user_verified()
    assertion = get(client, [response.raw_id], uv="required")
    assert assertion.response.authenticator_data.is_user_verified()
    # A wrong PIN is refused.
    with pytest.raises(ClientError) as exc:
        create(client_for(device, PinEntry("0000")), uv="required")
    assert exc.value.cause.code == CtapError.ERR.PIN_INVALID


# ------------------------------------------------------------------ management


def test_credential_management(device):
    ctap = Ctap2(device)
    client = client_for(device)
    alice, _ = create(client, "alice")
    bob, _ = create(client, "bob")
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN, P.CREDENTIAL_MGMT)
    cm = CredentialManagement(ctap, pin.protocol, token)
    meta = cm.get_metadata()
    assert meta[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 2
    rps = cm.enumerate_rps()
    assert [r[CredentialManagement.RESULT.RP]["id"] for r in rps] == ["example.com"]
    rp_hash = rps[0][CredentialManagement.RESULT.RP_ID_HASH]
    creds = cm.enumerate_creds(rp_hash)
    names = sorted(c[CredentialManagement.RESULT.USER]["name"] for c in creds)
    assert names == ["alice", "bob"]
    by_name = {c[CredentialManagement.RESULT.USER]["name"]: c for c in creds}
    alice_desc = by_name["alice"][CredentialManagement.RESULT.CREDENTIAL_ID]
    assert alice_desc["id"] == alice.raw_id
    # Rename alice, delete bob.
    new_user = PublicKeyCredentialUserEntity(
        id=by_name["alice"][CredentialManagement.RESULT.USER]["id"], name="alice2", display_name="A2"
    )
    cm.update_user_info(PublicKeyCredentialDescriptor(**by_name["alice"][CredentialManagement.RESULT.CREDENTIAL_ID]), new_user)
    cm.delete_cred(PublicKeyCredentialDescriptor(**by_name["bob"][CredentialManagement.RESULT.CREDENTIAL_ID]))
    creds = cm.enumerate_creds(rp_hash)
    assert [c[CredentialManagement.RESULT.USER]["name"] for c in creds] == ["alice2"]
    assert cm.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 1
    # A token without the cm permission is refused.
    token = pin.get_pin_token(PIN, P.GET_ASSERTION)
    with pytest.raises(CtapError) as exc:
        CredentialManagement(ctap, pin.protocol, token).get_metadata()
    assert exc.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_config_always_uv_and_min_pin_length(device):
    ctap = Ctap2(device)
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    token = pin.get_pin_token(PIN, P.AUTHENTICATOR_CFG)
    config = Config(ctap, pin.protocol, token)
    config.toggle_always_uv()
    assert ctap.get_info().options["alwaysUv"] is True
    config.toggle_always_uv()
    assert ctap.get_info().options["alwaysUv"] is False
    config.set_min_pin_length(min_pin_length=6, rp_ids=["example.com"])
    info = ctap.get_info()
    assert info.min_pin_length == 6
    assert info.force_pin_change is True, "the 4-digit PIN is now too short"
    # The PIN must be changed before it gives tokens again.
    with pytest.raises(CtapError) as exc:
        pin.get_pin_token(PIN, P.GET_ASSERTION)
    assert exc.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
    # getPinToken (0x05, no permissions) answers PIN_INVALID instead
    # (CTAP 2.1 §6.5.5.7.1), with the right PIN, and spends no retry.
    with pytest.raises(CtapError) as exc:
        pin.get_pin_token(PIN)
    assert exc.value.code == CtapError.ERR.PIN_INVALID
    assert pin.get_pin_retries()[0] == 8
    pin.change_pin(PIN, "654321")
    assert ctap.get_info().force_pin_change is False
    # minPinLength is reported to the listed RP.
    client = client_for(device, PinEntry("654321"))
    response, _ = create(client, extensions={"minPinLength": True})
    ext = response.response.attestation_object.auth_data.extensions
    assert ext.get("minPinLength") == 6
    config = Config(ctap, pin.protocol, pin.get_pin_token("654321", P.AUTHENTICATOR_CFG))
    config.enable_enterprise_attestation()
    assert ctap.get_info().options["ep"] is True
    # Platform-managed enterprise attestation (2): a distinct certificate.
    token = pin.get_pin_token("654321", P.MAKE_CREDENTIAL, "example.com")
    cdh = os.urandom(32)
    made = ctap.make_credential(
        cdh, RP, {"id": b"ent", "name": "ent"}, [{"type": "public-key", "alg": -7}],
        enterprise_attestation=2,
        pin_uv_param=pin.protocol.authenticate(token, cdh),
        pin_uv_protocol=pin.protocol.VERSION,
    )
    assert made.ep_att is True
    leaf = x509.load_der_x509_certificate(made.att_stmt["x5c"][0])
    assert "enterprise" in leaf.subject.rfc4514_string()
    plain = ctap.make_credential(
        os.urandom(32), RP, {"id": b"p", "name": "p"}, [{"type": "public-key", "alg": -7}]
    )
    assert not plain.ep_att
    assert plain.att_stmt["x5c"][0] != made.att_stmt["x5c"][0]


def test_large_blobs(device):
    client = client_for(device)
    response, _ = create(client, extensions={"largeBlob": {"support": "required"}})
    assert response.client_extension_results["largeBlob"]["supported"] is True
    data = os.urandom(100)
    written = get(client, [response.raw_id], extensions={"largeBlob": {"write": data}})
    assert written.client_extension_results["largeBlob"]["written"] is True
    read = get(client, [response.raw_id], extensions={"largeBlob": {"read": True}})
    assert websafe_decode(read.client_extension_results["largeBlob"]["blob"]) == data
    # The raw array is readable without a token and ends in its hash.
    entries = LargeBlobs(Ctap2(device)).read_blob_array()
    assert len(entries) == 1


# ------------------------------------------------------------------ extensions


@pytest.mark.parametrize("uv", ["discouraged", "required"])
def test_prf(device, uv):
    client = client_for(device)
    salt_a, salt_b = os.urandom(32), os.urandom(32)
    response, _ = create(client, rk=False, uv=uv, extensions={"prf": {}})
    assert response.client_extension_results["prf"]["enabled"] is True

    def evaluate(first, second=None):
        values = {"first": first} if second is None else {"first": first, "second": second}
        a = get(client, [response.raw_id], uv=uv, extensions={"prf": {"eval": values}})
        return a.client_extension_results["prf"]["results"]

    one = evaluate(salt_a)
    assert len(websafe_decode(one["first"])) == 32
    assert evaluate(salt_a)["first"] == one["first"], "same salt, same secret"
    both = evaluate(salt_a, salt_b)
    assert both["first"] == one["first"] and both["second"] != one["first"]


def test_prf_at_creation_uses_hmac_secret_mc(device):
    client = client_for(device)
    salt = os.urandom(32)
    response, _ = create(client, rk=False, extensions={"prf": {"eval": {"first": salt}}})
    results = response.client_extension_results["prf"]
    assert results["enabled"] is True
    at_create = results["results"]["first"]
    later = get(client, [response.raw_id], extensions={"prf": {"eval": {"first": salt}}})
    assert later.client_extension_results["prf"]["results"]["first"] == at_create


def test_cred_protect_user_verification_required(device):
    client = client_for(device)
    response, auth_data = create(
        client,
        extensions={
            "credentialProtectionPolicy": "userVerificationRequired",
            "enforceCredentialProtectionPolicy": True,
        },
    )
    assert auth_data.extensions.get("credProtect") == 3
    # Without UV the credential does not exist for the platform.
    with pytest.raises(ClientError) as exc:
        get(client, [response.raw_id], uv="discouraged")
    assert exc.value.cause.code == CtapError.ERR.NO_CREDENTIALS
    assert get(client, [response.raw_id], uv="required").raw_id == response.raw_id


def test_cred_blob(device):
    client = client_for(device)
    blob = os.urandom(32)
    response, auth_data = create(client, extensions={"credBlob": blob})
    assert auth_data.extensions.get("credBlob") is True
    a = get(client, [response.raw_id], extensions={"getCredBlob": True})
    assert a.response.authenticator_data.extensions.get("credBlob") == blob


# ------------------------------------------------------ CTAP 2.2 getInfo


def test_ctap22_get_info_members(device):
    ctap = Ctap2(device)
    info = ctap.get_info()
    # "none" is implied and omitted; reset over USB; PINs up to 63 code
    # points; the authenticatorConfig subcommands handled.
    assert info.attestation_formats == ["packed"]
    assert info.transports_for_reset == ["usb"]
    assert info.max_pin_length == 63
    assert info.authenticator_config_commands == [1, 2, 3]
    # No PIN: no count of UV operations since a PIN entry.
    assert info.uv_count_since_pin is None
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    assert ctap.get_info().uv_count_since_pin == 0
    # Built-in UV counts; entering the PIN starts the count again.
    pin.get_uv_token(P.MAKE_CREDENTIAL)
    pin.get_uv_token(P.GET_ASSERTION)
    assert ctap.get_info().uv_count_since_pin == 2
    pin.get_pin_token(PIN, P.MAKE_CREDENTIAL)
    assert ctap.get_info().uv_count_since_pin == 0
