"""Keep the cache in step with the registry's watch; resync from a new snapshot after errors."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from libs.core.errors import ShipyardError
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import ClusterChange, ClusterSnapshot
from services.scheduler.service.ports import ClusterWatch

log = logging.getLogger(__name__)


class ClusterSync:
    def __init__(
        self,
        source: ClusterWatch,
        cache: ClusterCache,
        *,
        on_change: Callable[[], None] = lambda: None,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
    ) -> None:
        self._source = source
        self._cache = cache
        self._on_change = on_change
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._synced = False

    @property
    def synced(self) -> bool:
        """True between a snapshot and the next stream error: only then may we schedule."""
        return self._synced

    async def run(self) -> None:
        delay = self._backoff_initial
        while True:
            synced_here = False
            try:
                async for change in self._source.watch():
                    synced_here |= self._apply(change)
                log.warning("the registry ended the cluster watch; resyncing")
            except ShipyardError as exc:
                log.warning("cluster watch failed: %s (%s)", exc.message, exc.reason)
            except Exception:
                log.exception("cluster watch failed unexpectedly")
            finally:
                self._synced = False
            if synced_here:
                delay = self._backoff_initial  # the connection was healthy for a while
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter spreads replicas
            delay = min(delay * 2, self._backoff_max)

    def _apply(self, change: ClusterChange) -> bool:
        """Apply one change; True when it was a snapshot."""
        if isinstance(change, ClusterSnapshot):
            self._cache.replace(change)
            self._synced = True
            log.info(
                "cluster snapshot: %d agents, %d pending sessions",
                len(change.agents),
                len(change.pending),
            )
        elif not self._synced:
            log.warning("ignoring a watch change that came before the snapshot")
            return False
        else:
            self._cache.apply(change)
        self._on_change()
        return isinstance(change, ClusterSnapshot)
