"""The runner's stdin channel to a Jupyter kernel: a prompt the kernel sends right after start
must not be lost (its stdin ROUTER drops messages for peers whose handshake is not done, and the
cell would then wait in input() until its time limit)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[3] / "services" / "agent" / "kernel_runner"
SYSTEM_PYTHON = "/usr/bin/python3"

# Runs under the machine's python3 (the runner's; it has pyzmq). The "kernel" binds its stdin
# ROUTER only after the runner connected, as a kernel that is still starting does.
SCRIPT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import zmq
import jupyter_channels, jupyter_support
ports = dict(zip(("shell_port", "iopub_port", "stdin_port", "control_port"),
                 jupyter_support.free_ports(4)))
wire = jupyter_channels.Channels(ports, b"key", "sess", jupyter_support)
assert wire.wait_stdin(0.3) is False, "joined a kernel that is not listening"
router = zmq.Context.instance().socket(zmq.ROUTER)
router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # an unknown peer raises instead of dropping
router.bind(f"tcp://127.0.0.1:{ports['stdin_port']}")
assert wire.wait_stdin(10.0) is True, "no handshake within 10 s"
frames, _ = jupyter_support.signed(b"key", "kernel", "input_request", {"prompt": "name? "})
until = time.monotonic() + 2.0
while True:  # the ROUTER attaches the peer in its own I/O thread, a moment after the handshake
    try:
        router.send_multipart([b"sess", *frames])
        break
    except zmq.ZMQError:
        assert time.monotonic() < until, "the kernel side never learnt the runner's identity"
        time.sleep(0.01)
got = wire.recv("stdin")
assert got["content"]["prompt"] == "name? ", got
assert wire.wait_stdin(0.0) is True  # once joined, it stays joined
wire.close()
print("ok")
"""


@pytest.mark.skipif(
    subprocess.run([SYSTEM_PYTHON, "-c", "import zmq"], capture_output=True).returncode != 0,
    reason="the machine's python3 has no pyzmq (scripts/system-packages installs it)",
)
def test_stdin_is_joined_before_a_kernel_could_send_its_first_prompt() -> None:
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", SCRIPT, str(RUNNER)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr or done.stdout
