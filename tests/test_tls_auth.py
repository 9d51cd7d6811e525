"""wss:// with private CAs, --insecure, mutual TLS, auth schemes, extra headers and waiting for
the deployment: against the mock served over TLS with certificates minted in the test."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import trustme

from conformance.cli import main

from conftest import MS, TIME_SCALE

# One short scenario: these tests are about reaching the endpoint, not about streaming.
SCALE = ["--time-scale", str(TIME_SCALE), "-k", "closestream.no-audio.1"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pki")
    ca, stranger = trustme.CA(), trustme.CA()
    files = {
        "ca": folder / "ca.pem",
        "stranger": folder / "stranger.pem",
        "server": folder / "server.pem",
        "client": folder / "client.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    stranger.cert_pem.write_to_path(str(files["stranger"]))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(files["server"]))
    ca.issue_cert("client.example").private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    return {name: str(path) for name, path in files.items()}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_private_ca_is_trusted_with_cafile(capsys, mock_factory, pki) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory(tls_cert=pki["server"])
    assert mock.url.startswith("wss://")
    code, out, err = run_cli(capsys, "run", "--host", mock.url, "--cafile", pki["ca"], *SCALE)
    assert code == 0, out + err


def test_wrong_ca_fails_with_one_line_naming_the_certificate_problem(capsys, mock_factory, pki) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory(tls_cert=pki["server"])
    code, out, err = run_cli(capsys, "run", "--host", mock.url, "--cafile", pki["stranger"], *SCALE)
    assert code == 3
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "TLS certificate verification failed" in errors[0], out
    assert "Traceback" not in out + err


def test_insecure_skips_verification_and_says_so(capsys, mock_factory, pki, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    mock = mock_factory(tls_cert=pki["server"])
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    code, out, err = run_cli(
        capsys, "run", "--host", mock.url, "--insecure", *SCALE, "--json", str(report), "--junit", str(junit)
    )
    assert code == 0
    assert "warning: TLS certificate verification is DISABLED (--insecure)" in out
    assert json.loads(report.read_text())["runs"][0]["tls_insecure"] is True
    assert 'name="tls_insecure"' in junit.read_text()


def test_mutual_tls_needs_the_client_certificate(capsys, mock_factory, pki) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory(tls_cert=pki["server"], tls_client_ca=pki["ca"])
    code, out, _ = run_cli(capsys, "run", "--host", mock.url, "--cafile", pki["ca"], *SCALE)
    # TLS 1.3 may finish the client's side of the handshake before the server refuses the missing
    # certificate, so the refusal shows either at the reachability check or on the case.
    assert code == 3 and ("error: cannot reach 127.0.0.1" in out or "cannot connect to wss://127.0.0.1" in out), out
    code, out, err = run_cli(
        capsys, "run", "--host", mock.url, "--cafile", pki["ca"], "--client-cert", pki["client"], *SCALE
    )
    assert code == 0, out + err


def test_unusable_tls_file_is_a_usage_error(capsys, pki) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(capsys, "run", "--host", "wss://127.0.0.1:9", "--cafile", "/nonexistent/ca.pem")
    assert code == 2 and "TLS files unusable" in err


@pytest.mark.parametrize("scheme", ["token", "bearer", "subprotocol"])
def test_auth_schemes_authenticate(capsys, mock_factory, scheme: str) -> None:  # type: ignore[no-untyped-def]
    mock = mock_factory(api_key="k-123")
    code, out, err = run_cli(capsys, "run", "--host", mock.url, "--api-key", "k-123", "--auth-scheme", scheme, *SCALE)
    assert code == 0, out + err


def test_extra_header_values_never_appear(capsys, mock_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """-H values are sent but never printed, reported or traced, like the key."""
    mock = mock_factory(faults=frozenset({"message-after-metadata"}))
    secret = "ingress-7f3e9a1c5b"
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        capsys,
        "run",
        "--host",
        mock.url,
        "-H",
        f"X-Ingress-Token: {secret}",
        *SCALE,
        "--json",
        str(out_dir / "r.json"),
        "--trace-dir",
        str(out_dir / "traces"),
    )
    assert code == 1
    for text in [out, err, *(p.read_text() for p in out_dir.rglob("*") if p.is_file())]:
        assert secret not in text


def test_bad_header_is_a_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(capsys, "run", "--host", "127.0.0.1:9", "-H", "no colon here")
    assert code == 2 and "-H expects 'Name: value'" in err


def test_wait_for_host_retries_until_the_deployment_answers(capsys, mock_factory) -> None:  # type: ignore[no-untyped-def]
    """The endpoint comes up 1.5 s after the run starts; --wait-for-host rides it out."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    timer = threading.Timer(1500 * MS, lambda: mock_factory(port=port))
    timer.start()
    try:
        code, out, err = run_cli(capsys, "run", "--host", f"127.0.0.1:{port}", "--wait-for-host", "20s", *SCALE)
    finally:
        timer.join()
    assert code == 0, out + err
    assert f"waiting for ws://127.0.0.1:{port}/v1/listen: cannot reach 127.0.0.1:{port}: connection refused" in err


def test_wait_for_host_gives_up_with_what_it_saw(capsys) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    code, out, err = run_cli(capsys, "run", "--host", "127.0.0.1:9", "--wait-for-host", "1s", *SCALE)
    assert (
        code == 3
        and "error: ws://127.0.0.1:9/v1/listen not ready after 1s; last: cannot reach 127.0.0.1:9: connection refused"
        in out
    )
    assert time.monotonic() - started < 10


def test_wait_for_host_polls_v1_status_of_http_hosts(capsys, mock_factory) -> None:  # type: ignore[no-untyped-def]
    """An http:// host is ready once GET /v1/status answers 200 (the mock serves it)."""
    import json
    import urllib.request

    mock = mock_factory()
    with urllib.request.urlopen(f"http://127.0.0.1:{mock.server.port}/v1/status", timeout=5) as response:
        assert response.status == 200 and json.loads(response.read())["system_health"] == "Healthy"
    code, out, err = run_cli(
        capsys, "run", "--host", f"http://127.0.0.1:{mock.server.port}", "--wait-for-host", "5s", *SCALE
    )
    assert code == 0, out + err
