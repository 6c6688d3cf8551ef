"""RestartSession on the container backend: the runner restarts inside the same container, so
the files in /home/work stay and a new cell runs (docs/sessions.md)."""

from __future__ import annotations

import pytest

from cli.client import ShipyardClient

pytestmark = pytest.mark.e2e


async def test_a_container_session_restarts_keeping_its_files(
    container_client: ShipyardClient,
) -> None:
    session = await container_client.create_session(
        wait=True, resources={"cpu": "1", "mem": str(256 << 20)}
    )
    sid = session["session_id"]
    try:
        code = "y = 1\nopen('/home/work/note.txt', 'w').write('kept')"
        assert (await container_client.execute(sid, code))["status"] == "EXECUTION_STATUS_FINISHED"
        restarted = await container_client.restart_session(sid, wait=True)
        assert restarted["status"] == "SESSION_STATUS_RUNNING", restarted
        got = await container_client.execute(sid, "print(open('/home/work/note.txt').read())")
        assert got["stdout"] == "kept\n", got
        assert (await container_client.execute(sid, "y"))["error_name"] == "NameError"
        assert "RESTARTING" in (await container_client.get_session(sid))["status_history"]
    finally:
        await container_client.destroy_session(sid, forced=True)
