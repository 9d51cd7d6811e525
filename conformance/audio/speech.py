"""Where a clip carries speech: runs of loud 20 ms windows, in sample frames.

The checks need it to tell which audio a server owes finals for: a flush must deliver every word
of the speech sent, while where a final's window ends in trailing silence is the segmentation's
business (RES-3). A window is speech by the test the mock's transcriber uses
(:mod:`conformance.audio.loudness`); a gap shorter than a pause between words does not end a run.
"""

from __future__ import annotations

import sys
from array import array

from conformance.audio.loudness import is_loud

__all__ = ["find_speech"]

WINDOW_SECONDS = 0.02
_BRIDGE_SECONDS = 0.1


def find_speech(data: bytes, sample_rate: int, channels: int) -> tuple[tuple[int, int], ...]:
    """(first frame, end frame) of each speech run in interleaved linear16 ``data``, first channel."""
    samples = array("h", data[: len(data) - len(data) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    mono = samples[::channels] if channels > 1 else samples
    window = max(1, int(sample_rate * WINDOW_SECONDS))
    bridge = int(sample_rate * _BRIDGE_SECONDS)
    runs: list[list[int]] = []
    for start in range(0, len(mono), window):
        if is_loud(mono[start : start + window]):
            end = min(start + window, len(mono))
            if runs and start - runs[-1][1] <= bridge:
                runs[-1][1] = end
            else:
                runs.append([start, end])
    return tuple((a, b) for a, b in runs)
