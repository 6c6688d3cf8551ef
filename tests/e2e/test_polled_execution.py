"""The unary Execute's polling protocol through the edge, on a real kernel (docs/execution.md):
a run that outlasts its flush timeout comes back CONTINUED, mode CONTINUE fetches the rest, and
input() is answered with mode INPUT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cli.client import ApiError, ShipyardClient
from cli.platform import Platform
from tests.e2e.tenants import ordinary_user

pytestmark = pytest.mark.e2e


@pytest.fixture
async def session_id(client: ShipyardClient) -> AsyncIterator[str]:
    session = await client.create_session(wait=True, resources={"cpu": "1", "mem": "1073741824"})
    assert session["status"] == "SESSION_STATUS_RUNNING", session
    yield session["session_id"]
    await client.destroy_session(session["session_id"])


async def _execute(client: ShipyardClient, session_id: str, **body: Any) -> dict[str, Any]:
    reply = await client.request("POST", f"/v1/sessions/{session_id}:execute", body=body)
    return dict(reply["result"])


async def test_a_long_run_continues_until_it_finishes(
    client: ShipyardClient, session_id: str
) -> None:
    code = "import time\nfor i in range(5):\n    print(i, flush=True)\n    time.sleep(1)"
    got = await _execute(
        client, session_id, mode="EXECUTION_MODE_QUERY", code=code, flush_timeout="1.5s"
    )
    statuses, output = [got["status"]], got.get("stdout", "")
    run_id = got["run_id"]
    assert got["status"] == "EXECUTION_STATUS_CONTINUED" and run_id, got
    while got["status"] == "EXECUTION_STATUS_CONTINUED":
        assert len(statuses) < 20, statuses
        got = await _execute(
            client, session_id, mode="EXECUTION_MODE_CONTINUE", run_id=run_id, flush_timeout="1.5s"
        )
        statuses.append(got["status"])
        output += got.get("stdout", "")
    assert got["status"] == "EXECUTION_STATUS_FINISHED", got
    assert output == "0\n1\n2\n3\n4\n"
    assert statuses.count("EXECUTION_STATUS_CONTINUED") >= 2
    # The run is over: its id names nothing any more.
    with pytest.raises(ApiError) as err:
        await _execute(client, session_id, mode="EXECUTION_MODE_CONTINUE", run_id=run_id)
    assert err.value.status == 404 and "run_id" in str(err.value.body)


async def _past_continued(
    client: ShipyardClient, session_id: str, got: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Poll with mode CONTINUE while the run answers CONTINUED (as a client does on a busy
    machine, where the flush timeout can pass before the kernel gets to the prompt)."""
    output = got.get("stdout", "")
    for _ in range(12):
        if got["status"] != "EXECUTION_STATUS_CONTINUED":
            break
        got = await _execute(
            client, session_id, mode="EXECUTION_MODE_CONTINUE", run_id=got["run_id"],
            flush_timeout="5s",
        )  # fmt: skip
        output += got.get("stdout", "")
    return got, output


async def test_input_round_trip(client: ShipyardClient, session_id: str) -> None:
    code = "name = input('name? ')\nprint('hello', name)"
    got = await _execute(
        client, session_id, mode="EXECUTION_MODE_QUERY", code=code, flush_timeout="5s"
    )
    got, _ = await _past_continued(client, session_id, got)
    assert got["status"] == "EXECUTION_STATUS_WAITING_INPUT", got
    assert got["input_request"]["prompt"] == "name? "
    got = await _execute(
        client,
        session_id,
        mode="EXECUTION_MODE_INPUT",
        run_id=got["run_id"],
        code="Ada",
        flush_timeout="5s",
    )
    got, output = await _past_continued(client, session_id, got)
    assert got["status"] == "EXECUTION_STATUS_FINISHED", got
    assert output.endswith("hello Ada\n")


async def test_bad_requests_name_the_field(
    platform: Platform, client: ShipyardClient, session_id: str
) -> None:
    with pytest.raises(ApiError) as err:
        await _execute(client, session_id, mode="EXECUTION_MODE_CONTINUE")
    assert err.value.status == 400 and "run_id" in str(err.value.body)
    with pytest.raises(ApiError) as err:
        await _execute(client, session_id, mode="EXECUTION_MODE_INPUT", code="x")
    assert err.value.status == 400 and "run_id" in str(err.value.body)
    with pytest.raises(ApiError) as err:
        await _execute(
            client, session_id, mode="EXECUTION_MODE_CONTINUE", run_id="0123456789abcdef"
        )
    assert err.value.status == 404 and "run_id" in str(err.value.body)
    # Another user's poll of this session's run: the session is not theirs to see.
    code = "import time\ntime.sleep(3)"
    got = await _execute(
        client, session_id, mode="EXECUTION_MODE_QUERY", code=code, flush_timeout="0.5s"
    )
    other = await ordinary_user(platform)
    async with ShipyardClient(platform.endpoint, other.access_key, other.secret_key) as c:
        with pytest.raises(ApiError) as err:
            await _execute(c, session_id, mode="EXECUTION_MODE_CONTINUE", run_id=got["run_id"])
        assert err.value.status == 404
