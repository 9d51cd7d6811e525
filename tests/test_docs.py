"""Docs that cannot rot: every command the README and docs/ show parses, the ones that can run here
run, the samples are what the code prints, and the annotated scenario loads."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli.parser import build_parser
from conformance.load.options import preflight
from conformance.scenario import load_scenario

from conftest import MS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import samples  # noqa: E402  (docs/samples.py: what writes the samples is what checks them)

DOCUMENTS = samples.documents()
# Commands the docs show that are not `conformance ...`, and the test or script that runs each.
RUN_ELSEWHERE = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && conformance run": ".ci/run",
    ". .venv/bin/activate && pip install -e '.[test]' && npm ci --prefix clients/javascript && pytest": ".ci/run",
    ". .venv/bin/activate && pip install -e '.[lint]' && ruff check . && ruff format --check . && mypy": ".ci/run",
    "python docs/samples.py": "test_the_samples_are_what_the_code_prints (the same code)",
    "pip install '.[fast]'": "pip",
    "pytest --conformance-host wss://stt.internal --conformance-api-key \"$KEY\" -k 'finalize or keepalive'": "tests/test_pytest_plugin.py",
}
# Commands run here, whole, against nothing but themselves.
QUICK = ("conformance mock --list-faults", "conformance load --help")
# Why a `conformance` command is parsed here and not run: it needs what only its user has.
NOT_HERE = {
    "a deployment of your own": re.compile(r"--host (wss?://(?!127\.0\.0\.1)|localhost:8080)"),
    "your own client program": re.compile(r"conformance client (--scenario \S+ )?-- (?!python clients/)"),
    "a server, serving until stopped (tests/test_mock_server.py serves these options)": re.compile(
        r"^conformance mock (?!--list-faults)"
    ),
    "certificates of your own": re.compile(r"--tls-cert server\.pem"),
    "a long run that tests/test_faults.py makes as written": re.compile(r"^conformance selftest$"),
}


def _commands() -> list[tuple[str, str]]:
    """(document, command) for every line of every ``sh`` block, continuations joined, comments cut."""
    found = []
    for path in DOCUMENTS:
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.sub(r"\s+#\s.*$", "", line).strip().rstrip("&").strip()
                if command:
                    found.append((path.name, re.sub(r"\s+", " ", command)))
    return found


COMMANDS = _commands()


def test_every_command_shown_is_accounted_for() -> None:
    """Each command is a `conformance` command (parsed below) or one that CI or a test runs."""
    others = [(doc, command) for doc, command in COMMANDS if not command.startswith("conformance ")]
    unknown = [(doc, command) for doc, command in others if command not in RUN_ELSEWHERE]
    assert not unknown, f"commands the docs show that nothing runs: {unknown}"
    assert len(COMMANDS) >= 25


@pytest.mark.parametrize(
    ("document", "command"), [c for c in COMMANDS if c[1].startswith("conformance ")], ids=lambda value: value[:60]
)
def test_every_conformance_command_shown_parses(document: str, command: str) -> None:
    """As the command line would take it: `load` by its pre-flight check, the others by the
    parser; and what is not run here (below or as a sample) says why."""
    words = shlex.split(command)[1:]
    if words[0] == "load":
        rest = [word for word in words[1:] if word != "--discover"]
        if "--help" not in rest:
            preflight(rest, discover="--discover" in words)
    elif "--help" not in words:
        build_parser().parse_args(words)
    runs_here = command in QUICK or any(
        command in match["command"].split(" & ") for path in DOCUMENTS for match in samples.samples(path.read_text())
    )
    reasons = [reason for reason, pattern in NOT_HERE.items() if pattern.search(command)]
    assert runs_here or reasons or command in _RUN_BY_TESTS, f"{document}: nothing runs `{command}`"


# Commands the docs show that other tests run, word for word.
_RUN_BY_TESTS = {
    "conformance run --tag keepalive --skip 'keepalive.binary.*'": "test_the_selection_example_selects",
}


def test_the_selection_example_selects(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/run.md's selection example selects what it says: the keepalive scenarios but the binary
    one (the run itself plays them: tests/test_cli.py plays selections the same way)."""
    from conformance.scenario import load_scenarios, select_scenarios

    chosen = [s.id for s in select_scenarios(load_scenarios(), [], ["keepalive"], ["keepalive.binary.*"])]
    assert chosen == ["keepalive.before-audio.1", "keepalive.idle.1", "keepalive.pause-resume.1"], chosen


@pytest.mark.parametrize("command", QUICK)
def test_the_quick_commands_run(command: str) -> None:
    assert any(command == shown for _, shown in COMMANDS), f"{command} is no longer in the docs"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("conformance")), *shlex.split(command)[1:]],
        capture_output=True,
        text=True,
        timeout=60_000 * MS,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip(), done.stderr[-1000:]


def _shape(text: str) -> list[str]:
    """A sample's lines with numbers blanked (times, ports), less the suite's own lateness line:
    what must be the same at every run."""
    return [
        re.sub(r"\d+(\.\d+)?", "#", line)
        for line in text.splitlines()
        if "lateness" not in line and "never late" not in line
    ]


def test_the_samples_are_what_the_code_prints() -> None:
    """Each sample follows the command it names, and the quick ones (against the bundled mock, a
    few seconds each; played at once) print the same lines again, numbers aside, in any order.
    The capacity discovery's sample takes half a minute and is written by docs/samples.py."""
    found = [(path, match) for path in DOCUMENTS for match in samples.samples(path.read_text(encoding="utf-8"))]
    assert len(found) >= 3
    for path, match in found:
        text = path.read_text(encoding="utf-8")
        before = text[: match.start()]
        shown = re.findall(r"```sh\n(.*?)```", before, re.DOTALL)[-1].replace("\\\n", " ")
        assert match["command"].split(" & ")[-1] in re.sub(r"[ ]+", " ", shown), (
            f"{path.name}: the sample of `{match['command']}` follows another command"
        )
        assert match["output"].strip(), (
            f"{path.name}: empty sample for `{match['command']}`; run python docs/samples.py"
        )
    quick = [(path, match) for path, match in found if " & " not in match["command"]]
    with __import__("concurrent.futures").futures.ThreadPoolExecutor(len(quick)) as pool:
        outputs = list(pool.map(lambda item: samples.run(item[1]["command"], timeout=120_000 * MS), quick))
    for (path, match), output in zip(quick, outputs, strict=True):
        expected, got = _shape(match["output"]), _shape(output)
        assert sorted(expected) == sorted(got), f"{path.name}: `{match['command']}` now prints:\n{output}"


def test_the_annotated_scenario_loads(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    example = re.search(r"## A complete scenario, annotated\n\n```yaml\n(.*?)```", text, re.DOTALL)
    assert example is not None
    path = tmp_path / "my_finalize.yaml"
    path.write_text(example.group(1), encoding="utf-8")
    scenario = load_scenario(path)
    assert (
        scenario.id == "mine.finalize.1" and scenario.rules == ("FIN-1", "FIN-2", "FIN-4") and len(scenario.steps) == 7
    )


def test_the_readme_is_an_entry_point() -> None:
    """At most ~8 KB, the three journeys, every subcommand's exit codes, and links that resolve."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 8 * 1024
    for journey in ("## Gate a deployment in CI", "## Test your client", "## Plan capacity", "## Exit codes"):
        assert journey in readme
    for command in ("`run`", "`client`", "`mock --judge-clients`", "`load`", "`load --discover`", "`selftest`"):
        assert f"| {command} |" in readme
    for document in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#]+)\)", document.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (document.parent / target).exists(), f"{document.name} links to a missing {target}"
