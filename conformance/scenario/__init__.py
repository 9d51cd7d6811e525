"""What to play: scenario files, their typed model and their loader (pure: no I/O beyond reading files)."""

from conformance.scenario.durations import Duration, Timing, parse_duration
from conformance.scenario.loader import load_scenario, load_scenarios, select_scenarios
from conformance.scenario.model import Scenario

__all__ = [
    "Duration",
    "Timing",
    "parse_duration",
    "Scenario",
    "load_scenario",
    "load_scenarios",
    "select_scenarios",
]
