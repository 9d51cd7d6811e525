"""The pytest plugin, run with pytester: scenarios become items next to a project's own tests."""

from __future__ import annotations

import pytest

from conftest import TIME_SCALE

OWN_TEST = "def test_own():\n    assert True\n"


def _run(pytester: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_own=OWN_TEST)
    return pytester.runpytest(
        "--conformance-host", url, "--conformance-time-scale", str(TIME_SCALE), "-p", "no:cacheprovider", *args
    )


def test_plugin_is_inert_without_a_host(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own=OWN_TEST)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_plugin_plays_selected_scenarios_beside_own_tests(pytester: pytest.Pytester, mock_factory) -> None:  # type: ignore[no-untyped-def]
    """-k selects by scenario id; the project's own test runs too."""
    result = _run(pytester, mock_factory().url, "-k", "no-audio or own", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*closestream_no_audio.yaml::closestream.no-audio.1 PASSED*"])


def test_plugin_marks_items_with_their_tags(pytester: pytest.Pytester, mock_factory) -> None:  # type: ignore[no-untyped-def]
    result = _run(pytester, mock_factory().url, "-m", "handshake")
    result.assert_outcomes(passed=2, skipped=2)  # the auth scenarios skip: the run has no API key


def test_plugin_failure_shows_rules_and_wirelog(pytester: pytest.Pytester, mock_factory) -> None:  # type: ignore[no-untyped-def]
    """A broken MUST rule fails the item with the rule and the last frames, not a traceback."""
    result = _run(pytester, mock_factory(faults=frozenset({"no-metadata-on-closestream"})).url, "-k", "no-audio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*FAILED CS-1 (MUST)*", "*last 8 frames:*"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_non_strict_is_a_warning(pytester: pytest.Pytester, mock_factory) -> None:  # type: ignore[no-untyped-def]
    """A broken SHOULD rule passes with a ConformanceWarning."""
    result = _run(pytester, mock_factory(faults=frozenset({"no-request-id-header"})).url, "-k", "no-audio")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*ConformanceWarning: closestream.no-audio.1: HS-2 (SHOULD)*"])
