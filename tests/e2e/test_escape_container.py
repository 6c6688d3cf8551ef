"""Container-backed sessions against each other: one session goes for another's work directory
and runner socket on the host, then exhausts its own processes and memory; only it pays.

The full escape suite (tests/e2e/escape_attempts.py) runs on this backend too
(tests/e2e/test_escape_process.py, parametrized by backend).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli.client import ShipyardClient
from cli.platform import Platform

pytestmark = pytest.mark.e2e

MEM = str(256 << 20)

# Runs inside the kernel; prints one JSON object: attempt name → "blocked: <error>" or "ESCAPED".
ATTEMPTS = """
import json, os, signal, socket
results = {}
def attempt(name, fn):
    try:
        fn()
        results[name] = "ESCAPED"
    except Exception as exc:
        results[name] = "blocked: " + type(exc).__name__
def connect_tcp(port):
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
def connect_unix(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(path)
def write(path, text="x"):
    with open(path, "w") as f:
        f.write(text)
t = json.loads(TARGETS)
attempt("read-state-dir", lambda: os.listdir(t["data_dir"]))
attempt("read-keypair", lambda: open(t["keypair"]).read())
attempt("read-other-session", lambda: os.listdir(t["other_workdir"]))
attempt("other-runner-socket", lambda: connect_unix(t["other_socket"]))
attempt("write-usr", lambda: write("/usr/escaped"))
attempt("write-root", lambda: write("/escaped"))
attempt("raise-memory-limit", lambda: write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "-1"))
attempt("raise-pids-limit", lambda: write("/sys/fs/cgroup/pids/pids.max", "max"))
attempt("kill-outside", lambda: os.kill(t["agent_pid"], signal.SIGKILL))
for name, port in t["ports"].items():
    attempt("connect-" + name, lambda: connect_tcp(port))
print(json.dumps(results))
"""


def _targets(platform: Platform, other: dict[str, Any]) -> dict[str, Any]:
    cfg = platform.config
    other_kernel = other["kernels"][0]["kernel_id"]
    sockets = list(Path("/tmp").glob(f"shipyard-c-*/{other_kernel}/runner.sock"))
    assert sockets, "the other session's runner socket should exist on the host"
    workdirs = [p / "work" for p in (cfg.data_dir / "kernels").rglob(other_kernel)]
    assert workdirs, "the other session's work dir should exist on the host"
    return {
        "data_dir": str(cfg.data_dir),
        "keypair": str(cfg.data_dir / "keypair.json"),
        "other_workdir": str(workdirs[0]),
        "other_socket": str(sockets[0]),
        "agent_pid": platform.processes["agent"].pid,
        "ports": {
            "postgresql": 5432,
            "redis": 6379,
            "envoy-admin": cfg.edge_admin_port,
            "edge": cfg.edge_port,
            **{f"grpc-{name}": port for name, port in cfg.ports.items()},
        },
    }


async def test_every_escape_attempt_fails_and_the_platform_keeps_serving(
    container_platform: Platform, container_client: ShipyardClient
) -> None:
    resources = {"cpu": "1", "mem": MEM}
    victim = await container_client.create_session(wait=True, resources=resources)
    attacker = await container_client.create_session(wait=True, resources=resources)
    targets = _targets(container_platform, victim)
    code = f"TARGETS = {json.dumps(json.dumps(targets))}\n{ATTEMPTS}"
    result = await container_client.execute(attacker["session_id"], code)
    outcomes = json.loads(result["stdout"])
    assert len(outcomes) == 9 + len(targets["ports"])
    escaped = [name for name, outcome in outcomes.items() if outcome == "ESCAPED"]
    assert escaped == [], outcomes
    assert Path(targets["other_socket"]).exists()  # nothing was done to the victim either

    bomb = await container_client.execute(
        attacker["session_id"],
        "for i in $(seq 2000); do sleep 60 >/dev/null 2>&1 & done; echo all",
        mode="batch",
    )
    assert "all" not in bomb["stdout"] and "fork" in bomb["stderr"].lower()

    hog = await container_client.execute(attacker["session_id"], "blob = bytearray(1 << 30)")
    assert hog["error_name"] == "OutOfMemory"

    # Only the attacker's kernel paid: the victim and the platform serve as before.
    alive = await container_client.execute(victim["session_id"], "print('alive')")
    assert alive["stdout"] == "alive\n"
    assert (await container_client.whoami())["access_key"]
    await container_client.destroy_session(victim["session_id"])
