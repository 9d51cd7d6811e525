"""Independent judges of the mock: Deepgram's official SDKs stream a WAV to it and end cleanly,
and every message arrives as the SDK's event of the right type. (The SDKs do not validate fields;
tests/test_mock_fidelity.py judges fields against the AsyncAPI schemas.)"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from conformance.audio import load_source

from conftest import MS

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
PARAMS = ["--param", "interim_results=true", "--param", "vad_events=true", "--param", "utterance_end_ms=1000"]
SERVER_TYPES = {"Results", "Metadata", "UtteranceEnd", "SpeechStarted", "ConfigureSuccess"}


@pytest.fixture(scope="module")
def speech_with_gap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of speech, 2 s of silence (for UtteranceEnd), 1 s of speech, 16 kHz mono."""
    speech, silence = load_source("speech", 16000, 1), load_source("silence", 16000, 1)
    path = tmp_path_factory.mktemp("audio") / "speech_gap.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(
            speech.slice_frames(0, 48000) + silence.slice_frames(0, 32000) + speech.slice_frames(48000, 16000)
        )
    return path


def _events(command: list[str], cwd: Path) -> list[dict]:  # type: ignore[type-arg]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60000 * MS)
    assert done.returncode == 0, (
        f"{command[0]} driver failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}"
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _assert_clean_stream(types: list[str | None]) -> None:
    assert set(types) <= SERVER_TYPES, f"unexpected types {set(types) - SERVER_TYPES}"
    assert types.count("Metadata") == 1 and types[-1] == "Metadata"
    assert {"Results", "UtteranceEnd", "SpeechStarted"} <= set(types)


def test_python_sdk_streams_to_the_mock(mock_factory, speech_with_gap: Path) -> None:  # type: ignore[no-untyped-def]
    """deepgram-sdk (PyPI) classifies every message as ListenV1<type> and ends after Metadata."""
    if importlib.util.find_spec("deepgram") is None:
        pytest.skip("deepgram-sdk is not installed (pip install -e '.[test]')")
    mock = mock_factory(time_scale=1.0)
    events = _events(
        [
            sys.executable,
            "sdk_client.py",
            "--url",
            mock.url,
            "--wav",
            str(speech_with_gap),
            "--seconds",
            "6",
            "--configure",
            *PARAMS,
        ],
        CLIENTS / "python",
    )
    messages = [e for e in events if e["event"].startswith("ListenV1")]
    assert all(e["event"] == f"ListenV1{e['type']}" for e in messages), messages
    _assert_clean_stream([e["type"] for e in messages])
    assert [e["type"] for e in messages].count("ConfigureSuccess") == 1  # the SDK's send_configure, answered
    assert events[-1] == {"event": "finished", "metadata_received": True}
    assert not [e for e in events if e["event"] in ("error", "bytes")]


def test_javascript_sdk_streams_to_the_mock(mock_factory, speech_with_gap: Path) -> None:  # type: ignore[no-untyped-def]
    """@deepgram/sdk (npm) delivers every message as a parsed object and sees a 1000 close."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    if not (CLIENTS / "javascript" / "node_modules" / "@deepgram" / "sdk").is_dir():
        pytest.skip("@deepgram/sdk is not installed: run `npm ci --prefix clients/javascript`")
    mock = mock_factory(time_scale=1.0)
    events = _events(
        [node, "sdk_client.mjs", "--url", mock.url, "--wav", str(speech_with_gap), "--seconds", "6", *PARAMS],
        CLIENTS / "javascript",
    )
    messages = [e for e in events if e["event"] == "message"]
    assert all(e["js_type"] == "object" for e in messages)
    _assert_clean_stream([e["type"] for e in messages])
    assert {"event": "close", "code": 1000} in events
    assert events[-1] == {"event": "finished", "metadata_received": True}
