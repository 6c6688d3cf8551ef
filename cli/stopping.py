"""When `shipyard up` stops: Ctrl-C, SIGTERM, SIGHUP (its terminal went away) or a closed stdout
pipe (`shipyard up | tee log` and tee ended). Then it stops the platform it started; the
services also die with it if it is killed outright (PDEATHSIG, see cli/platform.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys


async def until_told_to_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    fd = sys.stdout.fileno()
    # A pipe's write end never becomes readable: the loop reports it only once the reader is
    # gone (EPOLLERR). Not for a terminal, which is readable whenever someone types.
    watched = stat.S_ISFIFO(os.fstat(fd).st_mode)
    if watched:
        loop.add_reader(fd, stop.set)
    try:
        await stop.wait()
    finally:
        if watched:
            loop.remove_reader(fd)
