"""Maximum-size CTAPHID messages back to back through /dev/hidrawN.

    uhid_stress.py DEVICE COUNT NAME

One client on its own channel: COUNT messages, alternating CTAPHID_PING
with a payload of the largest message the key takes (getInfo's maxMsgSize:
7,609 bytes, an initialization and 127 continuation reports) and
authenticatorLargeBlobs writes of a whole array of the largest size the key
stores (maxSerializedLargeBlobArray, at most maxMsgSize - 64, CTAP 2.1
§6.10.2), each message written without a pause. The key must answer
every one: the echo byte for byte, CTAP2_OK for the write.

Every input report goes to every open handle of a hidraw node, so a reader
thread reads all the time and keeps the reports of this client's channel.
ERR_CHANNEL_BUSY (another client's message is being received, CTAP 2.1
§11.2.4) is not an error: the client waits until its channel is quiet and
sends the message again. Anything else is: ERR_INVALID_SEQ or
ERR_MSG_TIMEOUT from the key (a report of ours was lost on the way), a
response with a sequence gap (a report of the key's was lost), a wrong
echo, a status other than CTAP2_OK, no answer within 10 s.

Prints one JSON line: {"name", "messages", "busy_retries", "errors": [...],
"seconds"}; exits 1 if there was any error.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import sys
import threading
import time

import cbor2

REPORT = 64
BROADCAST = 0xFFFFFFFF
INIT, PING, CBOR, ERROR, KEEPALIVE = 0x86, 0x81, 0x90, 0xBF, 0xBB
ERR_CHANNEL_BUSY = 0x06
HID_ERRORS = {0x01: "INVALID_CMD", 0x02: "INVALID_PAR", 0x03: "INVALID_LEN", 0x04: "INVALID_SEQ",
              0x05: "MSG_TIMEOUT", 0x06: "CHANNEL_BUSY", 0x0A: "LOCK_REQUIRED",
              0x0B: "INVALID_CHANNEL", 0x7F: "OTHER"}
ANSWER_TIMEOUT = 10.0


class Lost(Exception):
    """A report of the key's answer did not arrive."""


class Client:
    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR)
        self.reports: queue.Queue[bytes] = queue.Queue()
        self.cid = BROADCAST
        self.nonce = b""
        threading.Thread(target=self._read, daemon=True).start()
        self.cid = self._allocate()

    def _read(self) -> None:
        while True:
            r = os.read(self.fd, REPORT)
            cid = int.from_bytes(r[:4], "big")
            if cid == BROADCAST:
                # Another client's INIT answer comes here too: the nonce tells.
                if r[4] == INIT and r[7:15] == self.nonce:
                    self.reports.put(r)
            elif cid == self.cid:
                self.reports.put(r)

    def _allocate(self) -> int:
        self.nonce = os.urandom(8)
        self._write(BROADCAST, INIT, self.nonce)
        r = self.reports.get(timeout=ANSWER_TIMEOUT)
        return int.from_bytes(r[15:19], "big")

    def _write(self, cid: int, cmd: int, data: bytes) -> None:
        head = cid.to_bytes(4, "big")
        first = head + bytes([cmd]) + len(data).to_bytes(2, "big") + data[:57]
        packets = [first]
        rest, seq = data[57:], 0
        while rest:
            packets.append(head + bytes([seq]) + rest[:59])
            rest, seq = rest[59:], seq + 1
        for p in packets:
            # hidraw writes start with the report ID, 0 for this device.
            os.write(self.fd, b"\0" + p.ljust(REPORT, b"\0"))

    def _answer(self) -> tuple[int, bytes]:
        """The next message on our channel (KEEPALIVE skipped)."""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            r = self.reports.get(timeout=max(0.01, deadline - time.monotonic()))
            cmd = r[4]
            if not cmd & 0x80:
                continue  # the tail of an answer we gave up on
            if cmd == KEEPALIVE:
                continue
            length = int.from_bytes(r[5:7], "big")
            data, seq = bytearray(r[7:7 + min(length, 57)]), 0
            while len(data) < length:
                c = self.reports.get(timeout=max(0.01, deadline - time.monotonic()))
                if c[4] != seq:
                    raise Lost(f"answer of {length} bytes: continuation {c[4]} came where {seq} was due")
                data += c[5:5 + min(length - len(data), 59)]
                seq += 1
            return cmd, bytes(data)

    def _quiet(self, seconds: float = 0.1) -> None:
        """Drops our channel's reports until none came for `seconds`."""
        while True:
            try:
                self.reports.get(timeout=seconds)
            except queue.Empty:
                return

    def call(self, cmd: int, data: bytes) -> tuple[tuple[int, bytes] | None, int]:
        """Sends a message until it is not refused as busy; returns the
        answer (None if none came) and how many times it was busy."""
        busy = 0
        while True:
            self._write(self.cid, cmd, data)
            try:
                answer = self._answer()
            except queue.Empty:
                return None, busy
            if answer == (ERROR, bytes([ERR_CHANNEL_BUSY])):
                busy += 1
                # The rest of this message may earn more BUSY answers: let
                # them pass, then try again a little later.
                self._quiet()
                time.sleep(random.uniform(0.001, 0.02))
                continue
            return answer, busy


def large_blob_write(max_msg: int, max_array: int) -> bytes:
    """authenticatorLargeBlobs(set = a whole serialized array of the largest
    size, offset 0, length): one entry of filler ciphertext, then
    LEFT(SHA-256(array), 16) (CTAP 2.1 §6.10.2, §6.10.3)."""
    fragment = min(max_msg - 64, max_array)

    def array(filler: int) -> bytes:
        entry = {1: os.urandom(filler), 2: os.urandom(12), 3: filler}
        body = cbor2.dumps([entry], canonical=True)
        return body + hashlib.sha256(body).digest()[:16]

    filler = fragment - 40
    while len(array(filler)) > fragment:
        filler -= 1
    data = array(filler)
    request = bytes([0x0C]) + cbor2.dumps({2: data, 3: 0, 4: len(data)}, canonical=True)
    assert len(request) <= max_msg, (len(request), max_msg)
    return request


def main() -> int:
    path, count, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    client = Client(path)
    (cmd, info), _ = client.call(CBOR, bytes([0x04]))
    assert cmd == CBOR and info[0] == 0, info[:1]
    info = cbor2.loads(info[1:])
    max_msg, max_array = info[0x05], info[0x0B]
    errors, busy_retries = [], 0
    started = time.monotonic()
    for i in range(count):
        if i % 2 == 0:
            kind, message = "PING", os.urandom(max_msg)
            cmd = PING
        else:
            kind, message = "largeBlobs write", large_blob_write(max_msg, max_array)
            cmd = CBOR
        try:
            answer, busy = client.call(cmd, message)
        except Lost as e:
            errors.append(f"{kind} #{i}: {e}")
            client._quiet()
            continue
        busy_retries += busy
        if answer is None:
            errors.append(f"{kind} #{i}: no answer within {ANSWER_TIMEOUT} s")
            client._quiet()
        elif answer[0] == ERROR:
            errors.append(f"{kind} #{i}: CTAPHID_ERROR {HID_ERRORS.get(answer[1][0], answer[1].hex())}")
            client._quiet()
        elif cmd == PING and answer != (PING, message):
            errors.append(f"{kind} #{i}: the echo differs ({len(answer[1])} bytes back)")
        elif cmd == CBOR and answer != (CBOR, b"\0"):
            errors.append(f"{kind} #{i}: answered {answer[0]:#x} {answer[1][:1].hex()}")
    print(json.dumps({
        "name": name,
        "messages": count,
        "max_msg": max_msg,
        "max_large_blob_array": max_array,
        "busy_retries": busy_retries,
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
    }), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
