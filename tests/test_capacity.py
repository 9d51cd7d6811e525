"""Capacity planning, the pure parts, against ground truth written by hand: latency per result,
the mock's model of a deployment under load, SLOs over a window, the steps of a discovery and
its report."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from matplotlib import image as matplotlib_image

from conformance.engine.trace import Handshake, Trace
from conformance.load.metrics import measure
from conformance.load.report import CSV_COLUMNS, summary, write_report
from conformance.load.steps import Discovery, OpenStreams, StepPlan, slos_from
from conformance.load.thresholds import Entry, Snapshot, judge, parse_threshold
from conformance.mock.capacity import Backlog, process
from conformance.scenario import Timing


def _trace_with_audio(frames: int, every: float = 0.1, seconds: float = 0.1) -> Trace:
    """``frames`` audio frames of ``seconds`` each, sent at 1.0, 1.1, 1.2 …"""
    trace = Trace("t", Timing(), 1, 1, 16000, Handshake("ws://x", status=101, t=0.05))
    for index in range(frames):
        trace.record_sent(
            "binary", bytes(3200), 1.0 + index * every, audio=True, due=1.0 + index * every, step="1", seconds=seconds
        )
    return trace


def _result(trace: Trace, t: float, start: object, duration: object, **flags: object) -> None:
    trace.record_received(json.dumps({"type": "Results", "start": start, "duration": duration, **flags}), t, "1")


def _latencies(trace: Trace) -> list[tuple[str, float]]:
    return [(s.name, s.ms) for s in measure(trace) if s.name.endswith("_latency")]


def test_each_result_is_timed_from_when_its_audio_had_been_sent() -> None:
    """Audio 0.0–0.1 s went out at 1.0, 0.1–0.2 at 1.1 … A result ending at 0.3 s waits for the
    frame sent at 1.2; the server's rounding (0.2995) still counts as that frame."""
    trace = _trace_with_audio(10)
    _result(trace, 1.25, 0.0, 0.3, is_final=False)  # audio to 0.3 s: frame #2 at 1.2 → 50 ms
    _result(trace, 1.5, 0.0, 0.2995, is_final=True, speech_final=False)  # rounded: frame #2 → 300 ms
    _result(trace, 2.0, 0.3, 0.5, is_final=True, speech_final=True)  # to 0.8 s: frame #7 at 1.7 → 300 ms
    _result(trace, 2.05, 0.8, 0.7, is_final=True)  # to 1.5 s: never sent, answers no audio of ours
    _result(trace, 2.1, "0", 0.1, is_final=True)  # not a number: MSG-1's business, no latency
    _result(trace, 1.05, 0.0, 0.2, is_final=False)  # to 0.2 s at 1.05, before that audio left (1.1)
    assert _latencies(trace) == [
        ("interim_latency", 50.0),
        ("final_latency", 300.0),
        ("final_latency", 300.0),
        ("speech_final_latency", 300.0),
    ]


def test_a_stream_without_audio_or_results_has_no_result_latency() -> None:
    assert _latencies(_trace_with_audio(0)) == []
    assert _latencies(_trace_with_audio(5)) == []


def _tick(
    backlogs: list[Backlog[str]], capacity: float, frames: int, *, outputs_at: dict[int, str] | None = None
) -> list[tuple[int, str]]:
    """``frames`` ticks of 20 ms: each stream receives a 20 ms frame (the first stream's output
    ``outputs_at[tick]`` with it), then the deployment processes ``capacity × 20 ms`` of audio."""
    released: list[tuple[int, str]] = []
    for tick in range(1, frames + 1):
        for index, backlog in enumerate(backlogs):
            out = [outputs_at[tick]] if index == 0 and outputs_at and tick in outputs_at else []
            released += [(tick, o) for o in backlog.receive(0.02, out)]
        process(backlogs, capacity * 0.02)
        released += [(tick, o) for backlog in backlogs for o in backlog.release()]
    return released


def test_backlog_keeps_up_within_capacity_and_falls_behind_beyond() -> None:
    """Capacity 2: with 2 streams each is processed as its audio arrives (an output leaves at the
    tick of its frame); with 4, at half real time: at 1 s half a second waits on every stream,
    and the output for the first second of audio leaves at 2 s."""
    within: list[Backlog[str]] = [Backlog(), Backlog()]
    assert _tick(within, 2, 50, outputs_at={25: "r25", 50: "r50"}) == [(25, "r25"), (50, "r50")]
    assert all(b.received - b.processed == pytest.approx(0) for b in within)

    beyond: list[Backlog[str]] = [Backlog() for _ in range(4)]
    assert _tick(beyond, 2, 50, outputs_at={50: "end"}) == []
    assert all(b.received - b.processed == pytest.approx(0.5) for b in beyond)
    tick, released = 50, []
    while not released and tick < 100:
        tick += 1
        process(beyond, 2 * 0.02)
        released = beyond[0].release()
    assert (tick, released) == (100, ["end"])


def test_spare_capacity_absorbs_one_stream_s_burst() -> None:
    """Capacity 4, two streams: a 200 ms burst on one (a client catching up) drains from the
    capacity the other does not need. Each tick has 80 ms of audio to process: 20 ms for the
    other stream, 60 ms for this one, which also receives 20 ms: 40 ms less behind per tick, so
    caught up at the fifth tick, and the other stream never waits."""
    first: Backlog[str] = Backlog()
    second: Backlog[str] = Backlog()
    first.receive(0.2, [])
    released = _tick([first, second], 4, 5, outputs_at={5: "caught up"})
    assert released == [(5, "caught up")] and second.received - second.processed == pytest.approx(0)


def test_text_frames_wait_behind_the_audio_before_them() -> None:
    """A Finalize's answer comes after the audio sent before it is processed, never before."""
    backlog: Backlog[str] = Backlog()
    assert backlog.receive(1.0, ["interim"]) == []
    assert backlog.receive(0.0, ["finalize ack"]) == []
    process([backlog], 0.5)
    assert backlog.release() == []
    process([backlog], 0.5)
    assert backlog.release() == ["interim", "finalize ack"]
    assert backlog.receive(0.0, ["keepalive answer"]) == ["keepalive answer"]  # nothing waits: at once


def _window(
    final_ms: dict[int, int],
    *,
    attempts: int = 20,
    failed: int = 0,
    late_ms: int = 3,
    failures: dict[str, int] | None = None,
) -> Snapshot:
    entries = {
        "connect": Entry(attempts, 0),
        "stream": Entry(attempts, failed, times={10_000: attempts}),
        "final_latency": Entry(sum(final_ms.values()), 0, sum(t * n for t, n in final_ms.items()), final_ms),
        "send_lateness": Entry(attempts, 0, late_ms * attempts, {late_ms: attempts}),
    }
    for name, count in (failures or {}).items():
        entries[name] = Entry(count, count, times={10_000: count})
    return Snapshot(entries)


def test_slos_over_a_window() -> None:
    """100 finals: 90 at 100 ms, 6 at 900 ms, 4 at 2000 ms → p95 900 ms (95 of 100 at or below),
    p99 2000 ms; 2 failed streams of 20 attempts → 10 %."""
    window = _window({100: 90, 900: 6, 2000: 4}, failed=2)
    assert parse_threshold("p95(final_latency) < 800ms").measure(window) == 900
    assert parse_threshold("p99(final_latency) < 1s").measure(window) == 2000
    assert parse_threshold("avg(final_latency) < 1s").measure(window) == pytest.approx((9000 + 5400 + 8000) / 100)
    assert parse_threshold("rate(failures) < 1%").measure(window) == pytest.approx(0.1)
    assert (
        parse_threshold("p95(interim_latency) < 1s").measure(window) is None
    )  # nothing measured: no verdict by default
    later = Snapshot(
        {
            name: Entry(e.requests * 2, e.failures * 2, e.total_ms * 2, {t: n * 2 for t, n in e.times.items()})
            for name, e in window.entries.items()
        }
    )
    assert later.minus(window)["final_latency"] == window["final_latency"]


def _sum(windows: list[Snapshot]) -> Snapshot:
    total: dict[str, Entry] = {}
    for window in windows:
        for name, entry in window.entries.items():
            before = total.get(name, Entry())
            times = dict(before.times)
            for t, n in entry.times.items():
                times[t] = times.get(t, 0) + n
            total[name] = Entry(
                before.requests + entry.requests,
                before.failures + entry.failures,
                before.total_ms + entry.total_ms,
                times,
            )
    return Snapshot(total)


def _discover(
    per_step: list[Snapshot], plan: StepPlan, slos: list[str] | None = None, until: int = 10_000
) -> tuple[Discovery, list[tuple[float, int]]]:
    """Drive a discovery with a fake clock over a run whose statistics grow by ``per_step[k]``
    during step k's window (a discovery snapshots each step twice: window open, window closed)."""
    calls = 0

    def take() -> Snapshot:
        nonlocal calls
        calls += 1
        return _sum(per_step[: calls // 2])

    discovery = Discovery(plan, slos_from(slos or []), take)
    targets: list[tuple[float, int]] = []
    for second in range(until):
        answer = discovery.tick(float(second))
        if answer is None:
            break
        if not targets or targets[-1][1] != answer[0]:
            targets.append((float(second), answer[0]))
    return discovery, targets


PLAN = StepPlan(start=10, step=10, maximum=50, hold=20, settle=5, rate=10)


def test_discovery_reports_the_last_step_that_met_every_slo() -> None:
    """Steps 10, 20, 30: the third's p95 is 900 ms > 800 ms. Capacity 20, and why 30 was not."""
    discovery, targets = _discover(
        [_window({100: 100}), _window({300: 100}), _window({300: 90, 900: 10}, failures={"idle_timeout": 1})], PLAN
    )
    assert [users for _, users in targets] == [10, 20, 30]
    assert targets[1][0] == pytest.approx(21) and targets[2][0] == pytest.approx(42)  # 1 s ramp + 20 s hold each
    assert discovery.capacity == 20 and discovery.breaking is not None and discovery.breaking.users == 30
    lines = summary(discovery)
    assert "capacity: 20 concurrent streams met every SLO" in lines
    assert "at 30: broke p95(final_latency) < 800ms (measured 900ms); failed streams: idle_timeout 1" in lines


def test_discovery_never_blames_the_server_for_a_saturated_generator() -> None:
    discovery, _ = _discover([_window({100: 100}), _window({100: 100}, late_ms=60)], PLAN)
    assert discovery.capacity == 10 and discovery.breaking is not None and discovery.breaking.generator_saturated
    assert any(
        line.startswith("inconclusive: at 20 streams the load generator sent its audio late")
        for line in summary(discovery)
    )


def test_discovery_without_data_or_below_the_first_step() -> None:
    """A step where no final came (streams longer than the hold, or a server that never
    finalizes) does not meet a latency SLO; a first step that breaks one leaves no capacity."""
    nothing, _ = _discover([_window({})], PLAN)
    assert nothing.capacity is None
    assert (
        summary(nothing)[-1]
        == "capacity: below 10 concurrent streams (the first step broke p95(final_latency) < 800ms (no data))"
    )
    failing, _ = _discover([_window({100: 100}, failed=5)], PLAN)
    assert failing.capacity is None
    assert (
        summary(failing)[-1]
        == "capacity: below 10 concurrent streams (the first step broke rate(failures) < 1% (measured 25.00%))"
    )


def test_discovery_up_to_the_maximum_says_at_least() -> None:
    discovery, targets = _discover([_window({100: 100})] * 5, PLAN)
    assert (
        [users for _, users in targets] == [10, 20, 30, 40, 50]
        and discovery.capacity == 50
        and discovery.breaking is None
    )
    assert summary(discovery)[-1].startswith("capacity: at least 50 concurrent streams")


def test_a_discovery_stopped_early_is_inconclusive() -> None:
    """Stopped (Ctrl-C, --run-time) after two good steps of five: no capacity is claimed."""
    discovery, _ = _discover([_window({100: 100})] * 5, PLAN, until=50)  # steps end at 21 s and 42 s
    assert len(discovery.steps) == 2 and not discovery.finished
    assert (
        summary(discovery)[-1]
        == "inconclusive: the run stopped before the discovery ended; every step so far met every SLO, the last at 20 concurrent streams"
    )


def test_the_first_429_counts_the_streams_open_when_it_came(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server limited to 3: two streams open, a third upgrade sent at 9.9 s, a fourth answered
    429 at 10.0 s. The third was accepted first but its user hears it at 10.2 s: counted. One of
    the first two ends right after the 429: still counted (it was open). An upgrade begun after
    the 429 and one accepted too late to have come first are not, and a second 429 changes
    nothing: the limit is 3."""
    for name, value in (("count", 0), ("at_first_429", None), ("first_429_at", None)):
        monkeypatch.setattr(OpenStreams, name, value)
    OpenStreams.opened(1.0, 1.1)
    OpenStreams.opened(2.0, 2.1)
    assert OpenStreams.at_first_429 is None
    OpenStreams.rejected(10.0)
    OpenStreams.closed()
    OpenStreams.opened(9.9, 10.2)
    OpenStreams.opened(10.05, 10.3)
    OpenStreams.opened(9.97, 10.6)
    OpenStreams.rejected(11.0)
    assert (OpenStreams.at_first_429, OpenStreams.count) == (3, 4)


def test_generator_slo_is_always_judged_and_defaults_apply() -> None:
    assert [slo.text for slo in slos_from([])] == [
        "p95(final_latency) < 800ms",
        "rate(failures) < 1%",
        "p99(send_lateness) < 20ms",
    ]
    assert [slo.text for slo in slos_from(["p99(send_lateness) < 50ms"])] == ["p99(send_lateness) < 50ms"]
    with pytest.raises(ValueError):
        StepPlan(hold=10, settle=10)


def test_report_files(tmp_path: Path) -> None:
    discovery, _ = _discover(
        [_window({100: 100}), _window({300: 100}), _window({300: 90, 900: 10}, failures={"idle_timeout": 1})],
        PLAN,
        ["p95(final_latency) < 800ms"],
    )
    about = [
        ("endpoint", "wss://stt.internal:8080/v1/listen"),
        ("scenario", "load.telephony-mulaw.1"),
        ("started", "2026-12-08 01:40 UTC"),
    ]
    written = write_report(discovery, tmp_path, about=about)
    assert [path.name for path in written] == ["capacity.csv", "capacity.png", "capacity.svg", "capacity.html"]
    with (tmp_path / "capacity.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(row["users"], row["final_latency_p95_ms"], row["slos_met"], row["idle_timeout"]) for row in rows] == [
        ("10", "100", "yes", "0"),
        ("20", "300", "yes", "0"),
        ("30", "900", "no", "1"),
    ]
    assert (tmp_path / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "capacity.html").read_text()
    assert (
        "endpoint: wss://stt.internal:8080/v1/listen · scenario: load.telephony-mulaw.1 · started: 2026-12-08 01:40 UTC"
        in page
    )
    assert (
        "capacity: 20 concurrent streams met every SLO" in page
        and "<svg" in page
        and "p95(final_latency) &lt; 800ms" in page
    )


_BROWSER = next(
    (
        found
        for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
        if (found := shutil.which(name))
    ),
    None,
)


def _share_of_pixels_near(image: Any, colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    distance = abs(image[:, :, 0] - red) + abs(image[:, :, 1] - green) + abs(image[:, :, 2] - blue)
    return float((distance < 0.03).mean())


@pytest.mark.skipif(_BROWSER is None, reason="no headless Chromium or Chrome on this machine")
def test_the_report_page_shows_its_chart_in_a_browser(tmp_path: Path) -> None:
    """The page as a user opens it: a headless browser's screenshot shows the inline chart's
    latency lines and the shaded step that broke an SLO, not a blank or a broken image."""
    windows = [
        _window({120: 90, 200: 10}),
        _window({180: 90, 320: 10}),
        _window({420: 80, 1500: 20}, failed=1, failures={"idle_timeout": 1}),
    ]
    discovery, _ = _discover(windows, PLAN, ["p95(final_latency) < 800ms"])
    write_report(discovery, tmp_path)
    shot = tmp_path / "shot.png"
    command = [
        str(_BROWSER),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,900",
        f"--screenshot={shot}",
        (tmp_path / "capacity.html").as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=60, check=True)
    image = matplotlib_image.imread(shot)
    assert image.shape[:2] == (900, 1200)
    assert _share_of_pixels_near(image, "#1f77b4") > 0.0005  # p50 final_latency, matplotlib's first colour
    assert _share_of_pixels_near(image, "#2ca02c") > 0.0005  # p99 and the capacity line
    # The shaded step that broke the SLO (tab:red at 8 % over white).
    assert _share_of_pixels_near(image, "#fceeee") > 0.005


def test_a_threshold_gate_never_passes_a_run_whose_generator_was_late() -> None:
    """The gate of a plain run judges the generator as a discovery does: the server's criteria
    all held, but with audio sent 45 ms late they measured the generator, so the run fails as
    inconclusive. A run's own send_lateness criterion replaces the default, and a run that sent
    no audio is not judged on lateness at all."""
    texts = ["p95(final_latency) < 800ms", "rate(failures) < 1%"]
    held = ["PASS    p95(final_latency) < 800ms: measured 100ms", "PASS    rate(failures) < 1%: measured 0.00%"]
    assert judge(texts, _window({100: 100}, late_ms=3)) == (
        [*held, "PASS    p99(send_lateness) < 20ms: measured 3ms"],
        False,
    )
    lines, failed = judge(texts, _window({100: 100}, late_ms=45))
    assert failed and lines[:3] == [*held, "FAIL    p99(send_lateness) < 20ms: measured 45ms"]
    assert (
        lines[3].startswith("inconclusive: the load generator sent its audio late: it, not the server, was saturated")
        and len(lines) == 4
    )
    assert judge([*texts, "p99(send_lateness) < 100ms"], _window({100: 100}, late_ms=45)) == (
        [*held, "PASS    p99(send_lateness) < 100ms: measured 45ms"],
        False,
    )
    unheard = _window({}, failed=20)
    silent = Snapshot(
        {name: entry for name, entry in unheard.entries.items() if name not in ("send_lateness", "final_latency")}
    )
    assert judge(["rate(failures) < 1%"], silent) == (["FAIL    rate(failures) < 1%: measured 100.00%"], True)
