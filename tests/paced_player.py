"""Helper run in a subprocess by test_transport_paced.py (gevent must patch the process before
anything imports socket): plays scenarios at once through the paced driver against URL and prints
one JSON line per scenario with its status, broken rules, worst lateness, and how often the
pacer asked the player for its next action.

    python paced_player.py URL TIME_SCALE AUDIO_SPEED SCENARIO_ID...
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402

from conformance.engine.plan import Action, Player, build_plan  # noqa: E402
from conformance.run.case import auth_headers, conclude, new_record, new_trace  # noqa: E402
from conformance.run.runner import scenario_url  # noqa: E402
from conformance.scenario import Timing, load_scenarios  # noqa: E402
from conformance.transport.paced import run_paced  # noqa: E402


class CountingPlayer(Player):
    """Counts the driver's questions: the pacer must not spin on a stream that is not yet due."""

    polls = 0

    def next_action(self, now: float) -> Action:
        self.polls += 1
        return super().next_action(now)


def play(base: str, timing: Timing, audio_speed: float, scenario_id: str) -> None:
    scenario = next(s for s in load_scenarios() if s.id == scenario_id)
    plan = build_plan(scenario, timing, audio_speed)
    url = scenario_url(base, scenario)
    trace = new_trace(scenario, plan, url, timing, None)
    player = CountingPlayer(plan, trace)
    run_paced(player, url, headers=auth_headers(scenario, None))
    record = new_record(scenario)
    conclude(record, trace, scenario)
    late = max((e.lateness for e in trace.entries if e.due is not None), default=0.0)
    print(
        json.dumps(
            {
                "id": scenario_id,
                "status": record.status.value,
                "broken": sorted(r.rule_id for r in record.failed()),
                "max_late_ms": round(1000 * late, 1),
                "polls": player.polls,
                "frames": len(trace.entries),
            }
        ),
        flush=True,
    )


def main() -> None:
    base, scale, audio_speed, ids = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    gevent.joinall(
        [gevent.spawn(play, base, Timing(scale=scale), audio_speed, scenario_id) for scenario_id in ids],
        raise_error=True,
    )


if __name__ == "__main__":
    main()
