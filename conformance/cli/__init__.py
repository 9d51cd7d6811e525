"""The ``conformance`` command: ``run``, ``client``, ``mock``, ``load``, ``selftest``, ``rules`` and ``scenarios``.

Exit codes of ``run``: 0 no MUST rule failed; 1 a MUST rule failed (or a case could not be judged);
2 usage, scenario or configuration error; 3 target unreachable.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from conformance.cli.listing import cmd_rules, cmd_scenarios, cmd_selftest
from conformance.cli.load import cmd_load
from conformance.cli.parser import build_parser
from conformance.cli.run import cmd_run
from conformance.cli.serve import cmd_client, cmd_mock
from conformance.errors import ConformanceError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["load"]:
        # Every option after `load` is locust's (or the bundled locustfile's): locust parses them.
        try:
            return cmd_load(arguments[1:])
        except ConformanceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    args = build_parser().parse_args(arguments)
    command = {
        "run": cmd_run,
        "client": cmd_client,
        "mock": cmd_mock,
        "selftest": cmd_selftest,
        "rules": cmd_rules,
        "scenarios": cmd_scenarios,
    }[args.command]
    try:
        return command(args)
    except ConformanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
