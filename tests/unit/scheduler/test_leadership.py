from __future__ import annotations

from libs.core.errors import Unavailable
from services.scheduler.service.leadership import LeaderElector
from tests.unit.scheduler.factories import FakeClock


class FakeLease:
    """A lease in memory; `holder` is who has it, `error` makes the next calls fail."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self.epochs = 0
        self.error: Exception | None = None
        self.released = 0

    def bind(self, owner: str) -> _OwnedLease:
        return _OwnedLease(self, owner)


class _OwnedLease:
    def __init__(self, store: FakeLease, owner: str) -> None:
        self.store = store
        self.owner = owner
        self.epoch = 0

    async def acquire(self) -> bool:
        self._check()
        if self.store.holder is None:
            self.store.holder = self.owner
            self.store.epochs += 1
            self.epoch = self.store.epochs
        return self.store.holder == self.owner

    async def renew(self) -> bool:
        self._check()
        return self.store.holder == self.owner

    async def release(self) -> None:
        self._check()
        if self.store.holder == self.owner:
            self.store.holder = None
            self.store.released += 1

    def _check(self) -> None:
        if self.store.error is not None:
            raise self.store.error


def _elector(lease, clock, elected=None):
    return LeaderElector(
        lease,
        ttl=5.0,
        clock=clock,
        on_elected=(lambda: elected.append(1)) if elected is not None else lambda: None,
    )


async def test_one_of_two_schedulers_leads_and_the_other_takes_over_after_release():
    store, clock, elected = FakeLease(), FakeClock(), []
    a = _elector(store.bind("a"), clock, elected)
    b = _elector(store.bind("b"), clock)

    await a.step()
    await b.step()
    await a.step()  # a renewal does not count as a new election
    assert (a.is_leader, b.is_leader) == (True, False)
    assert elected == [1]

    await a.resign()
    await b.step()
    assert (a.is_leader, b.is_leader) == (False, True)
    assert store.released == 1
    # The new tenure's epoch is greater: the registry refuses the old one's binds.
    assert (a.epoch, b.epoch) == (1, 2)


async def test_a_leader_whose_renewal_fails_steps_down_at_once():
    store, clock = FakeLease(), FakeClock()
    a = _elector(store.bind("a"), clock)
    await a.step()

    store.holder = "b"  # our lease expired and b took it
    await a.step()
    assert not a.is_leader


async def test_a_lease_error_counts_as_a_failed_renewal():
    store, clock = FakeLease(), FakeClock()
    a = _elector(store.bind("a"), clock)
    await a.step()

    store.error = Unavailable("redis down")
    await a.step()
    assert not a.is_leader

    store.error = None
    await a.step()  # still ours in Redis: taken back without waiting for expiry
    assert a.is_leader


async def test_leadership_lapses_locally_when_no_renewal_succeeds_within_the_ttl():
    store, clock = FakeLease(), FakeClock()
    a = _elector(store.bind("a"), clock)
    await a.step()
    clock.advance(4.9)
    assert a.is_leader
    clock.advance(0.2)
    assert not a.is_leader


async def test_resign_without_the_lease_does_nothing():
    store = FakeLease()
    store.holder = "b"
    a = _elector(store.bind("a"), FakeClock())
    await a.resign()
    assert store.holder == "b"


async def test_a_replica_without_a_synced_watch_does_not_take_the_lease():
    store, clock, fit = FakeLease(), FakeClock(), {"ok": False}
    a = LeaderElector(store.bind("a"), ttl=5.0, clock=clock, can_lead=lambda: fit["ok"])
    await a.step()
    assert store.holder is None

    fit["ok"] = True
    await a.step()
    assert a.is_leader


async def test_a_leader_that_cannot_schedule_for_a_whole_ttl_hands_the_lease_over():
    store, clock, fit = FakeLease(), FakeClock(), {"ok": True}
    a = LeaderElector(store.bind("a"), ttl=5.0, clock=clock, can_lead=lambda: fit["ok"])
    await a.step()

    fit["ok"] = False  # the watch broke: keep the lease through a short outage
    await a.step()
    clock.advance(4.0)
    await a.step()
    assert a.is_leader

    clock.advance(1.0)
    await a.step()
    assert not a.is_leader
    assert store.holder is None
