"""CPU time a process has used so far, from /proc (user + system, in seconds).

Wall-clock figures are noisy on a shared machine; the CPU a service spends per operation is
what a change to it moves.
"""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    # Fields after the parenthesised command name: utime and stime are the 14th and 15th.
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
