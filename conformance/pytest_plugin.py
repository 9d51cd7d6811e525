"""pytest plugin: the conformance scenarios as pytest items, next to a team's own tests.

    pytest --conformance-host wss://stt.internal [--conformance-api-key KEY] [-k finalize] [-m keepalive]

Inert unless ``--conformance-host`` is given. Each scenario file becomes a ``ScenarioFile`` with one
``ScenarioItem`` (pytest's YAML-collection pattern); items carry the marker ``conformance`` and one
marker per scenario tag. Verdicts keep their meaning: a broken MUST rule fails the test, a broken
SHOULD rule passes with a ``ConformanceWarning``, a case that could not run is an error.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ScenarioFile", "ScenarioItem", "ScenarioFailure", "ConformanceWarning"]

_WIRELOG_TAIL = 8


class ConformanceWarning(UserWarning):
    """A SHOULD rule broken (NON-STRICT): reported, not failed."""


class ScenarioFailure(Exception):
    """A scenario whose MUST rules failed, or that could not run; carries the case record."""

    def __init__(self, record: Any) -> None:
        super().__init__(record.id)
        self.record = record


def pytest_addoption(parser: pytest.Parser) -> None:
    # Prefixed: locust's own pytest plugin already claims --host.
    group = parser.getgroup("conformance", "stt-conformance scenarios")
    group.addoption(
        "--conformance-host", help="endpoint to play the conformance scenarios against (enables the plugin)"
    )
    group.addoption("--conformance-api-key", help="API key (default: $DEEPGRAM_API_KEY)")
    group.addoption("--conformance-scenarios", help="scenario folder (default: the bundled suite)")
    group.addoption("--conformance-time-scale", type=float, default=1.0, help="time scale of endpoint-timed durations")


def _scenarios_dir(config: pytest.Config) -> Path:
    from conformance._resources import data_path

    chosen = config.getoption("conformance_scenarios")
    return Path(chosen).resolve() if chosen else data_path("scenarios").resolve()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a stt-conformance scenario")
    if not config.getoption("conformance_host", None):
        return
    from conformance.scenario import load_scenarios

    folder = _scenarios_dir(config)
    for tag in sorted({tag for s in load_scenarios([folder]) for tag in s.tags}):
        config.addinivalue_line("markers", f"{tag}: stt-conformance scenarios tagged {tag}")
    config.args.append(str(folder))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    if not config.getoption("conformance_host", None) or file_path.suffix != ".yaml":
        return None
    if file_path.resolve().parent != _scenarios_dir(config):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """One scenario file."""

    def collect(self):
        from conformance.scenario import load_scenario

        scenario = load_scenario(self.path)
        item = ScenarioItem.from_parent(self, name=scenario.id, scenario=scenario)
        item.add_marker(pytest.mark.conformance)
        for tag in scenario.tags:
            item.add_marker(getattr(pytest.mark, tag))
        yield item


class ScenarioItem(pytest.Item):
    """Plays one scenario against ``--conformance-host``."""

    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        from conformance.engine.record import Status
        from conformance.run.runner import Runner, RunOptions
        from conformance.scenario import Timing
        from conformance.targets import target_url
        from conformance.verdicts import Verdict

        config = self.config
        api_key = config.getoption("conformance_api_key") or os.environ.get("DEEPGRAM_API_KEY") or None
        options = RunOptions(timing=Timing(scale=config.getoption("conformance_time_scale")), api_key=api_key, jobs=1)
        runner = Runner([self.scenario], target_url(config.getoption("conformance_host")), options)
        record = asyncio.run(runner.play(self.scenario))
        if record.status is Status.SKIP:
            pytest.skip(record.error or "skipped")
        if record.status in (Status.FAILURE, Status.ERROR):
            raise ScenarioFailure(record)
        own = [r for r in record.results if r.rule_id in self.scenario.rules]
        if own and all(r.verdict in (Verdict.UNIMPLEMENTED, Verdict.NOT_JUDGED) for r in own):
            # Nothing the scenario is about was judged: a pass here would be a vacuous one.
            pytest.skip("; ".join(f"{r.rule_id} {r.verdict.value}: {r.message}" for r in own))
        for result in record.results:
            if result.verdict is Verdict.NON_STRICT:
                warnings.warn(
                    ConformanceWarning(f"{self.scenario.id}: {result.rule_id} (SHOULD) {result.message}"), stacklevel=1
                )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The broken rules and the tail of the wire log instead of a Python traceback."""
        if not isinstance(excinfo.value, ScenarioFailure):
            return str(super().repr_failure(excinfo))
        record = excinfo.value.record
        lines = [f"scenario {record.id}: {record.status.value}"]
        if record.error:
            lines.append(f"  {record.error}")
        lines += [f"  {r.verdict.value} {r.rule_id} ({r.level.value}): {r.message}" for r in record.failed()]
        if record.trace is not None and record.trace.entries:
            lines.append(f"  last {_WIRELOG_TAIL} frames:")
            lines += [f"    {entry.describe()}" for entry in record.trace.entries[-_WIRELOG_TAIL:]]
            if record.trace.close is not None:
                lines.append(f"    {record.trace.close.describe()}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.id}"
