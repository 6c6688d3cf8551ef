"""Node resource detection: the pure rules and the reader on this machine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.core.errors import InvalidArgument
from services.agent.domain.resources import (
    NodeFacts,
    NodeResources,
    compute_resources,
    detect_resources,
)

GIB = 1 << 30


def facts(*, cpu_quota: Decimal | None = None, mem_limit: int | None = None) -> NodeFacts:
    return NodeFacts(cpu_count=8, cpu_quota=cpu_quota, mem_total=32 * GIB, mem_limit=mem_limit)


def test_whole_machine_without_limits() -> None:
    assert compute_resources(facts()) == NodeResources(cpu=Decimal(8), mem_bytes=32 * GIB)


def test_the_tighter_cgroup_limits_win() -> None:
    got = compute_resources(facts(cpu_quota=Decimal("2.5"), mem_limit=4 * GIB))
    assert got == NodeResources(cpu=Decimal("2.5"), mem_bytes=4 * GIB)


def test_limits_above_the_machine_are_ignored() -> None:
    # cgroup v1 reports "no limit" as a huge number.
    got = compute_resources(facts(cpu_quota=Decimal(64), mem_limit=9223372036854771712))
    assert got == NodeResources(cpu=Decimal(8), mem_bytes=32 * GIB)


def test_overrides_replace_detection() -> None:
    got = compute_resources(facts(mem_limit=4 * GIB), cpu=Decimal(3), mem_bytes=10 * GIB)
    assert got == NodeResources(cpu=Decimal(3), mem_bytes=10 * GIB)


@pytest.mark.parametrize(("cpu", "mem"), [(Decimal(0), None), (None, -1)])
def test_non_positive_overrides_are_rejected(cpu: Decimal | None, mem: int | None) -> None:
    with pytest.raises(InvalidArgument):
        compute_resources(facts(), cpu=cpu, mem_bytes=mem)


def test_detects_this_machine() -> None:
    got = detect_resources()
    assert got.cpu > 0
    assert got.mem_bytes > 0


def test_detection_respects_overrides() -> None:
    assert detect_resources(cpu=Decimal("0.5"), mem_bytes=GIB) == NodeResources(
        cpu=Decimal("0.5"), mem_bytes=GIB
    )
