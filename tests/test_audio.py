"""Audio sources: the bundled clip, generated sources, conversion, pacing, bad files."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from conformance.audio import Schedule, load_source
from conformance.errors import AudioError


def test_speech_clip_is_converted_to_the_requested_format() -> None:
    """The 22.05 kHz mono clip comes out at 16 kHz, 2 channels, same length."""
    mono = load_source("speech", 16000, 1)
    stereo = load_source("speech", 16000, 2)
    assert 25 < mono.seconds < 27
    assert stereo.frames == mono.frames and stereo.data[0:2] == stereo.data[2:4]


def test_silence_and_tone() -> None:
    silence, tone = load_source("silence", 8000, 1), load_source("tone", 8000, 1)
    assert set(silence.data) == {0}
    assert max(abs(int.from_bytes(tone.data[i : i + 2], "little", signed=True)) for i in range(0, 2000, 2)) > 7000


def test_slice_wraps_round() -> None:
    """Reading past the end continues from the start, so any length can be streamed."""
    pcm = load_source("tone", 8000, 1)
    chunk = pcm.slice_frames(pcm.frames - 10, 20)
    assert len(chunk) == 40 and chunk[20:] == pcm.data[:20]


def test_user_wav_must_be_16_bit(tmp_path: Path) -> None:
    path = tmp_path / "eight.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(800))
    with pytest.raises(AudioError, match="only 16-bit PCM"):
        load_source(str(path), 16000, 1)


def test_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"nope")
    with pytest.raises(AudioError, match="not a readable 16-bit PCM WAV file"):
        load_source(str(path), 16000, 1)


def test_schedule_is_absolute() -> None:
    schedule = Schedule(start=10.0, interval=0.02)
    assert schedule.due(50) == pytest.approx(11.0)
