"""The paced driver (the load generator's: one pacer greenlet sends for every stream) plays and
judges scenarios like the asyncio and sync drivers, many at once, and catches a fault.

gevent must patch a process before anything imports socket, so the driver runs in a subprocess
(tests/paced_player.py) against a mock served from this process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import MS, TIME_SCALE

PLAYER = Path(__file__).with_name("paced_player.py")
# Twice real time: the mock does not need real-time pace, and the pacer keeps twice the frame rate.
AUDIO_SPEED = 2.0
SCENARIOS = [
    "finalize.all.1",
    "timeout.idle.1",
    "handshake.params.1",
    "errors.malformed-json.1",
    "keepalive.idle.1",
    "keepalive.pause-resume.1",
    "closestream.empty-frame.1",
    "keepalive.before-audio.1",
    "vad.speech-started.1",
    "closestream.midstream.1",
    "streaming.multichannel.1",
]


def _play(*runs: tuple[str, list[str]]) -> list[dict[str, dict]]:  # type: ignore[type-arg]
    """Each ``(url, scenario ids)`` in a player process of its own, all at once."""
    started = [
        subprocess.Popen(
            [sys.executable, str(PLAYER), url, str(TIME_SCALE), str(AUDIO_SPEED), *ids],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url, ids in runs
    ]
    results = []
    for process in started:
        out, err = process.communicate(timeout=60000 * MS)
        assert process.returncode == 0, err[-2000:]
        results.append({line["id"]: line for line in map(json.loads, out.splitlines())})
    return results


def test_paced_driver_passes_the_clean_mock_with_many_streams_at_once_and_catches_a_fault(mock_factory) -> None:  # type: ignore[no-untyped-def]
    """Every scenario at once against the clean mock; meanwhile, in another process, a fault is caught."""
    faulty = mock_factory(faults=frozenset({"no-metadata-on-closestream"}))
    results, caught = _play((mock_factory().url, SCENARIOS), (faulty.url, ["closestream.midstream.1"]))
    assert "CS-1" in caught["closestream.midstream.1"]["broken"]
    assert set(results) == set(SCENARIOS)
    for scenario_id, result in results.items():
        assert (result["status"], result["broken"]) == ("SUCCESS", []), scenario_id
    assert max(r["max_late_ms"] for r in results.values()) < 1000
    # About two questions per frame (what to send, then how long to wait). A stream is served up
    # to a quantum before it is due; asking its player at a time recomputed from the monotonic
    # clock once rounded below the due time, and the pacer spun on the stream until the clock
    # caught up: five and more questions per frame, a third of the load generator's CPU.
    for scenario_id, result in results.items():
        assert result["polls"] <= 2 * result["frames"] + 20, (scenario_id, result)
