"""`conformance client -- CMD`: the record-and-judge mock against real client programs.

The canonical drivers in clients/ (Python, JavaScript, Go; raw WebSocket libraries and Deepgram's
official SDKs) must pass every client scenario; the deliberately faulty client must fail on the
rule each fault breaks. Drivers whose toolchain is missing skip with the reason. Everything runs at
time scale 0.1 (the drivers scale their KeepAlive timer by CONFORMANCE_TIME_SCALE).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import main

from conftest import MS, TIME_SCALE

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
PYTHON = CLIENTS / "python"
FAULTY = [sys.executable, str(PYTHON / "faulty_client.py")]
SCALE = ["--time-scale", str(TIME_SCALE)]


def _client(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["client", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _verdicts(report: Path) -> dict[str, dict[str, str]]:
    """scenario id -> rule id -> verdict, from the JSON report."""
    data = json.loads(report.read_text())
    return {
        case["id"]: {v["rule"]: v["verdict"] for v in case["verdicts"]} for run in data["runs"] for case in run["cases"]
    }


# -- the judge on the faulty clients, all started at once (each mostly sleeps at real-time pace) --


FAULTY_CASES = [
    ("binary-keepalive", "stream", "C-CTL-1", "FAILED", 1),
    ("no-keepalive", "stream", "C-KA-1", "FAILED", 1),
    ("audio-after-closestream", "stream", "C-CS-2", "FAILED", 1),
    ("close-after-closestream", "slow-metadata", "C-CS-3", "NON-STRICT", 0),
    ("empty-frame", "stream", "C-EMPTY-1", "NON-STRICT", 0),
    ("wav-header", "stream", "C-AUD-1", "NON-STRICT", 0),
]


_OUTPUT: dict[int, str] = {}


def _finished(process: subprocess.Popen[str]) -> str:
    """Wait for a started `conformance client` and return its output (read once, kept for later tests)."""
    if process.pid not in _OUTPUT:
        _OUTPUT[process.pid] = process.communicate(timeout=180000 * MS)[0]
    return _OUTPUT[process.pid]


def _start_client(work: Path, name: str, args: list[str]) -> tuple[subprocess.Popen[str], Path]:
    report = work / f"{name}.json"
    conformance = [
        sys.executable,
        "-m",
        "conformance",
        "client",
        *SCALE,
        "--json",
        str(report),
        "--trace-dir",
        str(work / name),
        *args,
    ]
    return subprocess.Popen(
        conformance,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": "1"},
    ), report


@pytest.fixture(scope="module")
def faulty_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[subprocess.Popen[str], Path]]]:
    work = tmp_path_factory.mktemp("faulty")
    runs = {
        fault: _start_client(work, fault, ["--scenario", scenario, "--", *FAULTY, "--fault", fault])
        for fault, scenario, *_ in FAULTY_CASES
    }
    yield runs
    for process, _ in runs.values():
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(("fault", "scenario", "rule", "verdict", "exit_code"), FAULTY_CASES)
def test_each_faulty_client_fails_on_its_rule(
    faulty_runs, fault: str, scenario: str, rule: str, verdict: str, exit_code: int
) -> None:  # type: ignore[no-untyped-def]
    process, report = faulty_runs[fault]
    output = _finished(process)
    verdicts = _verdicts(report)[f"client.{scenario}"]
    assert verdicts[rule] == verdict, output
    assert process.returncode == exit_code, output
    broken = {r for r, v in verdicts.items() if v in ("FAILED", "NON-STRICT")}
    assert broken <= {rule, "C-KA-2", "C-CS-1"}, f"{fault} also broke {broken - {rule}}"


# -- failure paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--"], "no client command"),
        (["--", "no-such-client-program"], "cannot run 'no-such-client-program': not found on PATH"),
        (["--scenario", "nope", "--", "true"], "no client scenario matches 'nope'"),
        (["--audio", "missing.wav", "--", "true"], "--audio missing.wav: no such file"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = _client(args, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_client_that_never_connects_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _client(
        [*SCALE, "--scenario", "stream", "--", sys.executable, "-c", "print('nothing to do')"], capsys
    )
    assert code == 1
    assert "the client never connected" in out and "last output: nothing to do" in out


def test_a_client_that_hangs_is_stopped_at_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    hang = "import time\nwhile True: time.sleep(1)"
    code, out, _ = _client(
        [*SCALE, "--scenario", "stream", "--timeout", str(1500 * MS), "--", sys.executable, "-c", hang], capsys
    )
    assert code == 1 and "still running at the deadline" in out


def test_a_bad_client_scenario_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: client.bad\ntitle: x\nrules: [KA-1]\njobs: {}\n")
    code, _, err = _client(["--scenario-file", str(bad), "--", "true"], capsys)
    assert code == 2 and str(bad) in err and "Did you mean 'job'" in err


def test_placeholders_and_environment_reach_the_program(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = (
        "import os, sys; print(sys.argv[1:], os.environ['DEEPGRAM_URL'], os.environ['DEEPGRAM_HOST'], "
        "os.environ['CONFORMANCE_PAUSE'], os.environ['CONFORMANCE_TIME_SCALE'])"
    )
    code, out, err = _client(
        [
            *SCALE,
            "-v",
            "--scenario",
            "keepalive-pause",
            "--",
            sys.executable,
            "-c",
            script,
            "{url}",
            "{port}",
            "{pause}",
            "{seconds}",
        ],
        capsys,
    )
    printed = next(line for line in err.splitlines() if line.startswith("["))
    arguments, url, host, pause, scale = printed.rsplit(" ", 4)
    port = url.split(":")[2].split("/")[0]
    assert arguments == f"['{url}', '{port}', '1.2', '2']"
    assert url.endswith("/v1/listen") and host == f"ws://127.0.0.1:{port}" and pause == "1.2" and scale == "0.1"


def test_the_api_key_never_appears_in_any_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = "sk-client-secret-0123456789"
    leaky = "import os; print('my key is', os.environ['DEEPGRAM_API_KEY'])"
    code, out, err = _client(
        [
            *SCALE,
            "-v",
            "--api-key",
            key,
            "--scenario",
            "stream",
            "--json",
            str(tmp_path / "r.json"),
            "--trace-dir",
            str(tmp_path / "traces"),
            "--",
            sys.executable,
            "-c",
            leaky,
        ],
        capsys,
    )
    assert code == 1 and "my key is ***" in err
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert key not in out + err + written


# -- the canonical drivers, all started at once (each mostly sleeps at real-time pace) ----------


BUILD_FAILED = "build failed: "


def _go_binaries(build_dir: Path) -> tuple[Path | None, str]:
    """The built Go drivers, or None with why: no toolchain (skip) or a failed build (fail)."""
    go = shutil.which("go")
    if go is None:
        return None, "Go is not installed (the Go drivers need the go toolchain)"
    build_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [go, "build", "-o", f"{build_dir}{os.sep}", "./cmd/..."],
        cwd=CLIENTS / "go",
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        return None, BUILD_FAILED + done.stderr[-1500:]
    return build_dir, ""


def _drivers(build_dir: Path) -> dict[str, tuple[list[str] | None, str]]:
    """driver name -> (command, or None with the reason it cannot run here)."""
    node = shutil.which("node")
    modules = CLIENTS / "javascript" / "node_modules"
    no_node = "Node.js is not installed"
    go_dir, no_go = _go_binaries(build_dir)
    return {
        "python-websockets": ([sys.executable, str(PYTHON / "websockets_client.py")], ""),
        "python-telephony": ([sys.executable, str(PYTHON / "websockets_client.py"), "--telephony"], ""),
        "python-browser": ([sys.executable, str(PYTHON / "browser_client.py")], ""),
        "python-sdk": ([sys.executable, str(PYTHON / "sdk_client.py")], "")
        if importlib.util.find_spec("deepgram")
        else (None, "deepgram-sdk is not installed (pip install -e '.[test]')"),
        "javascript-ws": ([node, str(CLIENTS / "javascript" / "ws_client.mjs")], "")
        if node and (modules / "ws").is_dir()
        else (None, no_node if not node else "ws is not installed: npm ci --prefix clients/javascript"),
        "javascript-sdk": ([node, str(CLIENTS / "javascript" / "sdk_client.mjs")], "")
        if node and (modules / "@deepgram" / "sdk").is_dir()
        else (None, no_node if not node else "@deepgram/sdk is not installed: npm ci --prefix clients/javascript"),
        "go-gorilla": ([str(go_dir / "gorilla")], "") if go_dir else (None, no_go),
        "go-sdk": ([str(go_dir / "sdk")], "") if go_dir else (None, no_go),
    }


# The format drivers play the canonical job only: the other scenarios judge the job's lifecycle,
# which their shared code with websockets_client.py already shows.
FORMAT_DRIVERS = ("python-telephony", "python-browser")


@pytest.fixture(scope="module")
def driver_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.Popen[str] | None, str, Path]]]:
    """Every available driver under `conformance client` (all scenarios), started concurrently."""
    work = tmp_path_factory.mktemp("drivers")
    runs: dict[str, tuple[subprocess.Popen[str] | None, str, Path]] = {}
    for name, (command, reason) in _drivers(work / "bin").items():
        report = work / f"{name}.json"
        process = None
        if command is not None:
            only = ["--scenario", "stream"] if name in FORMAT_DRIVERS else []
            conformance = [
                sys.executable,
                "-m",
                "conformance",
                "client",
                *SCALE,
                *only,
                "--json",
                str(report),
                "--junit",
                str(work / f"{name}.xml"),
                "--trace-dir",
                str(work / name),
                "--",
                *command,
            ]
            process = subprocess.Popen(
                conformance,
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "CI": "1"},
            )
        runs[name] = (process, reason, report)
    yield runs
    for process, _, _ in runs.values():
        if process is not None and process.poll() is None:
            process.kill()


def test_the_websockets_client_is_judged_in_every_report(driver_runs) -> None:  # type: ignore[no-untyped-def]
    """The reference Python client: every scenario judged, the rules each is decisive for held,
    JSON and JUnit written, no traceback."""
    process, _, report = driver_runs["python-websockets"]
    output = _finished(process)
    assert process.returncode == 0, output[-3000:]
    verdicts = _verdicts(report)
    assert set(verdicts) == {"client.stream", "client.keepalive-pause", "client.slow-metadata", "client.server-error"}
    assert verdicts["client.keepalive-pause"]["C-KA-2"] == "OK" and verdicts["client.keepalive-pause"]["C-KA-1"] == "OK"
    assert verdicts["client.slow-metadata"]["C-CS-3"] == "OK"
    assert verdicts["client.server-error"]["C-ERR-1"] == "INFORMATIONAL"
    assert {"C-AUTH-1", "C-CTL-2", "C-CS-1", "C-CS-2", "C-AUD-1", "C-EMPTY-1"} <= set(verdicts["client.stream"])
    assert "<testsuite" in (report.parent / "python-websockets.xml").read_text()
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "driver", ["python-websockets", "python-sdk", "javascript-ws", "javascript-sdk", "go-gorilla", "go-sdk"]
)
def test_canonical_driver_passes_every_client_scenario(driver_runs, driver: str) -> None:  # type: ignore[no-untyped-def]
    process, reason, report = driver_runs[driver]
    if reason.startswith(BUILD_FAILED):
        pytest.fail(f"{driver}: {reason}")
    if process is None:
        pytest.skip(reason)
    output = _finished(process)
    assert process.returncode == 0, output[-3000:]
    verdicts = _verdicts(report)
    assert len(verdicts) == 4, output[-2000:]
    broken = {
        (case, rule)
        for case, rules in verdicts.items()
        for rule, verdict in rules.items()
        if verdict in ("FAILED", "NON-STRICT", "UNIMPLEMENTED")
    }
    assert not broken, output[-3000:]
    assert verdicts["client.keepalive-pause"]["C-KA-2"] == "OK"


@pytest.mark.parametrize(
    ("driver", "declared", "frame_ms"),
    [("python-telephony", "encoding=mulaw&sample_rate=8000", 20), ("python-browser", None, 240)],
)
def test_format_drivers_are_judged_in_decoded_audio(
    driver_runs, driver: str, declared: str | None, frame_ms: int
) -> None:  # type: ignore[no-untyped-def]
    """The telephony driver declares mulaw at 8 kHz and sends 20 ms frames; the browser-style
    driver declares nothing and sends WebM in 250 ms slices (each completes 240 ms of Opus, the
    rest waits for the next block): C-AUD-1 holds on the bytes, C-AUD-2 reads decoded audio."""
    process, _, report = driver_runs[driver]
    output = _finished(process)
    assert process.returncode == 0, output[-3000:]
    case = next(c for c in json.loads(report.read_text())["runs"][0]["cases"] if c["id"] == "client.stream")
    url = case["handshake"]["url"]
    assert (declared in url) if declared else ("encoding=" not in url), url
    verdicts = {v["rule"]: v for v in case["verdicts"]}
    assert verdicts["C-AUD-1"]["verdict"] == "OK", output[-2000:]
    assert f"frames of {frame_ms} ms (median)" in verdicts["C-AUD-2"]["message"], verdicts["C-AUD-2"]


# -- clients that connect by themselves: conformance mock --judge-clients -------------------------


def test_the_mock_judges_every_client_connection_until_stopped(tmp_path: Path) -> None:
    report = tmp_path / "live.json"
    mock = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conformance",
            "mock",
            "--port",
            "0",
            "--api-key",
            "live-key",
            "--time-scale",
            str(TIME_SCALE),
            "--judge-clients",
            "--json",
            str(report),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert mock.stdout is not None
        url = mock.stdout.readline().split(" listening on ")[1].split()[0]
        env = {
            **os.environ,
            "DEEPGRAM_URL": url,
            "DEEPGRAM_API_KEY": "live-key",
            "CONFORMANCE_AUDIO": str(CLIENTS.parent / "audio" / "speech_en.wav"),
            "CONFORMANCE_SECONDS": "1",
            "CONFORMANCE_TIME_SCALE": str(TIME_SCALE),
        }
        for command in (
            [sys.executable, str(PYTHON / "websockets_client.py")],
            [*FAULTY, "--fault", "binary-keepalive"],
        ):
            subprocess.run(command, env=env, capture_output=True, timeout=30000 * MS, check=False)
    finally:
        mock.send_signal(2)
        mock.wait(timeout=10000 * MS)
    # communicate() would read the pipe's descriptor directly and miss what readline() buffered.
    output = mock.stdout.read()
    assert mock.returncode == 1, output
    assert "judging every client connection" in output and "Traceback" not in output
    cases = {case["id"]: case for run in json.loads(report.read_text())["runs"] for case in run["cases"]}
    assert [cases[c]["status"] for c in sorted(cases)] == ["SUCCESS", "FAILURE"]
    assert {v["rule"]: v["verdict"] for v in cases["client.live.2"]["verdicts"]}["C-CTL-1"] == "FAILED"
    assert "live-key" not in output + report.read_text()


def test_judge_clients_without_connections_exits_2(tmp_path: Path) -> None:
    mock = subprocess.Popen(
        [sys.executable, "-m", "conformance", "mock", "--port", "0", "--judge-clients"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert mock.stdout is not None and "listening" in mock.stdout.readline()
    mock.terminate()
    mock.wait(timeout=10000 * MS)
    output = mock.stdout.read()
    assert mock.returncode == 2 and "judging every client connection" in output and "0 scenario(s)" in output
