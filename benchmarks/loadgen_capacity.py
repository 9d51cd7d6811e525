"""How many concurrent real-time streams one locust worker process drives on one core.

The server runs pinned to CPU 0: by default ``benchmarks/sink_server.py --busy-poll``, which
discards frames and never sleeps (the full mock transcribes every frame and saturates first at
20 ms frames, so it would measure itself; a sleeping server makes every send pay a cross-CPU
wake-up that only loopback charges to the sender, see sink_server.py). ``--server sleeping-sink``
and ``--server mock`` measure those instead. One headless locust process runs pinned to CPU 1 with
N users ramped at 100/s, each playing 15 s of speech in 20 ms frames (16 kHz linear16) through the
engine's paced driver. Reported per N: the locust process's CPU, and the per-stream p99 send
lateness (its median and worst over streams), and the core's speed at the time (a fixed loop's
nanoseconds per step: runs on a slower moment of a shared machine compare by it). Goal (issue 4): >= 1000 streams per core with p99
lateness <= 20 ms.

``--server sink-results`` answers with Results (an interim per second of audio, a final every
third; see sink_server.py), so each stream's per-result latency events are part of the cost;
``--result-latency both`` runs every user count with them and without (``--no-result-latency``),
one after the other, to measure what they cost.

    python benchmarks/loadgen_capacity.py [--users 300,500,700,1000] [--repeat K] [--server sink|sink-results|sleeping-sink|mock]
        [--encoding mulaw --sample-rate 8000]    # telephony: 160-byte mu-law frames every 20 ms
        [--result-latency on|off|both]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINK = ROOT / "benchmarks" / "loadgen_sink.yaml"
SCENARIOS = {
    "sink": SINK,
    "sink-results": SINK,
    "sleeping-sink": SINK,
    "mock": ROOT / "benchmarks" / "loadgen_stream.yaml",
}
SERVERS = {
    "sink": [sys.executable, str(ROOT / "benchmarks" / "sink_server.py"), "--busy-poll"],
    "sink-results": [sys.executable, str(ROOT / "benchmarks" / "sink_server.py"), "--busy-poll", "--results"],
    "sleeping-sink": [sys.executable, str(ROOT / "benchmarks" / "sink_server.py")],
    "mock": [sys.executable, "-m", "conformance", "mock"],
}
SPAWN_RATE = 100
STREAM_SECONDS = 15


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _step(users: int, port: int, folder: Path, scenario: Path, audio: list[str]) -> str:
    prefix = folder / f"u{users}"
    # Every user finishes one whole stream: the ramp, one stream, and a margin to close.
    run_seconds = users // SPAWN_RATE + STREAM_SECONDS + 3
    command = [
        "taskset",
        "-c",
        "1",
        sys.executable,
        "-m",
        "locust",
        "-f",
        "loadtest/locustfile.py",
        "--headless",
        "--only-summary",
        "--host",
        f"ws://127.0.0.1:{port}",
        "-u",
        str(users),
        "-r",
        str(SPAWN_RATE),
        "-t",
        f"{run_seconds}s",
        "--stop-timeout",
        "20",
        "--scenario",
        str(scenario),
        "--csv",
        str(prefix),
        "--csv-full-history",
        *audio,
    ]
    speed = _core_speed()
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = 0.0
    while process.poll() is None:
        time.sleep(1)
        try:
            cpu = _cpu_seconds(process.pid)
        except FileNotFoundError:
            break
    elapsed = time.monotonic() - started
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    lateness = rows.get("send_lateness", {})
    streams = rows.get("stream", {})
    results = sum(
        int(rows.get(name, {}).get("Request Count", 0))
        for name in ("final_latency", "interim_latency", "speech_final_latency")
    )
    return (
        f"{users:6d} users  result events {results:6d}  locust CPU {100 * cpu / max(elapsed, 1):5.0f}%  streams {streams.get('Request Count', '0'):>5} "
        f"(failed {streams.get('Failure Count', '0')})  per-stream p99 lateness: median {lateness.get('50%', '?')} ms, "
        f"99th {lateness.get('99%', '?')} ms, worst {lateness.get('Max Response Time', '?')} ms  (core speed {speed:.0f} ns/step)"
    )


def _core_speed() -> float:
    """Nanoseconds per step of a fixed Python loop on CPU 1, taken just before each run: a shared
    virtual machine's speed drifts (by up to half on this project's), and capacity with it."""
    loop = "import time\nt = time.perf_counter()\nx = 0\nfor i in range(2_000_000):\n    x += i & 7\nprint(time.perf_counter() - t)"
    done = subprocess.run(
        ["taskset", "-c", "1", sys.executable, "-c", loop], capture_output=True, text=True, check=True
    )
    return float(done.stdout) / 2_000_000 * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="300,500,700,1000")
    parser.add_argument("--server", choices=sorted(SERVERS), default="sink")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--repeat", type=int, default=1, help="runs per user count (the tail varies from run to run)")
    parser.add_argument(
        "--encoding", default="", help="stream this encoding instead of linear16 (the load users' --encoding)"
    )
    parser.add_argument("--sample-rate", type=int, default=0, help="with --encoding: its rate")
    parser.add_argument(
        "--result-latency",
        choices=("on", "off", "both"),
        default="on",
        help="time each Results (locust's default), not, or both in turn",
    )
    args = parser.parse_args()
    modes = {"on": [[]], "off": [["--no-result-latency"]], "both": [[], ["--no-result-latency"]]}[args.result_latency]
    audio = ["--encoding", args.encoding, "--sample-rate", str(args.sample_rate or 16000)] if args.encoding else []
    server = subprocess.Popen(
        ["taskset", "-c", "0", *SERVERS[args.server], "--port", str(args.port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        with tempfile.TemporaryDirectory() as folder:
            for users in (int(n) for n in args.users.split(",")):
                for _ in range(args.repeat):
                    for mode in modes:
                        print(
                            _step(users, args.port, Path(folder), SCENARIOS[args.server], [*audio, *mode]), flush=True
                        )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
