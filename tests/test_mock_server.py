"""The mock over loopback: handshakes, auth, rejections with dg-error, and robustness."""

from __future__ import annotations

import asyncio
import json
import select
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as connect_sync

from conformance.mock import MockConfig, MockServer

from conftest import MS

QUERY = "?encoding=linear16&sample_rate=16000"


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coroutine, 10000 * MS))


async def _rejection(config: MockConfig, path: str, **kwargs: object) -> tuple[int, dict[str, str], dict[str, str]]:
    async with MockServer(config) as mock:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"ws://127.0.0.1:{mock.port}{path}", proxy=None, **kwargs):  # type: ignore[arg-type]
                pass
    response = info.value.response
    return response.status_code, {k.lower(): v for k, v in response.headers.raw_items()}, json.loads(response.body)


@pytest.mark.parametrize(
    ("config", "path", "kwargs", "status", "code"),
    [
        (MockConfig(api_key="k"), "/v1/listen" + QUERY, {}, 401, "INVALID_AUTH"),
        (
            MockConfig(api_key="k"),
            "/v1/listen" + QUERY,
            {"additional_headers": {"Authorization": "Token wrong"}},
            401,
            "INVALID_AUTH",
        ),
        (MockConfig(), "/v1/listen?encoding=mp9&sample_rate=16000", {}, 400, "Bad Request"),
        (MockConfig(), "/v1/listen?encoding=linear16", {}, 400, "Bad Request"),
        (MockConfig(), "/v1/listen?encoding=linear16&sample_rate=16000&interim_results=maybe", {}, 400, "Bad Request"),
        (MockConfig(), "/v2/listen" + QUERY, {}, 404, "NOT_FOUND"),
    ],
)
def test_mock_rejects_with_dg_error_and_json_body(
    config: MockConfig, path: str, kwargs: dict, status: int, code: str
) -> None:  # type: ignore[type-arg]
    """Rejections carry dg-error, dg-request-id and {err_code, err_msg, request_id} (contract.md §4.2)."""
    got_status, headers, body = run(_rejection(config, path, **kwargs))
    assert got_status == status and body["err_code"] == code
    assert headers["dg-error"] == body["err_msg"] and headers["dg-request-id"] == body["request_id"]
    assert headers["content-type"] == "application/json"


async def _accepted(config: MockConfig, **kwargs: object) -> tuple[str | None, str | None]:
    async with MockServer(config) as mock:
        async with connect(mock.url + QUERY, proxy=None, **kwargs) as ws:  # type: ignore[arg-type]
            return ws.response.headers.get("dg-request-id"), ws.subprotocol


def test_mock_accepts_token_header_and_subprotocol() -> None:
    """`Authorization: Token KEY` (any case) and the `token, KEY` subprotocol both authenticate."""
    request_id, _ = run(_accepted(MockConfig(api_key="k"), additional_headers={"Authorization": "token k"}))
    assert request_id and len(request_id) == 36
    _, subprotocol = run(_accepted(MockConfig(api_key="k"), subprotocols=["token", "k"]))
    assert subprotocol == "token"


async def _hostile_then_normal() -> tuple[int | None, dict]:  # type: ignore[type-arg]
    async with MockServer(MockConfig()) as mock:
        async with connect(mock.url + QUERY, proxy=None, compression=None) as good:
            bad = await connect(mock.url + QUERY, proxy=None, compression=None)
            await bad.send("{{{ not json")
            await bad.send(json.dumps({"type": "Unknown"}))
            await bad.send(b"\x01\x02\x03")
            oversized = asyncio.create_task(bad.send(bytes(5 * 2**20)))
            with pytest.raises(ConnectionClosed):
                await bad.recv()
            await asyncio.gather(oversized, return_exceptions=True)
            await good.send(bytes(32000))
            await good.send('{"type":"CloseStream"}')
            messages = [json.loads(m) async for m in good]
            return bad.close_code, messages[-1]


def test_mock_survives_hostile_input_on_another_stream() -> None:
    """Garbage text, odd bytes and an oversized frame close only the offending stream (1009)."""
    code, last = run(_hostile_then_normal())
    assert code == 1009
    assert last["type"] == "Metadata" and last["duration"] == 1.0


async def _ping() -> float:
    async with MockServer(MockConfig()) as mock:
        async with connect(mock.url + QUERY, proxy=None) as ws:
            return await asyncio.wait_for(await ws.ping(), 2000 * MS)


def test_mock_answers_pings() -> None:
    assert run(_ping()) >= 0


async def _over_the_limit() -> tuple[int, dict[str, str], dict[str, str], bool]:
    async with MockServer(MockConfig(max_streams=2)) as mock:
        first = await connect(mock.url + QUERY, proxy=None)
        second = await connect(mock.url + QUERY, proxy=None)
        with pytest.raises(InvalidStatus) as info:
            await connect(mock.url + QUERY, proxy=None)
        await first.close()
        await asyncio.sleep(50 * MS)
        third = await connect(mock.url + QUERY, proxy=None)
        reopened = third.response.status_code == 101
        await second.close()
        await third.close()
    response = info.value.response
    return (
        response.status_code,
        {k.lower(): v for k, v in response.headers.raw_items()},
        json.loads(response.body),
        reopened,
    )


def test_mock_max_streams_rejects_the_next_with_429() -> None:
    """Stream N+1 gets 429 TOO_MANY_REQUESTS with Retry-After; a freed slot is usable again (HS-5)."""
    status, headers, body, reopened = run(_over_the_limit())
    assert status == 429 and body["err_code"] == "TOO_MANY_REQUESTS"
    assert headers["retry-after"] == "1" and headers["dg-error"] == "Too many requests. Please try again later"
    assert reopened


def test_mock_processes_share_one_port_and_one_stream_count() -> None:
    """``--processes 2 --max-streams 2``: two streams open, then every new upgrade gets 429
    whichever process the kernel hands it to (counted per process, half of eight would find a
    free slot), and /v1/status counts both streams from either process; SIGINT stops them all."""
    command = [sys.executable, "-m", "conformance", "mock", "--port", "0", "--processes", "2", "--max-streams", "2"]
    mock = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert mock.stdout is not None
        line = mock.stdout.readline()
        assert "(2 processes)" in line, line + mock.stderr.read() if mock.poll() is not None else line
        url = line.split()[4]
        with (
            connect_sync(url + QUERY, proxy=None, open_timeout=10),
            connect_sync(url + QUERY, proxy=None, open_timeout=10),
        ):
            refused = []
            for _ in range(8):
                with pytest.raises(InvalidStatus) as info:
                    connect_sync(url + QUERY, proxy=None, open_timeout=10)
                refused.append(info.value.response.status_code)
            status_url = url.replace("ws://", "http://").replace("/v1/listen", "/v1/status")
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            counts = {json.load(direct.open(status_url, timeout=10))["active_requests"] for _ in range(8)}
        assert refused == [429] * 8 and counts == {2}
    finally:
        mock.send_signal(signal.SIGINT)
        assert mock.wait(timeout=20_000 * MS) == 0


def _kernel_accept_queue_cap() -> int:
    try:
        return int(open("/proc/sys/net/core/somaxconn").read())
    except (OSError, ValueError):
        return 0


@pytest.mark.skipif(
    _kernel_accept_queue_cap() < 1024, reason="the kernel caps every listen backlog below 1024 (net.core.somaxconn)"
)
def test_connections_wait_in_the_kernel_while_the_mock_is_busy() -> None:
    """A load test opening hundreds of streams at once while the mock's loop is busy: the kernel
    completes their TCP handshakes and queues them. With asyncio's default backlog of 100 it
    dropped the rest, and each client's retry a second later looked like a slow server."""
    attempts = 600

    async def burst() -> int:
        async with MockServer(MockConfig()) as mock:
            # The loop stays blocked in here, so nothing is accepted: only the kernel's queue holds them.
            sockets = [socket.socket() for _ in range(attempts)]
            try:
                for client in sockets:
                    client.setblocking(False)
                    client.connect_ex(("127.0.0.1", mock.port))
                pending, established = set(sockets), 0
                for _ in range(50):  # until every handshake has answered; a dropped one never does
                    _, writable, _ = select.select([], list(pending), [], 0.02)
                    established += sum(
                        client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for client in writable
                    )
                    pending -= set(writable)
                    if not pending:
                        break
                return established
            finally:
                for client in sockets:
                    client.close()

    assert run(burst()) == attempts
