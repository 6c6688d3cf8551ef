"""The audit log: append events (admin calls, logins, other services), list them by scope.

`AuditLog.record_login` is the port the login RPC calls for every attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from libs.core.access import Resource, Scope, Verb
from libs.core.identity import Caller
from services.auth.domain.audit import AuditEvent, AuditFilter, Outcome, outcome_of
from services.auth.domain.tenancy import Page, PageRequest
from services.auth.service.ports import Clock
from services.auth.service.scoping import scope
from services.auth.service.tenancy_ports import AuditStore

log = logging.getLogger(__name__)

LOGIN_ACTION = "auth.login"


@dataclass(frozen=True, slots=True)
class AuditLog:
    store: AuditStore
    clock: Clock

    async def record(self, event: AuditEvent) -> AuditEvent:
        return await self.store.append(replace(event, time=event.time or self.clock()))

    async def record_quietly(self, event: AuditEvent) -> None:
        """Record without failing the audited call: its outcome is already decided."""
        try:
            await self.record(event)
        except Exception:
            log.exception("could not record audit event %s on %s", event.action, event.target_id)

    async def record_login(
        self,
        *,
        email: str,
        user_id: str = "",
        domain_name: str = "",
        status_code: str = "OK",
        detail: str = "",
        trace_id: str = "",
        client_address: str = "",
        access_key: str = "",
    ) -> None:
        """One login attempt: status_code "OK" for success, else the refusal's gRPC code name."""
        await self.record_quietly(
            AuditEvent(
                action=LOGIN_ACTION,
                outcome=outcome_of(status_code),
                actor_user_id=user_id,
                actor_email=email,
                actor_access_key=access_key,
                target_type="user",
                target_id=user_id or email,
                domain_name=domain_name,
                status_code=status_code,
                detail=detail,
                trace_id=trace_id,
                client_address=client_address,
            )
        )

    async def list(self, caller: Caller, page: PageRequest, flt: AuditFilter) -> Page[AuditEvent]:
        reach = scope(caller, Resource.AUDIT_LOG, Verb.READ)
        domain = None if caller.system or reach is Scope.ALL else caller.domain_name
        if domain is not None and flt.domain_name not in ("", domain):
            return Page(items=[])
        return await self.store.list(page, flt, domain_name=domain)


__all__ = ["LOGIN_ACTION", "AuditLog", "Outcome"]
