"""python-fido2 (2.2.x) against fidosim as a real USB HID key, over /dev/hidraw*.

Run by python-fido2.sh inside the test VM:
    python python_fido2_hidraw.py MODE EXPECTED_HIDRAW_PATH ATTESTATION_CA_PEM

Registers ES256 and EdDSA credentials (server-side and discoverable) through
Fido2Client and Fido2Server, with the packed attestation chain checked
against fidosim's CA, and authenticates with each twice;
register_complete/authenticate_complete verify every signature. Exits
non-zero on the first failed check.

MODE:
  stock      for `fidosim run --uv none`: no UV method, no PIN; every case
             with UV discouraged, and the UV flag must stay clear.
  builtin-uv for `fidosim run` (built-in UV, no PIN, makeCredUvNotRqd):
             UV discouraged, preferred and required; the UV flag is set
             unless a server-side credential is made or used with UV
             discouraged. A discoverable credential with UV discouraged is
             refused (CTAP2_ERR_OPERATION_DENIED: python-fido2 does not ask
             for UV there, and a key protected by UV makes discoverable
             credentials only with UV, CTAP 2.1 §6.1.2 step 7). Then
             ClientPin over hidraw: the built-in UV token, set a PIN, PIN
             tokens under both PIN/UV auth protocols, a wrong PIN, and
             Fido2Client asking for the PIN.
"""

from __future__ import annotations

import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fido2.attestation import AttestationVerifier, PackedAttestation
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.cose import EdDSA, ES256
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.hid import CtapHidDevice
from fido2.server import Fido2Server
from fido2.webauthn import (
    Aaguid,
    AuthenticatorAttachment,
    PublicKeyCredentialParameters,
    PublicKeyCredentialType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

ORIGIN = "https://example.com"
RP = {"id": "example.com", "name": "Example"}
AAGUID = Aaguid.parse("f1d0f1d0-5eed-4b1d-a7e5-000000000001")
PIN = "4321"
P = ClientPin.PERMISSION
DISCOURAGED = UserVerificationRequirement.DISCOURAGED
PREFERRED = UserVerificationRequirement.PREFERRED
REQUIRED = UserVerificationRequirement.REQUIRED
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.2f}s] {msg}", flush=True)


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    log(f"ok: {what}")


class FidosimCa(AttestationVerifier):
    """Trusts only fidosim's attestation CA (written by `fidosim run --write-ca`)."""

    def __init__(self, ca_pem: bytes):
        super().__init__([PackedAttestation()])
        self.ca_der = x509.load_pem_x509_certificate(ca_pem).public_bytes(
            serialization.Encoding.DER
        )
        self.calls = 0

    def ca_lookup(self, attestation_result, auth_data):
        self.calls += 1
        return self.ca_der


class Touchless(UserInteraction):
    def prompt_up(self) -> None:
        log("  (authenticator waits for user presence; fidosim approves by itself)")

    def request_pin(self, permissions, rp_id):
        raise SystemExit("FAIL: the client asked for a PIN; fidosim has none")


class PinEntry(Touchless):
    """Refuses built-in UV, so the client falls back to the PIN; counts the asks."""

    def __init__(self, pin: str):
        self.pin = pin
        self.asked = 0

    def request_uv(self, permissions, rp_id):
        return False

    def request_pin(self, permissions, rp_id):
        self.asked += 1
        return self.pin


def register(client, verifier, name, alg, rk, uv, user_id):
    server = Fido2Server(RP, attestation="direct", verify_attestation=verifier)
    server.allowed_algorithms = [
        PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)
    ]
    options, state = server.register_begin(
        {"id": user_id, "name": f"{name}@example.com", "displayName": name},
        resident_key_requirement=(
            ResidentKeyRequirement.REQUIRED if rk else ResidentKeyRequirement.DISCOURAGED
        ),
        user_verification=uv,
        authenticator_attachment=AuthenticatorAttachment.CROSS_PLATFORM,
    )
    reg = client.make_credential(options.public_key)
    return server, reg, server.register_complete(state, reg)


def authenticate(client, server, cred, rk, uv, user_id, n_rk=1):
    """One sign-in; returns the verified authenticator data. n_rk: how many
    discoverable credentials the key holds for the RP."""
    options, state = server.authenticate_begin(None if rk else [cred], user_verification=uv)
    selection = client.get_assertion(options.public_key)
    assertions = selection.get_assertions()
    idx = 0
    if rk:
        check(len(assertions) == n_rk, f"{n_rk} discoverable credential(s) for {RP['id']}")
        idx = [a.user["id"] for a in assertions].index(user_id)
    response = selection.get_response(idx)
    used = server.authenticate_complete(state, [cred], response)
    check(used.credential_id == cred.credential_id, "authenticate_complete verified the signature")
    if rk:
        check(response.response.user_handle == user_id, f"the user handle {user_id!r} came back")
    return response.response.authenticator_data


def run_cases(client, verifier, builtin_uv):
    cases = [
        # (alg name, COSE alg, discoverable, userVerification)
        ("es256", ES256.ALGORITHM, False, DISCOURAGED),
        ("eddsa", EdDSA.ALGORITHM, False, DISCOURAGED),
    ]
    if builtin_uv:
        cases += [
            ("es256", ES256.ALGORITHM, False, PREFERRED),
            ("es256", ES256.ALGORITHM, True, REQUIRED),
            ("eddsa", EdDSA.ALGORITHM, True, PREFERRED),
        ]
    else:
        cases += [
            ("es256", ES256.ALGORITHM, True, DISCOURAGED),
            ("eddsa", EdDSA.ALGORITHM, True, DISCOURAGED),
        ]
    n_rk = 0
    for name, alg, rk, uv in cases:
        n_rk += rk
        label = f"{name} {'discoverable' if rk else 'server-side'} UV {uv.value}"
        user_id = f"user-{name}-{rk}-{uv.value}".encode()
        # The key sets UV whenever the client asks for it; python-fido2 asks
        # unless UV is discouraged (and there is a UV method at all).
        want_uv = builtin_uv and uv != DISCOURAGED

        log(f"--- {label}: register")
        calls_before = verifier.calls
        server, reg, auth_data = register(client, verifier, name, alg, rk, uv, user_id)
        cred = auth_data.credential_data
        check(cred is not None, f"{label}: register_complete accepted the attestation")
        check(verifier.calls == calls_before + 1, f"{label}: packed x5c chain verified against fidosim's CA")
        check(reg.response.attestation_object.fmt == "packed", f"{label}: format packed")
        check(cred.aaguid == AAGUID, f"{label}: attested AAGUID")
        check(cred.public_key[3] == alg, f"{label}: credential key is COSE alg {alg}")
        check(auth_data.is_user_present(), f"{label}: UP flag")
        check(auth_data.is_user_verified() == want_uv, f"{label}: UV flag {'set' if want_uv else 'clear'}")
        counter0 = auth_data.counter

        for round_ in (1, 2):
            log(f"--- {label}: authenticate #{round_}")
            ad = authenticate(client, server, cred, rk, uv, user_id, n_rk)
            check(ad.counter > counter0, f"{label}: signature counter rose ({counter0} -> {ad.counter})")
            check(ad.is_user_verified() == want_uv, f"{label}: UV flag {'set' if want_uv else 'clear'}")
            counter0 = ad.counter

        # The verification can fail: a signature over another challenge is refused.
        options, state = server.authenticate_begin(None if rk else [cred], user_verification=uv)
        _, other_state = server.authenticate_begin(None if rk else [cred], user_verification=uv)
        selection = client.get_assertion(options.public_key)
        idx = [a.user["id"] for a in selection.get_assertions()].index(user_id) if rk else 0
        response = selection.get_response(idx)
        try:
            server.authenticate_complete(other_state, [cred], response)
        except ValueError as e:
            check(True, f"{label}: an assertion for another challenge is rejected ({e})")
        else:
            raise SystemExit(f"FAIL: {label}: authenticate_complete accepted a wrong challenge")

    if builtin_uv:
        label = "es256 discoverable UV discouraged"
        log(f"--- {label}: register (must be refused)")
        try:
            register(client, verifier, "refused", ES256.ALGORITHM, True, DISCOURAGED, b"refused")
        except ClientError as e:
            code = getattr(e.cause, "code", None)
            check(code == CtapError.ERR.OPERATION_DENIED,
                  f"{label}: refused with {code!r} (CTAP2_ERR_OPERATION_DENIED, 0x27)")
        else:
            raise SystemExit(f"FAIL: {label}: a discoverable credential was made without UV")


def client_pin_steps(dev, verifier):
    """ClientPin over hidraw on the default key (built-in UV, no PIN yet)."""
    ctap = Ctap2(dev)
    log("--- ClientPin: built-in UV token")
    for proto in (PinProtocolV2, PinProtocolV1):
        pin = ClientPin(ctap, proto())
        check(pin.get_uv_retries() == 5, f"protocol {proto.VERSION}: getUVRetries = 5")
        token = pin.get_uv_token(P.MAKE_CREDENTIAL, RP["id"])
        check(len(token) == 32, f"protocol {proto.VERSION}: a 32-byte UV token")

    log("--- ClientPin: set a PIN")
    pin = ClientPin(ctap, PinProtocolV2())
    retries = pin.get_pin_retries()
    check(retries == (8, False), f"getPINRetries = {retries} (8 retries, no power cycle needed)")
    pin.set_pin(PIN)
    check(ctap.get_info().options.get("clientPin") is True, "getInfo option clientPin=true after setPIN")
    for proto in (PinProtocolV2, PinProtocolV1):
        pin = ClientPin(ctap, proto())
        token = pin.get_pin_token(PIN, P.MAKE_CREDENTIAL | P.GET_ASSERTION, RP["id"])
        check(len(token) == 32, f"protocol {proto.VERSION}: a 32-byte PIN token")
    try:
        pin.get_pin_token("0000", P.GET_ASSERTION, RP["id"])
    except CtapError as e:
        check(e.code == CtapError.ERR.PIN_INVALID, f"a wrong PIN: {e.code!r}")
    else:
        raise SystemExit("FAIL: a wrong PIN gave a token")
    check(pin.get_pin_retries()[0] == 7, "7 PIN retries left after a wrong PIN")
    pin.get_pin_token(PIN, P.GET_ASSERTION, RP["id"])
    check(pin.get_pin_retries()[0] == 8, "8 PIN retries again after the right PIN")

    log("--- Fido2Client with the PIN (built-in UV declined, so the client asks for the PIN)")
    entry = PinEntry(PIN)
    client = Fido2Client(dev, client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=entry)
    user_id = b"user-pin"
    server, reg, auth_data = register(client, verifier, "pin", ES256.ALGORITHM, True, REQUIRED, user_id)
    check(entry.asked == 1, f"the client asked for the PIN once (asked {entry.asked})")
    check(auth_data.is_user_verified(), "registration with the PIN token: UV flag set")
    # the two discoverable credentials of run_cases, and this one
    ad = authenticate(client, server, auth_data.credential_data, True, REQUIRED, user_id, 3)
    check(entry.asked == 2, "the client asked for the PIN again for the sign-in")
    check(ad.is_user_verified(), "sign-in with the PIN token: UV flag set")
    wrong = PinEntry("0000")
    client = Fido2Client(dev, client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=wrong)
    try:
        register(client, verifier, "wrong", ES256.ALGORITHM, True, REQUIRED, b"wrong")
    except ClientError as e:
        code = getattr(e.cause, "code", None)
        check(code == CtapError.ERR.PIN_INVALID, f"registration with a wrong PIN refused: {code!r}")
    else:
        raise SystemExit("FAIL: registration with a wrong PIN succeeded")


def main() -> None:
    mode, want_path, ca_path = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode not in ("stock", "builtin-uv"):
        raise SystemExit(f"unknown mode {mode}")
    builtin_uv = mode == "builtin-uv"

    devs = list(CtapHidDevice.list_devices())
    for d in devs:
        log(f"found {d.descriptor.path} {d.descriptor.vid:04x}:{d.descriptor.pid:04x} "
            f"{d.descriptor.product_name!r} serial {d.descriptor.serial_number!r}")
    ours = [d for d in devs if (d.descriptor.vid, d.descriptor.pid) == (0x1209, 0x0001)]
    check(len(ours) == 1, "list_devices() finds exactly one 1209:0001 key")
    dev = ours[0]
    check(dev.descriptor.path == want_path, f"its path is {want_path}")
    check(str(dev.descriptor.path).startswith("/dev/hidraw"), "it is a hidraw device")

    verifier = FidosimCa(open(ca_path, "rb").read())
    client = Fido2Client(
        dev,
        client_data_collector=DefaultClientDataCollector(ORIGIN),
        user_interaction=Touchless(),
    )
    info = client.info
    check(info.versions == ["U2F_V2", "FIDO_2_0", "FIDO_2_1"], f"getInfo versions {info.versions}")
    check(info.aaguid == AAGUID, f"AAGUID {info.aaguid}")
    check(info.pin_uv_protocols == [2, 1], f"pinUvAuthProtocols {info.pin_uv_protocols}")
    check(info.options.get("rk") is True, "getInfo option rk=true")
    check(info.options.get("up", True) is True, "getInfo option up=true (or absent)")
    check(info.options.get("clientPin") is False, "getInfo option clientPin=false (no PIN set)")
    check(info.options.get("makeCredUvNotRqd") is True, "getInfo option makeCredUvNotRqd=true")
    if builtin_uv:
        check(info.options.get("uv") is True, "getInfo option uv=true (built-in UV)")
    else:
        check("uv" not in info.options, "getInfo has no uv option (--uv none)")

    run_cases(client, verifier, builtin_uv)
    if builtin_uv:
        client_pin_steps(dev, verifier)

    dev.close()
    log("python-fido2 over hidraw: all checks passed")


if __name__ == "__main__":
    main()
