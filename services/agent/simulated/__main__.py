"""Run a simulated fleet: `python -m services.agent.simulated --count 5000`.

Registry address, Redis and the internal token come from the agent's settings (AGENT_*
environment, services/agent/config.py); the fleet's own options are flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from decimal import Decimal

from libs.core import event_loop
from services.agent.config import Settings
from services.agent.simulated.runtime import FleetOptions, start_fleet

log = logging.getLogger("services.agent.simulated")


def _options(argv: list[str] | None = None) -> FleetOptions:
    parser = argparse.ArgumentParser(prog="python -m services.agent.simulated")
    parser.add_argument("--count", type=int, default=100, help="number of agents")
    parser.add_argument("--prefix", default="sim", help="agent ids are <prefix>-00000…")
    parser.add_argument("--cpu", type=Decimal, default=Decimal(64), help="cores per agent")
    parser.add_argument("--mem-gib", type=int, default=256, help="memory per agent (GiB)")
    parser.add_argument("--resource-group", default="default")
    parser.add_argument("--bind", default="127.0.0.1:0", help="the fleet's gRPC server")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    return FleetOptions(
        count=args.count,
        prefix=args.prefix,
        cpu=args.cpu,
        mem_bytes=args.mem_gib << 30,
        resource_group=args.resource_group,
        bind=args.bind,
    )


async def _main() -> None:
    options = _options()
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    fleet = await start_fleet(settings, options)
    log.info("simulated fleet: %d agents at %s", options.count, fleet.address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fleet.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        event_loop.run(_main())
