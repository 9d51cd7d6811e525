"""The CI examples cannot rot: the script both pipelines call runs here, end to end, against the
mock over TLS (scaled time, a short load gate). It is also the test suite's one run of every
scenario through the CLI."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import MS

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_example_gates_a_tls_deployment(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    key = secrets.token_hex(12)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SKIP_INSTALL": "1",
        "OUT": str(out),
        "TIME_SCALE": "0.1",
        "JOBS": "48",
        "LOAD_USERS": "2",
        "LOAD_TIME": "3s",
        "LOAD_SCENARIO": "finalize.all.1",
        "PORT": str(port),
        "DEEPGRAM_API_KEY": key,
    }
    done = subprocess.run(
        ["bash", "examples/ci/pipeline.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240000 * MS
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (
        "gate passed" in done.stdout
        and "PASS    p95(final_latency) < 800ms" in done.stdout
        and "PASS    rate(failures) < 1%" in done.stdout
    )
    suite = ET.parse(out / "conformance.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) >= 20 and suite.get("failures") == "0"
    assert suite.get("name", "").startswith("stt-conformance wss://127.0.0.1")
    cases = json.loads((out / "conformance.json").read_text())["runs"][0]["cases"]
    assert {c["status"] for c in cases} == {"SUCCESS"} and len(cases) == int(suite.get("tests", "0"))
    for case in cases:
        judged = {v["rule"] for v in case["verdicts"] if v["verdict"] not in ("NOT JUDGED", "UNIMPLEMENTED")}
        assert set(case["expectation"]) <= judged, f"{case['id']} claims rules it never judged"
    assert not (out / "traces").exists()
    leaks = [path.name for path in out.rglob("*") if path.is_file() and key.encode() in path.read_bytes()]
    assert not leaks and key not in done.stdout + done.stderr, leaks
