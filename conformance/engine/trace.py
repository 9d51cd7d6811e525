"""The recorded evidence of one scenario run: every frame both ways, the handshake, the close.

Times are seconds on the driver's monotonic clock since the connection attempt began. Audio is
summarised (size, audio seconds sent so far, a CRC), never dumped. Every text that came from the
wire passes through :meth:`Trace.redact`, so a secret the server echoes never reaches a report.

Audio frames are recorded as a few numbers in a flat array and become :class:`WireEntry` objects
only when someone reads :attr:`Trace.entries` (judging, reports). A load generator records 50
frames a second per stream; an object per frame cost it 2 µs a frame at 1,000 streams, mostly
in touching fresh memory, and kept a million objects for the garbage collector to walk.
"""

from __future__ import annotations

import heapq
import math
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.protocol.messages import ServerMessage, decode_text_frame
from conformance.redaction import Redactor
from conformance.scenario.durations import Timing

__all__ = [
    "WireEntry",
    "Handshake",
    "CloseInfo",
    "Outcome",
    "Trace",
    "SENT",
    "RECEIVED",
    "HELD",
    "BROKEN",
    "UNJUDGED",
    "late_keepalive",
]

SENT = "sent"
RECEIVED = "received"
# What a scenario step found about its rule.
HELD, BROKEN, UNJUDGED = "held", "broken", "not judged"
_AUDIO_FIELDS = 6  # index, t, due (NaN: unpaced), size, CRC-32, audio seconds so far
# What one stream may make the suite hold. A real stream sends a few frames a second (a minute of
# audio with interim results: about 600), a few kB each; a server flooding past these bounds gets
# its stream ended and the case an ERROR saying so. Each frame kept costs ~3 kB decoded, so 16
# cases at once hold at most ~250 MB.
MAX_RECEIVED_FRAMES = 5_000
MAX_RECEIVED_TEXT = 16 * 2**20
# What a judged trace keeps for the reports: its head and tail (the evidence is at the start of
# the stream or at its end); the frames between are counted, not kept.
KEEP_HEAD, KEEP_TAIL = 1_000, 200


@dataclass(slots=True)
class WireEntry:
    """One frame (or close) on the wire."""

    index: int
    t: float
    direction: str
    kind: str
    size: int
    text: str | None = None
    audio_seconds: float = 0.0
    due: float | None = None
    step: str | None = None
    message: ServerMessage | None = None
    crc32: int | None = None

    @property
    def lateness(self) -> float:
        """How late a paced send went out (0 for unpaced frames)."""
        return max(0.0, self.t - self.due) if self.due is not None else 0.0

    def describe(self, limit: int = 160) -> str:
        """A one-line rendering for failure messages."""
        arrow = "→" if self.direction == SENT else "←"
        if self.kind == "binary":
            return f"#{self.index} {arrow} binary {self.size} B at {self.t:.3f}s"
        text = self.text or ""
        if len(text) > limit:
            text = text[:limit] + "…"
        return f"#{self.index} {arrow} {self.kind} at {self.t:.3f}s {text}"

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict (audio summarised)."""
        record: dict[str, Any] = {
            "i": self.index,
            "t": round(self.t, 6),
            "dir": self.direction,
            "kind": self.kind,
            "size": self.size,
        }
        if self.text is not None:
            record["text"] = self.text
        if self.kind == "binary" and self.direction == SENT:
            record["audio_s"] = round(self.audio_seconds, 6)
        if self.crc32 is not None:
            record["crc32"] = f"{self.crc32:08x}"
        if self.due is not None:
            record["late_ms"] = round(self.lateness * 1000, 3)
        if self.step is not None:
            record["step"] = self.step
        return record


@dataclass
class Handshake:
    """The upgrade: what we asked for and what came back (``credentials``: how the key was
    presented, never the key; ``invalid``: why the client refused the server's answer, e.g. a
    wrong Sec-WebSocket-Accept; ``redirected_to``: where a followed redirect led)."""

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    t: float | None = None
    subprotocol: str | None = None
    credentials: str = ""
    invalid: str | None = None
    redirected_to: str | None = None


@dataclass
class CloseInfo:
    """How the connection ended. ``by`` is ``server``, ``client`` or ``transport`` (no close frame);
    ``violation``: the client closed because a server frame broke RFC 6455 (or the size bound)."""

    by: str
    code: int | None
    reason: str
    t: float
    violation: str | None = None

    def describe(self) -> str:
        """e.g. ``server closed 1011 'NET-0001…' at 10.204s``."""
        if self.violation is not None:
            return f"the client closed {self.code or 'the connection'} at {self.t:.3f}s because of the server's frame: {self.violation}"
        code = self.code if self.code is not None else "without a close frame"
        reason = f" {self.reason!r}" if self.reason else ""
        return f"{self.by} closed {code}{reason} at {self.t:.3f}s"


@dataclass
class Outcome:
    """What a scenario step expected and what happened, tied to a rule.

    ``state`` is :data:`HELD`, :data:`BROKEN` or :data:`UNJUDGED` (the step could not exercise its
    rule; ``observed`` says why). ``absence``: the step broke because something it waited for did
    not come. ``control``: the step only proves that the scenario exercised its rule (it never
    counts as the rule holding; when it breaks, the rule is not judged). ``seen``: the frames of
    the awaited type that did arrive in the step's window. ``deadline``: for a step broken by its
    clock (nothing by the window's end, or a close after it), the end of the window, ``opened``
    its start, and ``awaited`` the message types it waited for (none: the close), so that a window
    the harness itself lost time in is not judged when what it waited for came just after.
    """

    step: str
    rule: str
    state: str
    expected: str
    observed: str
    t: float
    frame_index: int | None = None
    absence: bool = False
    control: bool = False
    seen: tuple[int, ...] = ()
    deadline: float | None = None
    opened: float | None = None
    awaited: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """The step found its rule held."""
        return self.state == HELD


def late_keepalive(entries: Sequence[WireEntry], start: float, every: float, t: float) -> float | None:
    """How long the client had been silent at ``t`` in a KeepAlive-only period that began at
    ``start`` with a KeepAlive due every ``every``, when that is clearly more than planned (a
    loaded machine sends late): then a close at ``t`` says nothing about the server."""
    sent = [e.t for e in entries if e.direction == SENT and start <= e.t <= t]
    silent = t - max(sent, default=start)
    return silent if silent > 1.25 * every + 0.05 else None


@dataclass
class Trace:
    """Everything recorded while playing one scenario."""

    scenario_id: str
    timing: Timing
    channels: int
    lanes: int
    sample_rate: int
    handshake: Handshake
    secrets: Sequence[str] = ()
    close: CloseInfo | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None
    audio_seconds: float = 0.0
    # Where the audio sent carries speech, as (start, end) in audio seconds: a flush owes finals up
    # to the end of the speech sent, not up to the end of trailing silence.
    speech: list[tuple[float, float]] = field(default_factory=list)
    # Frames the scenario sent raw on purpose (binary KeepAlive, undecodable bytes), by entry index.
    probes: set[int] = field(default_factory=set)
    # KeepAlive-only periods the scenario played: (start, planned end, planned interval).
    keepalive_periods: list[tuple[float, float, float]] = field(default_factory=list)
    # The driver's clock reading at this trace's time 0, and the times (in trace time) its event
    # loop could not run, as (due, ran): frames could neither leave nor be read then.
    origin: float | None = None
    harness_stalls: list[tuple[float, float]] = field(default_factory=list)
    # Analyses the checks derive from the entries, shared while one verdict is made (see checks.facts).
    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _entries: list[WireEntry] = field(default_factory=list, init=False, repr=False)
    # Audio frames not yet in _entries: _AUDIO_FIELDS numbers each, and their step labels.
    _audio: array[float] = field(default_factory=lambda: array("d"), init=False, repr=False)
    _audio_steps: list[str | None] = field(default_factory=list, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)
    _redactor: Redactor = field(init=False, repr=False)
    # Server frames and text bytes received (also those past the bounds), and why recording stopped.
    received_frames: int = field(default=0, init=False)
    received_text: int = field(default=0, init=False)
    overflow: str | None = field(default=None, init=False)
    # Entries left out of the reports by compact(): (how many, the index of the first of them).
    omitted: tuple[int, int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._redactor = Redactor(self.secrets)

    @property
    def entries(self) -> list[WireEntry]:
        """Every frame and close both ways, in wire order."""
        if self._audio_steps:
            self._settle_audio()
        return self._entries

    def redact(self, text: str) -> str:
        """Replace every secret in ``text``, however the peer spelled it (JSON or URL escapes)."""
        return self._redactor(text)

    def record_sent(
        self,
        kind: str,
        payload: str | bytes,
        t: float,
        *,
        audio: bool,
        due: float | None,
        step: str | None,
        seconds: float = 0.0,
    ) -> WireEntry:
        """Record a frame we sent; binary frames advance the audio clock by ``seconds`` when ``audio``."""
        if audio and isinstance(payload, bytes):
            self.record_audio(payload, t, due, step, seconds)
            return self.entries[-1]
        entry = WireEntry(
            self._next_index(),
            t,
            SENT,
            kind,
            len(payload.encode() if isinstance(payload, str) else payload),
            step=step,
            due=due,
            audio_seconds=self.audio_seconds,
        )
        if isinstance(payload, str):
            entry.text = self.redact(payload)
        else:
            entry.crc32 = zlib.crc32(payload)
        self._entries.append(entry)
        return entry

    def record_audio(self, payload: bytes, t: float, due: float | None, step: str | None, seconds: float) -> None:
        """Record an audio frame we sent, carrying ``seconds`` of decoded audio (the load
        generator's hot path: a few numbers, no object)."""
        self.audio_seconds += seconds
        self._audio.extend(
            (self._count, t, math.nan if due is None else due, len(payload), zlib.crc32(payload), self.audio_seconds)
        )
        self._audio_steps.append(step)
        self._count += 1

    def record_received(self, payload: str | bytes, t: float, step: str | None) -> WireEntry | None:
        """Record a frame from the server, decoding text frames once; None once the stream went past
        what one trace may hold (:attr:`overflow` says which bound)."""
        self.received_frames += 1
        if isinstance(payload, str):
            self.received_text += len(payload)
        if self.overflow is None and self.received_frames > MAX_RECEIVED_FRAMES:
            self.overflow = f"the server sent more than {MAX_RECEIVED_FRAMES} frames on one stream"
        elif self.overflow is None and self.received_text > MAX_RECEIVED_TEXT:
            self.overflow = f"the server sent more than {MAX_RECEIVED_TEXT // 2**20} MiB of text on one stream"
        if self.overflow is not None:
            return None
        if isinstance(payload, str):
            text = self.redact(payload)
            entry = WireEntry(
                self._next_index(),
                t,
                RECEIVED,
                "text",
                len(payload.encode()),
                text=text,
                step=step,
                audio_seconds=self.audio_seconds,
            )
            entry.message = decode_text_frame(payload)
        else:
            entry = WireEntry(
                self._next_index(),
                t,
                RECEIVED,
                "binary",
                len(payload),
                step=step,
                crc32=zlib.crc32(payload),
                audio_seconds=self.audio_seconds,
            )
        self._entries.append(entry)
        return entry

    def _next_index(self) -> int:
        self._count += 1
        return self._count - 1

    def _settle_audio(self) -> None:
        """Turn the compact audio records into entries, merged into wire order with the frames
        recorded since the first of them."""
        numbers, steps = self._audio, self._audio_steps
        audio = [
            WireEntry(
                int(index),
                t,
                SENT,
                "binary",
                int(size),
                None,
                seconds,
                None if math.isnan(due) else due,
                step,
                None,
                int(crc),
            )
            for (index, t, due, size, crc, seconds), step in zip(
                zip(*[iter(numbers)] * _AUDIO_FIELDS, strict=False), steps, strict=False
            )
        ]
        entries, first = self._entries, audio[0].index
        cut = len(entries)
        while cut and entries[cut - 1].index > first:
            cut -= 1
        entries[cut:] = heapq.merge(entries[cut:], audio, key=lambda e: e.index)
        self._audio, self._audio_steps = array("d"), []

    def compact(self) -> None:
        """Once judged: keep the head and tail of a long trace for the reports, count the rest."""
        entries = self.entries
        if len(entries) <= KEEP_HEAD + KEEP_TAIL:
            return
        self.omitted = (len(entries) - KEEP_HEAD - KEEP_TAIL, entries[KEEP_HEAD].index)
        self._entries = entries[:KEEP_HEAD] + entries[-KEEP_TAIL:]

    def record_close(self, by: str, code: int | None, reason: str, t: float, violation: str | None = None) -> None:
        """Record the end of the connection (only the first call counts)."""
        if self.close is None:
            self.close = CloseInfo(by, code, self.redact(reason), t, violation)

    def received(self) -> Iterator[WireEntry]:
        """Frames from the server, in order."""
        return (e for e in self.entries if e.direction == RECEIVED)

    def messages(self, kind: str | None = None) -> Iterator[tuple[WireEntry, dict[str, Any]]]:
        """Decoded JSON objects from the server, optionally of one ``type``."""
        for entry in self.received():
            if entry.message is not None and entry.message.body is not None:
                if kind is None or entry.message.type == kind:
                    yield entry, entry.message.body

    def sent_controls(self, kind: str) -> Iterator[tuple[WireEntry, dict[str, Any]]]:
        """Control messages of ``kind`` we sent as text frames."""
        for entry in self.entries:
            if entry.direction == SENT and entry.kind == "text":
                body = decode_text_frame(entry.text or "").body
                if body is not None and body.get("type") == kind:
                    yield entry, body
