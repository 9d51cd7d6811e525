"""Record-and-judge: turn what the mock saw of each client connection into a
:class:`~conformance.engine.trace.Trace` written from the client's side (``sent`` = what the
client sent), so the reporters of ``conformance run`` render client runs unchanged."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import Request, Response

from conformance.audio.decode import DecodeError, Decoder, open_decoder
from conformance.audio.wav import SAMPLE_BYTES, wav_format
from conformance.client.evidence import ClientConnection
from conformance.engine.trace import Handshake, Trace
from conformance.mock.server import presented_credentials
from conformance.protocol.messages import parse_json
from conformance.protocol.params import RAW_SAMPLE_BYTES, ParamError, parse_stream_params
from conformance.scenario.durations import Timing

__all__ = ["Recorder", "CONTAINER_MAGIC"]

# Leading bytes of containers a client may send by mistake while declaring a raw encoding.
CONTAINER_MAGIC = {
    b"RIFF": "WAV (RIFF)",
    b"OggS": "Ogg",
    b"fLaC": "FLAC",
    b"ID3": "MP3 (ID3)",
    b"\x1aE\xdf\xa3": "WebM/Matroska",
}
# A binary frame longer than this is audio, never a control message sent the wrong way.
_CONTROL_SIZE_LIMIT = 512


class _Observer:
    """The mock's :class:`~conformance.mock.server.StreamObserver` for one TCP connection."""

    def __init__(
        self, connection: ClientConnection, api_key: str | None, on_finished: Callable[[ClientConnection], None] | None
    ) -> None:
        self.connection = connection
        self.api_key = api_key
        self.on_finished = on_finished
        self.first_audio = True
        self.decoder: Decoder | None = None

    def _t(self, t: float) -> float:
        return t - self.connection.origin

    def upgraded(self, request: Request, response: Response, t: float) -> None:
        connection, trace = self.connection, self.connection.trace
        trace.handshake.url = trace.redact(request.path)
        trace.handshake.status = response.status_code
        trace.handshake.t = self._t(t)
        trace.handshake.headers = {k.lower(): trace.redact(v) for k, v in response.headers.raw_items()}
        trace.handshake.body = trace.redact(response.body.decode(errors="replace")) if response.body else ""
        credentials = presented_credentials(request)
        connection.credentials = [how for how, _ in credentials]
        # Without a key to compare with (a mock that requires none), presenting one is what counts.
        connection.credentials_match = (
            any(value == self.api_key for _, value in credentials) if self.api_key else bool(credentials)
        )
        try:
            connection.fmt = parse_stream_params(parse_qs(urlsplit(request.path).query, keep_blank_values=True))
        except ParamError:
            connection.fmt = None
        if response.status_code == 101:
            connection.upgraded_at = self._t(t)
            fmt = connection.fmt
            if fmt is not None:
                trace.channels, trace.sample_rate = fmt.channels, fmt.sample_rate or 0
                sample_bytes = RAW_SAMPLE_BYTES.get(fmt.encoding or "")
                if sample_bytes and fmt.sample_rate:
                    connection.bytes_per_second = float(sample_bytes * fmt.channels * fmt.sample_rate)

    def client_frame(self, payload: str | bytes, t: float) -> None:
        connection, trace = self.connection, self.connection.trace
        if isinstance(payload, str):
            trace.record_sent("text", payload, self._t(t), audio=False, due=None, step=None)
            return
        if self.first_audio and payload:
            self.first_audio = False
            self._sniff(payload)
        entry = trace.record_sent("binary", payload, self._t(t), audio=False, due=None, step=None)
        seconds = self._decode(payload, entry.index)
        if seconds is None and connection.bytes_per_second:
            seconds = len(payload) / connection.bytes_per_second
        if seconds is not None:
            trace.audio_seconds += seconds
            entry.audio_seconds = trace.audio_seconds
        if 0 < len(payload) <= _CONTROL_SIZE_LIMIT and payload.lstrip()[:1] == b"{":
            entry.text = _control_text(payload, trace)

    def _decode(self, payload: bytes, index: int) -> float | None:
        """The audio seconds ``payload`` completes, decoded as the client declared it; None once
        the stream cannot be decoded (the first such frame is kept as evidence)."""
        connection, fmt = self.connection, self.connection.fmt
        if fmt is None or connection.undecodable is not None or not payload:
            return None
        try:
            if self.decoder is None:
                self.decoder = open_decoder(fmt.encoding, fmt.sample_rate, fmt.channels, payload)
            samples = len(self.decoder.feed(payload))
        except DecodeError as exc:
            connection.undecodable, connection.decoded = (index, str(exc)), False
            return None
        connection.decoded = True
        return samples / (self.decoder.sample_rate * self.decoder.channels) if self.decoder.ready else 0.0

    def _sniff(self, payload: bytes) -> None:
        """The container of the first audio frame; for WAV without ``encoding``, its byte rate."""
        connection = self.connection
        connection.container = next(
            (name for magic, name in CONTAINER_MAGIC.items() if payload.startswith(magic)), None
        )
        found = wav_format(payload)
        if found is not None:
            rate, channels, encoding, connection.header_bytes = found
            if connection.fmt is not None and connection.fmt.encoding is None:
                connection.bytes_per_second = float(rate * channels * SAMPLE_BYTES[encoding])

    def server_frame(self, payload: str | bytes, t: float) -> None:
        self.connection.trace.record_received(payload, self._t(t), step=None)

    def closed(self, by: str, code: int | None, reason: str, t: float) -> None:
        self.connection.trace.record_close(by, code, reason, self._t(t))
        if by == "transport" and self.on_finished is not None:
            self.on_finished(self.connection)


def _control_text(payload: bytes, trace: Trace) -> str | None:
    """The text of a binary frame that holds a JSON control message (C-CTL-1), else None."""
    message, _ = parse_json(payload)
    return trace.redact(payload.decode(errors="replace")) if isinstance(message, dict) and "type" in message else None


class Recorder:
    """Collects every connection a client program opens against one mock.

    Args:
        scenario_id: Names the traces.
        api_key: The key handed to the program, redacted from everything recorded; None when the
            mock requires none.
        timing: The mock's clock (idle timeout and time scale).
        clock: The event loop's clock, so connection times share the frames' origin.
        on_finished: Called with each connection once its TCP connection has ended; the
            recorder then lets go of it.
    """

    def __init__(
        self,
        scenario_id: str,
        api_key: str | None,
        timing: Timing,
        clock: Callable[[], float],
        on_finished: Callable[[ClientConnection], None] | None = None,
    ) -> None:
        self.scenario_id = scenario_id
        self.api_key = api_key
        self.timing = timing
        self.clock = clock
        self.on_finished = on_finished
        self.started = clock()
        self.connections: list[ClientConnection] = []

    def connection(self) -> _Observer:
        """A new TCP connection: the mock calls this for its observer."""
        trace = Trace(self.scenario_id, self.timing, 1, 1, 0, Handshake(""), secrets=[self.api_key or ""])
        connection = ClientConnection(trace, origin=self.clock())
        self.connections.append(connection)
        return _Observer(connection, self.api_key, self._finished if self.on_finished is not None else None)

    def _finished(self, connection: ClientConnection) -> None:
        """A long-running mock judges each connection as it ends and then forgets it: memory
        stays bounded however many clients come."""
        assert self.on_finished is not None
        self.on_finished(connection)
        if connection in self.connections:
            self.connections.remove(connection)

    def start_offset(self, connection: ClientConnection) -> float:
        """Seconds from the program's start to this connection's first byte."""
        return connection.origin - self.started

    def all_closed(self) -> bool:
        """Every connection has ended (with or without a close frame)."""
        return all(c.trace.close is not None for c in self.connections)
