"""The addresses agents published for the kernels of cluster sessions."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.db.retry import with_retry
from services.registry.adapters.tables import KernelRow


class SqlClusterAddresses:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record_cluster_addresses(self, session_id: str, addresses: Mapping[str, str]) -> None:
        """One transaction; writing the same addresses again changes nothing."""

        async def work() -> None:
            async with self._sessions.begin() as db:
                for kernel_id, address in sorted(addresses.items()):
                    await db.execute(
                        update(KernelRow)
                        .where(KernelRow.id == kernel_id, KernelRow.session_id == session_id)
                        .values(cluster_address=address)
                    )

        await with_retry(work)
