"""The client rules of the catalog (contract.md §10, C-AUTH-1 … C-EMPTY-1, and C-ERR-1) as checks
of what the mock recorded; :mod:`conformance.client.judge` grades them. Pure functions over a
:class:`ClientRun`, registered like the server checks: raise :class:`RuleViolation`, return None
when the rule held,
:data:`NOT_APPLICABLE` when the run never exercised it, or raise :class:`NotJudged` when it
should have but could not (the harness stopped the program). What the harness itself did to the
program is never the client's fault."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conformance.checks import NOT_APPLICABLE
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.client.evidence import ClientConnection, ClientRun
from conformance.engine.trace import SENT, WireEntry
from conformance.mock.session import NET_0001_REASON
from conformance.protocol.messages import LISTEN_PATH, parse_json
from conformance.protocol.params import RAW_SAMPLE_BYTES
from conformance.protocol.schemas import load_message_schemas

__all__ = [
    "client_check",
    "registered_client_checks",
    "Noted",
    "CONTROL_TYPES",
    "KEEPALIVE_EVERY",
    "keepalive_limit",
    "end_request",
]

CONTROL_TYPES = ("KeepAlive", "Finalize", "CloseStream", "Configure")
# seeds 003: "continue sending KeepAlive messages 3-5 seconds"; the upper end decides, with timer slack.
KEEPALIVE_EVERY = (3.0, 5.0)
_CADENCE_SLACK = 1.1
_FRAME_SECONDS = (0.020, 0.250)
_MAX_PACE = 1.25
# On top of one frame: a client may hand over the next frame a little before its time.
_PACE_SLACK_SECONDS = 0.05
# A connection that ended this close to the harness's stop was ended by the stop.
_STOP_SLACK_SECONDS = 0.5


class Noted(str):
    """What a check saw when the rule held, worth showing (INFO rules record behaviour)."""


ClientCheck = Callable[[ClientRun], Any]
_REGISTRY: list[tuple[str, ClientCheck]] = []


def registered_client_checks() -> list[tuple[str, ClientCheck]]:
    """Every (rule id, check) of the client rules, in registration order."""
    return list(_REGISTRY)


def client_check(rule_id: str) -> Callable[[ClientCheck], ClientCheck]:
    """Register a check of the client rule ``rule_id``."""

    def register(function: ClientCheck) -> ClientCheck:
        _REGISTRY.append((rule_id, function))
        return function

    return register


# -- what the recording says -------------------------------------------------------------------


def _sent(connection: ClientConnection) -> list[WireEntry]:
    return [e for e in connection.trace.entries if e.direction == SENT]


def _control(entry: WireEntry) -> dict[str, Any] | None:
    """The JSON object of a text frame, or None when it is not one."""
    body, _ = parse_json(entry.text or "")
    return body if isinstance(body, dict) else None


def _controls(connection: ClientConnection, kind: str) -> list[WireEntry]:
    return [e for e in _sent(connection) if e.kind == "text" and (_control(e) or {}).get("type") == kind]


def _closestream(connection: ClientConnection) -> WireEntry | None:
    found = _controls(connection, "CloseStream")
    return found[0] if found else None


def _closing(run: ClientRun) -> list[tuple[ClientConnection, WireEntry]]:
    """Accepted connections that sent CloseStream, with that frame."""
    return [(c, closestream) for c in run.accepted if (closestream := _closestream(c)) is not None]


def _audio(connection: ClientConnection) -> list[WireEntry]:
    return [e for e in _sent(connection) if e.kind == "binary" and e.size and e.text is None]


def end_request(connection: ClientConnection) -> WireEntry | None:
    """The client's request to end the stream: CloseStream or the deprecated empty binary frame."""
    return next(
        (
            e
            for e in _sent(connection)
            if (e.kind == "binary" and e.size == 0)
            or (e.kind == "text" and (_control(e) or {}).get("type") == "CloseStream")
        ),
        None,
    )


def _stopped_by_harness(run: ClientRun, connection: ClientConnection) -> bool:
    """The connection was still open when the harness stopped the program at its deadline."""
    close = connection.trace.close
    if run.stopped_at is None:
        return False
    return close is None or connection.origin + close.t >= run.stopped_at - _STOP_SLACK_SECONDS


def _server_closed_first(connection: ClientConnection) -> bool:
    """The server ended the stream before the client asked it to (idle timeout, server error)."""
    close, request = connection.trace.close, end_request(connection)
    return close is not None and close.by == "server" and (request is None or close.t < request.t)


def _label(run: ClientRun, connection: ClientConnection) -> str:
    return f"connection {run.connections.index(connection) + 1}: " if len(run.connections) > 1 else ""


def _frame(run: ClientRun, connection: ClientConnection, entry: WireEntry | None) -> int | None:
    """Frame indexes point into the first connection's trace, the one the reports show."""
    return entry.index if entry is not None and connection is run.connections[0] else None


def _stream_end(connection: ClientConnection) -> float:
    """When the client stopped meaning to keep the stream: CloseStream, or the close."""
    closestream, close = _closestream(connection), connection.trace.close
    ends = [t for t in (closestream.t if closestream else None, close.t if close else None) if t is not None]
    return min(ends) if ends else connection.trace.entries[-1].t if connection.trace.entries else 0.0


# -- the checks --------------------------------------------------------------------------------


@client_check("C-AUTH-1")
def credentials_sent(run: ClientRun) -> Any:
    """Every upgrade to /v1/listen carries the key, as a Token/Bearer header or the token/bearer
    subprotocol (other requests, a REST call or a health check, are not streams)."""
    asked = [
        c
        for c in run.connections
        if c.trace.handshake.status is not None and urlsplit(c.trace.handshake.url).path.rstrip("/") == LISTEN_PATH
    ]
    if not asked:
        return NOT_APPLICABLE
    for connection in asked:
        status = connection.trace.handshake.status
        if not connection.credentials:
            raise RuleViolation(
                "C-AUTH-1",
                f"{_label(run, connection)}no credentials: neither 'Authorization: Token|Bearer KEY' nor the "
                f"token/bearer subprotocol; the server answered {status}",
            )
        if not connection.credentials_match:
            raise RuleViolation(
                "C-AUTH-1",
                f"{_label(run, connection)}{', '.join(connection.credentials)} carried a key other than DEEPGRAM_API_KEY; the server answered {status}",
            )
    return None


@client_check("C-CTL-1")
def controls_are_text(run: ClientRun) -> Any:
    """A control message in a binary frame is fed to the audio decoder."""
    exercised = False
    for connection in run.accepted:
        for entry in _sent(connection):
            if entry.kind == "binary" and entry.text is not None:
                kind = (_control(entry) or {}).get("type", "a control message")
                raise RuleViolation(
                    "C-CTL-1",
                    f"{_label(run, connection)}{kind} sent as a binary frame at {entry.t:.3f}s: the server takes it for audio",
                    _frame(run, connection, entry),
                )
            exercised = exercised or entry.kind == "text"
    return None if exercised else NOT_APPLICABLE


@client_check("C-CTL-2")
def controls_are_valid(run: ClientRun) -> Any:
    """JSON objects with a string type; the known types well-formed (Finalize.channel an integer in
    [0, channels), Configure as deepgram-sdk 7.17 models it)."""
    texts = [(c, e) for c in run.accepted for e in _sent(c) if e.kind == "text"]
    if not texts:
        return NOT_APPLICABLE
    schemas = load_message_schemas()
    for connection, entry in texts:
        body, where = _control(entry), f"{_label(run, connection)}text frame at {entry.t:.3f}s"
        if body is None or not isinstance(body.get("type"), str):
            what = "not a JSON object" if body is None else "a JSON object without a string type"
            raise RuleViolation("C-CTL-2", f"{where} is {what}: {entry.describe(80)}", _frame(run, connection, entry))
        kind = body["type"]
        if kind == "Finalize" and "channel" in body:
            channel, channels = body["channel"], connection.fmt.channels if connection.fmt else 1
            if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel < channels:
                raise RuleViolation(
                    "C-CTL-2",
                    f"{where}: Finalize.channel {channel!r} is not an integer in [0, {channels})",
                    _frame(run, connection, entry),
                )
        problems = schemas.problems(kind, body) if kind in CONTROL_TYPES else []
        if problems:
            raise RuleViolation(
                "C-CTL-2", f"{where}: {kind} violates its schema at {problems[0]}", _frame(run, connection, entry)
            )
    return None


@client_check("C-CTL-3")
def control_types_known(run: ClientRun) -> Any:
    """Every control message has a type the protocol defines."""
    typed = [
        (c, e, body["type"])
        for c in run.accepted
        for e in _sent(c)
        if e.kind == "text" and isinstance((body := _control(e) or {}).get("type"), str)
    ]
    if not typed:
        return NOT_APPLICABLE
    for connection, entry, kind in typed:
        if kind not in CONTROL_TYPES:
            raise RuleViolation(
                "C-CTL-3",
                f"{_label(run, connection)}text frame at {entry.t:.3f}s has type {kind!r}; the protocol defines {', '.join(CONTROL_TYPES)}",
                _frame(run, connection, entry),
            )
    return None


@client_check("C-KA-1")
def never_idle_past_timeout(run: ClientRun) -> Any:
    """No gap as long as the idle timeout with neither audio nor KeepAlive while the stream is wanted."""
    if not run.accepted:
        return NOT_APPLICABLE
    idle = run.timing.idle_timeout * run.timing.scale
    for connection in run.accepted:
        close = connection.trace.close
        if close is not None and close.by == "server" and close.reason == NET_0001_REASON:
            last = max((e.t for e in _sent(connection) if e.t < close.t), default=connection.upgraded_at or 0.0)
            raise RuleViolation(
                "C-KA-1",
                f"{_label(run, connection)}nothing sent for {close.t - last:.2f}s after {last:.3f}s: the server closed 1011 NET-0001 (idle timeout {idle:g}s)",
            )
        times = [
            connection.upgraded_at or 0.0,
            *(e.t for e in _sent(connection) if e.t <= _stream_end(connection)),
            _stream_end(connection),
        ]
        gap, start = max(((b - a, a) for a, b in zip(times, times[1:], strict=False)), default=(0.0, 0.0))
        if gap >= idle:
            raise RuleViolation(
                "C-KA-1",
                f"{_label(run, connection)}nothing sent for {gap:.2f}s after {start:.3f}s (idle timeout {idle:g}s)",
            )
    return None


def _pauses(connection: ClientConnection, longest_gap: float) -> Iterator[tuple[float, float]]:
    """Spans without audio longer than ``longest_gap``, from the upgrade to the end of the stream."""
    end = _stream_end(connection)
    marks = [connection.upgraded_at or 0.0, *(e.t for e in _audio(connection) if e.t <= end), end]
    for a, b in zip(marks, marks[1:], strict=False):
        if b - a > longest_gap:
            yield a, b


def keepalive_limit(run: ClientRun) -> float:
    """The longest tolerated span without KeepAlive during a pause, on the run's clock."""
    return KEEPALIVE_EVERY[1] * run.timing.scale * _CADENCE_SLACK


@client_check("C-KA-2")
def keepalive_cadence(run: ClientRun) -> Any:
    """During pauses, a KeepAlive every 3-5 s."""
    limit = keepalive_limit(run)
    exercised = False
    for connection in run.accepted:
        keepalives = [e.t for e in _controls(connection, "KeepAlive")]
        for start, end in _pauses(connection, limit):
            exercised = True
            marks = [start, *(t for t in keepalives if start < t < end), end]
            gap, after = max((b - a, a) for a, b in zip(marks, marks[1:], strict=False))
            if gap > limit:
                sent = len(marks) - 2
                raise RuleViolation(
                    "C-KA-2",
                    f"{_label(run, connection)}pause {start:.2f}-{end:.2f}s: no KeepAlive for {gap:.2f}s "
                    f"after {after:.2f}s ({sent} sent; every {KEEPALIVE_EVERY[0] * run.timing.scale:g}-{KEEPALIVE_EVERY[1] * run.timing.scale:g}s expected)",
                )
    return None if exercised else NOT_APPLICABLE


@client_check("C-CS-1")
def ends_with_closestream(run: ClientRun) -> Any:
    """The client ends its stream with CloseStream, not by dropping the socket or an empty frame."""
    ended_by_client = [c for c in run.accepted if not _server_closed_first(c)]
    if not ended_by_client:
        return NOT_APPLICABLE
    stopped = [c for c in ended_by_client if _closestream(c) is None and _stopped_by_harness(run, c)]
    if stopped and len(stopped) == len(ended_by_client):
        raise NotJudged(
            "C-CS-1", f"the harness stopped the program at its deadline while its stream was open ({run.duration:.1f}s)"
        )
    for connection in (c for c in ended_by_client if c not in stopped):
        if _closestream(connection) is not None:
            continue
        empty = next((e for e in _sent(connection) if e.kind == "binary" and e.size == 0), None)
        if empty is not None:
            raise RuleViolation(
                "C-CS-1",
                f"{_label(run, connection)}ended the stream with an empty binary frame at {empty.t:.3f}s (the deprecated signal) instead of CloseStream",
                _frame(run, connection, empty),
            )
        close = connection.trace.close
        how = close.describe() if close is not None else "left the connection open"
        raise RuleViolation("C-CS-1", f"{_label(run, connection)}no CloseStream: {how}")
    return None


@client_check("C-CS-2")
def no_audio_after_closestream(run: ClientRun) -> Any:
    """Nothing binary after CloseStream."""
    closing = _closing(run)
    if not closing:
        return NOT_APPLICABLE
    for connection, closestream in closing:
        late = [e for e in _sent(connection) if e.kind == "binary" and e.index > closestream.index]
        if late:
            raise RuleViolation(
                "C-CS-2",
                f"{_label(run, connection)}{len(late)} binary frame(s) after CloseStream, the first "
                f"{late[0].size} B at {late[0].t:.3f}s ({late[0].t - closestream.t:.3f}s after it)",
                _frame(run, connection, late[0]),
            )
    return None


@client_check("C-CS-3")
def waits_for_metadata(run: ClientRun) -> Any:
    """After CloseStream the client lets the server finish: Metadata, then the server's close."""
    closing = _closing(run)
    if not closing:
        return NOT_APPLICABLE
    for connection, closestream in closing:
        close = connection.trace.close
        if close is None or close.by == "server" or (close.by == "transport" and _stopped_by_harness(run, connection)):
            continue
        metadata = next((e for e, _ in connection.trace.messages("Metadata") if e.t >= closestream.t), None)
        if metadata is None or close.t < metadata.t:
            how = "with a close frame" if close.by == "client" else "by dropping the TCP connection"
            raise RuleViolation(
                "C-CS-3",
                f"{_label(run, connection)}closed {how} {close.t - closestream.t:.3f}s after CloseStream, "
                "before the server sent Metadata: final results are lost",
            )
    return None


@client_check("C-AUD-1")
def audio_matches_encoding(run: ClientRun) -> Any:
    """The audio decodes as declared: under a raw encoding whole samples and no container header;
    under flac, ogg-opus or opus, or a container sent without encoding, a well-formed stream
    (``fLaC`` and its frames, Ogg pages, the EBML header before any Cluster). Raw audio without
    encoding is C-AUD-3's finding."""
    exercised = False
    for connection in run.accepted:
        fmt, audio = connection.fmt, _audio(connection)
        if fmt is None or not audio or (fmt.encoding is None and connection.container is None):
            continue
        exercised = True
        if fmt.encoding in RAW_SAMPLE_BYTES:
            if connection.container:
                raise RuleViolation(
                    "C-AUD-1",
                    f"{_label(run, connection)}the audio starts with a {connection.container} header while encoding={fmt.encoding} declares raw samples",
                    _frame(run, connection, audio[0]),
                )
            frame_bytes = RAW_SAMPLE_BYTES[fmt.encoding] * fmt.channels
            broken = [e for e in audio if e.size % frame_bytes]
            if broken:
                raise RuleViolation(
                    "C-AUD-1",
                    f"{_label(run, connection)}{len(broken)} of {len(audio)} audio frames are not whole "
                    f"{fmt.encoding} frames of {frame_bytes} B (the first: {broken[0].size} B at {broken[0].t:.3f}s)",
                    _frame(run, connection, broken[0]),
                )
        if connection.undecodable is not None:
            index, why = connection.undecodable
            entry = next((e for e in audio if e.index == index), audio[0])
            declared = (
                f"encoding={fmt.encoding}" if fmt.encoding else f"a {connection.container} container without encoding"
            )
            raise RuleViolation(
                "C-AUD-1",
                f"{_label(run, connection)}the audio does not decode as {declared}: frame at {entry.t:.3f}s: {why}",
                _frame(run, connection, entry),
            )
    return None if exercised else NOT_APPLICABLE


def _frame_seconds(
    connection: ClientConnection, audio: list[WireEntry], rate: float | None
) -> list[tuple[WireEntry, float]]:
    """Audio seconds per frame: by the byte rate of raw audio (a WAV header is no audio), else as
    decoded (a container's frame carries the audio it completes); frames with none drop out."""
    if rate:
        seconds = [(e, (e.size - (connection.header_bytes if i == 0 else 0)) / rate) for i, e in enumerate(audio)]
    elif connection.decoded:
        before = [0.0, *(e.audio_seconds for e in audio[:-1])]
        seconds = [(e, e.audio_seconds - previous) for e, previous in zip(audio, before, strict=False)]
    else:
        seconds = []
    return [(e, s) for e, s in seconds if s > 0]


@client_check("C-AUD-2")
def frame_sizes_and_pace(run: ClientRun) -> Any:
    """Frames of 20-250 ms, sent no faster than 1.25x real time (recorded, INFO). A client may
    hand over a frame before its time: the pace allows one frame (at most 250 ms) of lead."""
    notes, problems = [], []
    for connection in run.accepted:
        end = end_request(connection)
        audio, rate = [e for e in _audio(connection) if end is None or e.index < end.index], connection.bytes_per_second
        timed = _frame_seconds(connection, audio, rate) if audio else []
        if not timed:
            continue
        seconds = [s for _, s in timed]
        # The last frame carries whatever audio is left over: only too long counts there.
        outside = [s for s in seconds[:-1] if not _FRAME_SECONDS[0] <= s <= _FRAME_SECONDS[1]]
        outside += [s for s in seconds[-1:] if s > _FRAME_SECONDS[1]]
        lead = min(max(seconds), _FRAME_SECONDS[1]) + _PACE_SLACK_SECONDS
        start, pace, sent = timed[0][0].t, 0.0, 0.0
        for entry, length in timed:
            elapsed = entry.t - start
            if elapsed > 0:
                pace = max(pace, sent / elapsed)
            if sent > _MAX_PACE * elapsed + lead:
                problems.append(f"{sent:.2f}s of audio sent within {elapsed:.2f}s")
            sent += length
        middle = sorted(seconds)[len(seconds) // 2]
        notes.append(
            f"{_label(run, connection)}{len(timed)} frames of {1000 * middle:.0f} ms (median), fastest pace {pace:.2f}x real time"
        )
        if outside:
            problems.append(
                f"{len(outside)} of {len(timed)} frames outside 20-250 ms (e.g. {1000 * outside[0]:.1f} ms)"
            )
    if not notes:
        return NOT_APPLICABLE
    if problems:
        raise RuleViolation("C-AUD-2", "; ".join(notes) + " — " + problems[0])
    return Noted("; ".join(notes))


def _encoding_without_rate(connection: ClientConnection) -> str | None:
    """The encoding of an upgrade that declared one without sample_rate (rejected with 400)."""
    query = parse_qs(urlsplit(connection.trace.handshake.url).query)
    if query.get("encoding") and not query.get("sample_rate"):
        return query["encoding"][0]
    return None


@client_check("C-AUD-3")
def raw_audio_is_declared(run: ClientRun) -> Any:
    """Headerless audio comes with encoding and sample_rate; without encoding, a container header."""
    exercised = False
    for connection in run.connections:
        encoding = _encoding_without_rate(connection)
        if encoding is not None:
            raise RuleViolation(
                "C-AUD-3",
                f"{_label(run, connection)}encoding={encoding} without sample_rate: the server answered {connection.trace.handshake.status}",
            )
        audio = _audio(connection) if connection.accepted else []
        if connection.fmt is None or not audio:
            continue
        exercised = True
        if connection.fmt.encoding is None and connection.container is None:
            close = connection.trace.close
            after = f"; {close.describe()}" if close is not None and close.by == "server" else ""
            raise RuleViolation(
                "C-AUD-3",
                f"{_label(run, connection)}no encoding declared, so the server expects a container (WAV, "
                f"Ogg, WebM, FLAC), but the first audio frame ({audio[0].size} B at {audio[0].t:.3f}s) has no container header{after}",
                _frame(run, connection, audio[0]),
            )
    return None if exercised else NOT_APPLICABLE


@client_check("C-EMPTY-1")
def no_empty_frames(run: ClientRun) -> Any:
    """A zero-length binary frame is the deprecated close signal."""
    if not run.accepted:
        return NOT_APPLICABLE
    for connection in run.accepted:
        empty = next((e for e in _sent(connection) if e.kind == "binary" and e.size == 0), None)
        if empty is not None:
            raise RuleViolation(
                "C-EMPTY-1",
                f"{_label(run, connection)}empty binary frame at {empty.t:.3f}s",
                _frame(run, connection, empty),
            )
    return None


@client_check("C-ERR-1")
def reacts_to_server_error(run: ClientRun) -> Any:
    """After a server-side 1011, the client reconnects or ends with a failure status; never a
    quiet success, never a hang. Judged by what the program did, not by what it printed."""
    failed = next(
        (
            c
            for c in run.accepted
            if _server_closed_first(c) and c.trace.close is not None and c.trace.close.code == 1011
        ),
        None,
    )
    if failed is None or failed.trace.close is None or not run.process:
        return NOT_APPLICABLE
    closed_at = failed.origin + failed.trace.close.t
    later = [c for c in run.connections[run.connections.index(failed) + 1 :] if c.origin >= closed_at]
    if later:
        return Noted(
            f"reconnected {later[0].origin - closed_at:.2f}s after the server's 1011 close ({len(later)} new connection(s))"
        )
    if run.stopped_at is not None or run.exit_status is None:
        hung = f" for {run.stopped_at - closed_at:.1f}s" if run.stopped_at is not None else ""
        raise RuleViolation(
            "C-ERR-1",
            f"neither reconnected nor ended after the server's 1011 close: it hung{hung}, until the harness stopped it at its deadline",
        )
    if run.exit_status != 0:
        return Noted(f"ended with exit status {run.exit_status} after the server's 1011 close")
    raise RuleViolation(
        "C-ERR-1",
        "exited 0 without reconnecting after the server's 1011 close: to its caller the stream succeeded, "
        "and the lost audio goes unnoticed (whatever it printed)",
    )
