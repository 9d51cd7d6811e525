"""The event stream of a run. The runner yields these; reporters consume them and never print
from the engine's side. Every event has a unique ``id`` and a wall-clock ``timestamp``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from conformance.engine.record import CaseRecord
from conformance.scenario.durations import Timing

__all__ = [
    "Event",
    "RunStarted",
    "ScenarioStarted",
    "ScenarioFinished",
    "NonFatalError",
    "FatalError",
    "Interrupted",
    "RunFinished",
]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """The run begins: which target, how many scenarios, on which clock. ``open_ended``: cases come
    as clients connect (``conformance mock --judge-clients``), their number unknown."""

    target: str
    scenario_count: int
    timing: Timing
    jobs: int
    tls_insecure: bool = False
    open_ended: bool = False


@dataclass(frozen=True, kw_only=True)
class ScenarioStarted(Event):
    """A scenario starts connecting."""

    scenario_id: str
    title: str


@dataclass(frozen=True, kw_only=True)
class ScenarioFinished(Event):
    """A scenario is judged; ``record`` holds verdicts and the trace."""

    record: CaseRecord


@dataclass(frozen=True, kw_only=True)
class NonFatalError(Event):
    """Something went wrong that does not stop the run (e.g. a reporter failed)."""

    message: str


@dataclass(frozen=True, kw_only=True)
class FatalError(Event):
    """The run cannot go on; ``exit_code`` says why (2 config, 3 unreachable)."""

    message: str
    exit_code: int


@dataclass(frozen=True, kw_only=True)
class Interrupted(Event):
    """A signal interrupted the run (``signal``: its name, e.g. SIGTERM); a RunFinished with what
    finished follows."""

    signal: str = "SIGINT"


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """The run is over (``interrupted``: stopped by that signal; ``records`` hold what finished,
    and the cases it cut short as INTERRUPTED)."""

    records: tuple[CaseRecord, ...]
    exit_code: int
    duration: float
    interrupted: str | None = None
