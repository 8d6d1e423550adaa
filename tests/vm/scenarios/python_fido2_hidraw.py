"""python-fido2 (2.2.x) against fidosim as a real USB HID key, over /dev/hidraw*.

Run by python-fido2.sh inside the test VM:
    python python_fido2_hidraw.py MODE EXPECTED_HIDRAW_PATH ATTESTATION_CA_PEM

Registers ES256 and EdDSA credentials (server-side and discoverable) through
Fido2Client and Fido2Server, with the packed attestation chain checked
against fidosim's CA, and authenticates with each twice;
register_complete/authenticate_complete verify every signature. Exits
non-zero on the first failed check.

MODE:
  stock     for `fidosim run --uv none`: unmodified python-fido2, no UV
  builtin-uv for `fidosim run` (built-in UV): python-fido2 2.2.1 cannot use
            built-in UV on an authenticator without pinUvAuthProtocols (its
            Fido2Client builds a ClientPin, which raises "No compatible PIN/UV
            protocols supported!"); this mode first shows that, then patches
            ClientPin to tolerate it and requires UV on the discoverable cases.
"""

from __future__ import annotations

import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fido2.attestation import AttestationVerifier, PackedAttestation
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.cose import EdDSA, ES256
from fido2.ctap2.pin import ClientPin
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


class BuiltinUvClientPin(ClientPin):
    """fido2.client.ClientPin that tolerates built-in UV without PIN protocols.

    With no pinUvAuthProtocols and no pinUvAuthToken option, the client only
    builds the ClientPin object, then sends options.uv=true and never uses
    it. Any other situation goes to the real ClientPin constructor."""

    def __init__(self, ctap, protocol=None):
        if protocol is None and not ctap.info.pin_uv_protocols:
            self.ctap = ctap
            self.protocol = None
        else:
            super().__init__(ctap, protocol)


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
    check("FIDO_2_0" in info.versions, f"getInfo versions {info.versions} include FIDO_2_0")
    check(info.aaguid == AAGUID, f"AAGUID {info.aaguid}")
    check(info.options.get("rk") is True, "getInfo option rk=true")
    check(info.options.get("up", True) is True, "getInfo option up=true (or absent)")
    if builtin_uv:
        check(info.options.get("uv") is True, "getInfo option uv=true (built-in UV)")
    else:
        check("uv" not in info.options, "getInfo has no uv option (--uv none)")

    if builtin_uv:
        import fido2.client

        log("--- stock python-fido2 with built-in UV (known gap)")
        server = Fido2Server(RP)
        options, _ = server.register_begin({"id": b"probe", "name": "probe"})
        try:
            client.make_credential(options.public_key)
        except ValueError as e:
            log(f"note: stock python-fido2 {fido2.__name__} cannot register: {e!r} "
                f"(getInfo pinUvAuthProtocols: {info.pin_uv_protocols})")
        else:
            log("note: stock python-fido2 registered with built-in UV: the known gap is gone")
        fido2.client.ClientPin = BuiltinUvClientPin

    cases = [
        # (alg name, COSE alg, discoverable)
        ("es256", ES256.ALGORITHM, False),
        ("eddsa", EdDSA.ALGORITHM, False),
        ("es256", ES256.ALGORITHM, True),
        ("eddsa", EdDSA.ALGORITHM, True),
    ]
    for name, alg, rk in cases:
        label = f"{name} {'discoverable' if rk else 'server-side'}"
        server = Fido2Server(RP, attestation="direct", verify_attestation=verifier)
        server.allowed_algorithms = [
            PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)
        ]
        user_id = f"user-{name}-{rk}".encode()
        uv = (
            UserVerificationRequirement.REQUIRED
            if rk and builtin_uv
            else UserVerificationRequirement.DISCOURAGED
        )

        log(f"--- {label}: register")
        calls_before = verifier.calls
        options, state = server.register_begin(
            {"id": user_id, "name": f"{name}@example.com", "displayName": name},
            resident_key_requirement=(
                ResidentKeyRequirement.REQUIRED if rk else ResidentKeyRequirement.DISCOURAGED
            ),
            user_verification=uv,
            authenticator_attachment=AuthenticatorAttachment.CROSS_PLATFORM,
        )
        reg = client.make_credential(options.public_key)
        auth_data = server.register_complete(state, reg)
        cred = auth_data.credential_data
        check(cred is not None, f"{label}: register_complete accepted the attestation")
        check(verifier.calls == calls_before + 1, f"{label}: packed x5c chain verified against fidosim's CA")
        check(reg.response.attestation_object.fmt == "packed", f"{label}: format packed")
        check(cred.aaguid == AAGUID, f"{label}: attested AAGUID")
        check(cred.public_key[3] == alg, f"{label}: credential key is COSE alg {alg}")
        check(auth_data.is_user_present(), f"{label}: UP flag")
        if builtin_uv and rk:
            check(auth_data.is_user_verified(), f"{label}: UV flag (built-in UV)")
        if not builtin_uv:
            check(not auth_data.is_user_verified(), f"{label}: no UV flag (--uv none)")
        counter0 = auth_data.counter

        for round_ in (1, 2):
            log(f"--- {label}: authenticate #{round_}")
            options, state = server.authenticate_begin(
                None if rk else [cred], user_verification=uv
            )
            selection = client.get_assertion(options.public_key)
            assertions = selection.get_assertions()
            check(len(assertions) >= 1, f"{label}: got {len(assertions)} assertion(s)")
            # discoverable: pick the assertion for this user
            idx = 0
            if rk:
                idx = [a.user["id"] for a in assertions].index(user_id)
                check(True, f"{label}: the user handle {user_id!r} came back")
            response = selection.get_response(idx)
            used = server.authenticate_complete(state, [cred], response)
            check(used.credential_id == cred.credential_id, f"{label}: authenticate_complete verified the signature")
            ad = response.response.authenticator_data
            check(ad.counter > counter0, f"{label}: signature counter rose ({counter0} -> {ad.counter})")
            counter0 = ad.counter

        # The verification can fail: a signature over another challenge is refused.
        options, state = server.authenticate_begin([cred], user_verification=uv)
        _, other_state = server.authenticate_begin([cred], user_verification=uv)
        response = client.get_assertion(options.public_key).get_response(0)
        try:
            server.authenticate_complete(other_state, [cred], response)
        except ValueError as e:
            check(True, f"{label}: an assertion for another challenge is rejected ({e})")
        else:
            raise SystemExit(f"FAIL: {label}: authenticate_complete accepted a wrong challenge")

    dev.close()
    log("python-fido2 over hidraw: all checks passed")


if __name__ == "__main__":
    main()
