"""How many concurrent real-time streams one mock process holds on one core.

The mock runs in its own process pinned to CPU 0; this load generator runs pinned to CPU 1 and
drives N streams of 16 kHz mono linear16 in 20 ms chunks on an absolute schedule, over raw sockets
with pre-built masked frames (so the generator, not the mock, is the cheap side). For each step of
N it holds the load, then reports the mock's CPU use and the lag of its endpoint finals
(``speech_final``) behind real time: lag = arrival - when the chunk that ends the result's audio
was sent. Those finals are sent on the window that completes them, so the lag is the mock's
own delay. "Falls behind" means the p99 lag grows past 500 ms.

``--processes N`` serves the mock from N processes on one port (``conformance mock --processes``)
pinned to ``--mock-cpus`` (default 0 to N-1), the generator on ``--generator-cpu`` (default N):
"server CPU" is then the processes' sum (200 % = two cores busy). It needs N + 1 cores.

    python benchmarks/mock_capacity.py [--steps 250,500,1000,1500,2000] [--hold 10] [--processes N]

``--beside-websockets ROUNDS`` alternates the mock with ``bare_websockets_server.py`` on the same
core and prints, per step, how many times the mock's CPU the bare server needed: the mock's
capacity per core in bare websockets servers, a figure that travels between machines where
absolute ones do not (a shared machine's speed drifts by a third within minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

from conformance.audio import load_source

CHUNK_SECONDS = 0.02
SAMPLE_RATE = 16000
FALLS_BEHIND_P99 = 0.5
# A server at this share of its core or more is saturated: its CPU no longer shows its load.
SATURATED = 0.9
MASK = b"\x37\xfa\x21\x3d"


def _masked_frame(payload: bytes, opcode: int) -> bytes:
    """A client frame with a fixed mask key (the server cannot tell; it only unmasks)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = (MASK * (length // 4 + 1))[:length]
    return header + MASK + bytes(a ^ b for a, b in zip(payload, mask, strict=False))


class Stream(asyncio.Protocol):
    """One raw WebSocket stream: upgrade, then paced audio frames; parses Results for lag."""

    def __init__(self, lags: list[float], ticks: list[float]) -> None:
        self.lags = lags
        self.ticks = ticks
        self.buffer = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.sent = 0
        self.base = 0
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.upgraded.set_result(head.split(b"\r\n", 1)[0])
            self.buffer = rest
        self._frames()

    def _frames(self) -> None:
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            if len(self.buffer) < offset + length:
                return
            payload, self.buffer = self.buffer[offset : offset + length], self.buffer[offset + length :]
            if opcode == 1:
                message = json.loads(payload)
                # Only an endpoint's final ends where the mock decided to send it; a final cut at
                # the 5 s segment limit ends where the word in progress began, earlier.
                if message.get("type") == "Results" and message.get("speech_final"):
                    # The chunk that completed this result's audio, and when this step sent it.
                    tick = round((message["start"] + message["duration"]) / CHUNK_SECONDS) - 1 - self.base
                    if 0 <= tick < len(self.ticks):
                        self.lags.append(time.monotonic() - self.ticks[tick])

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


async def _open(port: int, lags: list[float], ticks: list[float]) -> Stream:
    loop = asyncio.get_running_loop()
    _, stream = await loop.create_connection(lambda: Stream(lags, ticks), "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /v1/listen?encoding=linear16&sample_rate={SAMPLE_RATE}&channels=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    stream.transport.write(request.encode())  # type: ignore[union-attr]
    status = await asyncio.wait_for(stream.upgraded, 10)
    assert b" 101 " in status, status
    return stream


def _cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its children (the processes of ``--processes``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + sum(
        _cpu_seconds(int(child)) for child in children
    )


async def _step(
    port: int,
    count: int,
    hold: float,
    frames: list[bytes],
    mock_pid: int,
    streams: list[Stream],
    lags: list[float],
    ticks: list[float],
) -> dict[str, float]:
    while len(streams) < count:
        batch = [_open(port, lags, ticks) for _ in range(min(100, count - len(streams)))]
        streams.extend(await asyncio.gather(*batch))
    for stream in streams:
        stream.base = stream.sent
    lags.clear()
    ticks.clear()
    start, cpu0 = time.monotonic(), _cpu_seconds(mock_pid)
    late, index = [], 0
    while time.monotonic() - start < hold:
        due = start + index * CHUNK_SECONDS
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        late.append(max(0.0, time.monotonic() - due))
        ticks.append(time.monotonic())
        for stream in streams:
            if not stream.closed:
                stream.transport.write(frames[stream.sent % len(frames)])  # type: ignore[union-attr]
                stream.sent += 1
        index += 1
    elapsed = time.monotonic() - start
    cpu = (_cpu_seconds(mock_pid) - cpu0) / elapsed
    ordered = sorted(lags) or [float("nan")]
    return {
        "streams": count,
        "alive": sum(not s.closed for s in streams),
        "mock_cpu": cpu,
        "results": len(lags),
        "lag_p50": statistics.median(ordered),
        "lag_p99": ordered[int(0.99 * (len(ordered) - 1))],
        "send_late_p99": sorted(late)[int(0.99 * (len(late) - 1))],
    }


async def _main(steps: list[int], hold: float, port: int, mock_pid: int) -> list[dict[str, float]]:
    pcm = load_source("speech", SAMPLE_RATE, 1)
    chunk_frames = int(CHUNK_SECONDS * SAMPLE_RATE)
    frames = [
        _masked_frame(pcm.slice_frames(i * chunk_frames, chunk_frames), 2)
        for i in range(int(pcm.seconds / CHUNK_SECONDS))
    ]
    streams: list[Stream] = []
    lags: list[float] = []
    ticks: list[float] = []
    rows = []
    print(
        f"{'streams':>8} {'alive':>6} {'server CPU':>11} {'results':>8} {'lag p50':>9} {'lag p99':>9} {'gen late p99':>13}"
    )
    for count in steps:
        row = await _step(port, count, hold, frames, mock_pid, streams, lags, ticks)
        rows.append(row)
        print(
            f"{row['streams']:8d} {row['alive']:6d} {row['mock_cpu'] * 100:10.0f}% {row['results']:8d} "
            f"{row['lag_p50'] * 1000:7.0f}ms {row['lag_p99'] * 1000:7.0f}ms {row['send_late_p99'] * 1000:11.1f}ms",
            flush=True,
        )
        if row["lag_p99"] > FALLS_BEHIND_P99 or row["alive"] < count:
            print(
                f"results fell behind real time (p99 lag > {FALLS_BEHIND_P99 * 1000:.0f} ms) or streams died at {count} streams"
            )
            break
    return rows


def _measure(
    command: list[str], cpus: str, generator_cpu: int, steps: list[int], hold: float, port: int, print_pid: bool = False
) -> list[dict[str, float]]:
    """Serve with ``command`` pinned to ``cpus`` and play ``steps`` against it."""
    server = subprocess.Popen(["taskset", "-c", cpus, *command], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        if "listening" not in first:
            raise SystemExit(
                f"error: the server did not start ({' '.join(command)}): {first.strip() or 'it printed nothing'}"
            )
        if print_pid:
            print(f"mock pid {server.pid}", flush=True)
        os.sched_setaffinity(0, {generator_cpu})
        return asyncio.run(_main(steps, hold, port, server.pid))
    finally:
        server.send_signal(signal.SIGINT)  # a mock of several processes stops them all on SIGINT
        server.wait(20)


def _compare(rounds: int, mock: list[str], steps: list[int], hold: float, port: int, generator_cpu: int) -> None:
    """The mock and a bare websockets server, alternated ``rounds`` times on the same core: the
    bare server's CPU over the mock's, step by step."""
    reference = [sys.executable, str(Path(__file__).with_name("bare_websockets_server.py")), str(port)]
    cpu: dict[str, list[dict[int, float]]] = {"mock": [], "websockets": []}
    for number in range(1, rounds + 1):
        for name, command in (("mock", mock), ("websockets", reference)):
            print(f"-- round {number}: {'the mock' if name == 'mock' else 'bare websockets'}", flush=True)
            rows = _measure(command, "0", generator_cpu, steps, hold, port)
            cpu[name].append({int(row["streams"]): row["mock_cpu"] for row in rows})
    print(
        "\nbare websockets' CPU / the mock's, at the same streams (the mock's streams per core, in bare websockets servers):"
    )
    for count in steps:
        pairs = [
            (m[count], w[count])
            for m, w in zip(cpu["mock"], cpu["websockets"], strict=False)
            if count in m and count in w
        ]
        if not pairs:
            continue
        # A saturated reference cannot show how much more it would have needed: a lower bound.
        ratios = [f"{'>=' if w >= SATURATED else ''}{w / m:.2f}" for m, w in pairs]
        median_mock = statistics.median(m for m, _ in pairs)
        print(
            f"  {count:5d} streams: {', '.join(ratios)}; the mock at a median {median_mock * 100:.0f}% of a "
            f"core, so ~{count / median_mock:.0f} streams per core"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="250,500,750,1000,1250,1500,1750,2000")
    parser.add_argument("--hold", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--print-mock-pid", action="store_true", help="print the mock's pid (to attach a profiler)")
    parser.add_argument(
        "--server",
        nargs="+",
        help="serve with this command instead of the mock (calibration; it must print a line with 'listening')",
    )
    parser.add_argument("--processes", type=int, default=1, help="mock processes on one port")
    parser.add_argument("--mock-cpus", default="", help="CPUs for the mock, e.g. 0-3 (default: 0 to processes-1)")
    parser.add_argument(
        "--generator-cpu", type=int, default=-1, help="CPU for this generator (default: the one after the mock's)"
    )
    parser.add_argument(
        "--beside-websockets",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="alternate the mock (one process) with a bare websockets server ROUNDS times and compare",
    )
    args = parser.parse_args()
    if args.beside_websockets and args.processes > 1:
        parser.error("--beside-websockets compares one process on one core; leave out --processes")
    steps = [int(n) for n in args.steps.split(",")]
    mock_cpus = args.mock_cpus or (f"0-{args.processes - 1}" if args.processes > 1 else "0")
    generator_cpu = args.generator_cpu if args.generator_cpu >= 0 else args.processes
    # Streams are never idle here, so the idle timeout plays no part; a long one keeps it that way.
    command = args.server or [
        sys.executable,
        "-m",
        "conformance",
        "mock",
        "--port",
        str(args.port),
        "--idle-timeout",
        "3600",
        "--processes",
        str(args.processes),
    ]
    if args.beside_websockets:
        _compare(args.beside_websockets, command, steps, args.hold, args.port, generator_cpu)
    else:
        _measure(command, mock_cpus, generator_cpu, steps, args.hold, args.port, args.print_mock_pid)


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    main()
