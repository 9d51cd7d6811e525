"""Client scenarios (``scenarios/client/*.yaml``): the job handed to the program under test, how
the mock provokes it, and the rules in focus. Validated against ``client-scenario.schema.json``."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance._resources import data_path
from conformance.catalog import load_catalog
from conformance.errors import ScenarioError, UsageError
from conformance.scenario.durations import Duration, Timing, parse_duration
from conformance.scenario.loader import read_document, scenario_files, validate_document

__all__ = [
    "Job",
    "Provocation",
    "ClientScenario",
    "load_client_scenarios",
    "select_client_scenarios",
    "DEFAULT_FLUSH_DELAY",
]

_DEFAULT_AUDIO_SECONDS = 3.0
# The mock answers CloseStream this much later in every client scenario, so a client that closes
# the socket right after CloseStream loses the final results every time (C-CS-3 is no coin flip).
DEFAULT_FLUSH_DELAY = 0.5
# Beyond the job itself: the client's own start-up (an SDK import, a Go binary) and its wait for Metadata.
_DEADLINE_MARGIN = Duration(seconds=20.0, idle=1.0)


@dataclass(frozen=True)
class Job:
    """What the program is asked to do."""

    audio_seconds: float = _DEFAULT_AUDIO_SECONDS
    pause: Duration = Duration()


@dataclass(frozen=True)
class Provocation:
    """What the mock does to the client: hold the flush and Metadata, or fail the stream with 1011."""

    metadata_delay: float = 0.0
    error_after_audio: float | None = None
    flush_delay: float = DEFAULT_FLUSH_DELAY


@dataclass(frozen=True)
class ClientScenario:
    """One client scenario file."""

    id: str
    title: str
    rules: tuple[str, ...]
    description: str = ""
    tags: tuple[str, ...] = ()
    job: Job = Job()
    server: Provocation = Provocation()
    deadline: Duration | None = None
    path: Path | None = None

    def deadline_seconds(self, timing: Timing) -> float:
        """How long the program may run: as written, or the job's length plus a margin."""
        if self.deadline is not None:
            return self.deadline.resolve(timing)
        return (
            self.job.audio_seconds
            + self.job.pause.resolve(timing)
            + self.server.flush_delay
            + self.server.metadata_delay
            + _DEADLINE_MARGIN.resolve(timing)
        )


def _duration(path: Path, text: str | None, location: str) -> Duration:
    if text is None:
        return Duration()
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ScenarioError(str(path), location, str(exc)) from exc


def _build(path: Path, doc: dict[str, Any]) -> ClientScenario:
    catalog = load_catalog()
    for index, rule_id in enumerate(doc["rules"]):
        if rule_id not in catalog or catalog[rule_id].side != "client":
            raise ScenarioError(
                str(path), f"$.rules[{index}]", f"unknown client rule {rule_id!r}.{catalog.suggest(rule_id)}"
            )
    job, server = doc.get("job", {}), doc.get("server", {})
    return ClientScenario(
        id=doc["id"],
        title=doc["title"],
        rules=tuple(doc["rules"]),
        description=doc.get("description", "").strip(),
        tags=tuple(doc.get("tags", ())),
        job=Job(
            float(job.get("audio_seconds", _DEFAULT_AUDIO_SECONDS)), _duration(path, job.get("pause"), "$.job.pause")
        ),
        server=Provocation(
            float(server.get("metadata_delay", 0.0)),
            server.get("error_after_audio"),
            float(server.get("flush_delay", DEFAULT_FLUSH_DELAY)),
        ),
        deadline=_duration(path, doc["deadline"], "$.deadline") if "deadline" in doc else None,
        path=path,
    )


def load_client_scenarios(paths: Sequence[Path] = ()) -> list[ClientScenario]:
    """Load client scenario files and folders (default: the bundled ``scenarios/client``), by id.

    Raises:
        ScenarioError: a file is unreadable or invalid, or two files share an id.
    """
    scenarios: dict[str, ClientScenario] = {}
    for file in scenario_files(paths or [data_path("scenarios", "client")]):
        document = read_document(file)
        validate_document(file, document, "client-scenario.schema.json")
        scenario = _build(file, document)
        if scenario.id in scenarios:
            raise ScenarioError(
                str(file), "$.id", f"id {scenario.id!r} is already used by {scenarios[scenario.id].path}"
            )
        scenarios[scenario.id] = scenario
    return sorted(scenarios.values(), key=lambda s: s.id)


def select_client_scenarios(scenarios: Sequence[ClientScenario], names: Sequence[str]) -> list[ClientScenario]:
    """Scenarios whose id, or id without the ``client.`` prefix, matches one of ``names``
    (shell wildcards); all of them when ``names`` is empty.

    Raises:
        UsageError: a name matches nothing (with the known ids).
    """
    if not names:
        return list(scenarios)
    chosen: list[ClientScenario] = []
    for name in names:
        matching = [
            s
            for s in scenarios
            if fnmatch.fnmatchcase(s.id, name) or fnmatch.fnmatchcase(s.id.removeprefix("client."), name)
        ]
        if not matching:
            known = ", ".join(s.id.removeprefix("client.") for s in scenarios)
            raise UsageError(f"no client scenario matches {name!r}; known: {known}")
        chosen.extend(s for s in matching if s not in chosen)
    return chosen
