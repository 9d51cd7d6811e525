"""Whether a window of linear16 samples is speech or silence: one test for the mock's transcriber
and for the checks' speech finder, so the suite judges a server by the same speech the mock hears.

Peak-to-peak amplitude over every sample of a 20 ms window separates speech from silence in the
bundled clips; a sine of amplitude 600 is the boundary. audioop's ``minmax`` does it in C, about
six times faster than the strided pure-Python slice, ``max`` and ``min`` it replaced: the window
test was the mock's costliest step per audio frame.
"""

from __future__ import annotations

import warnings
from array import array

with warnings.catch_warnings():
    # Deprecated in 3.11 and 3.12 and gone from 3.13, where the audioop-lts package provides the
    # same C module under the same name (a dependency for those versions only).
    warnings.simplefilter("ignore", DeprecationWarning)
    from audioop import minmax

__all__ = ["is_loud", "PEAK_TO_PEAK_THRESHOLD"]

PEAK_TO_PEAK_THRESHOLD = 1200


def is_loud(samples: array[int] | bytes | memoryview) -> bool:
    """Whether native-order 16-bit ``samples`` are speech; an empty window is not."""
    low, high = minmax(samples, 2)
    return high - low >= PEAK_TO_PEAK_THRESHOLD
