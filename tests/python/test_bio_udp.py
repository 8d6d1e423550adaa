"""authenticatorBioEnrollment (CTAP 2.1 §6.7) through python-fido2 against
a key started with --bio-enroll: fingers enrolled (each sample a touch the
control API's presence mode answers), listed, renamed and removed, and what
that does to built-in UV in getInfo and in a ceremony."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.bio import BioEnrollment, CaptureError, FPBioEnrollment
from fido2.ctap2.pin import ClientPin
from fido2.server import Fido2Server
from fido2.webauthn import ResidentKeyRequirement, UserVerificationRequirement

from fidosim_udp import open_udp_device

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rigs"))
from fidosim_control import Fidosim  # noqa: E402

ORIGIN = "https://example.com"
RP = {"id": "example.com", "name": "Example"}
PIN = "4321"
P = ClientPin.PERMISSION


class NoPin(UserInteraction):
    """A user who never gives the PIN: only built-in UV can verify."""

    def request_pin(self, permissions, rp_id):
        return None


@pytest.fixture
def bio_key(fidosim_factory, tmp_path):
    sock = tmp_path / "control.sock"
    daemon = fidosim_factory("--bio-enroll", "--control-socket", str(sock))
    device = open_udp_device(*daemon.addr)
    yield Fidosim(str(sock)), device
    device.close()


def register_with_uv(device):
    client = Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=NoPin())
    server = Fido2Server(RP, attestation="none")
    options, state = server.register_begin(
        {"id": os.urandom(16), "name": "alice"},
        resident_key_requirement=ResidentKeyRequirement.DISCOURAGED,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    response = client.make_credential(options.public_key)
    return server.register_complete(state, response)


def test_fingers_are_enrolled_listed_renamed_and_removed(bio_key):
    control, device = bio_key
    ctap = Ctap2(device)
    info = ctap.get_info()
    # A sensor without a finger: supported, not configured.
    assert info.options["bioEnroll"] is False and info.options["uv"] is False
    assert info.uv_modality == 2  # USER_VERIFY_FINGERPRINT_INTERNAL
    assert BioEnrollment.is_supported(info)
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    bio = FPBioEnrollment(ctap, pin.protocol, pin.get_pin_token(PIN, P.BIO_ENROLL))
    sensor = bio.get_fingerprint_sensor_info()
    assert sensor[BioEnrollment.RESULT.FINGERPRINT_KIND] == 1
    assert sensor[BioEnrollment.RESULT.MAX_SAMPLES_REQUIRED] == 4
    assert bio.enumerate_enrollments() == {}

    # A refused touch is a poor sample: python-fido2 raises CaptureError,
    # and the enrollment goes on with the next touch.
    enrollment = bio.enroll()
    assert enrollment.capture() is None and enrollment.remaining == 3
    control.request("PUT", "/presence", {"presence": "deny"})
    with pytest.raises(CaptureError) as exc:
        enrollment.capture()
    assert exc.value.code == FPBioEnrollment.FEEDBACK.FP_POOR_QUALITY
    assert enrollment.remaining == 3
    control.request("PUT", "/presence", {"presence": "approve"})
    assert enrollment.capture() is None and enrollment.remaining == 2
    assert enrollment.capture() is None and enrollment.remaining == 1
    template_id = enrollment.capture()
    assert template_id == b"\x01"

    info = ctap.get_info()
    assert info.options["bioEnroll"] is True and info.options["uv"] is True
    assert bio.enumerate_enrollments() == {b"\x01": ""}
    bio.set_name(template_id, "left thumb")
    assert bio.enumerate_enrollments() == {b"\x01": "left thumb"}
    # Built-in UV now verifies the user without the PIN.
    assert register_with_uv(device).is_user_verified()

    # Another finger, then the first removed (the ceremony's token replaced
    # the be token: a new one).
    bio = FPBioEnrollment(ctap, pin.protocol, pin.get_pin_token(PIN, P.BIO_ENROLL))
    second = bio.enroll()
    results = [second.capture() for _ in range(4)]
    assert results == [None, None, None, b"\x02"]
    bio.remove_enrollment(template_id)
    assert list(bio.enumerate_enrollments()) == [b"\x02"]
    bio.remove_enrollment(b"\x02")
    assert ctap.get_info().options["uv"] is False
    # Removing what is not there.
    with pytest.raises(CtapError) as exc:
        bio.remove_enrollment(b"\x02")
    assert exc.value.code == CtapError.ERR.INVALID_OPTION


def test_enrollment_needs_the_be_permission(bio_key):
    _, device = bio_key
    ctap = Ctap2(device)
    pin = ClientPin(ctap)
    pin.set_pin(PIN)
    bio = FPBioEnrollment(ctap, pin.protocol, pin.get_pin_token(PIN, P.MAKE_CREDENTIAL))
    with pytest.raises(CtapError) as exc:
        bio.enroll_begin()
    assert exc.value.code == CtapError.ERR.PIN_AUTH_INVALID


def test_a_key_without_the_flag_has_no_bio_enrollment(fidosim_factory):
    daemon = fidosim_factory()
    device = open_udp_device(*daemon.addr)
    try:
        info = Ctap2(device).get_info()
        assert "bioEnroll" not in info.options
        assert not BioEnrollment.is_supported(info)
    finally:
        device.close()
