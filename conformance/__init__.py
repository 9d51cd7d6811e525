"""Conformance suite, reference mock and load tester for Deepgram-compatible live STT (/v1/listen).

The flow is ``scenario → plan → driver → trace → checks → events → reporters``; see ARCHITECTURE.md.
"""

from conformance.checks import check
from conformance.checks.violations import RuleViolation
from conformance.engine.record import CaseRecord, Status
from conformance.mock import MockConfig, MockServer
from conformance.run.runner import Runner, RunOptions
from conformance.scenario import Timing, load_scenarios
from conformance.verdicts import Verdict

__all__ = [
    "load_scenarios",
    "Timing",
    "Runner",
    "RunOptions",
    "CaseRecord",
    "Status",
    "Verdict",
    "RuleViolation",
    "check",
    "MockServer",
    "MockConfig",
]
__version__ = "0.1.0"
