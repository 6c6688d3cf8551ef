"""The start-up CPU boost's rules without a kernel: the quota comes once, when the start is over,
when a request ends it, or at the bound, and a failed write refuses the request; and which specs
may start without their quota (docs/kernel-isolation.md, "The start-up CPU boost")."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.agent.adapters.cpu_boost import CpuBoost
from services.agent.adapters.process_kernel import boostable
from services.agent.domain.model import KernelSpec, KernelUnavailable


class _Quota:
    def __init__(self) -> None:
        self.writes = 0
        self.fail = False

    def apply(self) -> None:
        if self.fail:
            raise KernelUnavailable("its groups are gone")
        self.writes += 1


async def test_the_quota_comes_when_the_start_is_over_and_only_once() -> None:
    quota, over = _Quota(), asyncio.Event()
    boost = CpuBoost("k1", quota.apply, over.wait, limit=60)
    await asyncio.sleep(0.01)
    assert quota.writes == 0
    over.set()
    await boost.ended()
    boost.end()
    assert quota.writes == 1


async def test_a_request_ends_it_at_once_and_the_start_no_longer_matters() -> None:
    quota, over = _Quota(), asyncio.Event()
    boost = CpuBoost("k1", quota.apply, over.wait, limit=60)
    boost.end()
    assert quota.writes == 1
    over.set()
    await boost.ended()
    assert quota.writes == 1


async def test_a_start_never_heard_to_end_ends_at_the_bound() -> None:
    quota = _Quota()
    boost = CpuBoost("k1", quota.apply, asyncio.Event().wait, limit=0.05)
    async with asyncio.timeout(10):
        await boost.ended()
    assert quota.writes == 1


async def test_a_runner_that_went_away_ends_it_too() -> None:
    async def gone() -> None:
        raise KernelUnavailable("lost the connection to the kernel runner")

    quota = _Quota()
    await CpuBoost("k1", quota.apply, gone, limit=60).ended()
    assert quota.writes == 1


async def test_a_quota_that_cannot_be_written_refuses_every_request() -> None:
    quota, over = _Quota(), asyncio.Event()
    quota.fail = True
    boost = CpuBoost("k1", quota.apply, over.wait, limit=60)
    over.set()
    with pytest.raises(KernelUnavailable):
        await boost.ended()
    with pytest.raises(KernelUnavailable):
        boost.end()
    quota.fail = False
    boost.end()
    assert quota.writes == 1


def test_only_a_start_that_cannot_run_session_code_is_boosted() -> None:
    def spec(environ: dict[str, str]) -> KernelSpec:
        return KernelSpec(
            kernel_id="k1", session_id="s1", image="p", cpu=Decimal(1), mem_bytes=1, environ=environ
        )

    assert boostable(spec({"GREETING": "hi", "PATH": "/opt/bin:/usr/bin", "TZ": "UTC"}))
    for variable in ("PYTHONSTARTUP", "PYTHONPATH", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "LANG"):
        assert not boostable(spec({variable: "/usr/lib/x"})), variable
