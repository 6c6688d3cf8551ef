"""Session policy from the caller's identity alone: project membership, no limits.

The edge's identity headers carry the caller's projects as auth resolved them; this resolver
checks membership against them. Resource-group permissions and keypair limits need auth's
PolicyService.
"""

from __future__ import annotations

from libs.core.identity import Caller
from services.registry.domain.errors import ProjectNotFound
from services.registry.domain.model import SessionPolicy


class IdentityPolicyResolver:
    async def resolve(
        self, caller: Caller, *, project_id: str, resource_group: str
    ) -> SessionPolicy:
        del resource_group  # which groups a tenant may use is known to auth only
        if not caller.system and project_id not in caller.project_ids:
            raise ProjectNotFound.named(project_id)
        return SessionPolicy()
