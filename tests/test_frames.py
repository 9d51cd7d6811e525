"""The mock's fast path for client frames, against frames written byte by byte from RFC 6455."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conformance.mock.frames import CONTROL, FrameReader

MASK = b"\x01\x02\x03\x04"


def _masked(first: int, payload: bytes, *, mask: bytes = MASK, masked: bool = True) -> bytes:
    """A client frame: FIN/RSV/opcode byte, the length (7, 16 or 64 bits), the key, the payload xored."""
    length = len(payload)
    flag = 0x80 if masked else 0
    if length < 126:
        head = bytes([first, flag | length])
    elif length < 2**16:
        head = bytes([first, flag | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, flag | 127]) + length.to_bytes(8, "big")
    if not masked:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_text_and_binary_frames_of_every_length_encoding() -> None:
    """Lengths 5 (7-bit), 640 (16-bit) and 70,000 (64-bit): each unmasked to the original."""
    audio, big = bytes(range(256)) * 2 + bytes(128), bytes(70_000)
    stream = _masked(0x81, b"hello") + _masked(0x82, audio) + _masked(0x82, big)
    frames, rest = FrameReader(2**20).feed(stream)
    assert frames == [(0x1, b"hello"), (0x2, audio), (0x2, big)] and rest == b""


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 50, 641])
def test_frames_split_anywhere_come_out_whole(cut: int) -> None:
    stream = _masked(0x82, bytes(range(200)) * 3) + _masked(0x81, b'{"type":"KeepAlive"}')
    reader = FrameReader(2**20)
    frames: list[tuple[int, bytes]] = []
    for start in range(0, len(stream), cut):
        got, rest = reader.feed(stream[start : start + cut])
        frames += got
        assert rest == b""
    assert frames == [(0x2, bytes(range(200)) * 3), (0x1, b'{"type":"KeepAlive"}')] and reader.buffer == b""


def test_a_control_frame_goes_to_websockets_whole_and_ends_the_batch() -> None:
    """A ping between two audio frames: the audio before it, then the ping as it arrived; the
    audio after it only when asked again (the ping is answered first)."""
    ping = _masked(0x89, b"are you there")
    reader = FrameReader(2**20)
    frames, rest = reader.feed(_masked(0x82, b"a" * 10) + ping + _masked(0x82, b"b" * 10))
    assert frames == [(0x2, b"a" * 10), (CONTROL, ping)] and rest == b""
    assert reader.feed(b"") == ([(0x2, b"b" * 10)], b"")


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (_masked(0x02, b"first part"), "fragmented (FIN clear)"),
        (_masked(0x00, b"continuation"), "a continuation"),
        (_masked(0xC2, b"compressed?"), "RSV1 set"),
        (_masked(0x83, b"reserved opcode"), "opcode 3"),
        (_masked(0x82, b"not masked", masked=False), "unmasked"),
        (_masked(0x82, bytes(2000)), "over the size bound"),
    ],
)
def test_anything_else_is_handed_to_websockets_from_its_first_byte(frame: bytes, why: str) -> None:
    """Everything from the first frame the reader does not take goes to websockets as it came,
    and the reader stops for good."""
    before = _masked(0x82, b"audio")
    reader = FrameReader(1024)
    frames, rest = reader.feed(before + frame + _masked(0x82, b"more audio"))
    assert frames == [(0x2, b"audio")], why
    assert rest == frame + _masked(0x82, b"more audio") and reader.done, why


def test_an_oversized_length_is_handed_over_before_its_payload_arrives() -> None:
    """A header announcing 1 GiB is websockets' to refuse (1009) at once, not buffered."""
    header = bytes([0x82, 0x80 | 127]) + (2**30).to_bytes(8, "big") + MASK
    frames, rest = FrameReader(4 * 2**20).feed(header)
    assert (frames, rest) == ([], header)


def test_hand_over_returns_what_was_buffered() -> None:
    reader = FrameReader(2**20)
    partial = _masked(0x82, bytes(300))[:100]
    assert reader.feed(partial) == ([], b"")
    assert reader.hand_over() == partial and reader.done


@settings(max_examples=300, deadline=None)
# An unmasked frame whose length and trailing bytes add up as if it were masked.
@example(first=0x82, masked=False, length=640, extra=bytes(4), cut=0, max_size=2**20, buffered=False)
@given(
    first=st.sampled_from([0x82, 0x81, 0x02, 0x88, 0xC2]),
    masked=st.booleans(),
    length=st.one_of(st.integers(0, 300), st.integers(60_000, 70_000)),
    extra=st.sampled_from([b"", b"\x82", bytes(4), _masked(0x82, b"next")]),
    cut=st.integers(0, 3),
    max_size=st.sampled_from([1_000, 65_535, 2**20]),
    buffered=st.booleans(),
)
def test_a_lone_binary_frame_reads_as_any_other(
    first: int, masked: bool, length: int, extra: bytes, cut: int, max_size: int, buffered: bool
) -> None:
    """The shortcut for one whole binary frame with a 16-bit length gives what the general loop
    gives, and leaves the reader in the same state, for frames near and far from that case."""
    data = _masked(first, bytes(range(256)) * (length // 256) + bytes(length % 256), masked=masked) + extra
    data = data[: len(data) - cut]
    shortcut, loop = FrameReader(max_size), FrameReader(max_size)
    if buffered:  # the start of a frame already waiting: the shortcut must not apply
        waiting = _masked(0x82, b"abc")[:3]
        assert shortcut.feed(waiting) == loop._parse(waiting) == ([], b"")
    assert shortcut.feed(data) == loop._parse(data)
    assert (shortcut.buffer, shortcut.done) == (loop.buffer, loop.done)


def test_a_lone_audio_frame_is_unmasked_whole() -> None:
    audio = bytes(range(256)) * 2 + bytes(128)
    assert FrameReader(2**20).feed(_masked(0x82, audio)) == ([(0x2, audio)], b"")
    frame = _masked(0x82, audio)
    assert FrameReader(600).feed(frame) == ([], frame)
