"""What latency per result adds to the load generator's work per stream, measured in-process on the
same core speed so that a shared machine's drift cancels out: the per-result samples taken from a
realistic trace (15 s of 20 ms frames, an interim per second and a final every third), and locust's
request event fired for each, against what the generator spends on that stream anyway (the player
and trace per frame, judging at the end, the per-stream events). Run
``benchmarks/loadgen_capacity.py --server sink-results --result-latency both`` for the same
question answered live (noisier: its streams-per-run vary with the machine's speed).

    python benchmarks/result_event_cost.py [--streams 200]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from locust.env import Environment

from conformance.engine.actions import CloseSocket, Done, Send, Wait
from conformance.engine.plan import Player, build_plan
from conformance.load.metrics import measure, stream_samples
from conformance.load.users import DEFAULT_SCENARIO
from conformance.run.case import conclude, new_record, new_trace
from conformance.scenario import Timing, load_scenario


def _results(start: float, end: float, final: bool) -> str:
    words = [
        {"word": w, "start": start + i * 0.2, "end": start + i * 0.2 + 0.15, "confidence": 0.98, "punctuated_word": w}
        for i, w in enumerate(("one", "two", "three", "four", "five"))
    ]
    return json.dumps(
        {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": end - start,
            "start": start,
            "is_final": final,
            "speech_final": final,
            "from_finalize": False,
            "channel": {
                "alternatives": [{"transcript": "one two three four five", "confidence": 0.98, "words": words}]
            },
            "metadata": {
                "request_id": "x",
                "model_info": {"name": "x", "version": "0", "arch": "x"},
                "model_uuid": "x",
            },
        }
    )


def _played_trace(plan):  # type: ignore[no-untyped-def]
    """A trace as the paced driver leaves it: the plan's frames sent on time, Results arriving."""
    scenario = plan.scenario
    trace = new_trace(scenario, plan, "ws://x/v1/listen", plan.timing, None)
    trace.handshake.status, trace.handshake.t = 101, 0.01
    player, now, final_from, second = Player(plan, trace), 0.0, 0.0, 0
    for _ in range(20_000):
        action = player.next_action(now)
        if isinstance(action, Send):
            player.frame_sent(action, now)
            if int(trace.audio_seconds) > second:
                second = int(trace.audio_seconds)
                final = second % 3 == 0
                player.frame_received(_results(final_from, float(second), final), now + 0.05)
                final_from = float(second) if final else final_from
            now = action.then if action.then is not None else now + 0.001
        elif isinstance(action, Done | CloseSocket):
            break
        elif isinstance(action, Wait):
            now = max(now + 0.001, action.until)
        else:
            now += 0.01
    return scenario, trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    args = parser.parse_args()
    environment = Environment()
    fire = environment.events.request.fire
    base = per_result = judging = events = playing = 0.0
    counted = 0
    plan = build_plan(load_scenario(Path(DEFAULT_SCENARIO)), Timing())  # once per process, as the load users do
    for _ in range(args.streams):
        started = time.perf_counter()
        scenario, trace = _played_trace(plan)
        playing += time.perf_counter() - started
        _ = trace.entries  # settled as the first sample of a stream would settle it
        t0 = time.perf_counter()
        without = measure(trace, per_result=False)
        t1 = time.perf_counter()
        with_results = measure(trace, per_result=True)
        t2 = time.perf_counter()
        record = new_record(scenario)
        conclude(record, trace, scenario)
        t3 = time.perf_counter()
        samples = stream_samples(trace, record, without)
        for sample in samples:
            fire(
                request_type="WS",
                name=sample.name,
                response_time=sample.ms,
                response_length=0,
                exception=None,
                context={},
            )
        t4 = time.perf_counter()
        extra = [s for s in with_results if s not in without]
        for sample in extra:
            fire(
                request_type="WS",
                name=sample.name,
                response_time=sample.ms,
                response_length=0,
                exception=None,
                context={},
            )
        t5 = time.perf_counter()
        base, per_result, judging, events = (
            base + (t1 - t0),
            per_result + (t2 - t1) - (t1 - t0) + (t5 - t4),
            judging + (t3 - t2),
            events + (t4 - t3),
        )
        counted += len(extra)
    n = args.streams
    anyway = (playing + base + events + judging) / n
    print(
        f"per stream ({counted / n:.0f} results): per-result latencies and their events {per_result / n * 1e3:.3f} ms, against "
        f"{anyway * 1e3:.3f} ms spent anyway (player and trace {playing / n * 1e3:.3f} ms, judging {judging / n * 1e3:.3f} ms, "
        f"other samples and events {(base + events) / n * 1e3:.3f} ms; the kernel's writes, ~8 us per frame, come on top): "
        f"{100 * per_result / n / anyway:.1f} % more"
    )


if __name__ == "__main__":
    main()
