from __future__ import annotations

import asyncio
import contextlib

from libs.core.errors import Unavailable
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import ClusterSnapshot, SessionPending, SessionRemoved
from services.scheduler.service.watch import ClusterSync
from tests.unit.scheduler.factories import agent, session, wait_until


class FakeWatch:
    """Each watch() is a connection fed from its own queue; an exception item breaks it."""

    def __init__(self) -> None:
        self.connections: list[asyncio.Queue] = []

    async def watch(self):
        feed: asyncio.Queue = asyncio.Queue()
        self.connections.append(feed)
        while True:
            item = await feed.get()
            if isinstance(item, Exception):
                raise item
            yield item

    def send(self, item) -> None:
        self.connections[-1].put_nowait(item)


@contextlib.asynccontextmanager
async def _running(sync: ClusterSync):
    task = asyncio.create_task(sync.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_snapshot_then_changes_then_resync_after_a_stream_error():
    s1, s2, s3 = session(), session(), session()
    watch, cache, changes = FakeWatch(), ClusterCache(), []
    sync = ClusterSync(watch, cache, on_change=lambda: changes.append(1), backoff_initial=0.0)

    async with _running(sync):
        await wait_until(lambda: len(watch.connections) == 1)
        assert not sync.synced
        watch.send(ClusterSnapshot(agents=(agent("a1"),), pending=(s1, s2)))
        await wait_until(lambda: sync.synced)

        watch.send(SessionRemoved(session_id=s1.session_id))
        await wait_until(lambda: not cache.is_pending(s1.session_id))

        watch.send(Unavailable("registry restarting"))
        await wait_until(lambda: not sync.synced)
        await wait_until(lambda: len(watch.connections) == 2)

        watch.send(ClusterSnapshot(agents=(agent("a2"),), pending=(s3,)))
        await wait_until(lambda: sync.synced)

    assert [s.session_id for s in cache.pending()] == [s3.session_id]
    assert cache.agent("a1") is None
    assert len(changes) == 3


async def test_changes_before_the_snapshot_are_ignored():
    s1 = session()
    watch, cache = FakeWatch(), ClusterCache()
    sync = ClusterSync(watch, cache, backoff_initial=0.0)

    async with _running(sync):
        await wait_until(lambda: len(watch.connections) == 1)
        watch.send(SessionPending(session=s1))
        watch.send(ClusterSnapshot(agents=(), pending=()))
        await wait_until(lambda: sync.synced)

    assert cache.pending() == []


async def test_an_unexpected_error_also_leads_to_a_resync():
    watch, cache = FakeWatch(), ClusterCache()
    sync = ClusterSync(watch, cache, backoff_initial=0.0)

    async with _running(sync):
        await wait_until(lambda: len(watch.connections) == 1)
        watch.send(ClusterSnapshot(agents=(), pending=()))
        await wait_until(lambda: sync.synced)
        watch.send(RuntimeError("bug"))
        await wait_until(lambda: len(watch.connections) == 2)
        assert not sync.synced
