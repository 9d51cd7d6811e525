"""``conformance load [locust options] [--slo EXPR ...] [--discover ...]``: locust with the
locustfile bundled in the package, so an installed wheel load-tests without a checkout.

Locust runs in its own process image (``exec``): importing it monkey-patches the process with
gevent, which the rest of the ``conformance`` command must never see. Before that, the options are
checked here (the pure :mod:`conformance.load.options`; no locust), so a mistake is one line and
exit 2 at once.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence

from conformance.errors import UsageError
from conformance.load.options import preflight

__all__ = ["cmd_load", "locust_command"]

_LOCUSTFILES = {False: "conformance.load.locustfile", True: "conformance.load.discovery"}
# Locust's own --help leaves out the options a locustfile adds; this prints them all, the
# discovery's too, whichever mode asked.
_HELP = """import importlib, sys
importlib.import_module("conformance.load.discovery")
from locust.argument_parser import get_parser
parser = get_parser()
parser.usage = "conformance load --host URL [locust options] [--slo EXPR ...] [--discover [--discover-... options]]"
parser.print_help()
"""


def locust_command(arguments: Sequence[str]) -> list[str]:
    """The locust command line for ``conformance load ARGUMENTS``.

    Raises:
        UsageError: a locustfile of one's own was given (that is ``locust -f``'s job), or an option
            that cannot work (:func:`conformance.load.options.preflight`: no ``--host``, ``-H``,
            an SLO that names nothing measured, ...).
    """
    arguments = list(arguments)
    if any(
        argument in ("-f", "--locustfile") or argument.startswith(("--locustfile=", "-f=")) for argument in arguments
    ):
        raise UsageError(
            "conformance load runs the bundled locustfile; for a locustfile of your own run `locust -f FILE`"
        )
    discover = "--discover" in arguments
    arguments = [argument for argument in arguments if argument != "--discover"]
    if "-h" in arguments or "--help" in arguments:
        return [sys.executable, "-c", _HELP]
    try:
        arguments = preflight(arguments, discover=discover)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    spec = importlib.util.find_spec(_LOCUSTFILES[discover])
    assert spec is not None and spec.origin is not None, "the load layer ships with the package"
    return [sys.executable, "-m", "locust", "-f", spec.origin, *arguments]


def cmd_load(arguments: Sequence[str]) -> int:
    """Replace this process with locust (returns only if that fails)."""
    command = locust_command(arguments)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(command[0], command)
    except OSError as exc:
        raise UsageError(f"cannot start locust: {exc.strerror or exc}") from exc
    return 2
