"""A bare websockets server that reads every message of /v1/listen and discards it: the reference
that ``benchmarks/mock_capacity.py --server`` measures the mock against (the issue's goal is
stated relative to it, and machines differ too much for absolute figures to travel).

    python benchmarks/mock_capacity.py --server python benchmarks/bare_websockets_server.py [PORT]
"""

from __future__ import annotations

import asyncio
import sys

from sink_server import run_until_interrupted
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


async def _discard(connection: ServerConnection) -> None:
    try:
        async for _ in connection:
            pass
    except ConnectionClosed:
        pass  # the generator drops its raw sockets without a closing handshake


async def _serve(port: int) -> None:
    async with serve(
        _discard, "127.0.0.1", port, compression=None, ping_interval=None, max_size=2**20, backlog=4096
    ):  # the mock's backlog
        print(f"bare websockets listening on ws://127.0.0.1:{port}/v1/listen", flush=True)
        await asyncio.Future()


def main() -> None:
    run_until_interrupted(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 18765))


if __name__ == "__main__":
    main()
