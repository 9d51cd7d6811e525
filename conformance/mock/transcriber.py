"""Deterministic pseudo-transcription of one audio channel, driven by the audio itself.

A "word" is a run of 20 ms windows whose peak-to-peak amplitude is above a threshold, closed by
at least 50 ms of quiet. Results therefore follow audio time exactly: a pause in sending shifts nothing,
and a wrong clock in the mock would be visible to the suite. Words are named from a fixed
vocabulary so runs are reproducible.

Segmenting (contract.md §1.1): finals are contiguous; a final is cut when the trailing silence
reaches the endpointing threshold (``speech_final: true``), when the segment reaches 5 s, or on a
flush (Finalize / CloseStream / idle close). Interims (``is_final: false``) repeat the segment start.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from conformance.audio.loudness import is_loud

__all__ = ["Word", "Segment", "SpeechStarted", "UtteranceEnd", "ChannelTranscriber", "Event"]

# 20 ms windows match the common frame size and give word times to 20 ms, finer than needed to
# judge the audio clock; analysing them is the mock's hottest loop.
WINDOW_SECONDS = 0.02
WORD_GAP_SECONDS = 0.05
MIN_WORD_SECONDS = 0.05
MAX_SEGMENT_SECONDS = 5.0
INTERIM_EVERY_SECONDS = 1.0
# Deepgram's default endpointing is 10 ms of model-judged silence; on raw energy that would cut
# after every word, so the mock never endpoints on less than this.
MIN_ENDPOINT_SECONDS = 0.2
VAD_GAP_SECONDS = 0.3
_VOCABULARY = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()


@dataclass(frozen=True)
class Word:
    """A recognised word; times in audio seconds since the stream began."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Segment:
    """A transcription result over [start, end] of audio time."""

    start: float
    end: float
    words: tuple[Word, ...]
    is_final: bool
    speech_final: bool = False
    from_finalize: bool = False


@dataclass(frozen=True)
class SpeechStarted:
    """Voice activity began at ``timestamp`` (audio seconds)."""

    timestamp: float


@dataclass(frozen=True)
class UtteranceEnd:
    """A gap in speech followed the word that ended at ``last_word_end``."""

    last_word_end: float


Event = Segment | SpeechStarted | UtteranceEnd


@dataclass(slots=True)
class _State:
    windows: int = 0
    segment_start: float = 0.0
    words: list[Word] = field(default_factory=list)
    word_start: float | None = None
    quiet_since: float | None = None
    last_word_end: float | None = None
    utterance_open: bool = False
    last_interim: float = 0.0
    word_count: int = 0


class ChannelTranscriber:
    """Turns a channel's samples into results; pure and clock-free.

    Args:
        sample_rate: Samples per second of the channel.
        endpointing_ms: Silence that ends an utterance (``None``: endpointing off).
        interim_results: Emit ``is_final: false`` results about once a second.
        utterance_end_ms: Emit UtteranceEnd after this gap (needs ``interim_results``).
        vad_events: Emit SpeechStarted when speech begins after silence.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        endpointing_ms: int | None = 10,
        interim_results: bool = False,
        utterance_end_ms: int | None = None,
        vad_events: bool = False,
    ) -> None:
        self._window = max(1, int(sample_rate * WINDOW_SECONDS))
        self._window_seconds = self._window / sample_rate
        self._endpoint = None if endpointing_ms is None else max(endpointing_ms / 1000, MIN_ENDPOINT_SECONDS)
        self._interim = interim_results
        self._utterance_end = utterance_end_ms / 1000 if utterance_end_ms and interim_results else None
        self._vad = vad_events
        self._pending = array("h")
        self._s = _State()

    @property
    def position(self) -> float:
        """Audio seconds analysed so far (whole windows)."""
        return self._s.windows * self._window_seconds

    def feed(self, samples: array) -> list[Event]:
        """Analyse more samples (linear16 values); return the events they complete."""
        pending = self._pending
        events: list[Event] = []
        window = self._window
        if not pending and len(samples) == window:
            # A frame of exactly one window (20 ms frames): no copy through the pending buffer.
            self._window_done(is_loud(samples), events)
            return events
        pending.extend(samples)
        consumed = 0
        with memoryview(pending) as view:  # released before the buffer shrinks
            while len(pending) - consumed >= window:
                self._window_done(is_loud(view[consumed : consumed + window]), events)
                consumed += window
        del pending[:consumed]
        return events

    def flush(self, *, from_finalize: bool) -> Segment | None:
        """Finalize everything analysed so far; ``None`` when no audio is buffered."""
        s = self._s
        now = self.position
        if s.word_start is not None and now - s.word_start >= MIN_WORD_SECONDS:
            self._add_word(s.word_start, now)
        s.word_start = now if s.word_start is not None else None
        if now <= s.segment_start:
            return None
        return self._cut(now, speech_final=False, from_finalize=from_finalize)

    def _window_done(self, loud: bool, events: list[Event]) -> None:
        s = self._s
        start = s.windows * self._window_seconds
        s.windows += 1
        now = s.windows * self._window_seconds
        if loud:
            self._speech(start, events)
        else:
            self._quiet(start, now)
        self._after_window(now, events)

    def _speech(self, start: float, events: list[Event]) -> None:
        s = self._s
        if s.word_start is None:
            s.word_start = start
            if self._vad and (s.last_word_end is None or start - s.last_word_end >= VAD_GAP_SECONDS):
                events.append(SpeechStarted(round(start, 6)))
        s.quiet_since = None
        s.utterance_open = True

    def _quiet(self, start: float, now: float) -> None:
        s = self._s
        if s.quiet_since is None:
            s.quiet_since = start
        if s.word_start is not None and now - s.quiet_since >= WORD_GAP_SECONDS:
            if s.quiet_since - s.word_start >= MIN_WORD_SECONDS:
                self._add_word(s.word_start, s.quiet_since)
            s.word_start = None

    def _after_window(self, now: float, events: list[Event]) -> None:
        s = self._s
        in_word = s.word_start is not None
        if self._endpoint is not None and not in_word and s.words and now - s.words[-1].end >= self._endpoint:
            events.append(self._cut(now, speech_final=True, from_finalize=False))
        elif now - s.segment_start >= MAX_SEGMENT_SECONDS:
            cut = s.word_start if in_word and s.word_start > s.segment_start else now  # type: ignore[operator]
            if in_word and cut == now:
                self._add_word(s.word_start, now)  # type: ignore[arg-type]
                s.word_start = now
            events.append(self._cut(cut, speech_final=False, from_finalize=False))  # type: ignore[arg-type]
        if self._utterance_end is not None and s.utterance_open and not in_word and s.last_word_end is not None:
            if now - s.last_word_end >= self._utterance_end:
                events.append(UtteranceEnd(round(s.last_word_end, 6)))
                s.utterance_open = False
        if self._interim and now - max(s.last_interim, s.segment_start) >= INTERIM_EVERY_SECONDS:
            s.last_interim = now
            partial = tuple(s.words)
            if in_word and now - s.word_start >= MIN_WORD_SECONDS:  # type: ignore[operator]
                partial += (self._word(s.word_start, now, s.word_count),)  # type: ignore[arg-type]
            events.append(Segment(s.segment_start, now, partial, is_final=False))

    def _word(self, start: float, end: float, index: int) -> Word:
        return Word(_VOCABULARY[index % len(_VOCABULARY)], round(start, 6), round(end, 6), 0.9 + (index % 10) / 100)

    def _add_word(self, start: float, end: float) -> None:
        s = self._s
        s.words.append(self._word(start, end, s.word_count))
        s.word_count += 1
        s.last_word_end = end

    def _cut(self, at: float, *, speech_final: bool, from_finalize: bool) -> Segment:
        s = self._s
        kept = tuple(w for w in s.words if w.end <= at + 1e-9)
        s.words = [w for w in s.words if w.end > at + 1e-9]
        segment = Segment(s.segment_start, at, kept, True, speech_final, from_finalize)
        s.segment_start = at
        s.last_interim = at
        return segment
