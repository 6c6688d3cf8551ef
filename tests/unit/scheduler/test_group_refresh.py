"""Group settings re-read from the registry: applied, kept on failure, bad ones defaulted."""

from __future__ import annotations

from libs.core.errors import Unavailable
from services.scheduler.domain.group_config import GroupConfig, GroupScheduling
from services.scheduler.service.group_refresh import GroupRefresher


class FakeSource:
    def __init__(self) -> None:
        self.answer: dict[str, GroupScheduling] = {}
        self.fail = False

    async def groups(self) -> dict[str, GroupScheduling]:
        if self.fail:
            raise Unavailable("registry down")
        return self.answer


async def test_new_settings_replace_the_old_ones_and_a_failure_keeps_them():
    source, config = FakeSource(), GroupConfig(GroupScheduling())
    refresher = GroupRefresher(source, config, interval=1.0)
    source.answer = {"gpu": GroupScheduling(policy="drf", allowed_session_types=("batch",))}
    assert await refresher.refresh_once()
    assert config.policy_for("gpu").name == "drf"
    assert config.allowed_session_types("gpu") == ("batch",)

    source.fail = True
    assert not await refresher.refresh_once()
    assert config.policy_for("gpu").name == "drf"

    source.fail = False
    source.answer = {}
    assert await refresher.refresh_once()
    assert config.policy_for("gpu").name == "fifo"  # the group lost its settings


async def test_a_group_with_settings_the_scheduler_cannot_build_falls_back_to_the_default():
    source, config = FakeSource(), GroupConfig(GroupScheduling(policy="lifo"))
    source.answer = {
        "odd": GroupScheduling(policy="fifo", options={"num_retries_to_skip": "x"}),
        "ok": GroupScheduling(policy="priority"),
    }
    assert await GroupRefresher(source, config, interval=1.0).refresh_once()
    assert config.policy_for("odd").name == "lifo"
    assert config.policy_for("ok").name == "priority"
