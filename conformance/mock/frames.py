"""The mock's fast path for client frames: complete, unfragmented, masked text and binary frames
of an open connection read in one loop, without websockets' frame parser.

websockets parses every frame through a generator, a stream reader and a ``Frame`` object: at
20 ms audio frames that was most of the mock's CPU per stream. Audio and control messages are all
such simple frames, so this reader takes them itself (unmasking with websockets' C routine), and
gives websockets everything else exactly as it arrived, from a frame boundary: control frames one
at a time (pings, pongs, the close; websockets answers them and keeps the closing handshake), and
at the first frame it does not take (fragmented, reserved bits, unmasked, unknown opcode, over
the size bound) all the remaining bytes, after which the connection stays on websockets' parser.
websockets' parser therefore always sees whole frames from a boundary, and judges every frame
that is not plain data exactly as before.
"""

from __future__ import annotations

from websockets.frames import apply_mask

__all__ = ["FrameReader", "CONTROL"]

# The opcode reported for a control frame, passed on whole (header included) to websockets.
CONTROL = -1
_MASKED = 0x80
# First bytes of the frames taken: FIN set, no reserved bit, text or binary (0x81, 0x82) or a
# control opcode (close, ping, pong; a control frame cannot be fragmented).
_CONTROL_FIRST_BYTES = frozenset((0x88, 0x89, 0x8A))
_SIMPLE_FIRST_BYTES = frozenset((0x81, 0x82)) | _CONTROL_FIRST_BYTES
_BINARY = 0x2
_BINARY_FIRST_BYTE = 0x80 | _BINARY
_MASKED_16_BIT_LENGTH = _MASKED | 126


class FrameReader:
    """Read simple frames from a connection's bytes; ``max_size`` bounds a payload."""

    __slots__ = ("buffer", "max_size", "done")

    def __init__(self, max_size: int) -> None:
        self.buffer = b""
        self.max_size = max_size
        self.done = False

    def feed(self, data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
        """The frames now complete, as ``(opcode, unmasked payload)`` for text and binary frames and
        ``(CONTROL, the whole frame)`` for a control frame, which ends the list (call again with
        ``b""`` for the frames after it), and the bytes websockets must parse from here on (empty
        while this reader keeps the connection)."""
        # The usual arrival, one whole binary frame with a 16-bit length (an audio chunk of 4 ms
        # to 2 s of 16 kHz linear16), skips the loop: it costs half as much.
        if not self.buffer and len(data) > 8 and data[1] == _MASKED_16_BIT_LENGTH and data[0] == _BINARY_FIRST_BYTE:
            length = (data[2] << 8) | data[3]
            if len(data) == length + 8 and length <= self.max_size:
                return [(_BINARY, apply_mask(data[8:], data[4:8]))], b""
        return self._parse(data)

    def _parse(self, data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
        """``feed`` for any bytes."""
        view = self.buffer + data if self.buffer else data
        frames: list[tuple[int, bytes]] = []
        position, size, max_size = 0, len(view), self.max_size
        while size - position >= 2:
            first = view[position]
            # The mask bit set leaves the 7-bit length; a client frame without it is not simple.
            length = view[position + 1] ^ _MASKED
            if length > 127 or first not in _SIMPLE_FIRST_BYTES:
                return self._hand_over(frames, view, position)
            header = position + 2
            if length == 126:
                if size - position < 4:
                    break
                length, header = int.from_bytes(view[header : header + 2], "big"), header + 2
            elif length == 127:
                if size - position < 10:
                    break
                length, header = int.from_bytes(view[header : header + 8], "big"), header + 8
            if length > max_size:
                return self._hand_over(frames, view, position)
            end = header + 4 + length
            if end > size:
                break
            if first in _CONTROL_FIRST_BYTES:
                # Stop after it: websockets answers it, and what follows may depend on that (a
                # close ends the fast path).
                frames.append((CONTROL, bytes(view[position:end])))
                position = end
                break
            frames.append((first & 0x0F, apply_mask(view[header + 4 : end], view[header : header + 4])))
            position = end
        self.buffer = view[position:] if position < size else b""
        return frames, b""

    def hand_over(self) -> bytes:
        """Stop: the bytes buffered, for websockets' parser."""
        rest, self.buffer, self.done = self.buffer, b"", True
        return rest

    def _hand_over(
        self, frames: list[tuple[int, bytes]], view: bytes, position: int
    ) -> tuple[list[tuple[int, bytes]], bytes]:
        self.done, self.buffer = True, b""
        return frames, bytes(view[position:])
