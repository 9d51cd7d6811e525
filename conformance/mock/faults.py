"""Injectable faults: each breaks exactly one rule of the catalog, so the suite can prove it
catches that rule being broken (the suite's own mutation score).

Faults act inside :class:`~conformance.mock.session.ServerSession` or the mock's handshake, so
they are testable without sockets.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from conformance.errors import UsageError

__all__ = ["Fault", "FAULTS", "parse_faults"]


@dataclass(frozen=True)
class Fault:
    """A named deviation from the contract and the rule it breaks."""

    name: str
    rule: str
    description: str


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("no-metadata-on-closestream", "CS-1", "CloseStream flushes and closes 1000 but sends no Metadata"),
        Fault("closestream-drops-audio", "CS-1", "CloseStream sends Metadata without flushing the buffered audio"),
        Fault("message-after-metadata", "CS-2", "a Results follows Metadata before the close"),
        Fault("closestream-wrong-code", "CS-3", "the close after CloseStream is 1011 instead of 1000"),
        Fault("metadata-duration-wrong", "CS-4", "Metadata.duration is twice the audio received"),
        Fault("request-id-mismatch", "CS-5", "Metadata.request_id differs from the Results' request_id"),
        Fault("keepalive-ignored", "KA-2", "KeepAlive does not reset the idle timer"),
        Fault("keepalive-answered", "KA-1", "every KeepAlive is echoed back"),
        Fault("finalize-ignored", "FIN-1", "Finalize does nothing"),
        Fault("finalize-wrong-channel", "FIN-3", "Finalize with a channel flushes the other channel"),
        Fault("finalize-closes-stream", "FIN-4", "Finalize flushes, then closes the stream 1000"),
        Fault("wall-clock-timestamps", "KA-4", "time spent in KeepAlive-only pauses advances result and word times"),
        Fault("results-ahead-of-audio", "RES-2", "result and word times run 1 s ahead of the audio received"),
        Fault("finals-overlap", "RES-3", "each final starts 0.2 s before the previous one ended"),
        Fault("words-outside-result", "RES-4", "word times are 0.3 s earlier than the audio they belong to"),
        Fault("no-from-finalize", "FIN-2", "Finalize flushes, but no result says from_finalize: true"),
        Fault("idle-never-closed", "TO-1", "an idle stream is never closed"),
        Fault("idle-closed-early", "TO-3", "an idle stream is closed after 70 % of the idle timeout"),
        Fault("idle-close-without-net0001", "TO-2", "the idle close is 1011 with a reason that names no NET-0001"),
        Fault("idle-close-without-metadata", "TO-4", "the idle close comes without Metadata"),
        Fault("never-transcribes", "TR-1", "every result has an empty transcript and no words, speech or not"),
        Fault("results-schema-violation", "MSG-1", "Results lack metadata.model_uuid"),
        Fault("reserved-bit-set", "WS-1", "Results frames are sent with RSV1 set although no extension was negotiated"),
        Fault("binary-frame", "MSG-2", "a binary frame is sent after the first Results"),
        Fault("channel-index-wrong", "RES-1", "channel_index claims one channel more than the stream has"),
        Fault("multichannel-merged", "MC-1", "multichannel=true is ignored: one mixed result stream"),
        Fault("accept-any-key", "HS-3", "the handshake accepts any or no API key"),
        Fault("accept-invalid-params", "HS-4", "invalid query parameters are accepted"),
        Fault("no-request-id-header", "HS-2", "the 101 response lacks dg-request-id"),
        Fault("reject-429", "HS-1", "every upgrade is rejected with 429 TOO_MANY_REQUESTS"),
        Fault("no-interim-results", "IR-1", "interim_results=true is ignored"),
        Fault("no-utterance-end", "UE-1", "utterance_end_ms is ignored"),
        Fault("no-speech-started", "VAD-1", "vad_events=true is ignored"),
        Fault("malformed-json-closes", "ERR-1", "malformed or unknown control text closes the stream 1011"),
        Fault("undecodable-audio-accepted", "ERR-2", "audio that is no known container is taken as 16 kHz linear16"),
        Fault(
            "codec-refused",
            "ENC-1",
            "audio declared in any encoding but linear16 is closed 1008 DATA-0000 as undecodable",
        ),
        Fault(
            "container-refused",
            "ENC-2",
            "a container other than WAV sent without encoding is closed 1008 DATA-0000 as undecodable",
        ),
        Fault("configure-closes-stream", "CFG-1", "Configure ends the stream with 1011 and no reply"),
    )
}


def parse_faults(names: Iterable[str]) -> frozenset[str]:
    """Validate fault names.

    Raises:
        UsageError: a name is unknown (with a "did you mean").
    """
    chosen = frozenset(names)
    for name in chosen:
        if name not in FAULTS:
            close = difflib.get_close_matches(name, FAULTS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else " `conformance mock --list-faults` lists them."
            raise UsageError(f"unknown fault {name!r}.{hint}")
    return chosen
