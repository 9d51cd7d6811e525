"""The whole CLI in-process against the bundled mock (scaled time), and its failure paths."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from conformance.catalog import Level, load_catalog
from conformance.checks import registered_checks
from conformance.cli import main
from conformance.errors import UsageError
from conformance.scenario import load_scenarios
from conformance.targets import target_url

from conftest import MS, TIME_SCALE

SCALE = ["--time-scale", str(TIME_SCALE)]
SHORT = """
id: short.garbage.1
title: A short stream
rules: [MSG-1]
connect: {params: {encoding: linear16, sample_rate: 16000}}
steps:
  - stream: {seconds: 0.5}
  - send: {type: CloseStream}
  - expect_close: {within: 2s, rule: CS-1}
"""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_without_a_host_plays_against_the_bundled_mock(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`conformance run` with no host plays against the bundled mock (the auth scenarios get the
    key it requires): exit 0, the reports written and no trace left. The whole suite through the
    CLI is tests/test_examples.py's run."""
    report, junit, traces = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "traces"
    code, out, err = run_cli(
        capsys,
        "run",
        *SCALE,
        "-k",
        "handshake.*",
        "--json",
        str(report),
        "--junit",
        str(junit),
        "--trace-dir",
        str(traces),
    )
    assert code == 0, out + err
    document = json.loads(report.read_text())["runs"][0]
    assert {c["id"] for c in document["cases"]} >= {"handshake.auth.1", "handshake.auth.2"}
    assert {c["status"] for c in document["cases"]} == {"SUCCESS"}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(document["cases"])) and suite.get("failures") == "0"
    assert not traces.exists()
    assert "passed" in out.splitlines()[-1] and "exit 0" in out
    assert f"reports: {report}, {junit}" in out, "the summary says where the reports went"


def test_cli_unreachable_host_exits_3_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "run", "--host", "127.0.0.1:9", "-k", "finalize.all.1")
    assert code == 3
    assert "cannot reach 127.0.0.1:9: connection refused" in out
    assert "Traceback" not in out + err


def test_cli_bad_scenario_exits_2_naming_file_and_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SHORT.replace("within: 2s", "within: two seconds"))
    code, out, err = run_cli(capsys, "run", "--scenario", str(bad))
    assert code == 2
    assert f"{bad}: $.steps[2].expect_close.within" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-k", "no.such.*"], "no scenario matches"),
        (["run", "--host", "ftp://example"], "scheme must be ws, wss, http or https"),
        (["run", "--host", "localhost:99999"], "port is not a number"),
    ],
)
def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and message in err


def test_target_url_normalises_hosts() -> None:
    """Schemes map to ws/wss and the path defaults to /v1/listen."""
    assert target_url("localhost:8080") == "ws://localhost:8080/v1/listen"
    assert target_url("https://stt.internal") == "wss://stt.internal/v1/listen"
    assert target_url("wss://api.example.com/custom/listen") == "wss://api.example.com/custom/listen"
    with pytest.raises(UsageError):
        target_url("http://")


def test_cli_names_the_broken_must_rule(capsys: pytest.CaptureFixture[str], mock_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A server that drops Metadata after CloseStream fails CS-1: exit 1, the rule named, a trace written."""
    mock = mock_factory(faults=frozenset({"no-metadata-on-closestream"}))
    traces = tmp_path / "traces"
    code, out, err = run_cli(
        capsys, "run", "--host", mock.url, *SCALE, "-k", "keepalive.binary.1", "--trace-dir", str(traces)
    )
    assert code == 1
    assert "FAILED        CS-1 (MUST) no Metadata after CloseStream" in out
    lines = [json.loads(line) for line in (traces / "keepalive.binary.1.jsonl").read_text().splitlines()]
    assert lines[0]["record"] == "case" and {line["record"] for line in lines} >= {"frame", "close", "verdict"}
    assert all("audio_s" in line for line in lines if line.get("kind") == "binary" and line.get("dir") == "sent")


def test_cli_never_closing_server_hits_the_deadline(capsys: pytest.CaptureFixture[str], mock_factory) -> None:  # type: ignore[no-untyped-def]
    """A server that never closes an idle stream fails TO-1 when the deadline fires."""
    mock = mock_factory(faults=frozenset({"idle-never-closed"}))
    code, out, err = run_cli(capsys, "run", "--host", mock.url, *SCALE, "-k", "timeout.idle.1")
    assert code == 1
    assert "TO-1 (MUST)" in out and "still open when the window ended" in out


@contextlib.contextmanager
def custom_server(handler, process_request=None) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """Serve ``handler`` on 127.0.0.1 from a background thread; yields the port."""
    stop, ready, port = threading.Event(), threading.Event(), []

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None, process_request=process_request) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(50 * MS)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(5000 * MS), "the test server did not start"
    try:
        yield port[0]
    finally:
        stop.set()
        thread.join(5000 * MS)


async def _garbage_handler(ws) -> None:  # type: ignore[no-untyped-def]
    async for message in ws:
        if isinstance(message, bytes):
            await ws.send("<html>definitely not json</html>")
        elif "CloseStream" in message:
            await ws.close(1000)


def test_cli_garbage_frames_fail_msg1_without_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A server sending non-JSON text fails MSG-1 with the frame shown."""
    scenario = tmp_path / "short.yaml"
    scenario.write_text(SHORT)
    with custom_server(_garbage_handler) as port:
        code, out, err = run_cli(
            capsys,
            "run",
            "--host",
            f"127.0.0.1:{port}",
            "--scenario",
            str(scenario),
            "--trace-dir",
            str(tmp_path / "t"),
        )
    assert code == 1
    assert "MSG-1 (MUST) server text frame" in out and "definitely not json" in out
    assert "Traceback" not in out + err


def test_cli_api_key_never_appears_anywhere(capsys: pytest.CaptureFixture[str], mock_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The key is used for auth but appears in no output, report or trace."""
    key = "sk-live-4f1d2c3b5a6e7f8091a2b3c4d5e6f7a8"
    mock = mock_factory(api_key=key, faults=frozenset({"message-after-metadata"}))
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        capsys,
        "run",
        "--host",
        mock.url,
        "--api-key",
        key,
        *SCALE,
        "-k",
        "closestream.no-audio.1",
        "-k",
        "closestream.empty-frame.1",
        "-k",
        "handshake.*",
        "--json",
        str(out_dir / "r.json"),
        "--junit",
        str(out_dir / "j.xml"),
        "--trace-dir",
        str(out_dir / "traces"),
    )
    assert code == 1
    written = [p.read_text() for p in out_dir.rglob("*") if p.is_file()]
    assert len(written) >= 3
    for text in [out, err, *written]:
        assert key not in text
    assert "handshake.auth.1" in out and "SKIP" not in out


def test_cli_rules_lists_every_rule_with_its_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "rules")
    assert code == 0
    for rule in load_catalog():
        assert rule.id in out
    assert "tested by: finalize.channel.1" in out


def test_every_checked_rule_has_a_scenario() -> None:
    """Every rule that the suite claims (a registered check, or a rule named in a scenario step)
    is listed by at least one scenario's `rules`."""
    scenarios = load_scenarios()
    claimed_by_scenarios = {rule for s in scenarios for rule in s.rules}
    checked = {rule for rule, _ in registered_checks()}
    missing = sorted(checked - claimed_by_scenarios)
    assert not missing, f"rules checked but claimed by no scenario: {missing}"
    must_rules = {r.id for r in load_catalog() if r.level is Level.MUST and r.side == "server"}
    assert must_rules & claimed_by_scenarios, "the suite claims no MUST rule"


def _refuse_multichannel(connection, request):  # type: ignore[no-untyped-def]
    """Refuses multichannel=true with a 400, as an endpoint without that feature would."""
    if "multichannel=true" not in request.path:
        return None
    response = connection.respond(
        400, '{"err_code":"Bad Request","err_msg":"multichannel is not supported","request_id":"x"}'
    )
    response.headers["dg-error"] = "multichannel is not supported"
    return response


async def _idle_handler(ws) -> None:  # type: ignore[no-untyped-def]
    await ws.wait_closed()


def test_cli_refused_optional_feature_is_unimplemented(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A 400 for a scenario's optional feature makes its rules UNIMPLEMENTED, not FAILED."""
    report = tmp_path / "r.json"
    with custom_server(_idle_handler, _refuse_multichannel) as port:
        code, out, err = run_cli(
            capsys, "run", "--host", f"127.0.0.1:{port}", "-k", "streaming.multichannel.1", "--json", str(report)
        )
    assert code == 0, out
    case = json.loads(report.read_text())["runs"][0]["cases"][0]
    assert {v["verdict"] for v in case["verdicts"]} == {"UNIMPLEMENTED"}
    assert "refused feature 'multichannel': HTTP 400 (multichannel is not supported)" in case["verdicts"][0]["message"]


def test_cli_xfail_turns_listed_failures_into_xfail_and_reports_xpass(
    capsys: pytest.CaptureFixture[str], mock_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Listed failures do not fail the run; a listed scenario that passes is reported as XPASS."""
    mock = mock_factory(faults=frozenset({"no-metadata-on-closestream"}))
    xfail = tmp_path / "xfail.yaml"
    xfail.write_text(
        "- {scenario: 'closestream.no-audio.*', rule: CS-1, reason: known bug 123}\n"
        "- {scenario: handshake.params.1, reason: 'fixed upstream?'}\n"
    )
    code, out, err = run_cli(
        capsys,
        "run",
        "--host",
        mock.url,
        *SCALE,
        "-k",
        "closestream.no-audio.1",
        "-k",
        "handshake.params.1",
        "--xfail",
        str(xfail),
    )
    assert code == 0, out
    assert "XFAIL closestream.no-audio.1" in out and "expected failure: known bug 123" in out
    assert "XPASS handshake.params.1" in out and "expected to fail but passed" in out


def test_cli_xfail_must_cover_every_broken_rule(
    capsys: pytest.CaptureFixture[str], mock_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """An entry for another rule does not excuse the failure."""
    mock = mock_factory(faults=frozenset({"no-metadata-on-closestream"}))
    xfail = tmp_path / "xfail.yaml"
    xfail.write_text("- {scenario: closestream.no-audio.1, rule: CS-2}\n")
    code, out, err = run_cli(
        capsys, "run", "--host", mock.url, *SCALE, "-k", "closestream.no-audio.1", "--xfail", str(xfail)
    )
    assert code == 1 and "FAIL  closestream.no-audio.1" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{a: 1}", "expected a list"),
        ("- {a: b?}", "line 1, column 8: YAML syntax error"),
        ("- {rule: CS-1}", "needs a 'scenario'"),
        ("- {scenario: x, rule: CS-99}", "unknown rule 'CS-99'"),
    ],
)
def test_cli_bad_xfail_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    xfail = tmp_path / "xfail.yaml"
    xfail.write_text(text)
    code, out, err = run_cli(capsys, "run", "--xfail", str(xfail))
    assert code == 2 and message in err


def test_cli_matrix_of_endpoints(capsys: pytest.CaptureFixture[str], mock_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Several --host: one run each, a rules × endpoints and scenarios × endpoints matrix on the
    console and in a self-contained HTML file; JUnit has a suite per endpoint; the worst exit wins."""
    clean, broken = mock_factory(), mock_factory(faults=frozenset({"no-metadata-on-closestream"}))
    page, junit, report, traces = tmp_path / "m.html", tmp_path / "j.xml", tmp_path / "r.json", tmp_path / "traces"
    code, out, err = run_cli(
        capsys,
        "run",
        "--host",
        clean.url,
        "--host",
        broken.url,
        *SCALE,
        "-k",
        "closestream.no-audio.1",
        "--html",
        str(page),
        "--junit",
        str(junit),
        "--json",
        str(report),
        "--trace-dir",
        str(traces),
    )
    assert code == 1
    rows = {
        line.split()[0]: line.split()[1:]
        for line in out.splitlines()
        if line.startswith(("CS-1 ", "closestream.no-audio.1 "))
    }
    assert rows["CS-1"] == ["OK", "FAILED"] and rows["closestream.no-audio.1"] == ["PASS", "FAIL"]
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text and 'class="bad"' in text and "CS-1" in text
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("failures") for s in suites] == ["0", "1"]
    assert [run["exit_code"] for run in json.loads(report.read_text())["runs"]] == [0, 1]
    assert len(list(traces.glob("*/closestream.no-audio.1.jsonl"))) == 1


def test_cli_mock_command_serves_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    """`conformance mock` as its own process (free port, scaled time) passes a scenario played by `run`."""
    import subprocess
    import sys

    mock = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "conformance",
            "mock",
            "--port",
            "0",
            "--time-scale",
            str(TIME_SCALE),
            "--loop",
            "asyncio",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert mock.stdout is not None
        line = mock.stdout.readline()
        assert "conformance mock listening on ws://127.0.0.1:" in line and "no auth" in line
        url = line.split(" on ", 1)[1].split()[0]
        code, out, err = run_cli(capsys, "run", "--host", url, *SCALE, "-k", "closestream.no-audio.1")
        assert code == 0, out
    finally:
        mock.terminate()
        mock.wait(5000 * MS)


def test_a_crashing_reporter_is_disabled_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    """A reporter that raises is dropped and reported as a warning; the others keep receiving."""
    from conformance.cli.reporting import dispatch as _dispatch
    from conformance.engine.events import NonFatalError, RunStarted
    from conformance.report.console import ConsoleHandler
    from conformance.scenario import Timing

    class Broken:
        def start(self) -> None: ...
        def shutdown(self) -> None: ...
        def handle_event(self, event: object) -> None:
            raise RuntimeError("disk full")

    seen: list[object] = []

    class Recorder(Broken):
        def handle_event(self, event: object) -> None:
            seen.append(event)

    handlers = [Broken(), Recorder(), ConsoleHandler()]
    _dispatch(handlers, RunStarted(target="ws://x", scenario_count=1, timing=Timing(), jobs=1))  # type: ignore[arg-type]
    assert len(handlers) == 2
    assert any(isinstance(e, NonFatalError) and "Broken failed and was disabled: disk full" in e.message for e in seen)
    assert "warning: reporter Broken failed and was disabled: disk full" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "ci", "live"), [(_Terminal, "", True), (_Terminal, "true", False), (io.StringIO, "", False)]
)
def test_console_status_line_only_on_a_terminal_outside_ci(
    monkeypatch: pytest.MonkeyPatch, stream, ci: str, live: bool
) -> None:  # type: ignore[no-untyped-def]
    """A live status line on a TTY; plain lines when piped or under CI."""
    from conformance.engine.events import RunStarted, ScenarioStarted
    from conformance.report.console import ConsoleHandler
    from conformance.scenario import Timing

    monkeypatch.setenv("CI", ci)
    out = stream()
    console = ConsoleHandler(out)
    console.handle_event(RunStarted(target="ws://x", scenario_count=2, timing=Timing(), jobs=2))
    console.handle_event(ScenarioStarted(scenario_id="finalize.all.1", title="t"))
    assert ("[0/2] running: finalize.all.1" in out.getvalue()) is live
    assert ("\r" in out.getvalue()) is live


def test_the_first_things_a_user_types_answer_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--version; a client --audio that is no 16-bit PCM WAV is refused before any program runs
    (exit 2); every option of the listing commands says what it does."""
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("conformance ")
    not_wav = tmp_path / "speech.mp3"
    not_wav.write_bytes(b"ID3" + bytes(100))
    code, out, err = run_cli(capsys, "client", "--audio", str(not_wav), "--", "true")
    assert code == 2 and "--audio: " in err and "16-bit PCM WAV" in err and not out, err
    for command in ("selftest", "rules", "scenarios"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = capsys.readouterr().out
        assert "--scenario PATH scenario file or folder" in " ".join(shown.split()), shown


def test_a_wrong_key_is_said_once_and_blames_nothing_on_the_server(
    capsys: pytest.CaptureFixture[str], mock_factory
) -> None:  # type: ignore[no-untyped-def]
    """Against an endpoint that refuses the key, every case that needs it is an ERROR with the
    401 and what to check, printed in full once; the parameter scenarios, refused for the key
    before their parameters were looked at, are NOT JUDGED (not HS-4 NON-STRICT)."""
    mock = mock_factory(api_key="the-right-key")
    code, out, _ = run_cli(
        capsys, "run", *SCALE, "--host", mock.url, "--api-key", "a-wrong-key", "-k", "handshake.*", "-k", "streaming.*"
    )
    assert code == 1
    assert "NON-STRICT" not in out and "FAILED" not in out, out
    assert out.count("handshake rejected with HTTP 401") == 2, out  # the first case, then the summary
    assert "ERROR         2 case(s) could not run: handshake rejected with HTTP 401" in out, out
    assert "the credentials were refused first (HTTP 401" in out, out
    assert "a-wrong-key" not in out
