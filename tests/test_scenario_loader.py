"""Scenario files: durations, validation with file + JSON path + did-you-mean, selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.errors import ScenarioError
from conformance.scenario import Timing, load_scenario, load_scenarios, parse_duration, select_scenarios
from conformance.scenario import model as m

GOOD = """
id: demo.one
title: Demo
rules: [CS-1]
steps:
  - stream: {seconds: 1}
  - send: {type: CloseStream}
  - expect: {type: Metadata, within: 1idle+2s, rule: CS-1}
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_duration_parses_units_and_sums() -> None:
    """250ms, 3s, 1.5idle and sums resolve against the idle timeout and the time scale."""
    assert parse_duration("250ms").resolve(Timing()) == pytest.approx(0.25)
    assert parse_duration("1.5idle").resolve(Timing(idle_timeout=10, scale=0.1)) == pytest.approx(1.5)
    assert parse_duration("1idle + 3s").resolve(Timing(idle_timeout=12)) == pytest.approx(15)


def test_duration_rejects_unknown_unit() -> None:
    """A unit outside ms/s/idle is an error that shows how to write one."""
    with pytest.raises(ValueError, match="250ms"):
        parse_duration("3 minutes")


def test_loader_builds_typed_steps(tmp_path: Path) -> None:
    """A valid file becomes a Scenario with typed steps."""
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.id == "demo.one"
    stream, send, expect = scenario.steps
    assert isinstance(stream, m.Stream) and stream.seconds == 1
    assert isinstance(send, m.SendJson) and send.message == {"type": "CloseStream"}
    assert isinstance(expect, m.Expect) and expect.within.idle == 1 and expect.within.seconds == 2


def test_loader_reports_yaml_syntax_with_line(tmp_path: Path) -> None:
    """Broken YAML names the file and the line."""
    path = write(tmp_path, "id: x\ntitle: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"demo\.yaml: line \d+, column \d+: YAML syntax error"):
        load_scenario(path)


def test_loader_suggests_close_step_name(tmp_path: Path) -> None:
    """A misspelt step gives the JSON path and a did-you-mean."""
    path = write(tmp_path, GOOD.replace("- send:", "- sned:"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.location == "$.steps[1]"
    assert "Did you mean 'send'" in info.value.message


def test_loader_rejects_unknown_rule_with_hint(tmp_path: Path) -> None:
    """Rule ids must exist in the catalog."""
    path = write(tmp_path, GOOD.replace("rules: [CS-1]", "rules: [CS-11]"))
    with pytest.raises(ScenarioError, match=r"\$\.rules\[0\]: unknown rule 'CS-11'\. Did you mean"):
        load_scenario(path)


def test_loader_rejects_bad_duration_path(tmp_path: Path) -> None:
    """A malformed duration is reported at its JSON path."""
    path = write(tmp_path, GOOD.replace("within: 1idle+2s", "within: soon"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.location == "$.steps[2].expect.within"


def test_loader_rejects_missing_audio_file(tmp_path: Path) -> None:
    """An audio source that is neither built in nor a file is an error with a hint."""
    path = write(tmp_path, GOOD.replace("stream: {seconds: 1}", "stream: {source: speach, seconds: 1}"))
    with pytest.raises(ScenarioError, match="Did you mean 'speech'"):
        load_scenario(path)


def test_loader_rejects_invalid_sample_rate_when_streaming(tmp_path: Path) -> None:
    """Only scenarios without audio may carry a non-integer sample_rate (negative handshakes)."""
    text = GOOD.replace("rules: [CS-1]", "rules: [CS-1]\nconnect: {params: {sample_rate: fast}}")
    with pytest.raises(ScenarioError, match="sample_rate"):
        load_scenario(write(tmp_path, text))


def test_loader_rejects_duplicate_ids(tmp_path: Path) -> None:
    """Two files may not share an id."""
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(ScenarioError, match="already used"):
        load_scenarios([tmp_path])


def test_bundled_scenarios_load_and_select() -> None:
    """The bundled suite loads; -k wildcards, tags and skips select from it."""
    scenarios = load_scenarios()
    assert len(scenarios) >= 8
    assert [s.id for s in select_scenarios(scenarios, ["finalize.*"])] == ["finalize.all.1", "finalize.channel.1"]
    assert all("handshake" in s.tags for s in select_scenarios(scenarios, tags=["handshake"]))
    assert "timeout.idle.1" not in [s.id for s in select_scenarios(scenarios, skip=["timeout.*"])]


def test_repeat_is_unrolled_with_labels(tmp_path: Path) -> None:
    """Repeats unroll into labelled steps."""
    from conformance.engine.plan import build_plan

    text = GOOD.replace(
        "  - send: {type: CloseStream}",
        "  - repeat: {times: 2, steps: [{send: {type: KeepAlive}}]}\n  - send: {type: CloseStream}",
    )
    plan = build_plan(load_scenario(write(tmp_path, text)), Timing())
    assert [label for label, _ in plan.steps] == ["1", "2#1.1", "2#2.1", "3", "4"]
