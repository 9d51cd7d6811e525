"""Architecture guard: the pure packages import no I/O, and the layers point downstream only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import conformance

ROOT = Path(conformance.__file__).parent
PURE = [
    "scenario",
    "protocol",
    "audio",
    "checks",
    "engine",
    "verdicts.py",
    "run/case.py",
    "xfail.py",
    "mock/session.py",
    "mock/transcriber.py",
    "mock/faults.py",
    "mock/configure.py",
    "mock/capacity.py",
    "load/metrics.py",
    "load/steps.py",
    "load/thresholds.py",
    "load/options.py",
    "catalog.py",
    "client/scenario.py",
    "client/evidence.py",
    "client/checks.py",
    "client/judge.py",
    "client/progress.py",
]
IO_MODULES = {"websockets", "asyncio", "gevent", "locust", "pytest", "socket", "ssl", "subprocess", "threading"}
FORBIDDEN_BY_LAYER = {
    # Layers, bottom up: verdicts/catalog, scenario/protocol/audio, engine, checks, transport,
    # run (orchestration), then report, client, cli. Nothing imports upwards.
    "verdicts.py": {
        "conformance.engine",
        "conformance.checks",
        "conformance.run",
        "conformance.transport",
        "conformance.report",
    },
    "engine": {
        "conformance.checks",
        "conformance.transport",
        "conformance.run",
        "conformance.report",
        "conformance.mock",
        "conformance.client",
        "conformance.cli",
    },
    "checks": {
        "conformance.run",
        "conformance.transport",
        "conformance.report",
        "conformance.mock",
        "conformance.client",
        "conformance.cli",
    },
    "report": {"conformance.transport", "conformance.run", "conformance.mock"},
    "transport": {"conformance.checks", "conformance.run", "conformance.report", "conformance.cli", "locust", "pytest"},
    "transport/sync.py": {"asyncio"},
    "mock": {
        "conformance.report",
        "conformance.transport",
        "conformance.engine",
        "conformance.run",
        "locust",
        "pytest",
    },
    "run": {"conformance.report", "conformance.cli", "conformance.client"},
    "client": {"conformance.report", "conformance.cli", "conformance.transport", "conformance.run", "locust", "pytest"},
}


def _files(relative: str) -> list[Path]:
    path = ROOT / relative
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "time":
                names.update(f"time.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "time"
            and node.attr == "sleep"
        ):
            names.add("time.sleep")
    return names


@pytest.mark.parametrize("relative", PURE)
def test_pure_module_imports_no_io(relative: str) -> None:
    """Sans-I/O modules never import network, concurrency or sleeping."""
    for path in _files(relative):
        bad = {name for name in _imports(path) if name.split(".")[0] in IO_MODULES or name == "time.sleep"}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("relative", sorted(FORBIDDEN_BY_LAYER))
def test_layer_imports_point_downstream(relative: str) -> None:
    for path in _files(relative):
        bad = {
            name
            for name in _imports(path)
            for banned in FORBIDDEN_BY_LAYER[relative]
            if name == banned or name.startswith(banned + ".")
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


# Checked by `conformance load` before locust starts: its options and what they parse, all pure.
_LOAD_PREFLIGHT = {"conformance.load.options"}


def test_nothing_imports_the_load_layer() -> None:
    """Importing locust monkey-patches the process with gevent: only the load layer itself (and
    the checkout's ``loadtest/`` locustfiles) may import it; ``conformance load`` runs it in a locust
    process of its own, after checking the options with the pure options module."""
    for path in ROOT.rglob("*.py"):
        if ROOT / "load" in path.parents:
            continue
        allowed = _LOAD_PREFLIGHT if path == ROOT / "cli" / "load.py" else set()
        bad = {
            n
            for n in _imports(path)
            if n.split(".")[0] == "loadtest"
            or ((n == "conformance.load" or n.startswith("conformance.load.")) and n not in allowed)
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_load_preflight_imports_no_locust() -> None:
    """What `conformance load` imports to check its options pulls in neither locust nor gevent."""
    probe = "import sys, conformance.cli.load; print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_load_layer_stays_off_the_cli_and_asyncio() -> None:
    """The load layer imports conformance's engine and sync transport, never its CLI or asyncio."""
    for path in [*(ROOT / "load").rglob("*.py"), *(ROOT.parent / "loadtest").rglob("*.py")]:
        bad = {
            n
            for n in _imports(path)
            if n == "asyncio" or n.startswith("conformance.cli") or n.startswith("conformance.transport.aio")
        }
        assert not bad, f"{path.name} imports {sorted(bad)}"
