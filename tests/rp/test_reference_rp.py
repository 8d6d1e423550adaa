"""The reference RPs against real ceremonies.

python-fido2 drives a fidosim key over UDP and the responses go to
reference_rp.py processes over HTTP. Every variant accepts a normal
registration and login; each defect scenario is refused by every variant
except the one whose flaw it targets, which shows that each flaw changes
exactly one thing. The RP's own assertion verifier (used by accept-up0 and
skip-signature) is checked against py_webauthn on real responses.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import time

import cbor2
import pytest
import webauthn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap2 import Ctap2
from fido2.rpid import verify_rp_id
from fido2.webauthn import (
    CollectedClientData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse
from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

from conftest import Fidosim, TrustedKey
from reference_rp import FLAWS, VerificationError, verify_assertion

REG_BEGIN = "/auth/passkey/register/begin"
REG_COMPLETE = "/auth/passkey/register/complete"
LOGIN_BEGIN = "/auth/passkey/login/begin"
LOGIN_COMPLETE = "/auth/passkey/login/complete"
EVIL_ORIGIN = "https://evil.example"

VARIANTS = ["correct", *FLAWS]
_names = itertools.count()


def fresh_user() -> str:
    return f"user{next(_names)}"


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


def to_json(response) -> dict:
    """A python-fido2 response as the JSON a browser's toJSON() gives."""
    return json.loads(json.dumps(dict(response)))


def client(device, origin: str, *, any_origin: bool = False) -> Fido2Client:
    """A WebAuthn client for `origin`; any_origin lets it claim an origin the
    RP ID does not belong to (what a compromised or hostile client can do)."""
    verify = (lambda rp_id, origin: True) if any_origin else verify_rp_id
    return Fido2Client(device, client_data_collector=DefaultClientDataCollector(origin, verify=verify))


def register(rp, fido: Fido2Client, username: str):
    """Begin and complete a registration: (completion Response, the credential JSON, user ID)."""
    begin = rp.post(REG_BEGIN, {"username": username})
    assert begin.status == 200, begin
    assert begin.session
    options = PublicKeyCredentialCreationOptions.from_dict(begin.body["publicKey"])
    credential = to_json(fido.make_credential(options))
    done = rp.post(REG_COMPLETE, credential, begin.session)
    return done, credential, begin.body["publicKey"]["user"]["id"]


def login_begin(rp, fido: Fido2Client, username: str):
    """Begin a login and sign it: (the begin Response, the assertion JSON), not yet sent."""
    begin = rp.post(LOGIN_BEGIN, {"username": username})
    assert begin.status == 200, begin
    options = PublicKeyCredentialRequestOptions.from_dict(begin.body["publicKey"])
    return begin, to_json(fido.get_assertion(options).get_response(0))


def login(rp, fido: Fido2Client, username: str):
    begin, assertion = login_begin(rp, fido, username)
    return rp.post(LOGIN_COMPLETE, assertion, begin.session), assertion


def ctap2_assertion(device, rp_id: str, origin: str, challenge: bytes, credential_id: bytes,
                    *, up: bool = True) -> dict:
    """An AuthenticationResponseJSON built from a raw CTAP2 getAssertion.

    With up=False the key signs without asking the user (the CTAP2 silent
    assertion): a validly signed response whose UP flag is clear.
    """
    client_data = CollectedClientData.create(
        type=CollectedClientData.TYPE.GET, challenge=challenge, origin=origin
    )
    result = Ctap2(device).get_assertion(
        rp_id, client_data.hash,
        allow_list=[{"type": "public-key", "id": credential_id}],
        options={"up": up},
    )
    response = {
        "clientDataJSON": b64(bytes(client_data)),
        "authenticatorData": b64(bytes(result.auth_data)),
        "signature": b64(result.signature),
    }
    if result.user and result.user.get("id"):
        response["userHandle"] = b64(result.user["id"])
    return {
        "id": b64(credential_id),
        "rawId": b64(credential_id),
        "type": "public-key",
        "response": response,
        "clientExtensionResults": {},
        "authenticatorAttachment": "cross-platform",
    }


def corrupt_signature(assertion: dict) -> dict:
    sig = bytearray(base64url_to_bytes(assertion["response"]["signature"]))
    sig[-1] ^= 0xFF
    bad = json.loads(json.dumps(assertion))
    bad["response"]["signature"] = b64(bytes(sig))
    return bad


def auth_data_flags(credential: dict) -> int:
    """The flags byte of a registration's authData (inside attestationObject)."""
    att = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
    return att["authData"][32]


@pytest.fixture
def device(fidosim):
    dev = fidosim.device()
    yield dev
    dev.close()


@pytest.fixture
def device_none(fidosim_none):
    dev = fidosim_none.device()
    yield dev
    dev.close()


@pytest.fixture(scope="module", params=VARIANTS)
def rp(request, rp_factory):
    """One RP per variant, shared by that variant's tests (each uses fresh users)."""
    flaw_args = [] if request.param == "correct" else ["--flaw", request.param]
    server = rp_factory(*flaw_args)
    server.variant = request.param
    return server


# ---------------------------------------------------------------------------
# Every variant: normal ceremonies work
# ---------------------------------------------------------------------------


def test_registration_and_login_are_accepted(rp, device):
    fido = client(device, rp.origin)
    user = fresh_user()
    done, credential, _ = register(rp, fido, user)
    assert done.status == 200, done
    assert done.body == {"ok": True, "credentialId": credential["id"]}
    for _ in range(2):
        done, _ = login(rp, fido, user)
        assert done.status == 200, done
        assert done.body == {"ok": True, "username": user}


def test_discoverable_login_is_accepted(rp, device):
    fido = client(device, rp.origin)
    user = fresh_user()
    done, _, user_id = register(rp, fido, user)
    assert done.status == 200
    for body in ({"username": ""}, {}):
        begin = rp.post(LOGIN_BEGIN, body)
        assert begin.status == 200
        assert begin.body["publicKey"]["allowCredentials"] == []
        options = PublicKeyCredentialRequestOptions.from_dict(begin.body["publicKey"])
        # The key holds resident credentials of other tests for localhost too:
        # take this user's, as a browser's account picker would.
        selection = fido.get_assertion(options)
        assertions = [to_json(selection.get_response(i))
                      for i in range(len(selection.get_assertions()))]
        mine = [a for a in assertions if a["response"].get("userHandle") == user_id]
        assert len(mine) == 1
        done = rp.post(LOGIN_COMPLETE, mine[0], begin.session)
        assert done.status == 200, done
        assert done.body == {"ok": True, "username": user}


# ---------------------------------------------------------------------------
# Every variant: one defect scenario per flaw; only the matching flaw accepts
# ---------------------------------------------------------------------------


def counter_rewind(rp, keys):
    """The key's counter for the credential is rewound (a clone, or a
    replayed key state): the next assertion's signCount does not grow."""
    fido = client(keys.device, rp.origin)
    user = fresh_user()
    done, credential, _ = register(rp, fido, user)
    assert done.status == 200, done
    assert login(rp, fido, user)[0].status == 200
    status, body = keys.fidosim.control(
        "PUT", f"/v1/devices/default/credentials/{credential['id']}/counter", {"signCount": 0})
    assert status == 200, body
    return login(rp, fido, user)[0]


def wrong_origin_login(rp, keys):
    fido = client(keys.device, rp.origin)
    user = fresh_user()
    assert register(rp, fido, user)[0].status == 200
    return login(rp, client(keys.device, EVIL_ORIGIN, any_origin=True), user)[0]


def wrong_origin_registration(rp, keys):
    return register(rp, client(keys.device, EVIL_ORIGIN, any_origin=True), fresh_user())[0]


def up0_assertion(rp, keys):
    """A correctly signed assertion made without user presence (CTAP2 up=false)."""
    user = fresh_user()
    done, credential, _ = register(rp, client(keys.device, rp.origin), user)
    assert done.status == 200
    begin = rp.post(LOGIN_BEGIN, {"username": user})
    challenge = base64url_to_bytes(begin.body["publicKey"]["challenge"])
    assertion = ctap2_assertion(keys.device, rp.rp_id, rp.origin, challenge,
                                base64url_to_bytes(credential["id"]), up=False)
    flags = base64url_to_bytes(assertion["response"]["authenticatorData"])[32]
    assert flags & 0x01 == 0
    return rp.post(LOGIN_COMPLETE, assertion, begin.session)


def up0_registration(rp, keys):
    """A registration whose authData has UP clear. The key has `none`
    attestation (no signature over authData), and a fault clears UP."""
    status, body = keys.fidosim_none.control(
        "POST", "/v1/devices/default/faults", {"command": "makeCredential", "kind": "clearUp"})
    assert status in (200, 201), body
    done, credential, _ = register(rp, client(keys.device_none, rp.origin), fresh_user())
    assert auth_data_flags(credential) & 0x01 == 0
    return done


def bad_signature(rp, keys):
    fido = client(keys.device, rp.origin)
    user = fresh_user()
    assert register(rp, fido, user)[0].status == 200
    begin, assertion = login_begin(rp, fido, user)
    return rp.post(LOGIN_COMPLETE, corrupt_signature(assertion), begin.session)


DEFECTS = {
    counter_rewind: "ignore-counter",
    wrong_origin_login: "ignore-origin",
    wrong_origin_registration: "ignore-origin",
    up0_assertion: "accept-up0",
    up0_registration: "accept-up0",
    bad_signature: "skip-signature",
}


class Keys:
    def __init__(self, fidosim, device, fidosim_none, device_none):
        self.fidosim, self.device = fidosim, device
        self.fidosim_none, self.device_none = fidosim_none, device_none


@pytest.fixture
def keys(fidosim, device, fidosim_none, device_none):
    return Keys(fidosim, device, fidosim_none, device_none)


@pytest.mark.parametrize("scenario", list(DEFECTS), ids=lambda f: f.__name__.replace("_", "-"))
def test_defect_is_accepted_only_by_its_flaw(rp, keys, scenario):
    done = scenario(rp, keys)
    if rp.variant == DEFECTS[scenario]:
        assert done.status == 200, done
        assert done.body["ok"] is True
    else:
        assert done.status == 400, done
        assert done.body["ok"] is False and done.body["error"]


# ---------------------------------------------------------------------------
# Every variant: the checks no flaw touches
# ---------------------------------------------------------------------------


# What the flaws that keep challenges alive change in the checks below:
# session-challenges keeps every challenge of a session valid (so only the
# other checks stop a replay), idempotent-complete answers an accepted body
# again with its earlier answer.
KEEPS_CHALLENGES = "session-challenges"
REPEATS_ANSWERS = "idempotent-complete"


def test_registration_challenge_is_single_use(rp, device):
    fido = client(device, rp.origin)
    begin = rp.post(REG_BEGIN, {"username": fresh_user()})
    options = PublicKeyCredentialCreationOptions.from_dict(begin.body["publicKey"])
    credential = to_json(fido.make_credential(options))
    assert rp.post(REG_COMPLETE, credential, begin.session).status == 200
    again = rp.post(REG_COMPLETE, credential, begin.session)
    # The challenge is gone; with it kept, the credential ID is taken.
    expected = {KEEPS_CHALLENGES: 400, REPEATS_ANSWERS: 200}.get(rp.variant, 401)
    assert again.status == expected, again
    # A second credential over the used challenge.
    second = to_json(fido.make_credential(options))
    expected = 200 if rp.variant == KEEPS_CHALLENGES else 401
    assert rp.post(REG_COMPLETE, second, begin.session).status == expected


def test_login_challenge_is_single_use(rp, device):
    fido = client(device, rp.origin)
    user = fresh_user()
    assert register(rp, fido, user)[0].status == 200
    begin, assertion = login_begin(rp, fido, user)
    assert rp.post(LOGIN_COMPLETE, assertion, begin.session).status == 200
    # The same response again, in its session: the challenge is gone (kept:
    # the counter did not move).
    replay = rp.post(LOGIN_COMPLETE, assertion, begin.session)
    expected = {KEEPS_CHALLENGES: 400, REPEATS_ANSWERS: 200}.get(rp.variant, 401)
    assert replay.status == expected, replay
    # ... and in a new session it answers the wrong challenge.
    fresh = rp.post(LOGIN_BEGIN, {"username": user})
    expected = {KEEPS_CHALLENGES: 401, REPEATS_ANSWERS: 200}.get(rp.variant, 400)
    assert rp.post(LOGIN_COMPLETE, assertion, fresh.session).status == expected


def test_a_failed_attempt_consumes_the_challenge(rp, device):
    fido = client(device, rp.origin)
    user = fresh_user()
    assert register(rp, fido, user)[0].status == 200
    begin, assertion = login_begin(rp, fido, user)
    broken = json.loads(json.dumps(assertion))
    broken["response"]["clientDataJSON"] = b64(b"{}")
    # (Keeping every challenge, the RP looks up the one the client sent,
    # and this clientDataJSON has none.)
    expected = 401 if rp.variant == KEEPS_CHALLENGES else 400
    assert rp.post(LOGIN_COMPLETE, broken, begin.session).status == expected
    expected = 200 if rp.variant == KEEPS_CHALLENGES else 401
    assert rp.post(LOGIN_COMPLETE, assertion, begin.session).status == expected


def test_unknown_or_missing_session_is_401(rp, device):
    fido = client(device, rp.origin)
    user = fresh_user()
    begin = rp.post(REG_BEGIN, {"username": user})
    options = PublicKeyCredentialCreationOptions.from_dict(begin.body["publicKey"])
    credential = to_json(fido.make_credential(options))
    assert rp.post(REG_COMPLETE, credential).status == 401
    assert rp.post(REG_COMPLETE, credential, "made-up").status == 401
    # A registration session is no login session (and is consumed by trying).
    assert rp.post(LOGIN_COMPLETE, credential, begin.session).status == 401
    expected = 200 if rp.variant == KEEPS_CHALLENGES else 401
    assert rp.post(REG_COMPLETE, credential, begin.session).status == expected


def test_challenges_expire(rp_factory, device):
    for variant, expected in (("correct", 401), ("no-expiry", 200)):
        flaws = [] if variant == "correct" else ["--flaw", variant]
        rp = rp_factory("--challenge-ttl", "0.2", *flaws)
        fido = client(device, rp.origin)
        begin = rp.post(REG_BEGIN, {"username": fresh_user()})
        options = PublicKeyCredentialCreationOptions.from_dict(begin.body["publicKey"])
        credential = to_json(fido.make_credential(options))
        time.sleep(0.5)
        assert rp.post(REG_COMPLETE, credential, begin.session).status == expected, variant


def test_a_session_keeps_its_challenges_only_with_the_flaw(rp_factory, device):
    """Begun twice in one session, completed with the first challenge."""
    for variant, expected in (("correct", 400), ("session-challenges", 200)):
        flaws = [] if variant == "correct" else ["--flaw", variant]
        rp = rp_factory(*flaws)
        fido = client(device, rp.origin)
        user = fresh_user()
        first = rp.post(REG_BEGIN, {"username": user})
        options = PublicKeyCredentialCreationOptions.from_dict(first.body["publicKey"])
        credential = to_json(fido.make_credential(options))
        second = rp.post(REG_BEGIN, {"username": user}, first.session)
        session = second.session or first.session
        assert rp.post(REG_COMPLETE, credential, session).status == expected, variant


def test_another_users_credential_is_refused(rp, device):
    fido = client(device, rp.origin)
    alice, bob = fresh_user(), fresh_user()
    assert register(rp, fido, alice)[0].status == 200
    done, bobs, _ = register(rp, fido, bob)
    assert done.status == 200
    begin = rp.post(LOGIN_BEGIN, {"username": alice})
    challenge = base64url_to_bytes(begin.body["publicKey"]["challenge"])
    assertion = ctap2_assertion(device, rp.rp_id, rp.origin, challenge, base64url_to_bytes(bobs["id"]))
    done = rp.post(LOGIN_COMPLETE, assertion, begin.session)
    assert done.status == 400 and "belong" in done.body["error"]


def test_discoverable_login_needs_the_owners_user_handle(rp, device):
    fido = client(device, rp.origin)
    alice, bob = fresh_user(), fresh_user()
    done, alices, _ = register(rp, fido, alice)
    assert done.status == 200
    _, _, bob_id = register(rp, fido, bob)
    for handle in (bob_id, None):
        begin = rp.post(LOGIN_BEGIN, {"username": ""})
        challenge = base64url_to_bytes(begin.body["publicKey"]["challenge"])
        assertion = ctap2_assertion(device, rp.rp_id, rp.origin, challenge,
                                    base64url_to_bytes(alices["id"]))
        # The signature does not cover userHandle: only the RP's lookup catches this.
        if handle is None:
            assertion["response"].pop("userHandle", None)
        else:
            assertion["response"]["userHandle"] = handle
        done = rp.post(LOGIN_COMPLETE, assertion, begin.session)
        assert done.status == 400, done
        assert "userHandle" in done.body["error"]


def test_a_registered_credential_id_is_refused(rp, device_none):
    """With `none` attestation nothing signs clientDataJSON, so an attacker
    can present someone's credential for their own account; §7.1 makes the
    RP refuse a credential ID it already knows."""
    fido = client(device_none, rp.origin)
    done, credential, _ = register(rp, fido, fresh_user())
    assert done.status == 200
    begin = rp.post(REG_BEGIN, {"username": fresh_user()})
    replayed = json.loads(json.dumps(credential))
    client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    client_data["challenge"] = begin.body["publicKey"]["challenge"]
    replayed["response"]["clientDataJSON"] = b64(json.dumps(client_data).encode())
    done = rp.post(REG_COMPLETE, replayed, begin.session)
    assert done.status == 400 and "already registered" in done.body["error"]


def test_unknown_credential_is_refused(rp, device):
    fido = client(device, rp.origin)
    user = fresh_user()
    assert register(rp, fido, user)[0].status == 200
    begin, assertion = login_begin(rp, fido, user)
    assertion["id"] = assertion["rawId"] = b64(b"\x01" * 32)
    done = rp.post(LOGIN_COMPLETE, assertion, begin.session)
    assert done.status == 400 and "unknown credential" in done.body["error"]


def test_user_id_is_stable_per_username(rp):
    alice, bob = fresh_user(), fresh_user()
    first = rp.post(REG_BEGIN, {"username": alice}).body["publicKey"]
    second = rp.post(REG_BEGIN, {"username": alice}).body["publicKey"]
    other = rp.post(REG_BEGIN, {"username": bob}).body["publicKey"]
    assert first["user"]["id"] == second["user"]["id"] != other["user"]["id"]
    assert first["challenge"] != second["challenge"]
    assert first["authenticatorSelection"]["residentKey"] == "preferred"
    assert first["rp"]["id"] == "localhost"


def test_bad_requests_get_json_errors(rp):
    for path, body, status in [
        (REG_BEGIN, b"not json", 400),
        (REG_BEGIN, b'{"username": ""}', 400),
        (LOGIN_BEGIN, b"[]", 400),
        ("/nowhere", b"{}", 404),
    ]:
        conn = http.client.HTTPConnection("127.0.0.1", rp.port, timeout=10)
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == status, (path, body)
        assert resp.getheader("Content-Type") == "application/json"
        assert json.loads(resp.read())["ok"] is False
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", rp.port, timeout=10)
    conn.request("GET", REG_BEGIN)
    resp = conn.getresponse()
    assert resp.status == 405 and json.loads(resp.read())["ok"] is False
    conn.close()


# ---------------------------------------------------------------------------
# The correct RP with user verification required
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("requirement, accepted", [("required", False), ("preferred", True)])
def test_uv_requirement(rp_factory, device, requirement, accepted):
    rp = rp_factory("--user-verification", requirement)
    fido = client(device, rp.origin)
    user = fresh_user()
    done, credential, _ = register(rp, fido, user)
    assert done.status == 200, done  # the key's built-in UV verified the user
    assert login(rp, fido, user)[0].status == 200
    # A CTAP2 assertion with UP but without UV.
    begin = rp.post(LOGIN_BEGIN, {"username": user})
    assert begin.body["publicKey"]["userVerification"] == requirement
    challenge = base64url_to_bytes(begin.body["publicKey"]["challenge"])
    assertion = ctap2_assertion(device, rp.rp_id, rp.origin, challenge,
                                base64url_to_bytes(credential["id"]))
    assert base64url_to_bytes(assertion["response"]["authenticatorData"])[32] & 0x04 == 0
    done = rp.post(LOGIN_COMPLETE, assertion, begin.session)
    assert done.status == (200 if accepted else 400), done


def test_direct_attestation_is_verified(rp_factory, device):
    rp = rp_factory("--attestation", "direct")
    fido = client(device, rp.origin)
    user = fresh_user()
    begin = rp.post(REG_BEGIN, {"username": user})
    assert begin.body["publicKey"]["attestation"] == "direct"
    options = PublicKeyCredentialCreationOptions.from_dict(begin.body["publicKey"])
    credential = to_json(fido.make_credential(options))
    att = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
    assert att["fmt"] == "packed" and "x5c" in att["attStmt"]
    # A broken attestation signature is refused.
    att["attStmt"]["sig"] = att["attStmt"]["sig"][:-1] + bytes([att["attStmt"]["sig"][-1] ^ 0xFF])
    broken = json.loads(json.dumps(credential))
    broken["response"]["attestationObject"] = b64(cbor2.dumps(att))
    assert rp.post(REG_COMPLETE, broken, begin.session).status == 400
    assert register(rp, fido, user)[0].status == 200


# ---------------------------------------------------------------------------
# Trusted attestation (--trust-root): the RP's own statement verifier
# ---------------------------------------------------------------------------


def test_trusted_attestation_is_verified(rp_factory, trusted_key, tmp_path_factory, device_none):
    key = trusted_key.run()
    dev = key.device()
    try:
        trusting = rp_factory("--trust-root", str(trusted_key.ca))
        user = fresh_user()
        begin = trusting.post(REG_BEGIN, {"username": user})
        assert begin.body["publicKey"]["attestation"] == "direct"
        done, credential, _ = register(trusting, client(dev, trusting.origin), user)
        assert done.status == 200, done
        att = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
        assert att["fmt"] == "packed" and len(att["attStmt"]["x5c"]) == 1
        # The same key, to an RP that trusts another root: refused.
        other = TrustedKey(tmp_path_factory.mktemp("other-root"))
        elsewhere = rp_factory("--trust-root", str(other.ca))
        done, _, _ = register(elsewhere, client(dev, elsewhere.origin), fresh_user())
        assert done.status == 400 and "trusted root" in done.body["error"], done
        # A broken statement signature: refused, and taken under its flaw.
        for flaws, status in (((), 400), (("--flaw", "skip-attestation-signature"), 200)):
            rp = rp_factory("--trust-root", str(trusted_key.ca), *flaws)
            begin = rp.post(REG_BEGIN, {"username": fresh_user()})
            options = PublicKeyCredentialCreationOptions.from_dict(begin.body["publicKey"])
            credential = to_json(client(dev, rp.origin).make_credential(options))
            att = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
            att["attStmt"]["sig"] = att["attStmt"]["sig"][:-1] + bytes([att["attStmt"]["sig"][-1] ^ 1])
            credential["response"]["attestationObject"] = b64(cbor2.dumps(att, canonical=True))
            done = rp.post(REG_COMPLETE, credential, begin.session)
            assert done.status == status, (flaws, done)
    finally:
        dev.close()
        key.stop()
    # none attestation: refused unless the RP takes untrusted attestation.
    for flaws, status in (((), 400), (("--flaw", "accept-self-attestation"), 200)):
        rp = rp_factory("--trust-root", str(trusted_key.ca), *flaws)
        done, _, _ = register(rp, client(device_none, rp.origin), fresh_user())
        assert done.status == status, (flaws, done)
        if status == 400:
            assert "none attestation" in done.body["error"], done


def test_self_attestation_is_refused_where_trust_is_demanded(rp_factory, trusted_key, tmp_path_factory):
    key = Fidosim(tmp_path_factory.mktemp("self-key"), "--attestation", "self")
    dev = key.device()
    try:
        for flaws, status in (((), 400), (("--flaw", "accept-self-attestation"), 200)):
            rp = rp_factory("--trust-root", str(trusted_key.ca), *flaws)
            done, credential, _ = register(rp, client(dev, rp.origin), fresh_user())
            att = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
            assert att["fmt"] == "packed" and "x5c" not in att["attStmt"]
            assert done.status == status, (flaws, done)
    finally:
        dev.close()
        key.stop()


# ---------------------------------------------------------------------------
# The own assertion verifier agrees with py_webauthn
# ---------------------------------------------------------------------------

ORIGIN = "https://verifier.example"
RP_ID = "verifier.example"


class Signed:
    """A real assertion and everything needed to verify it."""

    def __init__(self, credential: dict, challenge: bytes, public_key: bytes, prior_count: int):
        self.credential, self.challenge = credential, challenge
        self.public_key, self.prior_count = public_key, prior_count

    def kwargs(self, **changes) -> dict:
        args = dict(expected_challenge=self.challenge, expected_origin=ORIGIN,
                    expected_rp_id=RP_ID, credential_public_key=self.public_key,
                    current_sign_count=self.prior_count, require_user_verification=False)
        args.update(changes)
        return args


def both_verify(signed: Signed, credential: dict | None = None, **changes):
    """Run both verifiers; returns (own result or exception, py_webauthn result or exception)."""
    credential = signed.credential if credential is None else credential
    args = signed.kwargs(**changes)
    try:
        own = verify_assertion(credential, **args)
    except VerificationError as exc:
        own = exc
    try:
        theirs = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=args["expected_challenge"],
            expected_rp_id=args["expected_rp_id"],
            expected_origin=args["expected_origin"],
            credential_public_key=args["credential_public_key"],
            credential_current_sign_count=args["current_sign_count"],
            require_user_verification=args["require_user_verification"],
        )
    except InvalidAuthenticationResponse as exc:
        theirs = exc
    return own, theirs


def fidosim_assertion(daemon, *, uv: str = "preferred") -> Signed:
    """Register with the key (py_webauthn verifies it and gives the COSE key),
    then sign one assertion with it."""
    dev = daemon.device()
    try:
        fido = client(dev, ORIGIN)
        reg = webauthn.generate_registration_options(rp_id=RP_ID, rp_name="v", user_name=fresh_user())
        made = fido.make_credential(PublicKeyCredentialCreationOptions.from_dict(
            json.loads(webauthn.options_to_json(reg))))
        registered = webauthn.verify_registration_response(
            credential=to_json(made), expected_challenge=reg.challenge,
            expected_rp_id=RP_ID, expected_origin=ORIGIN)
        auth = webauthn.generate_authentication_options(
            rp_id=RP_ID, allow_credentials=[PublicKeyCredentialDescriptor(id=registered.credential_id)],
            user_verification=UserVerificationRequirement(uv))
        got = fido.get_assertion(PublicKeyCredentialRequestOptions.from_dict(
            json.loads(webauthn.options_to_json(auth))))
        return Signed(to_json(got.get_response(0)), auth.challenge,
                      registered.credential_public_key, registered.sign_count)
    finally:
        dev.close()


def rs256_assertion() -> Signed:
    """An RS256 assertion signed here (fidosim has no RSA keys)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    cose = cbor2.dumps({1: 3, 3: -257,
                        -1: numbers.n.to_bytes(256, "big"), -2: numbers.e.to_bytes(3, "big")})
    challenge = b"\x07" * 32
    client_data = json.dumps({"type": "webauthn.get", "challenge": b64(challenge),
                              "origin": ORIGIN, "crossOrigin": False}).encode()
    auth_data = hashlib.sha256(RP_ID.encode()).digest() + b"\x05" + (9).to_bytes(4, "big")
    sig = key.sign(auth_data + hashlib.sha256(client_data).digest(), padding.PKCS1v15(), hashes.SHA256())
    cred_id = b"\x42" * 16
    credential = {"id": b64(cred_id), "rawId": b64(cred_id), "type": "public-key",
                  "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                               "signature": b64(sig)},
                  "clientExtensionResults": {}}
    return Signed(credential, challenge, cose, 3)


@pytest.fixture(params=["es256", "eddsa", "rs256"])
def signed(request, fidosim, fidosim_eddsa) -> Signed:
    if request.param == "rs256":
        return rs256_assertion()
    return fidosim_assertion(fidosim if request.param == "es256" else fidosim_eddsa)


def test_own_verifier_accepts_what_py_webauthn_accepts(signed):
    own, theirs = both_verify(signed)
    assert not isinstance(own, Exception), own
    assert not isinstance(theirs, Exception), theirs
    assert own.sign_count == theirs.new_sign_count > signed.prior_count
    assert own.user_verified == theirs.user_verified


def _with(credential: dict, **response_changes) -> dict:
    changed = json.loads(json.dumps(credential))
    changed["response"].update(response_changes)
    return changed


def _client_data(credential: dict, **changes) -> dict:
    data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    data.update(changes)
    return _with(credential, clientDataJSON=b64(json.dumps(data).encode()))


def _auth_data(credential: dict, flags_off: int = 0, rp_id: str | None = None) -> dict:
    ad = bytearray(base64url_to_bytes(credential["response"]["authenticatorData"]))
    ad[32] &= ~flags_off & 0xFF
    if rp_id is not None:
        ad[:32] = hashlib.sha256(rp_id.encode()).digest()
    return _with(credential, authenticatorData=b64(bytes(ad)))


MUTATIONS = {
    # name: (credential change, verifier argument changes, own error contains)
    "challenge": (None, {"expected_challenge": b"\x00" * 32}, "challenge"),
    "origin": (None, {"expected_origin": "https://other.example"}, "origin"),
    "rp-id": (None, {"expected_rp_id": "other.example"}, "rpIdHash"),
    "counter": (None, {"current_sign_count": 1 << 31}, "counter"),
    "uv-required": (lambda c: _auth_data(c, flags_off=0x04),
                    {"require_user_verification": True}, "UV"),
    "up-clear": (lambda c: _auth_data(c, flags_off=0x01), {}, "UP"),
    "type": (lambda c: _client_data(c, type="webauthn.create"), {}, "type"),
    "client-challenge": (lambda c: _client_data(c, challenge=b64(b"x" * 32)), {}, "challenge"),
    "client-origin": (lambda c: _client_data(c, origin="https://evil.example"), {}, "origin"),
    "auth-rp-id": (lambda c: _auth_data(c, rp_id="evil.example"), {}, "rpIdHash"),
    "signature": (corrupt_signature, {}, "signature"),
    "id-rawid": (lambda c: dict(json.loads(json.dumps(c)), id=b64(b"\x01" * 16)), {}, "rawId"),
    "short-auth-data": (lambda c: _with(c, authenticatorData=b64(b"\x00" * 36)), {}, "37"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_own_verifier_refuses_what_py_webauthn_refuses(signed, name):
    change, args, message = MUTATIONS[name]
    credential = change(signed.credential) if change else signed.credential
    own, theirs = both_verify(signed, credential, **args)
    assert isinstance(theirs, InvalidAuthenticationResponse), theirs
    assert isinstance(own, VerificationError), own
    # Where the response is still validly signed, the own verifier names the
    # check that failed; with check_signature=False it does so in every case.
    try:
        verify_assertion(credential, **signed.kwargs(check_signature=False, **args))
    except VerificationError as exc:
        if name != "signature":
            assert message in str(exc)
    else:
        assert name == "signature"


def test_own_verifier_flags_skip_exactly_one_check(signed):
    # check_signature=False: a corrupted signature passes, nothing else changes.
    bad = corrupt_signature(signed.credential)
    verify_assertion(bad, **signed.kwargs(check_signature=False))
    with pytest.raises(VerificationError, match="signature"):
        verify_assertion(bad, **signed.kwargs(require_user_presence=False))
    with pytest.raises(VerificationError, match="origin"):
        verify_assertion(bad, **signed.kwargs(check_signature=False, expected_origin="https://x.example"))
    # require_user_presence=False: UP=0 passes only with everything else intact.
    up0 = _auth_data(signed.credential, flags_off=0x01)
    with pytest.raises(VerificationError, match="UP"):
        verify_assertion(up0, **signed.kwargs(check_signature=False))
    with pytest.raises(VerificationError, match="signature"):  # UP=0 here breaks the signature
        verify_assertion(up0, **signed.kwargs(require_user_presence=False))
    verify_assertion(up0, **signed.kwargs(require_user_presence=False, check_signature=False))


def test_own_verifier_accepts_a_signed_up0_assertion_only_when_told(fidosim):
    signed = fidosim_assertion(fidosim)
    dev = fidosim.device()
    try:
        challenge = b"\x11" * 32
        up0 = ctap2_assertion(dev, RP_ID, ORIGIN, challenge,
                              base64url_to_bytes(signed.credential["rawId"]), up=False)
    finally:
        dev.close()
    args = signed.kwargs(expected_challenge=challenge)
    with pytest.raises(VerificationError, match="UP"):
        verify_assertion(up0, **args)
    with pytest.raises(InvalidAuthenticationResponse, match="not present"):
        webauthn.verify_authentication_response(
            credential=up0, expected_challenge=challenge, expected_rp_id=RP_ID,
            expected_origin=ORIGIN, credential_public_key=signed.public_key,
            credential_current_sign_count=signed.prior_count)
    result = verify_assertion(up0, **dict(args, require_user_presence=False))
    assert result.sign_count > signed.prior_count


def test_uv_flag_is_reported(fidosim):
    for uv, expected in (("required", True), ("discouraged", False)):
        signed = fidosim_assertion(fidosim, uv=uv)
        own, theirs = both_verify(signed, require_user_verification=expected)
        assert own.user_verified is theirs.user_verified is expected
