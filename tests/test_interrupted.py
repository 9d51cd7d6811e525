"""Nothing a run saw is lost: a run stopped by Ctrl-C (SIGINT) or by a CI timeout or cancel
(SIGTERM) still writes every report with the cases that finished, marks the rest, and exits
128 + the signal's number. Played as a user meets it: the console script in its own process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import MS

CONFORMANCE = str(Path(sys.executable).with_name("conformance"))
# Short cases finish at once; the idle ones are still playing when the signal comes.
SELECTION = ["-k", "handshake.*", "-k", "timeout.idle.1", "-k", "keepalive.idle.1"]


def _interrupt(tmp_path: Path, signum: int, command: list[str], *, ready: str, times: int = 1) -> tuple[int, str]:
    """Start ``command``, send ``signum`` once ``times`` lines of its output hold ``ready``, and
    wait for it to end."""
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60_000 * MS
    for line in process.stdout:
        seen.append(line)
        if sum(ready in each for each in seen) >= times or time.monotonic() > deadline:
            break
    process.send_signal(signum)
    out, _ = process.communicate(timeout=30_000 * MS)
    return process.returncode, "".join(seen) + out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_writes_every_report_with_what_finished(tmp_path: Path, signum: signal.Signals) -> None:
    command = [CONFORMANCE, "run", *SELECTION, "--json", "r.json", "--junit", "j.xml", "--html", "m.html"]
    code, out = _interrupt(tmp_path, signum, command, ready=" handshake.", times=4)
    assert code == 128 + signum, out
    assert out.count(f"interrupted by {signum.name}") == 2, out  # the notice, then the totals line
    assert out.rstrip().splitlines()[-1].startswith(f"interrupted by {signum.name}: "), out
    run = json.loads((tmp_path / "r.json").read_text())["runs"][0]
    assert run["interrupted"] == signum.name and run["exit_code"] == 128 + signum
    statuses = {case["id"]: case["status"] for case in run["cases"]}
    assert {status for id, status in statuses.items() if id.startswith("handshake.")} == {"SUCCESS"}, statuses
    assert statuses["timeout.idle.1"] == "INTERRUPTED" and statuses["keepalive.idle.1"] == "INTERRUPTED", statuses
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(statuses)) and suite.get("errors") == "2"
    assert float(suite.get("time", "0")) < sum(case["duration_s"] for case in run["cases"]) + 1, (
        "the suite's time is the run's wall time"
    )
    assert suite.find("properties/property[@name='interrupted']") is not None
    assert "timeout.idle.1" in (tmp_path / "m.html").read_text()
