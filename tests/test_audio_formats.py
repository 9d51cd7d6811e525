"""Audio formats against ground truth written by hand: G.711 and float values from the standards'
tables, container signatures and structure, decoded durations, and decoding failures that name
what broke. The mock's transcription of each format is compared with its transcription of the
same speech as linear16."""

from __future__ import annotations

from array import array

import pytest

from conformance.audio.containers import ContainerError, FlacReader, OggReader, WebmReader, sniff
from conformance.audio.decode import DecodeError, open_decoder
from conformance.audio.encode import encoded_container, encoded_raw, wav_header
from conformance.audio.formats import declared_format, format_for
from conformance.errors import AudioError
from conformance.mock.session import ServerSession
from conformance.protocol.params import parse_stream_params

# ITU-T G.711 (and the Sun reference tables): code -> linear16 value.
MULAW = {0xFF: 0, 0x7F: 0, 0x80: 32124, 0x00: -32124, 0xFE: 8, 0x7E: -8}
ALAW = {0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256}
CONTAINERS = [
    ("ogg-opus", 48000, None, b"OggS"),
    ("webm-opus", 48000, None, b"\x1aE\xdf\xa3"),
    ("flac", 16000, "flac", b"fLaC"),
    ("ogg-opus", 16000, "ogg-opus", b"OggS"),
]


def _decode_all(encoding: str | None, data: bytes, step: int, rate: int = 16000) -> tuple[int, int, int]:
    """(samples, rate, channels) of ``data`` fed ``step`` bytes at a time."""
    decoder = open_decoder(encoding, rate, 1, data[:step])
    total = sum(len(decoder.feed(data[i : i + step])) for i in range(0, len(data), step))
    total += len(decoder.finish())
    return total, decoder.sample_rate, decoder.channels


@pytest.mark.parametrize(("code", "value"), MULAW.items())
def test_mulaw_decodes_to_the_g711_table(code: int, value: int) -> None:
    assert list(open_decoder("mulaw", 8000, 1, b"").feed(bytes([code]))) == [value]


@pytest.mark.parametrize(("code", "value"), ALAW.items())
def test_alaw_decodes_to_the_g711_table(code: int, value: int) -> None:
    assert list(open_decoder("alaw", 8000, 1, b"").feed(bytes([code]))) == [value]


def test_g711_encodes_silence_and_extremes_as_the_standard_codes() -> None:
    """Silence is 0xFF in mu-law and 0xD5 in A-law; every byte is one sample of one channel."""
    assert set(encoded_raw("silence", format_for("mulaw", 8000, 1, "mulaw")).data) == {0xFF}
    assert set(encoded_raw("silence", format_for("alaw", 8000, 1, "alaw")).data) == {0xD5}
    stereo = encoded_raw("speech", format_for("mulaw", 8000, 2, "mulaw"))
    assert stereo.frame_bytes == 2 and stereo.data[0::2] == stereo.data[1::2]


def test_linear32_is_float_as_deepgram_documents() -> None:
    """linear32 is 32-bit float PCM in [-1, 1] (the encoding page), decoded back to linear16."""
    tone = encoded_raw("tone", format_for("linear32", 16000, 1, "linear32"))
    floats = array("f", tone.data[: 4 * 400])
    assert max(floats) == pytest.approx(8000 / 32768, abs=1e-3) and min(floats) == pytest.approx(
        -8000 / 32768, abs=1e-3
    )
    assert list(open_decoder("linear32", 16000, 1, b"").feed(array("f", [0.5, -0.5, 0.0]).tobytes())) == [
        16384,
        -16384,
        0,
    ]


@pytest.mark.parametrize(("name", "rate", "encoding", "magic"), CONTAINERS)
def test_containers_decode_to_their_length_however_the_frames_are_cut(
    name: str, rate: int, encoding: str | None, magic: bytes
) -> None:
    """3 s of speech in each container: the stream starts with its signature, and decodes to 3 s
    (Opus: to within one 20 ms packet of padding) whether fed a byte, 777 bytes or all at once;
    each write's decoded seconds add up to the same."""
    fmt = format_for(name, rate, 1, encoding)
    units = encoded_container("speech", fmt, rate * 3)
    data = b"".join(u.data for u in units)
    assert data.startswith(magic) and sniff(data) == {"ogg-opus": "ogg", "webm-opus": "webm", "flac": "flac"}[name]
    results = {_decode_all(encoding, data, step, rate) for step in (1, 777, len(data))}
    assert len(results) == 1
    samples, decoded_rate, channels = results.pop()
    assert decoded_rate == (48000 if name.endswith("opus") else rate) and channels == 1
    assert 3.0 <= samples / decoded_rate <= 3.02
    assert sum(u.seconds for u in units) == pytest.approx(samples / decoded_rate)


def test_webm_is_written_as_mediarecorder_writes_it() -> None:
    """The first write carries the EBML header and the Opus track, no audio; Clusters follow, one
    per 250 ms. 2 s of audio plus Opus's 312-sample pre-skip fill 101 packets of 20 ms."""
    units = encoded_container("speech", format_for("webm-opus", 48000, 1, None), 48000 * 2)
    reader = WebmReader()
    assert reader.feed(units[0].data) == [] and units[0].seconds == 0
    assert (reader.doc_type, reader.codec_id, reader.channels) == ("webm", "A_OPUS", 1)
    frames = [f for u in units[1:] for f in reader.feed(u.data)]
    assert reader.clusters == 9 and len(frames) == 101


def test_ogg_pages_carry_one_packet_each_after_the_headers() -> None:
    """1 s of audio and the pre-skip: 51 packets of 20 ms after OpusHead and OpusTags."""
    units = encoded_container("speech", format_for("ogg-opus", 48000, 1, None), 48000)
    reader = OggReader()
    packets = [p for u in units for p in reader.feed(u.data)]
    assert packets[0].startswith(b"OpusHead") and packets[1].startswith(b"OpusTags")
    assert len(packets) == 2 + 51 and reader.pages == len(packets)


def test_wav_header_streams_with_unknown_length() -> None:
    header = wav_header(format_for("wav", 8000, 2, None))
    decoder = open_decoder(None, None, 1, header)
    assert list(decoder.feed(header + array("h", [1, -1, 2, -2]).tobytes())) == [1, -1, 2, -2]
    assert (decoder.sample_rate, decoder.channels) == (8000, 2)


@pytest.mark.parametrize(
    ("encoding", "data", "message"),
    [
        (
            None,
            b"not audio at all, just text",
            "no encoding was declared, and the stream starts with no known container header",
        ),
        ("flac", b"OggS" + bytes(60), "encoding=flac declared, but the stream starts with a OGG header"),
        ("ogg-opus", bytes(64), "encoding=ogg-opus declared, but the stream starts with no OGG header"),
        (
            None,
            b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead" + bytes(11) + b"garbage!" * 4,
            "no 'OggS' capture pattern at byte 47",
        ),
        (
            None,
            b"\x1aE\xdf\xa3\x80" + b"\x1fC\xb6\x75\xff",
            "a WebM Cluster at byte 5 before any audio track was declared",
        ),
        (
            None,
            b"fLaC\x80\x00\x00\x22" + bytes(34) + b"\x12\x34" + bytes(20),
            "FLAC STREAMINFO declares a sample rate of 0 Hz",
        ),
    ],
)
def test_undecodable_streams_say_what_broke(encoding: str | None, data: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decoder = open_decoder(encoding, 16000, 1, data)
        decoder.feed(data)
    assert message in str(caught.value)


def test_readers_bound_what_a_hostile_stream_makes_them_hold() -> None:
    with pytest.raises(ContainerError, match="metadata block of"):
        FlacReader().feed(b"fLaC" + b"\x00\xff\xff\xff")
    with pytest.raises(ContainerError, match="an unknown size"):
        WebmReader().feed(b"\x1aE\xdf\xa3\x01\xff\xff\xff\xff\xff\xff\xff")
    reader = OggReader()
    page = b"OggS\x00\x00" + bytes(20) + b"\xff" + b"\xff" * 255
    with pytest.raises(ContainerError, match="longer than"):
        for _ in range(20):
            reader.feed(page + bytes(255 * 255))


@pytest.mark.parametrize(
    ("name", "rate", "channels", "message"),
    [
        ("ogg-opus", 44100, 1, "Opus does not encode at 44100 Hz; it takes 8000, 12000, 16000, 24000, 48000 Hz"),
        ("webm-opus", 48000, 3, "Opus streams here carry 1 or 2 channels, not 3"),
        ("mp3", 16000, 1, "unknown audio format 'mp3'"),
        ("mulaw", 4000, 1, "mulaw at 4000 Hz: sample rates run from 8000 to 384000 Hz"),
    ],
)
def test_impossible_formats_are_one_line_errors(name: str, rate: int, channels: int, message: str) -> None:
    with pytest.raises(AudioError) as caught:
        format_for(name, rate, channels, None)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_declared_format_follows_the_query_string() -> None:
    assert declared_format({"encoding": "mulaw", "sample_rate": 8000}) == format_for("mulaw", 8000, 1, "mulaw")
    assert declared_format({"encoding": "opus", "sample_rate": 16000}).name == "ogg-opus"
    assert declared_format({}, {"format": "webm-opus"}) == format_for("webm-opus", 48000, 1, None)
    with pytest.raises(AudioError, match="cannot produce encoding=speex"):
        declared_format({"encoding": "speex", "sample_rate": 16000})


def _words(query: dict[str, list[str]], frames: list[bytes]) -> list[tuple[str, float, float]]:
    session = ServerSession(parse_stream_params(query), "r", 10.0, 0.0)
    outputs = [o for i, frame in enumerate(frames) for o in session.receive_binary(frame, 0.02 * i)]
    outputs += session.receive_text('{"type":"CloseStream"}', 1.0)
    finals = [o.message for o in outputs if getattr(o, "message", {}).get("type") == "Results"]
    assert finals[-1:] and session.closed
    return [(w["word"], w["start"], w["end"]) for r in finals for w in r["channel"]["alternatives"][0]["words"]]


@pytest.mark.parametrize(
    ("name", "rate", "encoding"),
    [
        ("mulaw", 8000, "mulaw"),
        ("alaw", 8000, "alaw"),
        ("linear32", 16000, "linear32"),
        ("flac", 16000, "flac"),
        ("ogg-opus", 16000, "ogg-opus"),
        ("webm-opus", 48000, None),
    ],
)
def test_the_mock_transcribes_each_format_like_linear16(name: str, rate: int, encoding: str | None) -> None:
    """6 s of speech: the same words at the same audio times as from linear16 at the same rate:
    within 40 ms (two of the mock's 20 ms windows); 80 ms for G.711, whose quantisation noise
    in a pause between words sits at the mock's energy threshold and moves one word's end 60 ms."""
    pcm = encoded_raw("speech", format_for("linear16", rate, 1, "linear16"))
    reference = _words(
        {"encoding": ["linear16"], "sample_rate": [str(rate)]},
        [pcm.slice_frames(i, rate // 50) for i in range(0, 6 * rate, rate // 50)],
    )
    fmt = format_for(name, rate, 1, encoding)
    if fmt.raw:
        raw = encoded_raw("speech", fmt)
        frames = [raw.slice_frames(i, rate // 50) for i in range(0, 6 * rate, rate // 50)]
    else:
        frames = [u.data for u in encoded_container("speech", fmt, 6 * rate)]
    query = {"encoding": [encoding], "sample_rate": [str(rate)]} if encoding else {}
    words = _words(query, frames)
    assert [w for w, _, _ in words] == [w for w, _, _ in reference]
    tolerance = 0.08 if name in ("mulaw", "alaw") else 0.04
    assert all(
        abs(a[1] - b[1]) <= tolerance and abs(a[2] - b[2]) <= tolerance for a, b in zip(words, reference, strict=False)
    ), (
        words,
        reference,
    )


def test_the_mock_duration_is_the_decoded_duration() -> None:
    fmt = format_for("ogg-opus", 48000, 1, None)
    session = ServerSession(parse_stream_params({}), "r", 10.0, 0.0)
    for unit in encoded_container("speech", fmt, 48000 * 2):
        session.receive_binary(unit.data, 0.0)
    metadata = [
        o.message
        for o in session.receive_text('{"type":"CloseStream"}', 1.0)
        if getattr(o, "message", {}).get("type") == "Metadata"
    ][0]
    assert 2.0 <= metadata["duration"] <= 2.02 and metadata["channels"] == 1
