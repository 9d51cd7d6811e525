"""Deepgram-compatible servers that deviate the way real ones do, several ways at once: the corpus
the suite's verdicts are proven on. Written apart from the mock (websockets' asyncio server, their
own fixed-block transcription), so a shared mistake cannot make both agree.

Each :class:`Profile` names its deviations; ``tests/corpus/*.yaml`` hold the verdicts expected of
the suite against each, written by hand from the contract.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import uuid
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from conformance.audio.speech import find_speech

NET_0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001"
)
BLOCK_SECONDS = 1.0
ENCODINGS = ("linear16",)
MODEL = {"name": "corpus", "version": "1", "arch": "blocks"}


@dataclass(frozen=True)
class Profile:
    """How a corpus server behaves; each field a choice real servers have made."""

    name: str
    auth: str = "required"  # required | required-bare (401 without dg-error) | none
    validate_params: bool = True
    request_id_header: bool = True
    idle_timeout: float | None = 10.0  # before scaling; None: never
    multichannel: str = "supported"  # supported | refused (Error + 4000 after the upgrade)
    finalize: str = "flush"  # flush | ignored | refused (Error + 4001)
    interim: str = "none"  # none | proper | int-channel-index
    configure: str = "ignored"  # ignored | error | close-4003
    malformed: str = "ignore"  # ignore | schema-error | close-1011
    keepalive_reply: bool = False
    early_metadata: bool = False
    empty_frame: str = "closestream"  # closestream | refused (Error + 4002)
    undecodable: str = "data-0000"  # data-0000 | accepted


class _Lane:
    """One channel's audio, finalized in fixed one-second blocks."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.samples = array("h")
        self.final_frames = 0
        self.interim_sent = False

    def words(self, start: int, end: int) -> list[dict[str, Any]]:
        runs = find_speech(self.samples[start:end].tobytes(), self.rate, 1)
        return [
            {
                "word": "w",
                "start": round((start + a) / self.rate, 6),
                "end": round((start + b) / self.rate, 6),
                "confidence": 0.9,
            }
            for a, b in runs
        ]

    def feed(self, samples: array) -> list[tuple[float, float, list[dict[str, Any]], bool]]:
        """(start, end, words, is_final) of what the new samples complete: finals per block, and an
        interim halfway through a block."""
        self.samples.extend(samples)
        block, out = int(BLOCK_SECONDS * self.rate), []
        while len(self.samples) - self.final_frames >= block:
            start = self.final_frames
            self.final_frames += block
            self.interim_sent = False
            out.append((start / self.rate, self.final_frames / self.rate, self.words(start, self.final_frames), True))
        if not self.interim_sent and len(self.samples) - self.final_frames >= block // 2:
            self.interim_sent = True
            middle = self.final_frames + block // 2
            out.append(
                (self.final_frames / self.rate, middle / self.rate, self.words(self.final_frames, middle), False)
            )
        return out

    def flush(self) -> tuple[float, float, list[dict[str, Any]], bool] | None:
        if len(self.samples) <= self.final_frames:
            return None
        start, self.final_frames = self.final_frames, len(self.samples)
        return start / self.rate, self.final_frames / self.rate, self.words(start, self.final_frames), True


class _Stream:
    """One connection of a corpus server."""

    def __init__(self, profile: Profile, ws: ServerConnection, scale: float) -> None:
        self.profile, self.ws = profile, ws
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        self.encoding = query.get("encoding", [None])[0]
        self.rate = (
            int(query.get("sample_rate", ["16000"])[0])
            if str(query.get("sample_rate", ["16000"])[0]).isdigit()
            else 16000
        )
        self.channels = int(query.get("channels", ["1"])[0])
        self.multichannel = query.get("multichannel", ["false"])[0] == "true"
        self.interims = query.get("interim_results", ["false"])[0] == "true" and profile.interim != "none"
        self.request_id = (
            ws.response.headers.get("dg-request-id", str(uuid.uuid4())) if ws.response else str(uuid.uuid4())
        )
        self.lanes = [_Lane(self.rate) for _ in range(self.channels if self.multichannel else 1)]
        self.idle = profile.idle_timeout * scale if profile.idle_timeout is not None else None
        self.container_pending = self.encoding is None
        self.frames = 0
        self.sha = hashlib.sha256()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    def results(
        self, lane: int, start: float, end: float, words: list[dict[str, Any]], final: bool, from_finalize: bool = False
    ) -> dict[str, Any]:
        pair: Any = [lane, len(self.lanes)]
        if not final and self.profile.interim == "int-channel-index":
            pair = lane
        return {
            "type": "Results",
            "channel_index": pair,
            "start": start,
            "duration": round(end - start, 6),
            "is_final": final,
            "speech_final": False,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [{"transcript": " ".join(w["word"] for w in words), "confidence": 0.9, "words": words}]
            },
            "metadata": {
                "request_id": self.request_id,
                "model_info": MODEL,
                "model_uuid": "00000000-0000-4000-8000-00000000c0de",
            },
        }

    def metadata(self) -> dict[str, Any]:
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": self.sha.hexdigest(),
            "created": created,
            "duration": round(self.frames / self.rate, 6),
            "channels": self.channels if self.frames else 0,
        }

    async def refuse(self, description: str, code: int) -> None:
        await self.send({"type": "Error", "variant": "UnsupportedFeature", "description": description})
        await self.ws.close(code, description)

    async def finish(self, code: int, reason: str, *, from_finalize: bool = False) -> None:
        for index, lane in enumerate(self.lanes):
            segment = lane.flush()
            if segment is not None:
                await self.send(self.results(index, *segment, from_finalize=from_finalize))
        await self.send(self.metadata())
        await self.ws.close(code, reason)

    async def run(self) -> None:
        if self.channels > 1 and self.profile.multichannel == "refused":
            await self.refuse("multichannel streams are not supported", 4000)
            return
        if self.profile.early_metadata:
            await self.send(self.metadata())
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            wait = None if self.idle is None else max(0.0, last + self.idle - loop.time())
            try:
                message = await asyncio.wait_for(self.ws.recv(), wait)
            except TimeoutError:
                await self.finish(1011, NET_0001)
                return
            except ConnectionClosed:
                return
            last = loop.time()
            ended = await (self.audio(message) if isinstance(message, bytes) else self.control(message))
            if ended:
                return

    async def audio(self, data: bytes) -> bool:
        """Returns True when the stream has ended."""
        profile = self.profile
        if not data:
            if profile.empty_frame == "refused":
                await self.refuse("an empty frame is not a close signal here", 4002)
            else:
                await self.finish(1000, "")
            return True
        self.sha.update(data)
        if self.container_pending:
            self.container_pending = False
            if data[:4] != b"RIFF" and profile.undecodable == "data-0000":
                await self.ws.close(1008, "DATA-0000")
                return True
            data = data[44:] if data[:4] == b"RIFF" else data
        samples = array("h", data[: len(data) - len(data) % (2 * self.channels)])
        if sys.byteorder == "big":
            samples.byteswap()
        self.frames += len(samples) // self.channels
        for index, lane in enumerate(self.lanes):
            channel = samples[index :: self.channels] if self.channels > 1 else samples
            for start, end, words, final in lane.feed(channel):
                if final or self.interims:
                    await self.send(self.results(index, start, end, words, final))
        return False

    async def control(self, text: str) -> bool:
        """Returns True when the stream has ended."""
        profile = self.profile
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "CloseStream":
            await self.finish(1000, "")
            return True
        if kind == "KeepAlive":
            if profile.keepalive_reply:
                await self.send({"type": "KeepAliveAck"})
            return False
        if kind == "Finalize":
            return await self.on_finalize(message)  # type: ignore[arg-type]
        if kind == "Configure":
            if profile.configure == "error":
                await self.send(
                    {
                        "type": "Error",
                        "variant": "SchemaError",
                        "description": "unknown message type 'Configure'",
                        "message": text,
                    }
                )
            elif profile.configure == "close-4003":
                await self.ws.close(4003, "Configure is not supported")
                return True
            return False
        if profile.malformed == "schema-error":
            await self.send(
                {
                    "type": "Error",
                    "variant": "SchemaError",
                    "description": "could not parse the message",
                    "message": text,
                }
            )
        elif profile.malformed == "close-1011":
            await self.ws.close(1011, "Invalid frame sent")
            return True
        return False

    async def on_finalize(self, message: dict[str, Any]) -> bool:
        if self.profile.finalize == "refused":
            await self.refuse("Finalize is not supported", 4001)
            return True
        if self.profile.finalize == "flush":
            channel = message.get("channel")
            for index, lane in enumerate(self.lanes):
                if channel is None or channel == index:
                    segment = lane.flush()
                    if segment is not None:
                        await self.send(self.results(index, *segment, from_finalize=True))
        return False


def _reject(connection: ServerConnection, status: int, err_code: str, err_msg: str, *, header: bool = True) -> Response:
    request_id = str(uuid.uuid4())
    response = connection.respond(
        status, json.dumps({"err_code": err_code, "err_msg": err_msg, "request_id": request_id})
    )
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    response.headers["dg-request-id"] = request_id
    if header:
        response.headers["dg-error"] = err_msg
    return response


def _handshake(profile: Profile, api_key: str | None):  # type: ignore[no-untyped-def]
    def check(connection: ServerConnection, request: Request) -> Response | None:
        if (
            profile.auth != "none"
            and api_key is not None
            and request.headers.get("Authorization") != f"Token {api_key}"
        ):
            return _reject(connection, 401, "INVALID_AUTH", "Invalid credentials.", header=profile.auth == "required")
        query = parse_qs(urlsplit(request.path).query)
        if profile.validate_params:
            encoding, rate = query.get("encoding", [None])[0], query.get("sample_rate", [None])[0]
            if encoding is not None and encoding not in ENCODINGS:
                return _reject(connection, 400, "Bad Request", f"Invalid 'encoding' value of '{encoding}'.")
            if rate is not None and not rate.isdigit():
                return _reject(connection, 400, "Bad Request", f"Invalid 'sample_rate' value of '{rate}'.")
        return None

    return check


def _stamp(profile: Profile):  # type: ignore[no-untyped-def]
    def add_request_id(connection: ServerConnection, request: Request, response: Response) -> Response:
        if profile.request_id_header and response.status_code == 101:
            response.headers["dg-request-id"] = str(uuid.uuid4())
        return response

    return add_request_id


async def start(profile: Profile, *, api_key: str | None, scale: float) -> Server:
    """Serve ``profile`` on a free 127.0.0.1 port (``server.sockets[0].getsockname()[1]``)."""

    async def handler(ws: ServerConnection) -> None:
        await _Stream(profile, ws, scale).run()

    return await serve(
        handler,
        "127.0.0.1",
        0,
        process_request=_handshake(profile, api_key),
        process_response=_stamp(profile),
        compression=None,
        ping_interval=None,
        max_size=2**22,
    )


PROFILES = {
    profile.name: profile
    for profile in (
        Profile(
            "refuser",
            multichannel="refused",
            finalize="refused",
            configure="error",
            malformed="schema-error",
            empty_frame="refused",
        ),
        Profile(
            "sloppy",
            auth="none",
            validate_params=False,
            request_id_header=False,
            idle_timeout=None,
            finalize="ignored",
            interim="int-channel-index",
            undecodable="accepted",
        ),
        Profile(
            "strict",
            auth="required-bare",
            idle_timeout=6.0,
            interim="proper",
            configure="close-4003",
            malformed="close-1011",
            keepalive_reply=True,
            early_metadata=True,
        ),
    )
}
