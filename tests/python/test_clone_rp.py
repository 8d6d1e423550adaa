"""The cloned-authenticator scenario end to end, judged by an independent RP
verifier (py_webauthn): a credential registered on fidosim, a clone made
through the control API whose counter lags, and the RP reporting the
regression when the clone signs in."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time

import pytest
import webauthn
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.webauthn import (
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
)

from fidosim_udp import open_udp_device

ORIGIN = "https://shop.example"
RP_ID = "shop.example"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the daemon's control socket."""

    def __init__(self, path: str):
        super().__init__("fidosim")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def control(sock: str, method: str, path: str, body=None):
    conn = UnixHTTPConnection(sock)
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    return resp.status, data


def register(client: Fido2Client):
    options = webauthn.generate_registration_options(
        rp_id=RP_ID,
        rp_name="Shop",
        user_name="alice",
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED
        ),
    )
    public_key = PublicKeyCredentialCreationOptions.from_dict(
        json.loads(webauthn.options_to_json(options))
    )
    response = client.make_credential(public_key)
    return webauthn.verify_registration_response(
        credential=dict(response),
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )


def sign_in(client: Fido2Client, registered, current_count: int):
    options = webauthn.generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=registered.credential_id)],
    )
    public_key = PublicKeyCredentialRequestOptions.from_dict(
        json.loads(webauthn.options_to_json(options))
    )
    response = client.get_assertion(public_key).get_response(0)
    return webauthn.verify_authentication_response(
        credential=dict(response),
        expected_challenge=options.challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=registered.credential_public_key,
        credential_current_sign_count=current_count,
    )


def test_the_rp_detects_a_lagging_clone(fidosim_factory, tmp_path):
    sock = str(tmp_path / "control.sock")
    daemon = fidosim_factory("--control-socket", sock)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        assert time.monotonic() < deadline, "no control socket"
        time.sleep(0.02)
    original = Fido2Client(open_udp_device(*daemon.addr),
                           client_data_collector=DefaultClientDataCollector(ORIGIN))
    registered = register(original)
    count = registered.sign_count
    for _ in range(3):
        count = sign_in(original, registered, count).new_sign_count
    # python-fido2 probes with an up=false assertion first, which counts too.
    assert count >= 3

    # The clone holds the same key and credential ID, two signatures behind.
    status, clone = control(sock, "POST", "/v1/devices/default/clone",
                            {"name": "clone", "counterOffset": -2})
    assert status == 201, clone
    host, port = clone["address"].rsplit(":", 1)
    cloned = Fido2Client(open_udp_device(host, int(port)),
                         client_data_collector=DefaultClientDataCollector(ORIGIN))

    # Its signature is valid, but its counter went back: the RP says so.
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        sign_in(cloned, registered, count)

    # The original goes on, and the RP accepts it.
    count = sign_in(original, registered, count).new_sign_count

    # Rewound in place (`fidosim counters set`), the original is caught too.
    cred_id = registered.credential_id
    status, _ = control(sock, "PUT",
                        "/v1/devices/default/credentials/"
                        + webauthn.helpers.bytes_to_base64url(cred_id) + "/counter",
                        {"signCount": 1})
    assert status == 200
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        sign_in(original, registered, count)
