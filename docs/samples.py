"""Write the sample outputs the docs show, by running the commands they show.

    python docs/samples.py            # every sample, rewritten in place (about a minute)

A sample is a fenced block between ``<!-- sample: COMMAND -->`` and ``<!-- /sample -->`` in
README.md or docs/*.md; COMMAND is run from a scratch folder, as a user types it, and its output
replaces the block. ``tests/test_docs.py`` checks that each sample follows the command it names
and runs the quick ones again to compare. A command that needs a server names it first:
``<!-- sample: conformance mock --capacity 4 --port 8081 & conformance load ... -->`` starts the
mock, runs the load, stops the mock; a capacity discovery's chart becomes docs/capacity.png.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = re.compile(r"<!-- sample: (?P<command>.+?) -->\n```text\n(?P<output>.*?)```\n<!-- /sample -->", re.DOTALL)
# Locust's own statistics tables: long, and the docs of locust show them; the sample keeps ours.
_LOCUST_TABLE = re.compile(r"^(Type\s|\s*WS\s|-+\||\s*Aggregated|Response time percentiles|\s*\d)")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def samples(text: str) -> list[re.Match[str]]:
    return list(SAMPLE.finditer(text))


def run(command: str, timeout: float = 300) -> str:
    """The output of ``command`` as a user sees it (stdout then stderr, locust's tables left out)."""
    server, _, main = command.rpartition(" & ")
    with tempfile.TemporaryDirectory() as scratch:
        environment = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
        started = (
            subprocess.Popen(shlex.split(server), cwd=scratch, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if server
            else None
        )
        try:
            time.sleep(2 if started else 0)
            words = shlex.split(main)
            # A command that names a file of the checkout runs there, as a user of the checkout types it.
            where = ROOT if any(word.startswith(("clients/", "scenarios/", "examples/")) for word in words) else scratch
            done = subprocess.run(
                words, cwd=where, capture_output=True, text=True, timeout=timeout, env=environment, check=False
            )
            chart = Path(scratch, "capacity-report", "capacity.png")
            if chart.exists():
                (ROOT / "docs" / "capacity.png").write_bytes(chart.read_bytes())  # the picture README shows
        finally:
            if started is not None:
                started.send_signal(signal.SIGINT)
                started.wait(30)
    load = main.startswith("conformance load")
    lines = [line for line in done.stdout.splitlines() if line.strip() and not (load and _LOCUST_TABLE.match(line))]
    return "\n".join(lines) + "\n"


def main() -> int:
    for path in documents():
        text = path.read_text(encoding="utf-8")
        for match in reversed(samples(text)):
            output = run(match["command"])
            start, end = match.span("output")
            text = text[:start] + output + text[end:]
            print(f"{path.relative_to(ROOT)}: {match['command']}", file=sys.stderr)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
