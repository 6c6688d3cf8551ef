"""What deactivating a tenant does: drop cached keypairs everywhere, maybe end sessions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.auth.domain.tenancy import OWNER_DEACTIVATED
from services.auth.service.tenancy_ports import Owners, Revocations, SessionTerminator


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    """Whether the owner's sessions were told to end, and how many."""

    sessions_ended: bool = False
    count: int = 0


@dataclass(frozen=True, slots=True)
class Deactivation:
    revocations: Revocations
    sessions: SessionTerminator

    async def refresh(self, access_keys: Sequence[str] = (), *, everything: bool = False) -> None:
        """Any keypair-visible change (state, role, projects) must reach every replica now."""
        await self.revocations.revoke(access_keys, everything=everything)

    async def deactivated(
        self,
        owners: Owners,
        *,
        end_sessions: bool,
        access_keys: Sequence[str] = (),
        everything: bool = False,
    ) -> Ended:
        await self.revocations.revoke(access_keys, everything=everything)
        if not end_sessions:
            return Ended()
        count = await self.sessions.terminate(owners, OWNER_DEACTIVATED)
        return Ended(sessions_ended=True, count=count)
