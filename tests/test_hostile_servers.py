"""`conformance run` against hostile servers (tests/hostile): the key never leaks, every wait is
bounded, every byte a server sends is escaped, bad frames are named, and the reports are always
written. Each test plays short scenarios in-process against a raw server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from websockets.client import ClientProtocol
from websockets.uri import parse_uri
from websockets.utils import accept_key

from conformance._resources import data_path
from conformance.cli import main
from conformance.engine.record import Status
from conformance.engine.trace import MAX_RECEIVED_FRAMES
from conformance.run.runner import Runner, RunOptions
from conformance.scenario import Timing, load_scenarios
from conformance.transport._common import Timeouts, close_details

from conftest import TIME_SCALE
from hostile import behaviours
from hostile.peers import HostileServer

KEY = "sekret-0123456789abcdef-KEY"
SHORT = """
id: hostile.short.1
title: A short stream
rules: [MSG-1, CS-1]
connect: {params: {encoding: linear16, sample_rate: 16000}}
steps:
  - stream: {seconds: 0.5}
  - send: {type: CloseStream}
  - expect: {type: Metadata, within: 2s, rule: CS-1}
  - expect_close: {within: 2s, rule: CS-1}
"""


class Outputs:
    """What one run left behind: exit code, console, and the reports as text."""

    def __init__(self, code: int, console: str, folder: Path) -> None:
        self.code, self.console, self.folder = code, console, folder
        self.json_text = (folder / "report.json").read_text() if (folder / "report.json").exists() else ""
        self.junit_text = (folder / "junit.xml").read_text() if (folder / "junit.xml").exists() else ""
        self.trace_texts = [p.read_text() for p in sorted((folder / "traces").rglob("*.jsonl"))]

    @property
    def cases(self) -> list[dict]:
        return json.loads(self.json_text)["runs"][0]["cases"]

    def verdicts(self) -> dict[str, tuple[str, str]]:
        """rule -> (verdict, message) of the only case."""
        return {v["rule"]: (v["verdict"], v["message"]) for v in self.cases[0]["verdicts"]}

    def everything(self) -> str:
        return "\n".join([self.console, self.json_text, self.junit_text, *self.trace_texts])


def play(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str, *extra: str, scenarios: tuple[str, ...] = (SHORT,)
) -> Outputs:
    paths = []
    for index, text in enumerate(scenarios):
        path = tmp_path / f"s{index}.yaml"
        path.write_text(text)
        paths += ["--scenario", str(path)]
    code = main(
        [
            "run",
            "--host",
            url,
            "--time-scale",
            str(TIME_SCALE),
            "--json",
            str(tmp_path / "report.json"),
            "--junit",
            str(tmp_path / "junit.xml"),
            "--trace-dir",
            str(tmp_path / "traces"),
            *paths,
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    return Outputs(code, out + err, tmp_path)


@pytest.mark.parametrize("scheme", ["token", "subprotocol"])
def test_a_server_that_echoes_the_key_everywhere_never_gets_it_into_any_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scheme: str
) -> None:
    """Point 1: echoed in headers, the chosen subprotocol, schema errors, an unknown type, a
    ``\\u``-escaped string, non-JSON text, request ids, the close reason and a rejection's
    dg-error and body: the key appears in no console line, report or trace, in any spelling."""
    params = (data_path("scenarios") / "handshake_params.yaml").read_text()
    with HostileServer(behaviours.echo_key) as server:
        result = play(
            capsys, tmp_path, server.url, "--api-key", KEY, "--auth-scheme", scheme, scenarios=(SHORT, params)
        )
    assert result.code == 1, result.console
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    for spelling in (KEY, escaped, KEY.replace("-", "%2D")):
        assert spelling not in result.everything()
    assert "***" in result.console and "***" in result.json_text
    short = next(c for c in result.cases if c["id"] == "hostile.short.1")
    assert any(v["rule"] == "MSG-1" and v["verdict"] == "FAILED" for v in short["verdicts"]), (
        "the echoes were still judged"
    )


def test_a_server_that_stops_reading_cannot_hang_the_run(tmp_path: Path) -> None:
    """Point 2: pings flood in and nothing is read back; the case ends at its deadline and the
    close, bounded too, gives up (short transport timeouts keep the test quick; the CLI's are 5 s)."""
    path = tmp_path / "short.yaml"
    path.write_text(SHORT)
    options = RunOptions(timing=Timing(scale=TIME_SCALE), timeouts=Timeouts(open=2.0, close=0.3))
    scenario = load_scenarios([path])[0]
    with HostileServer(behaviours.stop_reading) as server:
        record = asyncio.run(Runner([scenario], server.url + "/v1/listen", options).play(scenario))
    assert record.status is Status.ERROR and "stopped reading" in (record.error or ""), record.error


def test_each_websocket_protocol_violation_is_named_under_ws1_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Point 6: every violation is WS-1's finding, named, and the stream rules the client's own
    protocol close cut short are not judged rather than blamed (one scenario per violation)."""
    names = sorted(behaviours.VIOLATIONS)
    scenarios = tuple(
        SHORT.replace("hostile.short.1", f"hostile.violation.{index}").replace(
            "sample_rate: 16000}", f"sample_rate: 16000, violation: {name!r}}}"
        )
        for index, name in enumerate(names)
    )
    with HostileServer(behaviours.violation()) as server:
        result = play(capsys, tmp_path, server.url, scenarios=scenarios)
    named = {
        "reserved opcode": "invalid opcode",
        "rsv bits": "reserved bits",
        "masked frame": "masking",
        "invalid utf-8": "UTF-8",
        "2^63 length": "top bit",
        "fragmented ping": "fragmented control frame",
        "close code 999": "RFC 6455 §7.4",
        "close code 1005": "RFC 6455 §7.4",
    }
    for index, name in enumerate(names):
        case = next(c for c in result.cases if c["id"] == f"hostile.violation.{index}")
        verdicts = {v["rule"]: (v["verdict"], v["message"]) for v in case["verdicts"]}
        assert verdicts["WS-1"][0] == "FAILED" and named[name] in verdicts["WS-1"][1], (name, verdicts)
        broken = {rule for rule, (verdict, _) in verdicts.items() if verdict in ("FAILED", "NON-STRICT")}
        assert broken == {"WS-1"} and verdicts["CS-1"][0] == "NOT JUDGED", (name, verdicts)


@pytest.mark.parametrize(
    ("behaviour", "named"), [(behaviours.nan_times, "NaN"), (behaviours.deep_json, "nested deeper")]
)
def test_numbers_json_does_not_have_and_deep_nesting_are_msg1_failures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, behaviour: behaviours.Behaviour, named: str
) -> None:
    """Point 5: never a pass (NaN compares false with everything) and never an internal error."""
    with HostileServer(behaviour) as server:
        result = play(capsys, tmp_path, server.url)
    verdicts = result.verdicts()
    assert result.cases[0]["status"] == "FAILURE", result.console
    assert verdicts["MSG-1"][0] == "FAILED" and ("Infinity" in verdicts["MSG-1"][1] or named in verdicts["MSG-1"][1])
    assert verdicts["CS-1"][0] == "NOT JUDGED", (
        "a Metadata that could not be read is MSG-1's finding, not a missing one"
    )


def test_a_flood_of_frames_is_cut_at_the_bound_and_said_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Point 8: the trace stops at its bound, the case says why, and the report stays small."""
    with HostileServer(behaviours.flood(MAX_RECEIVED_FRAMES + 1_000)) as server:
        result = play(capsys, tmp_path, server.url)
    case = result.cases[0]
    assert case["status"] == "ERROR" and f"more than {MAX_RECEIVED_FRAMES} frames" in case["error"]
    assert case["wirelog_omitted"]["entries"] > 0
    assert len(result.json_text) < 4 * 2**20


def test_a_frame_over_the_size_bound_is_an_error_not_a_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with HostileServer(behaviours.huge_frame) as server:
        result = play(capsys, tmp_path, server.url)
    case = result.cases[0]
    assert case["status"] == "ERROR" and "larger than the suite reads" in case["error"]
    assert result.verdicts()["WS-1"][0] == "OK", "a big frame is legal WebSocket: the bound is the suite's, not a rule"


def test_escape_sequences_and_control_bytes_from_a_server_reach_neither_terminal_nor_junit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Point 7: a 500 body that clears the screen and fakes a green PASS is printed inert, and
    the JUnit file stays parseable."""
    with HostileServer(behaviours.ansi_body) as server:
        result = play(capsys, tmp_path, server.url)
    assert result.code == 1
    assert "\x1b" not in result.console and "\x07" not in result.console and "\x00" not in result.console
    assert "\\x1b[2J" in result.console
    error = ET.fromstring(result.junit_text).find(".//error")
    assert error is not None and "\\x00" in (error.get("message") or "")


def test_a_redirect_is_reported_not_followed_unless_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mock_factory
) -> None:
    """Point 10: judging another origin under this one's name would be a false verdict."""
    mock = mock_factory()
    origin = mock.url.removesuffix("/v1/listen")
    with HostileServer(behaviours.redirect(lambda peer: origin + peer.target)) as server:
        refused = play(capsys, tmp_path, server.url)
        assert refused.code == 1 and refused.cases[0]["status"] == "ERROR"
        assert (
            "redirected the upgrade (HTTP 302)" in refused.cases[0]["error"] and mock.url in refused.cases[0]["error"]
        )
        followed = play(capsys, tmp_path, server.url, "--follow-redirects")
    assert followed.code == 0, followed.console
    assert followed.cases[0]["handshake"]["redirected_to"].startswith(mock.url)
    assert f"redirected to {mock.url}" in followed.console


@pytest.mark.parametrize("kind", ["bad accept", "unoffered subprotocol", "oversize header"])
def test_a_broken_upgrade_is_an_hs1_failure_not_an_unreachable_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    """Point 10: the server was reached and answered wrongly: exit 1 with the cause, not exit 3."""
    with HostileServer(behaviours.broken_upgrade(kind)) as server:
        result = play(capsys, tmp_path, server.url, "--auth-scheme", "subprotocol", "--api-key", KEY)
    assert result.code == 1, result.console
    verdict, message = result.verdicts()["HS-1"]
    assert verdict == "FAILED" and "not validly" in message, message
    assert result.verdicts()["CS-1"][0] == "NOT JUDGED"


def test_a_run_that_cannot_reach_its_host_still_writes_its_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Point 10: exit 3, and JSON and JUnit that say why."""
    with HostileServer(behaviours.silent) as server:
        url = server.url
    for extra in ((), ("--wait-for-host", "1s")):
        result = play(capsys, tmp_path, url, *extra)
        assert result.code == 3
        run = json.loads(result.json_text)["runs"][0]
        assert run["exit_code"] == 3 and "127.0.0.1" in run["error"] and run["cases"] == []
        assert ET.fromstring(result.junit_text).find(".//error") is not None


def test_a_connection_that_ends_without_a_close_frame_is_no_protocol_violation() -> None:
    """An EOF after our close frame is the transport ending (websockets records it as its parser's
    EOFError): never WS-1's finding or a ``protocol_violation``."""
    protocol = ClientProtocol(parse_uri("ws://127.0.0.1/v1/listen"))
    request = protocol.connect()
    protocol.send_request(request)
    accept = accept_key(request.headers["Sec-WebSocket-Key"])
    protocol.receive_data(
        f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    protocol.events_received()
    protocol.send_close(1000, "scenario finished")
    protocol.receive_eof()
    assert close_details(protocol) == ("transport", None, "", None)
