"""The load generator's audio frames are valid masked client frames that websockets' own server
side reads back exactly, at every length encoding, each with its own masking key."""

from __future__ import annotations

import os

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side

from conformance.transport.framing import FrameEncoder

LENGTHS = [0, 1, 125, 126, 640, 65535, 65536, 70000]


def _server() -> Protocol:
    """The server side of an open connection: it rejects unmasked frames, as RFC 6455 asks."""
    return Protocol(Side.SERVER, max_size=None)


@pytest.mark.parametrize("length", LENGTHS)
def test_a_frame_reads_back_as_the_same_binary_message(length: int) -> None:
    payload = os.urandom(length)
    server = _server()
    server.receive_data(FrameEncoder().binary(payload))
    [frame] = server.events_received()
    assert isinstance(frame, Frame)
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY, True, payload)


def test_frames_in_a_row_are_masked_with_different_keys_and_all_read_back() -> None:
    encoder, server = FrameEncoder(), _server()
    payloads = [os.urandom(640) for _ in range(3000)]  # more than one draw of keys
    frames = [encoder.binary(p) for p in payloads]
    keys = {frame[4:8] for frame in frames}
    assert len(keys) > 2990  # 4-byte random keys: a handful of collisions at most
    server.receive_data(b"".join(frames))
    assert [f.data for f in server.events_received()] == payloads
