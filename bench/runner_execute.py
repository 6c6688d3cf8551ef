"""The last hop of Execute alone: the agent's runner client → kernel runner (→ Jupyter kernel).

    .venv/bin/python -m bench.runner_execute [--calls 200] [--no-jupyter]

Starts one kernel runner on a unix socket (no sandbox, no platform), runs `print(6*7)` in query
mode `--calls` times over a kept connection, and prints the median round trip and the CPU time
(user + system, from /proc) the runner and its Jupyter kernel spent per execution. With
`--no-jupyter` query mode runs in the runner's own interpreter, which shows what the Jupyter
kernel adds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from services.agent.adapters.runner_client import RunnerClient
from services.agent.domain.model import ExecMode, ExecStatus

RUNNER = Path(__file__).resolve().parent.parent / "services/agent/kernel_runner/__main__.py"
WARM_UP = 5


def _cpu(root: psutil.Process) -> dict[str, float]:
    """CPU seconds of the runner and of each process under it, by role."""
    spent: dict[str, float] = {}
    for proc in [root, *root.children(recursive=True)]:
        with_kernel = "ipykernel" in " ".join(proc.cmdline())
        role = "jupyter kernel" if with_kernel else "runner"
        times = proc.cpu_times()
        spent[role] = spent.get(role, 0.0) + times.user + times.system
    return spent


async def measure(calls: int, jupyter: bool) -> None:
    with tempfile.TemporaryDirectory() as work:
        socket = Path(work) / "runner.sock"
        argv = ["/usr/bin/python3", "-I", str(RUNNER), "--socket", str(socket)]
        argv += ["--workdir", work] + (["--jupyter"] if jupyter else [])
        proc = await asyncio.create_subprocess_exec(*argv)
        client = RunnerClient(socket, keep=2)
        try:
            await client.wait_ready(within=30.0, alive=lambda: proc.returncode is None)
            for _ in range(WARM_UP):  # the Jupyter kernel starts with the first cell
                await client.execute(ExecMode.QUERY, "print(6*7)", 60.0)
            root = psutil.Process(proc.pid)
            before = _cpu(root)
            took: list[float] = []
            for _ in range(calls):
                started = time.perf_counter()
                result = await client.execute(ExecMode.QUERY, "print(6*7)", 60.0)
                took.append((time.perf_counter() - started) * 1000)
                if result.status is not ExecStatus.FINISHED or result.stdout != "42\n":
                    raise RuntimeError(f"unexpected result: {result}")
            after = _cpu(root)
        finally:
            client.close()
            proc.terminate()
            await proc.wait()
    print(f"execute round trip p50 ms: {statistics.median(took):.2f}")
    for role, seconds in after.items():
        per_call = (seconds - before.get(role, 0.0)) / calls * 1000
        print(f"CPU ms per execution, {role}: {per_call:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--no-jupyter", action="store_true")
    args = parser.parse_args()
    asyncio.run(measure(args.calls, jupyter=not args.no_jupyter))
    sys.exit(0)


if __name__ == "__main__":
    main()
