"""How the stream ended and whose rule that ending belongs to; which features the server refused.

A close is judged once, under the rule it answers: a close right after Finalize is FIN-4's, after
malformed JSON ERR-1's, during a KeepAlive-only period KA-2's, after the idle timeout the TO rules',
and only a close that nothing the client did explains is TO-3's ("closed an active stream").

A server that refuses a feature explicitly - an ``Error`` message, or a 4000-4999 or 1003 close, in
answer to the frame that used it - lacks that feature: its rules are UNIMPLEMENTED, naming the
refusal, instead of failing one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from conformance.engine.trace import RECEIVED, SENT, CloseInfo, Trace, WireEntry, late_keepalive
from conformance.protocol.messages import parse_json

__all__ = [
    "Ending",
    "Refusal",
    "ending",
    "refusals",
    "FEATURE_RULES",
    "reply_window",
    "frame_name",
    "OPEN",
    "CLIENT",
    "REQUESTED",
    "IDLE",
    "REPLY",
    "REFUSED",
    "UNPROVOKED",
    "SUITE_LATE",
]

OPEN, CLIENT, REQUESTED, IDLE, REPLY, REFUSED, UNPROVOKED, SUITE_LATE = (
    "open",
    "client",
    "requested",
    "idle",
    "reply",
    "refused",
    "unprovoked",
    "suite late",
)
# Real servers close at 10-12 s; a close after 90 % of the timeout is the idle close, not an early one.
IDLE_FRACTION = 0.9
_REPLY_WINDOW_SECONDS = 1.0
_DATA_0000 = re.compile(r"DATA-0000|dpgr\.am/data0000", re.IGNORECASE)
# A Configure left without ConfigureSuccess, ConfigureFailure or Error this long (wall-clock, so
# scaled with the run), on a stream that stayed open, was ignored: the endpoint predates Configure.
CONFIGURE_WAIT_SECONDS = 2.0
_CONFIGURE_REPLIES = ("ConfigureSuccess", "ConfigureFailure", "Error")
# Features a server may lack, named by the control frame that uses them, and the rules they carry.
FEATURE_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Finalize": ("Finalize", ("FIN-1", "FIN-2", "FIN-3", "FIN-4")),
    "Configure": ("Configure", ("CFG-1",)),
    "KeepAlive": ("KeepAlive", ("KA-1", "KA-2", "KA-3", "KA-4")),
    "empty": ("the empty binary frame (legacy close)", ("CS-7",)),
}
# What each kind of client frame answered by a close makes the close a breach of.
_REPLY_RULES = {"Finalize": "FIN-4", "Configure": "CFG-1", "KeepAlive": "KA-2", "text": "ERR-1"}


def _control_type(entry: WireEntry) -> str | None:
    """``Finalize``, ``CloseStream`` ... for a control text frame we sent; ``text`` for any other
    text; ``empty`` for a zero-length binary frame; None for audio."""
    if entry.kind == "binary":
        return "empty" if entry.size == 0 else None
    body, _ = parse_json(entry.text or "")
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if kind in ("KeepAlive", "Finalize", "CloseStream", "Configure") else "text"


def _is_error(entry: WireEntry) -> bool:
    return entry.direction == RECEIVED and entry.message is not None and entry.message.type == "Error"


def _refusing_code(close: CloseInfo) -> bool:
    # 1003: "cannot accept this type of data"; 4000-4999: the application's own refusals.
    return close.code == 1003 or (close.code is not None and 4000 <= close.code <= 4999)


def frame_name(entry: WireEntry) -> str:
    """A client frame as a reader knows it: ``Finalize #12``, ``text frame #9 '{not json'``."""
    kind = _control_type(entry)
    if kind == "empty":
        return f"empty binary frame #{entry.index}"
    if kind is None:
        return f"binary frame #{entry.index} ({entry.size} B)"
    if kind == "text":
        text = entry.text or ""
        return f"text frame #{entry.index} {text[:40] + ('…' if len(text) > 40 else '')!r}"
    return f"{kind} #{entry.index}"


@dataclass(frozen=True)
class Refusal:
    """The server refused ``feature`` (its ``rules`` are UNIMPLEMENTED) in answer to ``trigger``."""

    feature: str
    rules: tuple[str, ...]
    trigger: WireEntry | None
    error: WireEntry | None
    close: CloseInfo | None
    note: str | None = None

    def describe(self) -> str:
        """One line naming the refusal and its evidence."""
        if self.note is not None:
            return self.note
        parts = []
        if self.error is not None:
            parts.append(f"answered with {self.error.describe(120)}")
        if self.close is not None:
            parts.append(self.close.describe())
        what = frame_name(self.trigger) if self.trigger is not None else self.feature
        return f"the endpoint refused {what}: " + "; ".join(parts)


@dataclass(frozen=True)
class Ending:
    """How the stream ended.

    ``kind``: :data:`OPEN` (still open when the scenario ended), :data:`CLIENT` (we closed),
    :data:`REQUESTED` (after CloseStream or an empty frame), :data:`IDLE` (after the idle
    timeout), :data:`REPLY` (in answer to a client frame, ``trigger``), :data:`REFUSED` (a
    refusal, see :attr:`refusal`), :data:`UNPROVOKED` (nothing the client did explains it),
    :data:`SUITE_LATE` (during a KeepAlive-only period in which the suite itself sent late: no
    rule's finding).
    ``rule``: the rule a REPLY or UNPROVOKED close breaks.
    """

    kind: str
    close: CloseInfo | None = None
    trigger: WireEntry | None = None
    gap: float = 0.0
    rule: str | None = None
    refusal: Refusal | None = None
    error: WireEntry | None = None

    def describe(self) -> str:
        """What ended the stream, e.g. ``server closed 1011 … at 3.2s, 0.004s after Finalize #150``."""
        if self.refusal is not None:
            return self.refusal.describe()
        if self.close is None:
            return "the stream was still open"
        text = self.close.describe()
        if self.trigger is not None:
            text += f", {self.close.t - self.trigger.t:.3f}s after the client's {frame_name(self.trigger)}"
        elif self.kind in (IDLE, UNPROVOKED):
            text += f", {self.gap:.3f}s after the client's last frame"
        elif self.kind == SUITE_LATE:
            text += f", {self.gap:.3f}s after the client's last frame, in a KeepAlive-only period in which the suite itself sent late"
        if self.error is not None:
            text += f", after {self.error.describe(120)}"
        return text


def _sent_before(trace: Trace, t: float) -> list[WireEntry]:
    return [e for e in trace.entries if e.direction == SENT and e.t <= t]


def reply_window(trace: Trace) -> float:
    """How soon after a client frame a server frame or close counts as its answer: a second, or
    half the idle timeout when time is scaled down (server latency is not scaled), so that an
    answer is never mistaken for an idle close (at 90 % of the timeout) nor one for the other."""
    return min(_REPLY_WINDOW_SECONDS, 0.5 * trace.timing.idle_timeout * trace.timing.scale)


def _feature_of(entry: WireEntry) -> str | None:
    kind = _control_type(entry)
    return kind if kind in FEATURE_RULES else None


def _answer(trace: Trace, position: int) -> WireEntry | None:
    """An ``Error`` the server sent within the reply window of the client frame at ``position``,
    before the client's next control frame (whose answer it would be)."""
    entries, sent = trace.entries, trace.entries[position]
    window = reply_window(trace)
    for entry in entries[position + 1 :]:
        if entry.t - sent.t > window or (entry.direction == SENT and _control_type(entry) is not None):
            return None
        if _is_error(entry):
            return entry
    return None


def refusals(trace: Trace) -> list[Refusal]:
    """Features the server refused: an ``Error`` answering a feature's control frame, or a refusing
    close (4000-4999 or 1003) within the reply window of it."""
    if "refusals" in trace.derived:
        return trace.derived["refusals"]
    found: list[Refusal] = []
    window, close = reply_window(trace), trace.close
    for position, entry in enumerate(trace.entries):
        feature = _feature_of(entry) if entry.direction == SENT else None
        if feature is None:
            continue
        error = _answer(trace, position)
        closing = close if close is not None and close.by != "client" and 0 <= close.t - entry.t <= window else None
        name, rules = FEATURE_RULES[feature]
        if error is not None or (closing is not None and _refusing_code(closing)):
            found.append(Refusal(name, rules, entry, error, closing))
        elif feature == "Configure" and _ignored(trace, entry):
            wait = CONFIGURE_WAIT_SECONDS * trace.timing.scale
            note = (
                f"the endpoint ignored Configure #{entry.index}: no ConfigureSuccess, ConfigureFailure or "
                f"Error in the {wait:g}s after it, while the stream went on"
            )
            found.append(Refusal(name, rules, entry, None, None, note))
    trace.derived["refusals"] = found
    return found


def _ignored(trace: Trace, configure: WireEntry) -> bool:
    """No reply at all to ``configure``, on a stream that stayed open long enough to give one."""
    close, wait = trace.close, CONFIGURE_WAIT_SECONDS * trace.timing.scale
    if close is not None and close.t - configure.t < wait:
        return False
    last = max((e.t for e in trace.entries), default=configure.t)
    if close is None and last - configure.t < wait:
        return False
    return not any(
        e.message is not None and e.message.type in _CONFIGURE_REPLIES
        for e in trace.received()
        if e.index > configure.index
    )


def _refused_at_start(trace: Trace, close: CloseInfo) -> tuple[bool, WireEntry | None]:
    """Whether the server ended the stream right after the upgrade or its first audio, with a
    refusal's signs (an ``Error``, a refusing code), e.g. channels=2 unsupported; and the Error."""
    first_audio = next((e.t for e in trace.entries if e.direction == SENT and e.kind == "binary" and e.size), None)
    since = close.t - (first_audio if first_audio is not None else trace.handshake.t or 0.0)
    error = next((e for e in trace.entries if _is_error(e) and e.t <= close.t), None)
    return since <= reply_window(trace) and (error is not None or _refusing_code(close)), error


def ending(trace: Trace, feature: str | None = None, rules: tuple[str, ...] = ()) -> Ending:
    """Classify the end of the stream (see :class:`Ending`); ``feature`` and ``rules`` are the
    scenario's optional feature and its rules, UNIMPLEMENTED when the stream itself is refused."""
    if "ending" not in trace.derived:
        trace.derived["ending"] = _classify(trace, feature, rules)
    return trace.derived["ending"]


def _classify(trace: Trace, feature: str | None, rules: tuple[str, ...]) -> Ending:
    close = trace.close
    if close is None or trace.handshake.status != 101:
        return Ending(OPEN, close)
    if close.by == "client":
        return Ending(CLIENT, close)
    sent = _sent_before(trace, close.t)
    refused = next((r for r in refusals(trace) if r.close is close), None)
    if refused is not None:
        return Ending(REFUSED, close, refused.trigger, refusal=refused)
    request = next((e for e in sent if _control_type(e) in ("CloseStream", "empty")), None)
    if request is not None:
        return Ending(REQUESTED, close, request)
    last = sent[-1] if sent else None
    gap = close.t - (last.t if last is not None else trace.handshake.t or 0.0)
    undecoded = _undecoded(trace, close, sent)
    if undecoded is not None:
        return Ending(UNPROVOKED, close, gap=gap, rule=undecoded)
    if gap >= IDLE_FRACTION * trace.timing.idle_timeout * trace.timing.scale:
        return Ending(IDLE, close, gap=gap)
    window = reply_window(trace)
    trigger = next(
        (
            e
            for e in reversed(sent)
            if close.t - e.t <= window and (_control_type(e) is not None or e.index in trace.probes)
        ),
        None,
    )
    if trigger is not None:
        return Ending(REPLY, close, trigger, gap, _reply_rule(trace, trigger))
    at_start, error = _refused_at_start(trace, close)
    if at_start and feature is not None:
        return Ending(
            REFUSED,
            close,
            refusal=Refusal(f"the feature {feature!r} (the stream's parameters)", rules, None, error, close),
        )
    if at_start:
        return Ending(UNPROVOKED, close, gap=gap, rule="HS-1", error=error)
    period = next(((start, every) for start, end, every in trace.keepalive_periods if start <= close.t <= end), None)
    if period is not None and late_keepalive(trace.entries, period[0], period[1], close.t) is not None:
        return Ending(SUITE_LATE, close, gap=gap)
    if period is not None:
        keepalive = next((e for e in reversed(sent) if _control_type(e) == "KeepAlive"), None)
        if keepalive is not None:
            return Ending(REPLY, close, keepalive, gap, _reply_rule(trace, keepalive))
    return Ending(UNPROVOKED, close, gap=gap, rule="TO-3")


def _undecoded(trace: Trace, close: CloseInfo, sent: list[WireEntry]) -> str | None:
    """ENC-1 (ENC-2 without ``encoding``) when the server said it could not decode audio the
    suite sent well-formed in the declared format; None when a probe of the scenario's own
    (undecodable bytes on purpose) explains it, or when it is no such close."""
    # 1008 is any policy violation: only DATA-0000, or a bare 1008, says "undecodable".
    if not (_DATA_0000.search(close.reason) or (close.code == 1008 and not close.reason.strip())):
        return None
    audio = [e for e in sent if e.kind == "binary" and e.size]
    if not audio or any(e.index in trace.probes for e in audio):
        return None
    return "ENC-1" if "encoding" in parse_qs(urlsplit(trace.handshake.url).query) else "ENC-2"


def _reply_rule(trace: Trace, trigger: WireEntry) -> str | None:
    """The rule a close answering ``trigger`` breaks; None for the scenario's own probes (a raw
    frame sent on purpose, judged by the scenario's steps)."""
    if trigger.index in trace.probes:
        return None
    kind = _control_type(trigger)
    if kind == "KeepAlive" and trigger.audio_seconds == 0:
        return "KA-3"  # before any audio, whether KeepAlive alone holds the stream is open (INFO)
    return _REPLY_RULES.get(kind or "")
