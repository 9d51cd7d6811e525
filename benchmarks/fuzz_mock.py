"""The long run of the mock fuzzer: thousands of hostile clients (tests/hostile/fuzz.py) against
`conformance mock` in its own process, then a clean client; prints the answers by kind, the
slowest answer, and the mock's peak RSS.

    python benchmarks/fuzz_mock.py [EXAMPLES]      # default 3000; loopback only, ends by itself
"""

from __future__ import annotations

import collections
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from hostile.fuzz import Answer, Attack, attacks, play  # noqa: E402

KEY = "fuzz-key-0123456789"
WAIT_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    port = _free_port()
    mock = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from conformance.cli import main; sys.exit(main(sys.argv[1:]))",
            "mock",
            "--port",
            str(port),
            "--api-key",
            KEY,
            "--time-scale",
            "0.1",
            "--max-streams",
            "4",
            "--loop",
            "asyncio",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    answers: list[tuple[Answer, Attack]] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(attack=attacks())
        def fuzz(attack: Attack) -> None:
            answers.append((play("127.0.0.1", port, KEY, attack, WAIT_SECONDS), attack))

        started = time.monotonic()
        fuzz()
        elapsed = time.monotonic() - started
        healthy = _clean_client(port)
        kinds = collections.Counter(a.kind for a, _ in answers)
        statuses = collections.Counter(a.status for a, _ in answers if a.kind == "http")
        slowest = max(answers, key=lambda pair: pair[0].seconds)
        print(
            f"sequences: {len(answers)} in {elapsed:.0f}s; answers: {dict(kinds)}; HTTP statuses: {dict(sorted(statuses.items()))}"
        )
        print(
            f"slowest answer: {slowest[0].seconds:.2f}s ({slowest[0].kind}); mock peak RSS: "
            f"{_peak_rss_mib(mock.pid):.0f} MiB; clean client served afterwards: {healthy}"
        )
        bad = [(a, s) for a, s in answers if a.kind not in ("http", "close")]
        for answer, attack in bad[:5]:
            print(f"  unanswered: {answer} {attack}")
        return 0 if not bad and healthy else 1
    finally:
        mock.terminate()
        try:
            mock.wait(10)
        except subprocess.TimeoutExpired:
            mock.kill()


def _clean_client(port: int) -> bool:
    url = f"ws://127.0.0.1:{port}/v1/listen?encoding=linear16&sample_rate=16000"
    with connect(url, additional_headers={"Authorization": f"Token {KEY}"}, open_timeout=10) as ws:
        ws.send(b"\0" * 32000)
        ws.send('{"type": "CloseStream"}')
        try:
            while True:
                if "Metadata" in str(ws.recv(timeout=5)):
                    return True
        except Exception:
            return False


if __name__ == "__main__":
    sys.exit(main())
