"""``conformance mock --processes N``: N mock processes on one port (``SO_REUSEPORT``: the kernel
spreads connections over them), counting streams in one shared integer so ``--max-streams`` and
``--capacity`` hold for the whole mock."""

from __future__ import annotations

import dataclasses
import multiprocessing
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import wait
from typing import Any

from conformance.errors import UsageError
from conformance.mock.config import MockConfig
from conformance.mock.streams import StreamCount
from conformance.protocol.messages import LISTEN_PATH

__all__ = ["serve_processes"]

# How long the processes may take to start (each imports the codecs) before the mock gives up.
_START_SECONDS = 60.0
_STOP_SECONDS = 10.0

Serve = Callable[[MockConfig, StreamCount, Any], Coroutine[Any, Any, int]]


def _reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to the port (never listening) that keeps it ours while the processes bind
    beside it; it also turns a port in use into one clear error before any process starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reservation = socket.socket(family, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reservation.bind((host, port))
    except OSError as exc:
        reservation.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return reservation


def _child(
    serve: Serve, config: MockConfig, shared: Any, ready: Any, runner: Callable[[Coroutine[Any, Any, int]], int]
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the processes with SIGTERM
    try:
        sys.exit(runner(serve(config, StreamCount(shared), ready)))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def serve_processes(
    config: MockConfig, processes: int, serve: Serve, runner: Callable[[Coroutine[Any, Any, int]], int]
) -> int:
    """Serve ``config`` from ``processes`` processes until SIGINT or SIGTERM; 1 when one of them
    ended on its own (the others are stopped: half a mock is not the mock asked for)."""
    reservation = _reserve_port(config.host, config.port)
    config = dataclasses.replace(config, port=reservation.getsockname()[1])
    context = multiprocessing.get_context("spawn")
    shared = context.Value("q", 0)
    ready = [context.Event() for _ in range(processes)]
    children = [
        context.Process(target=_child, args=(serve, config, shared, event, runner), daemon=True) for event in ready
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            child.start()
        deadline = time.monotonic() + _START_SECONDS
        while not all(event.is_set() for event in ready):
            if stopping or time.monotonic() > deadline or any(not child.is_alive() for child in children):
                print("error: the mock's processes did not all start", file=sys.stderr)
                return 1
            time.sleep(0.05)
        scheme = "wss" if config.tls_cert else "ws"
        print(
            f"conformance mock listening on {scheme}://{config.host}:{config.port}{LISTEN_PATH} ({processes} processes); Ctrl-C stops it",
            flush=True,
        )
        while not stopping:
            if wait([child.sentinel for child in children], timeout=0.5):
                if not stopping:
                    print("error: a mock process ended; stopping the others", file=sys.stderr)
                    return 1
        return 0
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(_STOP_SECONDS)
            if child.is_alive():
                child.kill()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reservation.close()
