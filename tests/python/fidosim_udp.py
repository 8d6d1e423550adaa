"""HID-over-UDP connection to a fidosim daemon, for python-fido2 2.x.

The daemon (``fidosim run --transport udp``) exchanges CTAPHID reports as UDP
datagrams: every datagram is exactly one 64-byte report, without a report-ID
byte, and the daemon replies to the address the request came from.

python-fido2's ``CtapHidDevice`` hands ``write_packet`` a full 64-byte report
(the Linux hidraw backend is what prepends the 0 report ID, in its own
``write_packet``), so normally nothing needs stripping; a leading report-ID
byte on a 65-byte packet is nevertheless removed so that exactly 64 bytes go
into each datagram whatever the caller.
"""

from __future__ import annotations

import socket

from fido2.hid import CtapHidDevice, ConnectionFailure
from fido2.hid.base import CtapHidConnection, HidDescriptor

REPORT_SIZE = 64
FIDOSIM_VID = 0x1209
FIDOSIM_PID = 0x0001


def parse_udp_path(path: str) -> tuple[str, int]:
    """Parse ``udp:HOST:PORT`` into ``(HOST, PORT)``."""
    scheme, sep, rest = path.partition(":")
    host, sep2, port = rest.rpartition(":")
    if scheme != "udp" or not sep or not sep2 or not host:
        raise ValueError(f"not a udp:HOST:PORT path: {path!r}")
    return host, int(port)


class UdpCtapHidConnection(CtapHidConnection):
    """A CtapHidConnection carrying one HID report per UDP datagram."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # connect() makes the kernel drop datagrams from anyone but the daemon.
            self._sock.connect((host, port))
            self._sock.settimeout(timeout)
        except BaseException:
            self._sock.close()
            raise

    def write_packet(self, data: bytes) -> None:
        data = bytes(data)
        if len(data) == REPORT_SIZE + 1 and data[0] == 0:
            data = data[1:]  # strip a leading report ID (hidraw style)
        if len(data) > REPORT_SIZE:
            raise ValueError(f"HID report too long: {len(data)} bytes")
        data = data.ljust(REPORT_SIZE, b"\0")
        sent = self._sock.send(data)
        if sent != REPORT_SIZE:
            raise OSError(f"short UDP send: {sent} of {REPORT_SIZE} bytes")

    def read_packet(self) -> bytes:
        try:
            # Read more than a report so that an oversized datagram is noticed
            # instead of being silently truncated.
            data = self._sock.recv(REPORT_SIZE * 4)
        except socket.timeout as e:
            raise ConnectionFailure("timed out waiting for a HID report over UDP") from e
        if len(data) != REPORT_SIZE:
            raise ConnectionFailure(
                f"datagram of {len(data)} bytes, expected one {REPORT_SIZE}-byte report"
            )
        return data

    def close(self) -> None:
        self._sock.close()


def udp_descriptor(host: str, port: int) -> HidDescriptor:
    return HidDescriptor(
        path=f"udp:{host}:{port}",
        vid=FIDOSIM_VID,
        pid=FIDOSIM_PID,
        report_size_in=REPORT_SIZE,
        report_size_out=REPORT_SIZE,
        product_name="fidosim",
        serial_number=None,
    )


def open_udp_device(host: str, port: int, timeout: float = 10.0) -> CtapHidDevice:
    """Open a CtapHidDevice (CTAPHID_INIT included) on a fidosim UDP daemon."""
    connection = UdpCtapHidConnection(host, port, timeout)
    try:
        return CtapHidDevice(udp_descriptor(host, port), connection)
    except BaseException:
        connection.close()
        raise
