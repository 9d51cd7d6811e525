"""Load testing: locust runs headless against the mock on 127.0.0.1 (subprocesses: importing locust
monkey-patches a process with gevent), plus the pure parts in-process."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.cli.load import locust_command
from conformance.engine.trace import Handshake, Trace
from conformance.load.metrics import measure, stream_samples
from conformance.load.thresholds import parse_threshold
from conformance.run.case import conclude, new_record
from conformance.scenario import Timing
from conformance.scenario import model as m

from conftest import MS

ROOT = Path(__file__).resolve().parents[1]
SHORT = """
id: load.short.1
title: short load stream
rules: [FIN-1]
connect: {params: {encoding: linear16, sample_rate: 16000, interim_results: true}}
steps:
  - stream: {seconds: 2}
  - send: {type: Finalize}
  - expect: {type: Results, match: {properties: {from_finalize: {const: true}}, required: [from_finalize]}, within: 2s, rule: FIN-2}
  - stream: {seconds: 1}
  - send: {type: CloseStream}
  - expect: {type: Metadata, within: 3s, rule: CS-1}
  - expect_close: {within: 2s, rule: CS-1}
"""
ENTRIES = {
    "connect",
    "first_result",
    "first_final",
    "finalize_ack",
    "close_metadata",
    "stream",
    "send_lateness",
    "final_latency",
    "interim_latency",
}


def locust(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "locust", "--headless", "--only-summary", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout * 1000 * MS)


@pytest.fixture
def short_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "short.yaml"
    path.write_text(SHORT)
    return path


def _stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def test_locust_measures_every_streaming_latency(mock_factory, short_scenario: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``conformance load`` (the installed locustfile) reports each latency entry with real times,
    a latency per result, and passes the README's gate against the bundled mock, here for
    telephony audio (--encoding mulaw --sample-rate 8000: 160-byte frames of mu-law every 20 ms,
    which the mock decodes and transcribes); one criterion no server meets sets exit code 1."""
    mock = mock_factory()
    prefix = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "conformance",
        "load",
        "--headless",
        "--only-summary",
        "--host",
        mock.url,
        "-u",
        "3",
        "-r",
        "3",
        "-t",
        "6s",
        "--scenario",
        str(short_scenario),
        "--time-scale",
        "0.1",
        "--csv",
        str(prefix),
        "--encoding",
        "mulaw",
        "--sample-rate",
        "8000",
        "--slo",
        "p95(final_latency) < 800ms",
        "--threshold",
        "rate(failures) < 1%",
        "--threshold",
        "p95(close_metadata) < 3000ms",
        "--threshold",
        "p95(first_result) < 1ms",
    ]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60_000 * MS)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "FAIL    p95(first_result) < 1ms: measured" in done.stdout
    stats = _stats(prefix)
    assert ENTRIES <= set(stats), sorted(stats)
    for name in ENTRIES - {
        "send_lateness",
        "finalize_ack",
        "close_metadata",
        "connect",
        "final_latency",
        "interim_latency",
    }:
        assert int(stats[name]["Request Count"]) >= 3 and float(stats[name]["Median Response Time"]) > 0, stats[name]
    # One per result, not per stream: the short stream's interims and finals, each timed.
    assert int(stats["interim_latency"]["Request Count"]) > int(stats["stream"]["Request Count"]), stats[
        "interim_latency"
    ]
    assert int(stats["final_latency"]["Request Count"]) >= int(stats["stream"]["Request Count"]), stats["final_latency"]
    assert int(stats["stream"]["Failure Count"]) == 0
    assert "PASS    p95(final_latency) < 800ms" in done.stdout and "PASS    rate(failures) < 1%" in done.stdout
    assert " p99(send_lateness) < 20ms: measured " in done.stdout  # the generator is judged too, unasked


def _two_streams(url: str, prefix: Path, *extra: str) -> list[str]:
    """`conformance load` with two default streams, a CSV, and criteria every run meets: its own
    loose pacing criterion too, since on a busy machine the generator's guard (20 ms) would call
    the run inconclusive, which is right, and not what these tests are about."""
    load = [sys.executable, "-m", "conformance", "load", "--headless", "-u", "2", "-r", "2", "--host", url]
    return [*load, "--csv", str(prefix), "--slo", "p99(connect) < 5s", "--slo", "p99(send_lateness) < 5s", *extra]


def _kept_both_streams(prefix: Path, out: str) -> None:
    stats = _stats(prefix)
    assert stats["connect"]["Request Count"] == "2" and stats["stream_interrupted"]["Request Count"] == "2", stats
    assert out.rstrip().splitlines()[-2:] == ["verdict: PASS: every criterion held", "exit 0"], out[-1500:]


def test_a_run_cut_by_its_run_time_keeps_every_measurement_in_its_csv(mock_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`-t 3s` with the default 10 s stream: both streams are cut by the end of the run, and the
    CSV still holds them (locust's last write used to come before; its _stats.csv held only an
    empty Aggregated row). The verdict is the last thing printed, after locust's tables."""
    prefix = tmp_path / "x"
    command = _two_streams(mock_factory().url, prefix, "-t", "3s")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60_000 * MS)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    _kept_both_streams(prefix, done.stdout)
    assert "run time: 3s of load, counted from now" in done.stderr


def test_a_load_run_stopped_by_sigterm_judges_and_keeps_what_it_measured(mock_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM (a CI timeout or cancel) to a run without -t: the streams in flight report before the
    criteria are judged (once, locust's handler judged an empty run: 'no data'), the CSV holds
    them, and the verdict is printed last."""
    prefix = tmp_path / "x"
    command = _two_streams(mock_factory().url, prefix)
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30_000 * MS
    while not (prefix.parent / "x_stats.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60_000 * MS)
    assert process.returncode == 0, out[-1500:] + err[-1500:]
    _kept_both_streams(prefix, out)


def test_a_worker_that_lacks_the_user_class_says_so_in_one_line(mock_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A worker started with another locustfile (or of another version) is asked for SpeechStream:
    one line saying what it was asked for and what it has, no traceback; the master measures
    nothing from it."""
    mock = mock_factory()
    other = tmp_path / "other.py"
    other.write_text(
        "from conformance.load import worker_check  # noqa: F401\n"
        "from conformance.load.users import StreamingUser\n\n\n"
        "class OtherStream(StreamingUser):\n    pass\n"
    )
    port = _free_port()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(other),
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    master = [
        sys.executable,
        "-m",
        "conformance",
        "load",
        "--headless",
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        "3s",
        "--host",
        mock.url,
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        "1",
        "--expect-workers-max-wait",
        "30",
    ]
    try:
        done = subprocess.run(master, cwd=tmp_path, capture_output=True, text=True, timeout=60_000 * MS)
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30_000 * MS)
    said = [line for line in err.splitlines() if "this worker cannot play" in line]
    assert len(said) == 1 and "SpeechStream" in said[0] and "OtherStream" in said[0], err[-2000:]
    assert "Traceback" not in err and "KeyError" not in err, err[-2000:]
    assert "connect" not in done.stdout.split("Response time percentiles")[0], "the master measured no stream"


@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        (["--headless", "-u", "1", "-t", "5s"], "no --host: give the endpoint to load"),
        (["--host", "ws://x", "-H", "Authorization: Token k"], "-H is ambiguous here"),
        (
            ["--host", "ws://x", "--slo", "p95(final_latncy) < 800ms"],
            "nothing is measured as 'final_latncy'; did you mean 'final_latency'?",
        ),
        (
            ["--host", "ws://x", "--slo", "rate(failures) < 1"],
            "a rate is a percentage: write e.g. 'rate(failures) < 1%'",
        ),
        (["--host", "ws://x", "--slo", "p95(connect) < 800"], "p95() is a time: give its unit, ms or s"),
        (["--host", "ws://x", "--discover", "--discover-hold", "5", "--discover-settle", "5"], "0 <= settle < hold"),
        (["--host", "ws://x", "-t", "5s"], "-t needs --headless"),
        (["--host", "ws://x", "--headless", "-t", "soon"], "-t 'soon': write e.g. 90s"),
        (["--host", "ws://x", "--header", "Authorization"], "--header expects 'Name: value'"),
        (["--host", "ws://x", "--auth-scheme", "basic"], "invalid choice: 'basic'"),
    ],
    ids=[
        "no-host",
        "dash-H",
        "unknown-entry",
        "rate-unit",
        "time-unit",
        "discovery-plan",
        "t-without-headless",
        "t-format",
        "header",
        "auth-scheme",
    ],
)
def test_a_load_mistake_is_one_line_and_exit_2_before_locust_starts(
    capsys: pytest.CaptureFixture[str], mistake: list[str], said: str
) -> None:
    """Each mistake a user makes on the command line is refused by `conformance load` itself: one
    line naming it, exit 2, and locust never started (it would have replaced this process)."""
    assert main(["load", *mistake]) == 2
    out, err = capsys.readouterr()
    assert said in err and len(err.strip().splitlines()) == 1 and not out, err


def test_locust_refuses_audio_it_cannot_produce_in_one_line(short_scenario: Path) -> None:
    done = locust(
        "-f",
        "loadtest/locustfile.py",
        "--host",
        "ws://127.0.0.1:9",
        "-u",
        "1",
        "-r",
        "1",
        "-t",
        "1s",
        "--scenario",
        str(short_scenario),
        "--encoding",
        "ogg-opus",
        "--sample-rate",
        "44100",
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Opus does not encode at 44100 Hz; it takes 8000, 12000, 16000, 24000, 48000 Hz" in done.stderr
    assert "Traceback" not in done.stderr


def test_discovery_refuses_a_bad_slo_or_plan_in_one_line() -> None:
    """An SLO that does not parse, or settle not below hold: one line, exit 2, before any stream."""
    cases = {
        "threshold 'p95(final_latency) <': write e.g.": ["--slo", "p95(final_latency) <"],
        "0 <= settle < hold": ["--discover-hold", "5", "--discover-settle", "5"],
    }
    started = {
        said: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "conformance",
                "load",
                "--discover",
                "--headless",
                "--host",
                "ws://127.0.0.1:9",
                *bad,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for said, bad in cases.items()
    }
    for said, process in started.items():
        _, err = process.communicate(timeout=60_000 * MS)
        assert process.returncode == 2 and said in err and "Traceback" not in err, err[-1500:]


def test_conformance_load_runs_the_bundled_locustfiles_only() -> None:
    """``conformance load`` hands everything to locust with the packaged locustfile; its own
    locustfile is `locust -f`'s job (one line, exit 2); --help lists the bundled options too."""
    assert main(["load", "-f", "mine.py"]) == 2
    command = locust_command(["--discover", "--host", "ws://x", "-u", "3", "--headless"])
    assert (
        command[1:4] == ["-m", "locust", "-f"]
        and command[4].endswith("conformance/load/discovery.py")
        and command[5:] == ["--host", "ws://x", "-u", "3", "--headless"]
    )
    assert locust_command(["--host", "ws://x"])[4].endswith("conformance/load/locustfile.py")
    assert locust_command(["--host", "ws://x"])[-2:] == ["--web-host", "127.0.0.1"], (
        "the web UI listens on loopback unless asked"
    )
    assert locust_command(["--host", "ws://x", "--headless", "-t", "1m30s"])[-2:] == ["--conformance-run-time", "90"]
    assert "conformance.load.discovery" in locust_command(["--help"])[-1], "--help lists the discovery's options too"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _discovery(command: list[str], host: str, scenario: Path, report: Path, *steps: str) -> list[str]:
    return [
        *command,
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--scenario",
        str(scenario),
        "--time-scale",
        "0.1",
        "--discover-report",
        str(report),
        "--discover-rate",
        "20",
        *steps,
    ]


def test_discovery_finds_the_modelled_capacity_and_the_rate_limit(
    mock_factory, short_scenario: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Three discoveries at once, each against its own mock, with the default SLOs:
    - ``conformance load --discover``, one process, against a deployment modelled at capacity 4
      (from 4 in steps of 2): 4 met every SLO, 6 broke p95(final_latency) (results fall behind at
      4/6 of real time: seconds behind by the end of a stream);
    - locust master and two workers, the same model: the master's shape judges the workers' stats
      (one worker started as `conformance load --worker`, without --discover);
    - one process against ``--max-streams 3`` (from 3 in steps of 1): capacity 3, the next step
      broke rate(failures) on 429s counted as rate_limited (not handshake_rejected), and the first
      429 came with exactly 3 streams open."""
    modelled, modelled_too, limited = mock_factory(capacity=4), mock_factory(capacity=4), mock_factory(max_streams=3)
    steps = (
        "--discover-start",
        "4",
        "--discover-step",
        "2",
        "--discover-max",
        "8",
        "--discover-hold",
        "5",
        "--discover-settle",
        "1.5",
    )
    port = _free_port()
    locustfile = ["-f", "loadtest/discover.py", "--scenario", str(short_scenario), "--time-scale", "0.1"]
    runs = {
        "cli": [
            sys.executable,
            "-m",
            "conformance",
            "load",
            "--discover",
            *_discovery([], modelled.url, short_scenario, tmp_path / "cli", *steps),
        ],
        "master": [
            sys.executable,
            "-m",
            "locust",
            *_discovery(locustfile, modelled_too.url, short_scenario, tmp_path / "master", *steps),
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "2",
            "--expect-workers-max-wait",
            "30",
        ],
        "limited": [
            sys.executable,
            "-m",
            "locust",
            *_discovery(
                locustfile,
                limited.url,
                short_scenario,
                tmp_path / "limited",
                "--discover-start",
                "3",
                "--discover-step",
                "1",
                "--discover-max",
                "5",
                "--discover-hold",
                "5",
                "--discover-settle",
                "1.5",
            ),
        ],
    }
    # Workers as a user starts them: `conformance load --worker`, without --discover (once a
    # KeyError per worker and a false answer from the master), and as `locust -f`.
    plain_worker = [
        sys.executable,
        "-m",
        "conformance",
        "load",
        "--scenario",
        str(short_scenario),
        "--time-scale",
        "0.1",
    ]
    workers = [
        subprocess.Popen(
            [*command, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for command in (plain_worker, [sys.executable, "-m", "locust", *locustfile])
    ]
    started = {
        name: subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, command in runs.items()
    }
    try:
        done = {name: process.communicate(timeout=120_000 * MS) for name, process in started.items()}
    finally:
        for process in [*started.values(), *workers]:
            if process.poll() is None:
                process.kill()
            process.wait(30_000 * MS)
    codes = {name: process.returncode for name, process in started.items()}
    assert codes == {"cli": 0, "master": 0, "limited": 0}, {
        name: out[-1500:] + err[-1500:] for name, (out, err) in done.items()
    }
    for name in ("cli", "master"):
        out = done[name][0]
        assert "capacity: 4 concurrent streams met every SLO" in out, out[-2000:]
        assert "at 6: broke p95(final_latency) < 800ms (measured" in out, out[-2000:]
    assert "2 workers connected" in done["master"][1]
    limited_out = done["limited"][0]
    assert "capacity: 3 concurrent streams met every SLO" in limited_out, limited_out[-2000:]
    assert (
        "at 4: broke rate(failures) < 1% (measured" in limited_out and "failed streams: rate_limited" in limited_out
    ), limited_out[-2000:]
    assert "rate limit: the first 429 came with 3 concurrent streams open" in limited_out
    with open(tmp_path / "limited" / "capacity.csv", newline="") as handle:
        broken = list(csv.DictReader(handle))[-1]
    assert (broken["users"], int(broken["rate_limited"]) > 0, broken["handshake_rejected"]) == ("4", True, "0"), broken
    with open(tmp_path / "cli" / "capacity.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["users"], row["slos_met"]) for row in rows] == [("4", "yes"), ("6", "no")]
    assert int(rows[0]["finals"]) > 0 and float(rows[0]["final_latency_p95_ms"]) < 800 < float(
        rows[1]["final_latency_p95_ms"]
    )


def test_threshold_parsing() -> None:
    assert parse_threshold("p95(first_final) < 1500ms").value == 1500
    assert parse_threshold("avg(connect) <= 0.3s").value == pytest.approx(300)
    assert parse_threshold("rate(rate_limited) < 1%").value == pytest.approx(0.01)
    for bad in ("p95(first_final) < 1500%", "rate(x) < 3ms", "fast(connect) < 1ms", "p95 first_final < 3"):
        with pytest.raises(ValueError):
            parse_threshold(bad)


def test_metrics_classify_idle_timeout_and_latencies() -> None:
    """Pure metrics: first_result from the first audio frame; a NET-0001 close is idle_timeout."""
    trace = Trace("t", Timing(), 1, 1, 16000, Handshake("ws://x", status=101, t=0.05))
    trace.record_sent("binary", bytes(640), 0.1, audio=True, due=0.1, step="1", seconds=0.02)
    trace.record_received(json.dumps({"type": "Results", "is_final": True, "start": 0, "duration": 0.02}), 0.4, "1")
    trace.record_close("server", 1011, "See https://dpgr.am/net0001", 10.2)
    scenario = m.Scenario(id="t", title="t", rules=("CS-1",), steps=())
    measured = measure(trace)
    record = new_record(scenario)
    conclude(record, trace, scenario)
    samples = {s.name: s for s in stream_samples(trace, record, measured)}
    assert samples["connect"].ms == 50 and samples["first_result"].ms == pytest.approx(300)
    assert samples["stream"].failure and samples["idle_timeout"].failure == "1011 NET-0001"
