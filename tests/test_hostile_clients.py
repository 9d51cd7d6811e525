"""The mock against hostile clients, byte by byte over raw sockets: every input gets an HTTP answer
or a close frame, nothing one connection sends reaches another, and every wait is bounded."""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conformance.cli import main
from conformance.client.recorder import Recorder
from conformance.mock import MockConfig
from conformance.scenario import Timing

from conftest import MS, TIME_SCALE, start_mock, stop_mock

KEY = "mock-key-0123456789"
PARAMS = "encoding=linear16&sample_rate=16000"


def http(url: str, request: bytes, wait: float = 2.0) -> bytes:
    """Send raw bytes, return everything the mock answers until it closes (or ``wait`` passes)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=wait * 1000 * MS) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"".join(chunks).startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in b"".join(chunks):
                    break  # upgraded: the stream would stay open until its idle timeout
        except TimeoutError:
            pass
    return b"".join(chunks)


def upgrade(target: str, *headers: str) -> bytes:
    lines = [
        f"GET {target} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def status_and_headers(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    return (
        int(first.split()[1]),
        {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)},
        body,
    )


def assert_deepgram_rejection(answer: bytes, status: int | tuple[int, ...]) -> dict[str, str]:
    code, headers, body = status_and_headers(answer)
    assert code in (status if isinstance(status, tuple) else (status,)), answer[:300]
    assert headers.get("dg-request-id") and headers.get("dg-error"), headers
    assert set(json.loads(body)) >= {"err_code", "err_msg", "request_id"}
    return headers


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (upgrade("//[::1/v1/listen"), 400),
        (
            upgrade("/v1/listen?encoding=%E2%82%AC%E2%82%AC&sample_rate=16000"),
            400,
        ),  # non-Latin-1 text in a rejected param
        (upgrade("/v1/listen?encoding=linear16&sample_rate=1"), 400),  # a rate that would amplify the input
        (b"GET /v1/listen HTTP/1.1\r\nHost: x\r\n\r\n", 426),  # built by websockets: no Upgrade header
        (b"GET /v1/listen HTTP/1.0\r\nHost: x\r\n\r\n", (400, 505)),  # websockets 15 answers 400, 16+ 505
        (b"\x16\x03\x01 not http at all\r\n\r\n", 400),
    ],
)
def test_every_malformed_upgrade_gets_a_deepgram_style_answer(
    mock_factory, request_bytes: bytes, status: int | tuple[int, ...]
) -> None:  # type: ignore[no-untyped-def]
    """Points 16, 17: an HTTP answer with dg-request-id, dg-error and a JSON body, never an abort."""
    mock = mock_factory()
    assert_deepgram_rejection(http(mock.url, request_bytes), status)


def test_a_crlf_in_a_query_value_cannot_split_the_response(mock_factory) -> None:  # type: ignore[no-untyped-def]
    """Point 14: the rejected value is quoted in dg-error, printable and on one header line."""
    mock = mock_factory()
    answer = http(mock.url, upgrade("/v1/listen?encoding=x%0d%0aX-Injected:%20yes&sample_rate=16000"))
    headers = assert_deepgram_rejection(answer, 400)
    assert "x-injected" not in headers and b"\r\nX-Injected" not in answer
    assert all(0x20 <= ord(c) < 0x7F for c in headers["dg-error"])


def test_repeated_credential_headers_are_judged_not_fatal(mock_factory) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory(api_key=KEY)
    assert (
        status_and_headers(
            http(mock.url, upgrade(f"/v1/listen?{PARAMS}", f"Authorization: Token {KEY}", "Authorization: Token other"))
        )[0]
        == 101
    )
    two_protocols = upgrade(f"/v1/listen?{PARAMS}", "Sec-WebSocket-Protocol: token", f"Sec-WebSocket-Protocol: {KEY}")
    assert status_and_headers(http(mock.url, two_protocols))[0] in (101, 401)
    assert_deepgram_rejection(
        http(mock.url, upgrade(f"/v1/listen?{PARAMS}", "Authorization: Token a", "Authorization: Token b")), 401
    )


def test_pipelined_status_requests_are_answered(mock_factory) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory()
    answer = http(mock.url, b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_and_headers(answer)[0] == 200


def _wav_header(rate: int, channels: int) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, min(channels * 2, 65535), 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", 0)
    )


@pytest.mark.parametrize(("rate", "channels"), [(0, 1), (16000, 0), (1, 65535), (1, 1)])
def test_a_wav_header_no_stream_can_have_is_undecodable_audio(mock_factory, rate: int, channels: int) -> None:  # type: ignore[no-untyped-def]
    """Points 13, 16: 0 Hz or 0 channels (was ZeroDivisionError and an abort), 1 Hz with 65,535
    channels (was a 200x amplification): 1008 DATA-0000 like any audio the mock cannot decode."""
    mock = mock_factory()
    with connect(mock.url + "?model=nova-3") as ws:
        ws.send(_wav_header(rate, channels) + b"\x00" * 4096)
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=2000 * MS)
        assert ws.close_code == 1008 and "DATA-0000" in (ws.close_reason or "")


def test_deep_json_under_judge_clients_frees_its_slot_and_spares_the_sweeper() -> None:
    """Point 12: with --max-streams 1 the next upgrade still gets in, and idle streams are still
    closed (the sweeper survived)."""
    recorder = Recorder("client.live", None, Timing(scale=TIME_SCALE), time.monotonic)
    running, thread = start_mock(MockConfig(time_scale=TIME_SCALE, max_streams=1), observe=recorder.connection)
    server = running.server
    try:
        with connect(server.url + f"?{PARAMS}") as ws:
            ws.send("[" * 50_000 + "]" * 50_000)
            ws.send('{"type": "KeepAlive", "x": ' + "[" * 50_000 + "]" * 50_000 + "}")
            ws.send(b"\0" * 3200)
        with connect(server.url + f"?{PARAMS}") as ws:
            ws.send(b"\0" * 3200)
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=5000 * MS)
            assert ws.close_code == 1011 and "net0001" in (ws.close_reason or "").lower()
    finally:
        stop_mock(running, thread)


def test_silent_and_slow_connections_are_dropped_and_capped(mock_factory) -> None:  # type: ignore[no-untyped-def]
    """Point 15: upgrades time out, and connections beyond the cap are refused at once, so a
    flood of idle sockets cannot lock other clients out."""
    mock = mock_factory(handshake_timeout=0.3, max_connections=4)
    host, port = "127.0.0.1", int(mock.url.split(":")[2].split("/")[0])
    idle = [socket.create_connection((host, port)) for _ in range(6)]
    idle[0].sendall(b"GET /v1/listen HTTP/1.1\r\nHost: x\r\n")  # slowloris: never finishes its headers
    refused = 0
    for sock in idle[4:]:
        sock.settimeout(1000 * MS)
        refused += sock.recv(1) == b""
    assert refused == 2
    for sock in idle[:4]:
        sock.settimeout(2000 * MS)
        assert sock.recv(1) == b"", "the upgrade timeout drops silent connections"
        sock.close()
    with connect(mock.url + f"?{PARAMS}") as ws:
        ws.send(b"\0" * 3200)


def test_an_empty_api_key_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Point 18: ``--api-key ""`` would silently mean "no auth"."""
    assert main(["mock", "--api-key", ""]) == 2
    assert "--api-key is empty" in capsys.readouterr().err
