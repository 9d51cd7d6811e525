"""Full-suite wall time against the bundled real-time mock, compared with the longest scenario alone.

Goal (issue 2): the whole suite, played concurrently, takes at most 1.2x its longest scenario.
Also prints the audio send lateness over every paced frame, so pacing problems show up as numbers.

    python benchmarks/suite_wall_time.py [--time-scale 1.0] [--jobs 16]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time

from conformance.engine.events import RunFinished
from conformance.engine.record import CaseRecord
from conformance.mock import MockConfig, MockServer
from conformance.run.runner import Runner, RunOptions
from conformance.scenario import Timing, load_scenarios
from conformance.scenario.model import Scenario


async def _run(scenarios: list[Scenario], scale: float, jobs: int) -> tuple[float, tuple[CaseRecord, ...]]:
    key = secrets.token_hex(8)
    async with MockServer(MockConfig(api_key=key, time_scale=scale)) as mock:
        runner = Runner(scenarios, mock.url, RunOptions(timing=Timing(scale=scale), jobs=jobs, api_key=key))
        started = time.monotonic()
        async for event in runner.execute():
            if isinstance(event, RunFinished):
                return time.monotonic() - started, event.records
    raise RuntimeError("the run did not finish")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=16)
    args = parser.parse_args()
    scenarios = load_scenarios()
    suite_wall, records = asyncio.run(_run(scenarios, args.time_scale, args.jobs))
    longest = max(records, key=lambda r: r.duration)
    solo_wall, solo = asyncio.run(_run([s for s in scenarios if s.id == longest.id], args.time_scale, 1))
    lateness = [e.lateness * 1000 for r in records if r.trace for e in r.trace.entries if e.due is not None]
    print(
        f"scenarios: {len(records)} (statuses: {sorted({r.status.value for r in records})}), time scale {args.time_scale:g}, jobs {args.jobs}"
    )
    for record in sorted(records, key=lambda r: -r.duration):
        print(f"  {record.id:32} {record.duration:7.2f}s")
    print(f"full suite wall time:            {suite_wall:7.2f}s")
    print(f"longest scenario alone ({longest.id}): {solo_wall:7.2f}s (status {solo[0].status.value})")
    print(f"ratio suite / longest:           {suite_wall / solo_wall:7.3f}  (goal <= 1.2)")
    if lateness:
        print(
            f"audio send lateness over {len(lateness)} paced frames: median {statistics.median(lateness):.2f} ms, "
            f"p99 {_percentile(lateness, 0.99):.2f} ms, max {max(lateness):.2f} ms"
        )


if __name__ == "__main__":
    main()
