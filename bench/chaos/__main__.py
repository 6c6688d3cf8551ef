"""`python -m bench.chaos`: see the package docstring."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.chaos.queue import print_queue, queue
from bench.chaos.run import Options, chaos, print_chaos


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos")
    parser.add_argument("--sessions", type=int, default=None, help="default 1000 (queue: 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", choices=("chaos", "queue"), default="chaos")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--alive", type=int, default=100, help="unfinished sessions at most")
    parser.add_argument("--heartbeat-timeout", type=float, default=15.0)
    parser.add_argument("--quiet-timeout", type=float, default=180.0)
    parser.add_argument(
        "--faults", help="only these targets, comma-separated (e.g. agent-1,scheduler-1,redis)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run directory and logs")
    args = parser.parse_args()
    default = 500 if args.scenario == "queue" else 1000
    opts = Options(
        sessions=args.sessions or default,
        seed=args.seed,
        agents=args.agents,
        alive=args.alive,
        heartbeat_timeout=args.heartbeat_timeout,
        quiet_timeout=args.quiet_timeout,
        keep=args.keep,
        faults=args.faults.split(",") if args.faults else None,
    )
    if args.scenario == "queue":
        print_queue(asyncio.run(queue(opts)))
    else:
        print_chaos(asyncio.run(chaos(opts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
