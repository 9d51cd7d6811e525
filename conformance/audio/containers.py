"""The containers clients stream, read incrementally from arbitrary byte chunks (pure).

A server receives a container in WebSocket frames cut wherever the client cut them, so each
reader takes bytes as they come and returns the codec packets they complete: Ogg pages (RFC 3533)
to packets, WebM (Matroska's EBML) to the audio track's frames, a FLAC stream to whole frames.
The readers check structure, not codec payloads (the decoder does that), and raise
:class:`ContainerError` naming the first byte that breaks it. Every buffer is bounded, so a
hostile stream cannot make a reader hold more than :data:`MAX_PACKET_BYTES` at a time.
"""

from __future__ import annotations

__all__ = ["ContainerError", "OggReader", "WebmReader", "FlacReader", "sniff", "MAGIC", "MAX_PACKET_BYTES"]

# The container a stream's first bytes announce (how Deepgram tells them apart without `encoding`).
MAGIC = {b"RIFF": "wav", b"OggS": "ogg", b"\x1aE\xdf\xa3": "webm", b"fLaC": "flac"}
# No real audio packet or metadata block comes near this; past it a reader refuses, not buffers.
MAX_PACKET_BYTES = 1 << 20


class ContainerError(ValueError):
    """The bytes break the container's structure; ``str()`` says how and where."""


def sniff(head: bytes) -> str | None:
    """The container whose signature ``head`` starts with, or None (raw audio, or too short)."""
    return MAGIC.get(bytes(head[:4]))


class OggReader:
    """Packets of the first logical stream in an Ogg bitstream (other streams are skipped)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._packet = bytearray()
        self._serial: int | None = None
        self._consumed = 0
        self.pages = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        packets: list[bytes] = []
        buffer = self._buffer
        while len(buffer) >= 27:
            if buffer[:4] != b"OggS":
                raise ContainerError(
                    f"no 'OggS' capture pattern at byte {self._consumed} (found {bytes(buffer[:4])!r})"
                )
            if buffer[4] != 0:
                raise ContainerError(
                    f"Ogg page at byte {self._consumed} has stream structure version {buffer[4]}, not 0"
                )
            segments = buffer[26]
            if len(buffer) < 27 + segments:
                break
            lacing = buffer[27 : 27 + segments]
            end = 27 + segments + sum(lacing)
            if len(buffer) < end:
                break
            serial = int.from_bytes(buffer[14:18], "little")
            if self._serial is None:
                self._serial = serial
            if serial == self._serial:
                self._collect(buffer, 27 + segments, lacing, packets)  # type: ignore[arg-type]
            del buffer[:end]
            self._consumed += end
            self.pages += 1
        return packets

    def _collect(self, page: bytearray, offset: int, lacing: bytes, packets: list[bytes]) -> None:
        for size in lacing:
            self._packet += page[offset : offset + size]
            offset += size
            if len(self._packet) > MAX_PACKET_BYTES:
                raise ContainerError(f"an Ogg packet longer than {MAX_PACKET_BYTES} bytes")
            if size < 255:
                packets.append(bytes(self._packet))
                self._packet.clear()


def _vint(data: bytearray, at: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the EBML variable-size integer at ``at``; None: not all there yet."""
    if at >= len(data):
        return None
    first = data[at]
    if first == 0:
        raise ContainerError("an EBML variable-size integer longer than 8 bytes")
    length = 9 - first.bit_length()
    if at + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, length


_EBML, _SEGMENT, _CLUSTER, _TRACKS, _TRACK_ENTRY, _AUDIO, _BLOCK_GROUP = (
    0x1A45DFA3,
    0x18538067,
    0x1F43B675,
    0x1654AE6B,
    0xAE,
    0xE1,
    0xA0,
)
_SIMPLE_BLOCK, _BLOCK, _TRACK_NUMBER, _CODEC_ID, _CODEC_PRIVATE, _CODEC_DELAY, _CHANNELS, _DOC_TYPE = (
    0xA3,
    0xA1,
    0xD7,
    0x86,
    0x63A2,
    0x56AA,
    0x9F,
    0x4282,
)
# Masters read as a flat sequence of their children: a live stream gives them unknown sizes.
_ENTERED = {_SEGMENT, _CLUSTER, _TRACKS, _TRACK_ENTRY, _AUDIO, _BLOCK_GROUP}


class WebmReader:
    """Frames of the first audio track of a WebM stream, with what its track entry declares."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._consumed = 0
        self._position = 0
        self.doc_type: str | None = None
        self.codec_id: str | None = None
        self.codec_private = b""
        self.codec_delay_ns = 0
        self.channels: int | None = None
        self.clusters = 0
        self._entry: dict[int, object] = {}
        self._track: int | None = None

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        buffer = self._buffer
        at = 0
        while True:
            head = _vint(buffer, at, keep_marker=True)
            size = _vint(buffer, at + head[1], keep_marker=False) if head else None
            if head is None or size is None:
                break
            (element, id_length), (length, size_length) = head, size
            if self._consumed + at == 0 and element != _EBML:
                raise ContainerError(
                    f"a WebM stream starts with the EBML header (1A45DFA3), not {bytes(buffer[:4]).hex().upper()}"
                )
            unknown = length == (1 << (7 * size_length)) - 1
            body = at + id_length + size_length
            self._position = self._consumed + at
            if element in _ENTERED:
                self._enter(element)
                at = body
                continue
            if unknown or length > MAX_PACKET_BYTES:
                raise ContainerError(
                    f"WebM element {element:X} at byte {self._consumed + at} has {'an unknown' if unknown else 'a ' + str(length) + '-byte'} size"
                )
            if len(buffer) < body + length:
                break
            self._leaf(element, bytes(buffer[body : body + length]), frames)
            at = body + length
        del buffer[:at]
        self._consumed += at
        if len(buffer) > MAX_PACKET_BYTES + 16:
            raise ContainerError(f"a WebM element header at byte {self._consumed} never completes")
        return frames

    def _enter(self, element: int) -> None:
        if element == _CLUSTER:
            if self.codec_id is None:
                raise ContainerError(f"a WebM Cluster at byte {self._position} before any audio track was declared")
            self.clusters += 1
        elif element == _TRACK_ENTRY:
            self._entry = {}

    def _leaf(self, element: int, body: bytes, frames: list[bytes]) -> None:
        if element == _EBML:
            self.doc_type = _doc_type(body)
        elif element in (_TRACK_NUMBER, _CHANNELS, _CODEC_DELAY):
            self._entry[element] = int.from_bytes(body, "big")
            self._settle_track()
        elif element in (_CODEC_ID, _CODEC_PRIVATE):
            self._entry[element] = body
            self._settle_track()
        elif element in (_SIMPLE_BLOCK, _BLOCK):
            if self.clusters == 0:
                raise ContainerError(f"a WebM block at byte {self._position} outside any Cluster")
            frames.extend(self._block(body))

    def _settle_track(self) -> None:
        entry = self._entry
        codec = entry.get(_CODEC_ID)
        if self._track is None and isinstance(codec, bytes) and codec.startswith(b"A_") and _TRACK_NUMBER in entry:
            self._track = int(entry[_TRACK_NUMBER])  # type: ignore[call-overload]
            self.codec_id = codec.rstrip(b"\0").decode("ascii", "replace")
        if self._track is not None and entry.get(_TRACK_NUMBER) == self._track:
            self.codec_private = entry.get(_CODEC_PRIVATE, self.codec_private)  # type: ignore[assignment]
            self.codec_delay_ns = int(entry.get(_CODEC_DELAY, self.codec_delay_ns))  # type: ignore[call-overload]
            self.channels = int(entry[_CHANNELS]) if _CHANNELS in entry else self.channels  # type: ignore[call-overload]

    def _block(self, body: bytes) -> list[bytes]:
        track = _vint(bytearray(body), 0, keep_marker=False)
        if track is None or len(body) < track[1] + 3:
            raise ContainerError(f"a truncated WebM block at byte {self._position}")
        if track[0] != self._track:
            return []
        at = track[1] + 3
        lacing = (body[track[1] + 2] >> 1) & 3
        if lacing == 0:
            return [body[at:]]
        return _unlace(body, at, lacing)


def _doc_type(header: bytes) -> str | None:
    data, at = bytearray(header), 0
    while at < len(data):
        head = _vint(data, at, keep_marker=True)
        size = _vint(data, at + head[1], keep_marker=False) if head else None
        if head is None or size is None:
            return None
        start = at + head[1] + size[1]
        if head[0] == _DOC_TYPE:
            return bytes(data[start : start + size[0]]).rstrip(b"\0").decode("ascii", "replace")
        at = start + size[0]
    return None


def _unlace(body: bytes, at: int, lacing: int) -> list[bytes]:
    """Frames of a laced block: Xiph (1), fixed-size (2) or EBML (3) lacing."""
    count = body[at] + 1
    at += 1
    sizes: list[int] = []
    data = bytearray(body)
    if lacing == 1:
        for _ in range(count - 1):
            size = 0
            while at < len(body) and body[at] == 255:
                size, at = size + 255, at + 1
            if at >= len(body):
                raise ContainerError("a truncated Xiph-laced WebM block")
            sizes.append(size + body[at])
            at += 1
    elif lacing == 3:
        first = _vint(data, at, keep_marker=False)
        if first is None:
            raise ContainerError("a truncated EBML-laced WebM block")
        sizes.append(first[0])
        at += first[1]
        for _ in range(count - 2):
            diff = _vint(data, at, keep_marker=False)
            if diff is None:
                raise ContainerError("a truncated EBML-laced WebM block")
            sizes.append(sizes[-1] + diff[0] - ((1 << (7 * diff[1] - 1)) - 1))
            at += diff[1]
    else:
        if (len(body) - at) % count:
            raise ContainerError("a fixed-size-laced WebM block that does not divide evenly")
        sizes = [(len(body) - at) // count] * (count - 1)
    frames: list[bytes] = []
    for size in sizes:
        if size < 0 or at + size > len(body):
            raise ContainerError("a WebM block whose lace sizes exceed the block")
        frames.append(body[at : at + size])
        at += size
    return [*frames, body[at:]]


_CRC8 = [0] * 256
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = ((_crc << 1) ^ 0x07) & 0xFF if _crc & 0x80 else (_crc << 1) & 0xFF
    _CRC8[_byte] = _crc


def _crc8(data: bytes | bytearray) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


# Enough bytes to hold any frame header: sync, codes, a 7-byte number, 2+2 extra, CRC-8.
_HEADER_PROBE = 16
_BLOCK_SIZES = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608, **{code: 256 << (code - 8) for code in range(8, 16)}}


class FlacReader:
    """Whole frames of a native FLAC stream, after its ``fLaC`` signature and metadata blocks.

    A frame ends where the next frame header begins; a header is only taken as one when its
    CRC-8 holds and its number is the one expected after the previous frame, so sync bytes
    inside compressed data do not split a frame.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._consumed = 0
        self.streaminfo: bytes | None = None
        self._in_frames = False
        self._next_number = 0
        self._variable: bool | None = None
        self._searched = 0

    @property
    def sample_rate(self) -> int:
        info = self.streaminfo or bytes(18)
        return (info[10] << 12) | (info[11] << 4) | (info[12] >> 4)

    @property
    def channels(self) -> int:
        info = self.streaminfo or bytes(18)
        return ((info[12] >> 1) & 7) + 1

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        if not self._in_frames and not self._metadata():
            return []
        frames: list[bytes] = []
        while len(self._buffer) >= _HEADER_PROBE:
            header = self._header_at(0, self._next_number)
            if header is None:
                raise ContainerError(f"no valid FLAC frame header (frame {self._next_number}) at byte {self._consumed}")
            end = self._find_header(header[0], header[1])
            if end is None:
                break
            frames.append(self._take(end))
            self._next_number = header[1]
        if len(self._buffer) > MAX_PACKET_BYTES:
            raise ContainerError(f"no FLAC frame boundary within {MAX_PACKET_BYTES} bytes of byte {self._consumed}")
        return frames

    def finish(self) -> list[bytes]:
        """The last frame, which no next header ends."""
        if self._in_frames and self._buffer and self._header_at(0, self._next_number) is not None:
            return [self._take(len(self._buffer))]
        return []

    def _take(self, end: int) -> bytes:
        frame = bytes(self._buffer[:end])
        del self._buffer[:end]
        self._consumed += end
        return frame

    def _metadata(self) -> bool:
        buffer = self._buffer
        if len(buffer) >= 4 and self._consumed == 0 and buffer[:4] != b"fLaC":
            raise ContainerError(f"a FLAC stream starts with 'fLaC', not {bytes(buffer[:4])!r}")
        at = 4
        while len(buffer) >= at + 4:
            kind, size = buffer[at] & 0x7F, int.from_bytes(buffer[at + 1 : at + 4], "big")
            if size > MAX_PACKET_BYTES:
                raise ContainerError(f"a FLAC metadata block of {size} bytes")
            if len(buffer) < at + 4 + size:
                break
            if at == 4 and (kind != 0 or size != 34):
                raise ContainerError(
                    f"the first FLAC metadata block is type {kind} of {size} bytes, not STREAMINFO (type 0, 34 bytes)"
                )
            if at == 4:
                self.streaminfo = bytes(buffer[8:42])
            if buffer[at] & 0x80:
                self._take(at + 4 + size)
                self._in_frames = True
                if self.sample_rate == 0:
                    raise ContainerError("FLAC STREAMINFO declares a sample rate of 0 Hz")
                return True
            at += 4 + size
        return False

    def _header_at(self, at: int, number: int) -> tuple[int, int] | None:
        """(length, number of the frame after it) of a frame header at ``at`` that is valid and
        numbered ``number``; None otherwise."""
        buffer = self._buffer
        if len(buffer) < at + _HEADER_PROBE or buffer[at] != 0xFF or buffer[at + 1] & 0xFE != 0xF8:
            return None
        variable = bool(buffer[at + 1] & 1)
        block_code, rate_code = buffer[at + 2] >> 4, buffer[at + 2] & 15
        if block_code == 0 or rate_code == 15 or buffer[at + 3] >> 4 > 10 or buffer[at + 3] & 1:
            return None
        found, length = _utf8_number(buffer, at + 4)
        if found != number or (self._variable is not None and variable != self._variable):
            return None
        extra = at + 4 + length
        end = (
            extra
            + (1 if block_code == 6 else 2 if block_code == 7 else 0)
            + (1 if rate_code == 12 else 2 if rate_code in (13, 14) else 0)
        )
        if _crc8(buffer[at:end]) != buffer[end]:
            return None
        self._variable = variable
        if not variable:
            return end + 1, number + 1
        block = _BLOCK_SIZES.get(block_code) or (
            buffer[extra] + 1 if block_code == 6 else int.from_bytes(buffer[extra : extra + 2], "big") + 1
        )
        return end + 1, number + block

    def _find_header(self, start: int, number: int) -> int | None:
        # Bytes already searched are not searched again when the next chunk arrives.
        at = max(start, self._searched)
        while (at := self._buffer.find(b"\xff", at)) >= 0 and len(self._buffer) >= at + _HEADER_PROBE:
            if self._header_at(at, number) is not None:
                self._searched = 0
                return at
            at += 1
        self._searched = len(self._buffer) - _HEADER_PROBE + 1 if at >= 0 else len(self._buffer)
        return None


def _utf8_number(data: bytearray, at: int) -> tuple[int | None, int]:
    first = data[at]
    if first < 0x80:
        return first, 1
    length = 8 - (first ^ 0xFF).bit_length()
    if not 2 <= length <= 7 or at + length > len(data):
        return None, 1
    value = first & (0x7F >> length)
    for byte in data[at + 1 : at + length]:
        if byte & 0xC0 != 0x80:
            return None, 1
        value = (value << 6) | (byte & 0x3F)
    return value, length
