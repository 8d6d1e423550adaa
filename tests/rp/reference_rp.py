#!/usr/bin/env python3
"""A reference WebAuthn relying party, correct or with one deliberate flaw.

One process is one RP: a standard-library HTTP server on 127.0.0.1 that
speaks JSON and keeps its users, credentials and pending challenges in
memory. With no ``--flaw`` it verifies every registration and assertion as
WebAuthn Level 3 §7.1 and §7.2 require (py_webauthn does the cryptographic
work; the steps py_webauthn leaves to the RP are done here). Each ``--flaw``
switches off exactly one check, so that an RP auditing tool can be shown to
notice it:

  ignore-counter  the stored signature counter is not compared (§7.2 step 22)
  ignore-origin   clientDataJSON.origin is not compared (§7.1 step 9, §7.2 step 13)
  accept-up0      the UP flag is not required (§7.1 step 14, §7.2 step 16)
  skip-signature  the assertion signature is not verified (§7.2 step 21)
  session-challenges  a session outlives its ceremonies: a begin with the
                  session cookie adds its challenge to that session, and
                  every challenge the session was given stays valid, used
                  or not (§13.4.3: a challenge is used once)
  no-expiry       a challenge never expires (--challenge-ttl is ignored)
  idempotent-complete  a complete request whose body was accepted before is
                  answered with the earlier answer, without verification

With ``--trust-root`` the RP demands trusted attestation (it asks for
"direct") and verifies packed x5c and fido-u2f statements itself, each
check of its own (§8.2, §8.2.1, §8.6, §7.1 step 22); these flaws switch
one of them off:

  accept-self-attestation  none and self attestation are taken (§7.1 step 22)
  trust-any-root  the chain need not end at a trusted root (§7.1 step 22)
  accept-ca-leaf  an attestation certificate may say CA:true (§8.2.1)
  ignore-expiry   certificate validity periods are not checked (RFC 5280 §6.1.3)
  ignore-aaguid-extension  the certificate's AAGUID is not compared (§8.2)
  ignore-ou       the certificate's OU is not checked (§8.2.1)
  skip-attestation-signature  the packed sig is not verified (§8.2)
  u2f-skip-signature  the fido-u2f sig is not verified (§8.6 step 6)
  u2f-any-curve   a fido-u2f certificate key need not be P-256 (§8.6 step 2)

HTTP (all bodies JSON):

  POST /auth/passkey/register/begin     {"username": "alice"}
       -> 200 {"publicKey": PublicKeyCredentialCreationOptionsJSON} + session cookie
  POST /auth/passkey/register/complete  RegistrationResponseJSON (+ cookie)
       -> 200 {"ok": true, "credentialId": "..."} | 400 | 401
  POST /auth/passkey/login/begin        {"username": "alice"} (or "" / absent)
       -> 200 {"publicKey": PublicKeyCredentialRequestOptionsJSON} + session cookie
  POST /auth/passkey/login/complete     AuthenticationResponseJSON (+ cookie)
       -> 200 {"ok": true, "username": "alice"} | 400 | 401

Errors are {"ok": false, "error": "..."}: 400 when the response does not
verify, 401 when the session or its challenge is unknown (a challenge is
consumed by the first complete attempt, whatever its outcome), 500 on a
server error.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cbor2
import webauthn
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import NameOID
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

FLAWS = ("ignore-counter", "ignore-origin", "accept-up0", "skip-signature",
         "session-challenges", "no-expiry", "idempotent-complete")
# Flaws of the attestation verifier (with --trust-root).
ATTESTATION_FLAWS = ("accept-self-attestation", "trust-any-root", "accept-ca-leaf",
                     "ignore-expiry", "ignore-aaguid-extension", "ignore-ou",
                     "skip-attestation-signature", "u2f-skip-signature", "u2f-any-curve")

# COSE algorithms offered at registration; the own assertion verifier below
# handles exactly these (py_webauthn's default list).
ALG_EDDSA = -8
ALG_ES256 = -7
ALG_RS256 = -257
SUPPORTED_ALGS = [ALG_EDDSA, ALG_ES256, ALG_RS256]

CHALLENGE_TTL = 300.0  # seconds a pending challenge stays usable
MAX_BODY = 1 << 20  # bytes



# COSE key type and curve for each algorithm the RP accepts.
_ALG_KEY = {-7: (2, 1), -8: (1, 6), -257: (3, None)}


def check_cose_alg(cose_key: bytes) -> None:
    """Refuses a COSE key whose alg (3) contradicts its kty (1) or crv (-1)."""
    try:
        key = cbor2.loads(cose_key)
        alg, kty, crv = key.get(3), key.get(1), key.get(-1)
    except Exception as exc:
        raise VerificationError(f"credential public key is not a COSE map: {exc}") from exc
    want = _ALG_KEY.get(alg)
    if want is None or want[0] != kty or (want[1] is not None and want[1] != crv):
        raise VerificationError(f"credential public key: alg {alg} does not fit kty {kty}, crv {crv}")


def check_canonical(attestation_object: bytes) -> None:
    """Refuses an attestation object that is not in canonical CBOR (one
    encoding per value: shortest lengths, map keys in length-first order)."""
    try:
        decoded = cbor2.loads(attestation_object)
    except Exception as exc:
        raise VerificationError(f"attestationObject is not CBOR: {exc}") from exc
    if cbor2.dumps(decoded, canonical=True) != attestation_object:
        raise VerificationError("attestationObject is not in canonical CBOR")

class VerificationError(Exception):
    """The response does not verify: answered with 400."""


# ---------------------------------------------------------------------------
# The RP's own attestation verifier (with --trust-root).
# ---------------------------------------------------------------------------

# The formats with a certificate chain that this verifier knows.
TRUSTED_FORMATS = ("packed", "fido-u2f")

# id-fido-gen-ce-aaguid (WebAuthn L3 §8.2.1).
ID_FIDO_GEN_CE_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


def _verify_with(public, signature: bytes, data: bytes) -> None:
    """Verifies with a certificate's key, whatever its type; raises
    VerificationError."""
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, Ed25519PublicKey):
            public.verify(signature, data)
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise VerificationError(f"unsupported certificate key {type(public).__name__}")
    except InvalidSignature as exc:
        raise VerificationError("attestation signature does not verify") from exc


def _parse_auth_data(auth_data: bytes) -> tuple[bytes, bytes, bytes, dict]:
    """rpIdHash, AAGUID, credential ID and COSE key of attested
    credential data (§6.1, §6.5.1)."""
    if len(auth_data) < 55 or not auth_data[32] & 0x40:
        raise VerificationError("authenticatorData has no attested credential data")
    length = int.from_bytes(auth_data[53:55], "big")
    cred_id = auth_data[55:55 + length]
    if len(cred_id) != length:
        raise VerificationError("credentialIdLength past the end of authenticatorData")
    try:
        cose = cbor2.CBORDecoder(io.BytesIO(auth_data[55 + length:])).decode()
    except Exception as exc:
        raise VerificationError("credential public key is not CBOR") from exc
    if not isinstance(cose, dict):
        raise VerificationError("credential public key is not a COSE map")
    return auth_data[:32], auth_data[37:53], cred_id, cose


def _attribute(cert: x509.Certificate, oid) -> list[str]:
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def _basic_constraints_ca(cert: x509.Certificate) -> bool | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return None


def check_trust_path(chain: list[x509.Certificate], roots: list[x509.Certificate],
                     flaws: frozenset[str]) -> None:
    """§7.1 step 22 with RFC 5280 §6.1: each certificate valid now and
    issued by the next (which must be a CA), the last issued by (or being)
    a trusted root."""
    now = datetime.datetime.now(datetime.timezone.utc)
    for cert in chain:
        if "ignore-expiry" not in flaws and not (
                cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise VerificationError(f"certificate {cert.subject.rfc4514_string()} is not valid now")
    for cert, issuer in zip(chain, chain[1:]):
        if _basic_constraints_ca(issuer) is not True:
            raise VerificationError("a certificate in x5c is issued by one that is not a CA")
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise VerificationError("x5c is not a chain") from exc
    if "trust-any-root" in flaws:
        return
    last = chain[-1]
    for root in roots:
        if last == root:
            return
        try:
            last.verify_directly_issued_by(root)
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise VerificationError("the attestation chain does not end at a trusted root")


def _certificates(stmt: dict) -> list[x509.Certificate]:
    x5c = stmt.get("x5c")
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, bytes) for c in x5c):
        raise VerificationError("attStmt.x5c is not a list of certificates")
    try:
        return [x509.load_der_x509_certificate(c) for c in x5c]
    except ValueError as exc:
        raise VerificationError(f"attStmt.x5c holds a malformed certificate: {exc}") from exc


def verify_packed_x5c(stmt: dict, auth_data: bytes, client_data_hash: bytes,
                      roots: list[x509.Certificate], flaws: frozenset[str]) -> None:
    """§8.2's verification procedure for a statement with x5c, and §8.2.1."""
    alg, sig = stmt.get("alg"), stmt.get("sig")
    if not isinstance(alg, int) or not isinstance(sig, bytes):
        raise VerificationError("packed attStmt needs alg and sig")
    chain = _certificates(stmt)
    leaf = chain[0]
    public = leaf.public_key()
    # alg must fit the certificate's key.
    fits = {ALG_ES256: ec.EllipticCurvePublicKey, ALG_EDDSA: Ed25519PublicKey,
            ALG_RS256: rsa.RSAPublicKey}.get(alg)
    if fits is None or not isinstance(public, fits):
        raise VerificationError(f"packed alg {alg} does not fit the attestation certificate's key")
    if "skip-attestation-signature" not in flaws:
        _verify_with(public, sig, auth_data + client_data_hash)
    # §8.2.1: version 3, C, O, OU "Authenticator Attestation", CN, CA:false.
    if leaf.version != x509.Version.v3:
        raise VerificationError("attestation certificate is not X.509 v3")
    for oid in (NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        if not _attribute(leaf, oid):
            raise VerificationError(f"attestation certificate subject lacks {oid._name}")
    if "ignore-ou" not in flaws and \
            _attribute(leaf, NameOID.ORGANIZATIONAL_UNIT_NAME) != ["Authenticator Attestation"]:
        raise VerificationError('attestation certificate OU is not "Authenticator Attestation"')
    if "accept-ca-leaf" not in flaws and _basic_constraints_ca(leaf) is not False:
        raise VerificationError("attestation certificate basicConstraints CA is not false")
    # §8.2: an AAGUID extension must match authData's AAGUID.
    try:
        ext = leaf.extensions.get_extension_for_oid(ID_FIDO_GEN_CE_AAGUID)
    except x509.ExtensionNotFound:
        ext = None
    if ext is not None:
        if ext.critical:
            raise VerificationError("the AAGUID extension is marked critical")
        value = ext.value.value  # UnrecognizedExtension: the DER OCTET STRING
        if len(value) != 18 or value[:2] != b"\x04\x10":
            raise VerificationError("the AAGUID extension is not a 16-byte OCTET STRING")
        if "ignore-aaguid-extension" not in flaws and value[2:] != auth_data[37:53]:
            raise VerificationError("the certificate's AAGUID is not authenticatorData's")
    check_trust_path(chain, roots, flaws)


def verify_fido_u2f(stmt: dict, auth_data: bytes, client_data_hash: bytes,
                    roots: list[x509.Certificate], flaws: frozenset[str]) -> None:
    """§8.6's verification procedure."""
    sig = stmt.get("sig")
    if not isinstance(sig, bytes):
        raise VerificationError("fido-u2f attStmt needs sig")
    chain = _certificates(stmt)
    # Step 2: exactly one certificate, with an EC P-256 key.
    if len(chain) != 1:
        raise VerificationError("fido-u2f x5c must hold exactly one certificate")
    public = chain[0].public_key()
    p256 = isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)
    if not p256 and "u2f-any-curve" not in flaws:
        raise VerificationError("the fido-u2f certificate key is not EC P-256")
    # Steps 3-4: the credential's P-256 key as an uncompressed point.
    rp_id_hash, _, cred_id, cose = _parse_auth_data(auth_data)
    x, y = cose.get(-2), cose.get(-3)
    if cose.get(1) != 2 or cose.get(-1) != 1 or not isinstance(x, bytes) or \
            not isinstance(y, bytes) or len(x) != 32 or len(y) != 32:
        raise VerificationError("a fido-u2f credential key must be EC2 P-256")
    # Steps 5-6: verificationData, signed by the certificate's key.
    data = b"\x00" + rp_id_hash + client_data_hash + cred_id + b"\x04" + x + y
    if "u2f-skip-signature" not in flaws:
        _verify_with(public, sig, data)
    check_trust_path(chain, roots, flaws)


def verify_trusted_attestation(attestation_object: bytes, client_data_json: bytes,
                               roots: list[x509.Certificate], flaws: frozenset[str],
                               formats: frozenset[str] = frozenset(TRUSTED_FORMATS)) -> bool:
    """Verifies the statement of an RP that demands trusted attestation.
    True when it was verified here (the caller then hands py_webauthn the
    rest as "none"); False when py_webauthn verifies it itself (none or
    self attestation, taken under the flaw accept-self-attestation)."""
    try:
        obj = cbor2.loads(attestation_object)
        fmt, stmt, auth_data = obj["fmt"], obj["attStmt"], obj["authData"]
    except Exception as exc:
        raise VerificationError(f"malformed attestationObject: {exc}") from exc
    if not isinstance(stmt, dict) or not isinstance(auth_data, bytes):
        raise VerificationError("malformed attestationObject")
    cdh = hashlib.sha256(client_data_json).digest()
    if fmt == "none" or (fmt == "packed" and "x5c" not in stmt):
        if "accept-self-attestation" in flaws:
            return False
        raise VerificationError(f"{'self' if fmt == 'packed' else 'none'} attestation, "
                                "and this RP demands trusted attestation")
    if fmt not in formats:
        raise VerificationError(f"attestation format {fmt!r} is not taken here")
    if fmt == "packed":
        verify_packed_x5c(stmt, auth_data, cdh, roots, flaws)
    elif fmt == "fido-u2f":
        verify_fido_u2f(stmt, auth_data, cdh, roots, flaws)
    else:
        raise VerificationError(f"attestation format {fmt!r} is not supported")
    return True


def as_none_attestation(credential: dict) -> dict:
    """The response with its attestation statement replaced by "none",
    once verified here: py_webauthn checks the rest."""
    response = dict(credential["response"])
    obj = cbor2.loads(base64url_to_bytes(response["attestationObject"]))
    obj["fmt"], obj["attStmt"] = "none", {}
    response["attestationObject"] = bytes_to_base64url(cbor2.dumps(obj, canonical=True))
    return {**credential, "response": response}


class SessionError(Exception):
    """No pending challenge for this session: answered with 401."""


# ---------------------------------------------------------------------------
# The RP's own assertion verifier (used by accept-up0 and skip-signature).
# ---------------------------------------------------------------------------


@dataclass
class AssertionResult:
    sign_count: int
    user_verified: bool


def _b64url_field(obj: dict, key: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise VerificationError(f"{key} missing or not a string")
    try:
        return base64url_to_bytes(value)
    except Exception as exc:
        raise VerificationError(f"{key} is not base64url") from exc


def cose_verify(cose_key: bytes, signature: bytes, data: bytes) -> None:
    """Verify `signature` over `data` with a COSE_Key (RFC 9053); raises VerificationError."""
    try:
        key = cbor2.loads(cose_key)
    except Exception as exc:
        raise VerificationError("stored public key is not CBOR") from exc
    if not isinstance(key, dict):
        raise VerificationError("stored public key is not a COSE_Key map")
    kty, alg = key.get(1), key.get(3)
    try:
        if kty == 2 and alg == ALG_ES256 and key.get(-1) == 1:  # EC2, P-256
            x, y = key[-2], key[-3]
            if len(x) != 32 or len(y) != 32:
                raise VerificationError("bad P-256 coordinates")
            public = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            ).public_key()
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif kty == 1 and alg == ALG_EDDSA and key.get(-1) == 6:  # OKP, Ed25519
            Ed25519PublicKey.from_public_bytes(key[-2]).verify(signature, data)
        elif kty == 3 and alg == ALG_RS256:  # RSA, PKCS#1 v1.5 with SHA-256
            public = rsa.RSAPublicNumbers(
                int.from_bytes(key[-2], "big"), int.from_bytes(key[-1], "big")
            ).public_key()
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise VerificationError(f"unsupported COSE key (kty {kty}, alg {alg})")
    except InvalidSignature as exc:
        raise VerificationError("signature does not verify") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"malformed COSE key: {exc}") from exc


def verify_assertion(
    credential: dict,
    *,
    expected_challenge: bytes,
    expected_origin: str,
    expected_rp_id: str,
    credential_public_key: bytes,
    current_sign_count: int,
    require_user_verification: bool,
    require_user_presence: bool = True,
    check_signature: bool = True,
) -> AssertionResult:
    """WebAuthn L3 §7.2 steps 5-22 for one AuthenticationResponseJSON.

    With the defaults it accepts and refuses what py_webauthn's
    verify_authentication_response does; `require_user_presence=False` skips
    only the UP check (step 16) and `check_signature=False` only the
    signature check (step 21). The caller has already found the credential
    and its owner (steps 5-7).
    """
    if not isinstance(credential, dict):
        raise VerificationError("credential is not a JSON object")
    if credential.get("type") != "public-key":
        raise VerificationError('credential type is not "public-key"')
    raw_id = _b64url_field(credential, "rawId")
    if credential.get("id") != bytes_to_base64url(raw_id):
        raise VerificationError("id and rawId differ")
    response = credential.get("response")
    if not isinstance(response, dict):
        raise VerificationError("response missing")
    # Step 8: cData, authData, sig.
    c_data = _b64url_field(response, "clientDataJSON")
    auth_data = _b64url_field(response, "authenticatorData")
    sig = _b64url_field(response, "signature")

    # Steps 9-10: parse clientDataJSON as UTF-8 JSON.
    try:
        client_data = json.loads(c_data.decode("utf-8"))
    except Exception as exc:
        raise VerificationError("clientDataJSON is not UTF-8 JSON") from exc
    if not isinstance(client_data, dict):
        raise VerificationError("clientDataJSON is not an object")
    # Step 11: type.
    if client_data.get("type") != "webauthn.get":
        raise VerificationError('clientDataJSON.type is not "webauthn.get"')
    # Step 12: challenge.
    challenge = client_data.get("challenge")
    try:
        challenge_ok = isinstance(challenge, str) and base64url_to_bytes(challenge) == expected_challenge
    except Exception:
        challenge_ok = False
    if not challenge_ok:
        raise VerificationError("clientDataJSON.challenge is not the expected challenge")
    # Step 13: origin.
    if client_data.get("origin") != expected_origin:
        raise VerificationError(f"unexpected origin {client_data.get('origin')!r}")
    # Token binding (L2), as py_webauthn checks it.
    token_binding = client_data.get("tokenBinding")
    if isinstance(token_binding, dict) and token_binding.get("status") not in ("supported", "present"):
        raise VerificationError("unexpected tokenBinding status")

    # authenticatorData (§6.1): rpIdHash(32) flags(1) signCount(4) ...
    if len(auth_data) < 37:
        raise VerificationError("authenticatorData shorter than 37 bytes")
    rp_id_hash, flags = auth_data[:32], auth_data[32]
    sign_count = int.from_bytes(auth_data[33:37], "big")
    # §6.1: nothing after the fixed part but the extensions map (ED, bit 7),
    # which must then be exactly one CBOR item; an assertion has no
    # attested credential data (AT, bit 6).
    if flags & 0x40:
        raise VerificationError("AT flag set in an assertion")
    if flags & 0x80:
        try:
            cbor2.loads(auth_data[37:])
        except Exception as exc:
            raise VerificationError("extensions are not exactly one CBOR map") from exc
    elif len(auth_data) != 37:
        raise VerificationError("bytes after the authenticator data")
    up, uv = bool(flags & 0x01), bool(flags & 0x04)
    # Step 15: rpIdHash.
    if rp_id_hash != hashlib.sha256(expected_rp_id.encode("utf-8")).digest():
        raise VerificationError("rpIdHash is not SHA-256 of the RP ID")
    # Step 16: UP.
    if require_user_presence and not up:
        raise VerificationError("UP flag not set")
    # Step 17: UV, when the RP requires it.
    if require_user_verification and not uv:
        raise VerificationError("UV flag not set but user verification is required")
    # Step 22: the signature counter must grow unless both sides are 0
    # (authenticators without a counter always report 0, §6.1.1).
    if (sign_count > 0 or current_sign_count > 0) and sign_count <= current_sign_count:
        raise VerificationError(
            f"signature counter {sign_count} not greater than stored {current_sign_count}"
        )
    # Steps 20-21: signature over authData || SHA-256(cData).
    if check_signature:
        cose_verify(credential_public_key, sig, auth_data + hashlib.sha256(c_data).digest())
    return AssertionResult(sign_count=sign_count, user_verified=uv)


# ---------------------------------------------------------------------------
# RP state
# ---------------------------------------------------------------------------


@dataclass
class Config:
    rp_id: str
    rp_name: str
    origin: str
    user_verification: str  # required | preferred | discouraged
    attestation: str  # none | direct
    flaws: frozenset[str]
    challenge_ttl: float = CHALLENGE_TTL  # seconds
    # Trusted attestation roots; when any, trusted attestation is demanded.
    trust_roots: list = field(default_factory=list)
    # The formats taken with trusted attestation.
    trusted_formats: frozenset[str] = frozenset(TRUSTED_FORMATS)


@dataclass
class User:
    name: str
    id: bytes  # the WebAuthn user handle: random, stable for this name


@dataclass
class Credential:
    id: bytes
    public_key: bytes  # COSE_Key
    sign_count: int
    username: str
    transports: list[str] = field(default_factory=list)


@dataclass
class Pending:
    ceremony: str  # "register" | "login"
    challenge: bytes
    username: str  # "" for a discoverable login
    created: float


def _client_challenge(credential: object) -> bytes | None:
    """The challenge the client put into clientDataJSON, if it can be read."""
    try:
        c_data = base64url_to_bytes(credential["response"]["clientDataJSON"])  # type: ignore[index]
        return base64url_to_bytes(json.loads(c_data)["challenge"])
    except Exception:
        return None


def _client_origin(credential: object) -> str | None:
    """The origin the client put into clientDataJSON, if it can be read."""
    try:
        c_data = base64url_to_bytes(credential["response"]["clientDataJSON"])  # type: ignore[index]
        origin = json.loads(c_data)["origin"]
        return origin if isinstance(origin, str) else None
    except Exception:
        return None


class RelyingParty:
    def __init__(self, config: Config):
        self.config = config
        self.lock = threading.Lock()
        self.users: dict[str, User] = {}
        self.credentials: dict[bytes, Credential] = {}
        self.pending: dict[str, Pending] = {}  # session id -> challenge
        # Flaw session-challenges: every challenge a session was given.
        self.session_challenges: dict[str, list[Pending]] = {}
        # Flaw idempotent-complete: accepted bodies and their answers.
        self.answered: dict[str, dict] = {}

    # -- sessions -----------------------------------------------------------

    def _new_session(self, ceremony: str, challenge: bytes, username: str,
                     current: str | None = None) -> str:
        now = time.monotonic()
        pending = Pending(ceremony, challenge, username, now)
        if "session-challenges" in self.config.flaws:
            # Flaw: the session of the cookie, if any, collects this one too.
            session = current if current in self.session_challenges else secrets.token_urlsafe(32)
            self.session_challenges.setdefault(session, []).append(pending)
            return session
        session = secrets.token_urlsafe(32)
        # Forget expired challenges so that abandoned ceremonies do not pile up.
        ttl = self.config.challenge_ttl
        for key in [k for k, p in self.pending.items() if now - p.created > ttl]:
            del self.pending[key]
        self.pending[session] = pending
        return session

    def _take_pending(self, session: str | None, ceremony: str, credential: object) -> Pending:
        if "session-challenges" in self.config.flaws:
            # Flaw: any challenge the session was ever given, kept after use.
            sent = _client_challenge(credential)
            for p in self.session_challenges.get(session or "", []):
                if p.ceremony == ceremony and p.challenge == sent:
                    pending = p
                    break
            else:
                raise SessionError("no pending challenge for this session")
        else:
            # The challenge is removed on the first complete attempt, whatever
            # its outcome: a challenge is single-use (§13.4.3).
            pending = self.pending.pop(session, None) if session else None
            if pending is None or pending.ceremony != ceremony:
                raise SessionError("no pending challenge for this session")
        expired = time.monotonic() - pending.created > self.config.challenge_ttl
        if expired and "no-expiry" not in self.config.flaws:
            raise SessionError("the challenge has expired")
        return pending

    def _answered_before(self, ceremony: str, credential: object) -> dict | None:
        """Flaw idempotent-complete: the answer an identical body got."""
        if "idempotent-complete" not in self.config.flaws:
            return None
        return self.answered.get(ceremony + json.dumps(credential, sort_keys=True))

    def _remember(self, ceremony: str, credential: object, answer: dict) -> dict:
        if "idempotent-complete" in self.config.flaws:
            self.answered[ceremony + json.dumps(credential, sort_keys=True)] = answer
        return answer

    def _expected_origin(self, credential: object) -> str:
        if "ignore-origin" in self.config.flaws:
            # Flaw: whatever origin the client reports is taken as expected.
            return _client_origin(credential) or self.config.origin
        return self.config.origin

    @property
    def _uv_required(self) -> bool:
        return self.config.user_verification == "required"

    # -- registration (§7.1) --------------------------------------------------

    def register_begin(self, body: dict, current: str | None = None) -> tuple[dict, str]:
        username = body.get("username")
        if not isinstance(username, str) or not username:
            raise VerificationError("username required")
        with self.lock:
            user = self.users.get(username)
            if user is None:
                user = self.users[username] = User(username, secrets.token_bytes(32))
            exclude = [
                PublicKeyCredentialDescriptor(id=c.id) for c in self.credentials.values()
                if c.username == username
            ]
            options = webauthn.generate_registration_options(
                rp_id=self.config.rp_id,
                rp_name=self.config.rp_name,
                user_name=username,
                user_id=user.id,
                attestation=AttestationConveyancePreference(
                    "direct" if self.config.trust_roots else self.config.attestation),
                authenticator_selection=AuthenticatorSelectionCriteria(
                    resident_key=ResidentKeyRequirement.PREFERRED,
                    user_verification=UserVerificationRequirement(self.config.user_verification),
                ),
                exclude_credentials=exclude,
                supported_pub_key_algs=SUPPORTED_ALGS,
            )
            session = self._new_session("register", options.challenge, username, current)
        return {"publicKey": json.loads(webauthn.options_to_json(options))}, session

    def register_complete(self, credential: object, session: str | None) -> dict:
        with self.lock:
            earlier = self._answered_before("register", credential)
            if earlier is not None:
                return earlier
            pending = self._take_pending(session, "register", credential)
            if not isinstance(credential, dict):
                raise VerificationError("body is not a RegistrationResponseJSON object")
            # §7.1: clientDataJSON type, challenge and origin (steps 7-9),
            # rpIdHash, UP and UV (steps 13-15), the algorithm and the
            # attestation statement, all by py_webauthn.
            checked = credential
            if self.config.trust_roots:
                # §7.1 steps 19-22 here, each check of its own; the rest
                # by py_webauthn, given the statement as "none".
                try:
                    c_data = base64url_to_bytes(credential["response"]["clientDataJSON"])
                    att_obj = base64url_to_bytes(credential["response"]["attestationObject"])
                except Exception as exc:
                    raise VerificationError(f"malformed registration response: {exc}") from exc
                if verify_trusted_attestation(att_obj, c_data, self.config.trust_roots,
                                              self.config.flaws, self.config.trusted_formats):
                    checked = as_none_attestation(credential)
            try:
                verified = webauthn.verify_registration_response(
                    credential=checked,
                    expected_challenge=pending.challenge,
                    expected_rp_id=self.config.rp_id,
                    expected_origin=self._expected_origin(credential),
                    # Flaw accept-up0: step 14 (UP) skipped.
                    require_user_presence="accept-up0" not in self.config.flaws,
                    require_user_verification=self._uv_required,
                    supported_pub_key_algs=SUPPORTED_ALGS,
                )
            except InvalidRegistrationResponse as exc:
                raise VerificationError(str(exc)) from exc
            except Exception as exc:  # malformed input that py_webauthn did not wrap
                raise VerificationError(f"malformed registration response: {exc}") from exc
            # Checks py_webauthn 3.0.1 leaves out, which a careful RP adds:
            # §7.1: the credentialId is at most 1023 bytes.
            if len(verified.credential_id) > 1023:
                raise VerificationError("credential ID longer than 1023 bytes")
            # The COSE key's alg agrees with its key type and curve (RFC 9053
            # §2.1, §7.1; RFC 8230 for RSA).
            check_cose_alg(verified.credential_public_key)
            # The attestation object is in CTAP2 canonical CBOR, as an
            # authenticator writes it (CTAP 2.1 §8) and a client passes it on.
            check_canonical(_b64url_field(credential.get("response", {}), "attestationObject"))
            # §7.1 "Verify that the credentialId is not yet registered for any
            # user": py_webauthn cannot know, the RP must refuse it.
            if verified.credential_id in self.credentials:
                raise VerificationError("credential ID already registered")
            transports = credential.get("response", {}).get("transports") or []
            self.credentials[verified.credential_id] = Credential(
                id=verified.credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                username=pending.username,
                transports=[t for t in transports if isinstance(t, str)],
            )
        return self._remember("register", credential,
                              {"ok": True, "credentialId": bytes_to_base64url(verified.credential_id)})

    # -- authentication (§7.2) -------------------------------------------------

    def login_begin(self, body: dict, current: str | None = None) -> tuple[dict, str]:
        username = body.get("username") or ""
        if not isinstance(username, str):
            raise VerificationError("username must be a string")
        with self.lock:
            # An unknown username gets an empty list, like a discoverable login,
            # so that the answer does not tell which usernames exist; its
            # completion still requires a credential of that (absent) user.
            allow = []
            for c in self.credentials.values():
                if username and c.username == username:
                    transports = []
                    for t in c.transports:
                        try:
                            transports.append(AuthenticatorTransport(t))
                        except ValueError:
                            pass
                    allow.append(PublicKeyCredentialDescriptor(id=c.id, transports=transports or None))
            options = webauthn.generate_authentication_options(
                rp_id=self.config.rp_id,
                allow_credentials=allow,
                user_verification=UserVerificationRequirement(self.config.user_verification),
            )
            session = self._new_session("login", options.challenge, username, current)
        return {"publicKey": json.loads(webauthn.options_to_json(options))}, session

    def login_complete(self, credential: object, session: str | None) -> dict:
        with self.lock:
            earlier = self._answered_before("login", credential)
            if earlier is not None:
                return earlier
            pending = self._take_pending(session, "login", credential)
            if not isinstance(credential, dict):
                raise VerificationError("body is not an AuthenticationResponseJSON object")
            raw_id = _b64url_field(credential, "rawId")
            stored = self.credentials.get(raw_id)
            if stored is None:
                raise VerificationError("unknown credential")
            owner = self.users[stored.username]
            # §7.2 steps 5-6: the credential must be one the ceremony allowed
            # (a credential of the user the login began for), and a user
            # handle, when returned (always, for a discoverable login), must be
            # its owner's.
            response = credential.get("response")
            user_handle = response.get("userHandle") if isinstance(response, dict) else None
            if pending.username and stored.username != pending.username:
                raise VerificationError("credential does not belong to this user")
            if not pending.username and not user_handle:
                raise VerificationError("userHandle required for a discoverable login")
            if user_handle:
                handle = _b64url_field(response, "userHandle")
                if handle != owner.id:
                    raise VerificationError("userHandle is not the credential owner's")
            # Flaw ignore-counter: the stored counter is not compared (step 22).
            current = 0 if "ignore-counter" in self.config.flaws else stored.sign_count
            expected_origin = self._expected_origin(credential)
            if self.config.flaws & {"accept-up0", "skip-signature"}:
                new_count = verify_assertion(
                    credential,
                    expected_challenge=pending.challenge,
                    expected_origin=expected_origin,
                    expected_rp_id=self.config.rp_id,
                    credential_public_key=stored.public_key,
                    current_sign_count=current,
                    require_user_verification=self._uv_required,
                    require_user_presence="accept-up0" not in self.config.flaws,
                    check_signature="skip-signature" not in self.config.flaws,
                ).sign_count
            else:
                # Steps 8-22 by py_webauthn.
                try:
                    new_count = webauthn.verify_authentication_response(
                        credential=credential,
                        expected_challenge=pending.challenge,
                        expected_rp_id=self.config.rp_id,
                        expected_origin=expected_origin,
                        credential_public_key=stored.public_key,
                        credential_current_sign_count=current,
                        require_user_verification=self._uv_required,
                    ).new_sign_count
                except InvalidAuthenticationResponse as exc:
                    raise VerificationError(str(exc)) from exc
                except Exception as exc:  # malformed input that py_webauthn did not wrap
                    raise VerificationError(f"malformed authentication response: {exc}") from exc
            # Step 22: remember the new counter.
            stored.sign_count = new_count
        return self._remember("login", credential, {"ok": True, "username": owner.name})


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server_version = "fidosim-reference-rp/1"
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds a client may stay silent mid-request
    rp: RelyingParty  # set on the subclass made in main()

    ROUTES = {
        "/auth/passkey/register/begin": "register_begin",
        "/auth/passkey/register/complete": "register_complete",
        "/auth/passkey/login/begin": "login_begin",
        "/auth/passkey/login/complete": "login_complete",
    }

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _send(self, status: int, body: dict, cookie: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if cookie is not None:
            self.send_header("Set-Cookie", f"session={cookie}; Path=/; HttpOnly")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"ok": False, "error": message})

    def _session(self) -> str | None:
        try:
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get("session")
        except CookieError:
            return None
        return morsel.value if morsel is not None else None

    def _read_json(self) -> object:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            raise _HttpError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise _HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        raw = self.rfile.read(length)
        if len(raw) != length:
            self.close_connection = True
            raise _HttpError(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
        try:
            return json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "body is not JSON")

    def do_POST(self) -> None:  # noqa: N802
        route = self.ROUTES.get(self.path.split("?", 1)[0])
        try:
            if route is None:
                self._read_json()  # keep the connection in step
                raise _HttpError(HTTPStatus.NOT_FOUND, "no such endpoint")
            body = self._read_json()
            if route.endswith("_begin"):
                if not isinstance(body, dict):
                    raise VerificationError("body must be a JSON object")
                result, session = getattr(self.rp, route)(body, self._session())
                self._send(HTTPStatus.OK, result, cookie=session)
            else:
                self._send(HTTPStatus.OK, getattr(self.rp, route)(body, self._session()))
        except _HttpError as exc:
            self._error(exc.status, exc.message)
        except SessionError as exc:
            self._error(HTTPStatus.UNAUTHORIZED, str(exc))
        except VerificationError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # a bug: still a JSON answer, never a hang
            self.log_error("internal error: %r", exc)
            self.close_connection = True
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}")

    def _not_allowed(self) -> None:
        self.close_connection = True
        status = HTTPStatus.METHOD_NOT_ALLOWED if self.path in self.ROUTES else HTTPStatus.NOT_FOUND
        self._error(status, "POST only" if status == HTTPStatus.METHOD_NOT_ALLOWED else "no such endpoint")

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _not_allowed


class _HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    p.add_argument("--rp-id", default="localhost")
    p.add_argument("--rp-name", default="fidosim reference RP")
    p.add_argument("--origin", help="expected origin (default http://localhost:PORT)")
    p.add_argument("--user-verification", choices=["required", "preferred", "discouraged"],
                   default="preferred")
    p.add_argument("--attestation", choices=["none", "direct"], default="none")
    p.add_argument("--trust-root", action="append", default=[], metavar="PEM",
                   help="demand trusted attestation, chained to this root (repeatable)")
    p.add_argument("--trusted-formats", default=",".join(TRUSTED_FORMATS),
                   help="with --trust-root: the formats taken (default: %(default)s)")
    p.add_argument("--flaw", action="append", choices=FLAWS + ATTESTATION_FLAWS, default=[],
                   help="switch off one check (repeatable)")
    p.add_argument("--challenge-ttl", type=float, default=CHALLENGE_TTL,
                   help=f"seconds a challenge stays usable (default {CHALLENGE_TTL:g})")
    p.add_argument("--tls-cert", help="serve https with this PEM certificate chain (with --tls-key)")
    p.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    args = p.parse_args(argv)
    unknown = set(args.trusted_formats.split(",")) - set(TRUSTED_FORMATS) - {""}
    if unknown:
        p.error(f"--trusted-formats: unknown {', '.join(sorted(unknown))} "
                f"(known: {', '.join(TRUSTED_FORMATS)})")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    scheme = "http"
    if args.tls_cert:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    config = Config(
        rp_id=args.rp_id,
        rp_name=args.rp_name,
        origin=args.origin or f"http://localhost:{port}",
        user_verification=args.user_verification,
        attestation=args.attestation,
        flaws=frozenset(args.flaw),
        challenge_ttl=args.challenge_ttl,
        trusted_formats=frozenset(f for f in args.trusted_formats.split(",") if f),
        trust_roots=[cert for path in args.trust_root
                     for cert in x509.load_pem_x509_certificates(open(path, "rb").read())],
    )
    Handler.rp = RelyingParty(config)
    print(f"listening on {scheme}://127.0.0.1:{port}", flush=True)
    flaws = ",".join(sorted(config.flaws)) or "none"
    print(f"rp-id {config.rp_id} origin {config.origin} uv {config.user_verification} "
          f"attestation {config.attestation} trusted roots {len(config.trust_roots)} flaws {flaws}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
