"""Tenant limits at placement: concurrency and slot quotas per keypair, project and domain."""

from __future__ import annotations

import pytest

from libs.core.errors import Unavailable
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.limits import (
    CONCURRENCY_LIMIT,
    DOMAIN_RESOURCE_LIMIT,
    KEYPAIR_RESOURCE_LIMIT,
    PROJECT_RESOURCE_LIMIT,
    KeypairLimits,
    Limits,
    SlotQuota,
    Usage,
)
from services.scheduler.domain.model import (
    ActiveSession,
    ClusterSnapshot,
    SessionActive,
    SessionEnded,
)
from services.scheduler.domain.policy import get_policy
from services.scheduler.domain.selectors import get_selector
from services.scheduler.service.limits_cache import CachedLimits
from services.scheduler.service.schedule import ScheduleCycle
from tests.unit.scheduler.factories import (
    FakeBinder,
    FakeClock,
    FakeLimits,
    agent,
    session,
    slots,
)


def _setup(pending, limits, *, active=(), agents=None):
    cache = ClusterCache()
    cache.replace(
        ClusterSnapshot(
            agents=tuple(agents or [agent("a1", cpu=64, mem_gib=256)]),
            pending=tuple(pending),
            active=tuple(active),
        )
    )
    binder = FakeBinder()
    fifo = get_policy("fifo")
    cycle = ScheduleCycle(
        cache=cache,
        binder=binder,
        policy_for=lambda _group: fifo,
        selector=get_selector("least-occupied"),
        clock=FakeClock(),
        limits=FakeLimits(limits),
    )
    return cache, binder, cycle


def _running(access_key="AKUSER", *, cpu=1, project="p1", domain="default", sid=None):
    return ActiveSession(
        session_id=sid or f"active-{access_key}-{cpu}-{project}-{domain}",
        access_key=access_key,
        project_id=project,
        domain_name=domain,
        slots=slots(cpu, 1),
    )


def _notes(binder):
    return {n.session_id: (n.reason, n.message) for n in binder.notes}


async def test_a_keypair_at_max_concurrent_sessions_waits_with_the_numbers():
    s1, s2, s3 = session(age=1), session(age=2), session(age=3)
    limits = Limits(keypairs={"AKUSER": KeypairLimits(max_concurrent_sessions=2)})
    _, binder, cycle = _setup([s1, s2, s3], limits, active=[_running()])

    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [s1.session_id]
    # The registry re-checks the limit the scheduler applied.
    assert binder.placements[0].max_concurrent_sessions == 2
    reasons = _notes(binder)
    assert set(reasons) == {s2.session_id, s3.session_id}
    assert reasons[s2.session_id] == (
        CONCURRENCY_LIMIT,
        "keypair AKUSER runs 2 sessions; max_concurrent_sessions is 2",
    )


async def test_another_keypair_is_not_held_back_by_a_full_one():
    mine, theirs = session(age=1), session(age=2, access_key="AKBOB")
    limits = Limits(keypairs={"AKUSER": KeypairLimits(max_concurrent_sessions=1)})
    _, binder, cycle = _setup([mine, theirs], limits, active=[_running()])

    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [theirs.session_id]


async def test_a_waiting_session_is_placed_once_a_running_one_ends():
    waiting = session(age=1)
    limits = Limits(keypairs={"AKUSER": KeypairLimits(max_concurrent_sessions=1)})
    running = _running(sid="s-running")
    cache, binder, cycle = _setup([waiting], limits, active=[running])
    await cycle.run_once()
    assert binder.placements == []

    cache.apply(SessionEnded(session_id="s-running"))
    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [waiting.session_id]


async def test_a_bound_session_counts_before_the_watch_confirms_it():
    first, second = session(age=1), session(age=2)
    limits = Limits(keypairs={"AKUSER": KeypairLimits(max_concurrent_sessions=1)})
    cache, binder, cycle = _setup([first], limits)
    await cycle.run_once()
    cache.add_pending(second)

    await cycle.run_once()

    assert [p.session_id for p in binder.placements] == [first.session_id]
    assert _notes(binder)[second.session_id][0] == CONCURRENCY_LIMIT
    # The watch's later report of the same session does not count it twice.
    cache.apply(SessionActive(session=ActiveSession.of(first)))
    assert [a.session_id for a in cache.active()] == [first.session_id]


def test_a_session_that_ended_before_its_bind_returned_is_not_counted():
    s = session()
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=(agent("a1"),), pending=(s,)))

    cache.apply(SessionEnded(session_id=s.session_id))
    cache.confirm_bound(s.session_id, now=1.0)

    assert cache.active() == []


@pytest.mark.parametrize(
    ("limits", "reason", "message"),
    [
        (
            Limits(keypairs={"AKUSER": KeypairLimits(total=SlotQuota(amounts=slots(4, 0)))}),
            KEYPAIR_RESOURCE_LIMIT,
            "keypair AKUSER quota exceeded: cpu: 3 in use + 2 requested > limit 4",
        ),
        (
            Limits(projects={"p1": SlotQuota(amounts=slots(4, 0))}),
            PROJECT_RESOURCE_LIMIT,
            "project p1 quota exceeded: cpu: 3 in use + 2 requested > limit 4",
        ),
        (
            Limits(domains={"default": SlotQuota(amounts=slots(4, 0))}),
            DOMAIN_RESOURCE_LIMIT,
            "domain default quota exceeded: cpu: 3 in use + 2 requested > limit 4",
        ),
    ],
)
async def test_slot_quotas_hold_sessions_that_would_exceed_them(limits, reason, message):
    big = session(cpu=2, mem_gib=1)
    _, binder, cycle = _setup([big], limits, active=[_running(cpu=3)])

    await cycle.run_once()

    assert binder.placements == []
    assert _notes(binder)[big.session_id] == (reason, message)


async def test_unnamed_slots_are_unlimited_unless_the_keypair_quota_is_strict():
    gpu = session(cpu=1, mem_gib=1)
    loose = Limits(keypairs={"AKUSER": KeypairLimits(total=SlotQuota(amounts=slots(8, 8)))})
    strict = Limits(
        keypairs={"AKUSER": KeypairLimits(total=SlotQuota(amounts=slots(8, 0), strict=True))}
    )
    _, binder, cycle = _setup([gpu], loose)
    await cycle.run_once()
    assert len(binder.placements) == 1

    _, binder, cycle = _setup([gpu], strict)  # mem is not named: capped at 0
    await cycle.run_once()
    assert binder.placements == []
    assert _notes(binder)[gpu.session_id][0] == KEYPAIR_RESOURCE_LIMIT


async def test_limits_are_cached_for_the_ttl_and_refetched_after_it():
    clock = FakeClock()
    source = FakeLimits(Limits(keypairs={"AK1": KeypairLimits(max_concurrent_sessions=3)}))
    cached = CachedLimits(source, clock=clock, ttl=5.0)

    first = await cached.limits(access_keys=["AK1"], project_ids=[], domain_names=[])
    clock.advance(4.0)
    await cached.limits(access_keys=["AK1"], project_ids=[], domain_names=[])
    assert len(source.calls) == 1
    clock.advance(2.0)
    await cached.limits(access_keys=["AK1"], project_ids=[], domain_names=[])

    assert len(source.calls) == 2
    assert first.keypairs["AK1"].max_concurrent_sessions == 3


async def test_stale_limits_serve_while_auth_is_down_but_not_forever():
    clock = FakeClock()
    source = FakeLimits(Limits(keypairs={"AK1": KeypairLimits(max_concurrent_sessions=3)}))
    cached = CachedLimits(source, clock=clock, ttl=5.0, stale_ttl=60.0)
    await cached.limits(access_keys=["AK1"], project_ids=[], domain_names=[])
    source.fail_with = Unavailable("auth is down")

    clock.advance(30.0)
    stale = await cached.limits(access_keys=["AK1"], project_ids=[], domain_names=[])
    assert stale.keypairs["AK1"].max_concurrent_sessions == 3

    clock.advance(31.0)
    with pytest.raises(Unavailable):
        await cached.limits(access_keys=["AK1"], project_ids=[], domain_names=[])
    with pytest.raises(Unavailable):  # a keypair never fetched has no stale entry either
        await cached.limits(access_keys=["AK2"], project_ids=[], domain_names=[])


def test_entries_that_limit_nothing_are_dropped_and_usage_counts_only_limited_owners():
    limits = Limits(
        keypairs={
            "AKFREE": KeypairLimits(),  # no cap, no named slot, not strict
            "AKCAPPED": KeypairLimits(max_concurrent_sessions=2),
            "AKSTRICT": KeypairLimits(total=SlotQuota(strict=True)),
        },
        projects={"free": SlotQuota(), "p-quota": SlotQuota(amounts=slots(4, 4))},
        domains={"default": SlotQuota()},
    ).effective()
    assert sorted(limits.keypairs) == ["AKCAPPED", "AKSTRICT"]
    assert list(limits.projects) == ["p-quota"] and not limits.domains

    usage = Usage(
        [
            _running("AKFREE", project="free", sid="s1"),
            _running("AKCAPPED", project="free", sid="s2"),
            _running("AKFREE", project="p-quota", cpu=3, sid="s3"),
        ],
        limits,
    )
    assert usage.sessions == {"AKCAPPED": 1, "AKFREE": 1}  # s3 counts for its project
    assert usage.projects["p-quota"]["cpu"] == 3
    assert Usage([_running("AKFREE")], Limits().effective()).sessions == {}


async def test_a_keypair_entry_that_limits_nothing_places_like_no_entry():
    pending = [session(session_id=f"s{i}", access_key="AKUSER") for i in range(3)]
    _, binder, cycle = _setup(pending, Limits(keypairs={"AKUSER": KeypairLimits()}))
    report = await cycle.run_once()
    assert sorted(report.bound) == ["s0", "s1", "s2"]
    assert all(p.max_concurrent_sessions == 0 for p in binder.placements)
