"""`python -m gateway`: run the Envoy edge standalone, configured from EDGE_* variables
(`python -m gateway config [--static]` prints that configuration instead)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from gateway.config import EdgeSettings
from gateway.inspect import print_config
from gateway.launcher import EdgeStartError, EnvoyEdge
from libs.core import event_loop

log = logging.getLogger("gateway")


async def run(settings: EdgeSettings) -> int:
    """Run Envoy until SIGINT/SIGTERM (then stop it) or until it exits; its exit status."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before start: a signal during it stops cleanly
        loop.add_signal_handler(sig, stopping.set)
    edge = EnvoyEdge(settings, inherit_output=True)
    await edge.start()
    exited = asyncio.ensure_future(edge.wait())
    stop_requested = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({exited, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
    stop_requested.cancel()
    exited.cancel()
    code = 0
    # A terminal's Ctrl-C reaches Envoy too; only an exit nobody asked for is an error.
    if not stopping.is_set():
        code = edge.returncode or 1
        log.error("envoy exited unexpectedly with status %s", edge.returncode)
    await edge.stop()
    return code


def main() -> None:
    if sys.argv[1:2] == ["config"]:  # print the configuration instead of running the edge
        sys.exit(print_config(sys.argv[2:]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = EdgeSettings()  # type: ignore[call-arg]  # required fields come from EDGE_* env
    except ValidationError as exc:
        sys.exit(f"invalid EDGE_* settings: {exc}")
    try:
        sys.exit(event_loop.run(run(settings)))
    except EdgeStartError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
