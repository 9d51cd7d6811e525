"""The load users against hostile servers (tests/hostile): a load test measures even a server that
stays silent or stops reading, backs off after server-side closes, and never prints the key."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from test_loadtest import locust

from hostile import behaviours
from hostile.peers import HostileServer, Peer

KEY = "sekret-0123456789abcdef-LOAD"
SHORT = """
id: load.hostile.1
title: short load stream
rules: [CS-1]
connect: {params: {encoding: linear16, sample_rate: 16000}}
steps:
  - stream: {seconds: 3}
  - send: {type: CloseStream}
  - expect: {type: Metadata, within: 2s, rule: CS-1}
  - expect_close: {within: 2s, rule: CS-1}
"""


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _summary_counts(output: str) -> dict[str, int]:
    """Request counts per name from locust's printed summary table."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[0] == "WS" and fields[2].isdigit() and "|" in line:
            counts.setdefault(fields[1], int(fields[2]))
    return counts


def _run(url: str, tmp_path: Path, seconds: int, users: int = 3) -> tuple[dict[str, dict[str, str]], str, Path]:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(SHORT)
    prefix = tmp_path / "run"
    done = locust(
        "-f",
        "loadtest/locustfile.py",
        "--host",
        url,
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--scenario",
        str(scenario),
        "--time-scale",
        "0.1",
        "--csv",
        str(prefix),
        "--api-key",
        KEY,
        timeout=60,
    )
    stats = {row["Name"]: row for row in _rows(Path(f"{prefix}_stats.csv"))}
    return stats, done.stdout + done.stderr, prefix


def test_a_load_test_measures_servers_that_are_silent_or_stop_reading(tmp_path: Path) -> None:
    """Point 3: every user is still found and stopped, streams in flight at the end are counted,
    and no hand-back exception escapes into locust (connections alternate between a server that
    stays silent and one that floods pings and stops reading)."""
    turn = itertools.count()

    async def silent_or_stalled(peer: Peer) -> None:
        await (behaviours.silent if next(turn) % 2 else behaviours.stop_reading)(peer)

    with HostileServer(silent_or_stalled) as server:
        _, output, _ = _run(server.url, tmp_path, seconds=3, users=4)
    # The summary, not the CSV: locust writes the CSV up to a second before it stops the users.
    counts = _summary_counts(output)
    assert counts.get("connect", 0) >= 4 and counts.get("stream", 0) + counts.get("stream_interrupted", 0) >= 4, output[
        -3000:
    ]
    assert "_HandBack" not in output and "proper args" not in output and "Traceback" not in output, output[-3000:]


def test_a_load_user_backs_off_after_a_server_side_close(tmp_path: Path) -> None:
    """Point 4: a server that closes every stream at once is not hammered (was 6,425 streams in
    20 s from 5 users); the closes are classified."""
    with HostileServer(behaviours.violation("reserved opcode")) as server:
        stats, _, _ = _run(server.url, tmp_path, seconds=3)
        connections = server.connections
    assert connections <= 3 * 3 + 3, connections
    assert int(stats["protocol_violation"]["Failure Count"]) >= 3, stats.keys()


def test_a_server_echoing_the_key_never_gets_it_into_locusts_reports(tmp_path: Path) -> None:
    """Point 1: failure messages built from server text (a rejection's dg-error, a close reason)
    reach locust's console and CSVs redacted; the failures are there, so the check is not vacuous."""
    turn = itertools.count()

    async def echo_in_failures(peer: Peer) -> None:
        if next(turn) % 2:
            await peer.reject(
                400, b'{"err_code":"Bad Request","err_msg":"no"}', f"dg-error: bad credentials {peer.credentials}\r\n"
            )
        else:
            await peer.accept()
            await peer.close(1011, f"closing {peer.key}")

    with HostileServer(echo_in_failures) as server:
        _, output, prefix = _run(server.url, tmp_path, seconds=3)
    failures = Path(f"{prefix}_failures.csv").read_text()
    written = output + failures + "".join(Path(f"{prefix}_{kind}.csv").read_text() for kind in ("stats", "exceptions"))
    assert KEY not in written
    assert "handshake_rejected" in failures and "closed_unexpectedly" in failures and "***" in failures, failures
