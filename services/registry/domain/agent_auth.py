"""Checks of the per-agent credential (docs/access.md, "Agent credentials")."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from libs.core.agent_credentials import (
    agent_secret,
    certificate_name,
    event_fields,
    rpc_fields,
    verify,
)
from libs.core.errors import FieldViolation, PermissionDenied, Unauthenticated

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentAuth:
    """Derives agents' secrets from the registry's key and checks their proofs."""

    key: str
    # Mutual TLS is on: an agent's calls must come with its own certificate.
    certificates: bool = False

    def check_certificate(self, agent_id: str, peer_name: str | None) -> None:
        """With mutual TLS, refuse a caller whose certificate names anyone but `agent_id`
        (another agent, or a service): registering or heartbeating as an agent takes its
        certificate, not only the internal token."""
        if not self.certificates or peer_name == certificate_name(agent_id):
            return
        raise PermissionDenied(
            f"the caller's certificate ({peer_name or 'none'}) is not agent {agent_id!r}'s",
            violations=[
                FieldViolation("agent_id", f"needs certificate {certificate_name(agent_id)}")
            ],
            reason="AGENT_CERTIFICATE_MISMATCH",
        )

    def secret_for(self, agent_id: str) -> str:
        return agent_secret(self.key, agent_id)

    def check_rpc(self, method: str, agent_id: str, proof: str) -> None:
        """Raise Unauthenticated unless `proof` is `agent_id`'s signature of `method`."""
        if not verify(self.secret_for(agent_id), rpc_fields(method, agent_id), proof):
            raise Unauthenticated(
                f"agent_proof does not prove agent {agent_id!r}: register again",
                violations=[FieldViolation("agent_proof", "missing or wrong for this agent_id")],
            )

    def event_is_genuine(
        self,
        *,
        event_id: str,
        kernel_id: str,
        session_id: str,
        agent_id: str,
        phase: int,
        reason: str,
        exit_code: int,
        message: str,
        signature: str,
    ) -> bool:
        fields = event_fields(
            event_id, kernel_id, session_id, agent_id, phase, reason, exit_code, message
        )
        return bool(agent_id) and verify(self.secret_for(agent_id), fields, signature)
