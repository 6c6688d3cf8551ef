"""Keeps each resource group's scheduling settings current by re-reading them periodically."""

from __future__ import annotations

import asyncio
import logging

from libs.core.errors import ShipyardError
from services.scheduler.domain.group_config import GroupConfig
from services.scheduler.service.ports import GroupSettingsSource

log = logging.getLogger(__name__)


class GroupRefresher:
    def __init__(
        self, source: GroupSettingsSource, config: GroupConfig, *, interval: float
    ) -> None:
        self._source = source
        self._config = config
        self._interval = interval

    async def refresh_once(self) -> bool:
        """True when fresh settings were applied; on failure the previous ones stay."""
        try:
            groups = await self._source.groups()
        except ShipyardError as exc:
            log.warning("could not read resource group settings: %s", exc)
            return False
        for name, error in self._config.update(groups).items():
            log.error("resource group %s: %s; using the default policy", name, error.message)
        return True

    async def run(self) -> None:
        while True:
            await self.refresh_once()
            await asyncio.sleep(self._interval)
