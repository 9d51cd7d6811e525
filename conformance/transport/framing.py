"""Masked client frames for the load generator's audio: the hot path of
:mod:`conformance.transport.paced`.

websockets frames a message in about 2 µs and draws each frame's masking key with
``secrets.token_bytes(4)``: one ``getrandom`` system call per frame, which at 50 frames a second
per stream cost as much CPU as a third of the frame's own ``write``. Here the keys come from one
``os.urandom`` call per thousand frames (still the system's strong entropy, as RFC 6455 §5.3
asks) and a frame is its header, key and the payload masked by websockets' own C routine.
Everything else the connection sends (control messages, pongs, the close) still goes through
websockets' protocol, which owns the connection's state.
"""

from __future__ import annotations

import os
import struct

from websockets.frames import apply_mask

__all__ = ["FrameEncoder"]

_KEYS_PER_DRAW = 1024
_BINARY_FIN = 0x82
_MASKED = 0x80


class FrameEncoder:
    """Serialises final, masked binary frames (RFC 6455 §5.2), with no extensions negotiated."""

    def __init__(self) -> None:
        self._keys = b""
        self._next = 0

    def binary(self, payload: bytes) -> bytes:
        """The whole frame carrying ``payload`` in one binary message."""
        start = self._next
        if start >= len(self._keys):
            self._keys, start = os.urandom(4 * _KEYS_PER_DRAW), 0
        key = self._keys[start : start + 4]
        self._next = start + 4
        length = len(payload)
        if length < 126:
            header = bytes((_BINARY_FIN, _MASKED | length))
        elif length < 1 << 16:
            header = struct.pack("!BBH", _BINARY_FIN, _MASKED | 126, length)
        else:
            header = struct.pack("!BBQ", _BINARY_FIN, _MASKED | 127, length)
        return header + key + apply_mask(payload, key)
