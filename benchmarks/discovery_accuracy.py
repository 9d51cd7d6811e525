"""Capacity discovery against deployments of known capacity: ``conformance mock --capacity N``
(pinned to CPU 0) and ``conformance load --discover`` (one locust process on CPU 1) with the
default SLOs and the default stream (10 s of speech, Finalize, CloseStream). Prints, per modelled
capacity, what the discovery reported, the step that broke and why, and how long it took. The
answer is right when it is within one step below the true capacity (a step that lands between
two of them reports the one below).

``--lateness 50ms`` relaxes the generator's guard (default ``p99(send_lateness) < 20ms``) on a
machine running slower than usual, where the generator's tail would make every step inconclusive;
final_latency is measured from when each frame actually went out, so the guard only protects the
load offered.

    python benchmarks/discovery_accuracy.py [--capacities 35,80] [--step 10] [--hold 30] [--settle 10] [--lateness 20ms]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _discover(capacity: int, port: int, args: argparse.Namespace, folder: Path) -> str:
    mock = subprocess.Popen(
        [
            "taskset",
            "-c",
            "0",
            sys.executable,
            "-m",
            "conformance",
            "mock",
            "--port",
            str(port),
            "--capacity",
            str(capacity),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert mock.stdout is not None and "listening" in mock.stdout.readline()
        command = [
            "taskset",
            "-c",
            "1",
            sys.executable,
            "-m",
            "conformance",
            "load",
            "--discover",
            "--headless",
            "--only-summary",
            "--host",
            f"ws://127.0.0.1:{port}",
            "--discover-step",
            str(args.step),
            "--discover-max",
            str(capacity * 3),
            "--discover-hold",
            str(args.hold),
            "--discover-settle",
            str(args.settle),
            "--discover-rate",
            "20",
            "--discover-report",
            str(folder / f"capacity-{capacity}"),
            "--slo",
            "p95(final_latency) < 800ms",
            "--slo",
            "rate(failures) < 1%",
            "--slo",
            f"p99(send_lateness) < {args.lateness}",
        ]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        minutes = (time.monotonic() - started) / 60
    finally:
        mock.terminate()
        mock.wait(10)
    answer = [line for line in done.stdout.splitlines() if line.startswith(("capacity:", "at ", "inconclusive"))]
    steps = [line.strip() for line in done.stdout.splitlines() if line.startswith("  ") and "streams:" in line]
    return (
        f"modelled capacity {capacity}: {' | '.join(answer) or done.stderr[-300:]}\n    exit {done.returncode}, {minutes:.1f} min, steps: "
        + "; ".join(steps)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacities", default="35,80")
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=18770)
    parser.add_argument("--lateness", default="20ms", help="the generator guard's bound on p99(send_lateness)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for capacity in (int(n) for n in args.capacities.split(",")):
            print(_discover(capacity, args.port, args, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
