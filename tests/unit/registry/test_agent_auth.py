"""Per-agent credentials: proofs and event signatures bind an agent to its id."""

from __future__ import annotations

import pytest
from shipyard.events.v1 import events_pb2

from libs.core.agent_credentials import rpc_fields, sign
from libs.core.errors import PermissionDenied, Unauthenticated
from services.agent.adapters.event_publisher import to_event
from services.agent.adapters.registry_client import AgentCredential
from services.agent.service.outbound import KernelEvent, Phase
from services.registry.domain.agent_auth import AgentAuth

AUTH = AgentAuth("registry-key")


def credential(agent_id: str) -> AgentCredential:
    c = AgentCredential()
    c.set(AUTH.secret_for(agent_id))
    return c


def event(agent_id: str) -> KernelEvent:
    return KernelEvent(
        kernel_id="k-1",
        session_id="s-1",
        agent_id=agent_id,
        phase=Phase.STARTED,
        reason="started",
        exit_code=0,
        message="",
        trace_context={},
    )


def genuine(e: events_pb2.Event) -> bool:
    k = e.kernel_lifecycle
    return AUTH.event_is_genuine(
        event_id=e.event_id,
        kernel_id=k.kernel_id,
        session_id=k.session_id,
        agent_id=k.agent_id,
        phase=k.phase,
        reason=k.reason,
        exit_code=k.exit_code,
        message=k.message,
        signature=k.signature,
    )


def test_an_agent_proves_its_own_id_and_no_other() -> None:
    secret = AUTH.secret_for("agent-a")
    AUTH.check_rpc("Heartbeat", "agent-a", sign(secret, rpc_fields("Heartbeat", "agent-a")))
    with pytest.raises(Unauthenticated) as err:
        AUTH.check_rpc("Heartbeat", "agent-b", sign(secret, rpc_fields("Heartbeat", "agent-b")))
    assert err.value.violations[0].field == "agent_proof"
    with pytest.raises(Unauthenticated):
        AUTH.check_rpc("Heartbeat", "agent-a", "")


def test_a_proof_for_one_rpc_does_not_serve_another() -> None:
    secret = AUTH.secret_for("agent-a")
    with pytest.raises(Unauthenticated):
        AUTH.check_rpc("DrainAgent", "agent-a", sign(secret, rpc_fields("Heartbeat", "agent-a")))


def test_events_signed_by_the_agent_they_name_are_genuine() -> None:
    assert genuine(to_event(event("agent-a"), credential("agent-a")))


def test_an_event_naming_another_agent_or_unsigned_or_altered_is_not() -> None:
    # Agent a's secret, but the event claims to come from agent b.
    assert not genuine(to_event(event("agent-b"), credential("agent-a")))
    assert not genuine(to_event(event("agent-a")))  # anything that can write to Redis
    altered = to_event(event("agent-a"), credential("agent-a"))
    altered.kernel_lifecycle.kernel_id = "someone-elses-kernel"
    assert not genuine(altered)


def test_secrets_differ_per_agent_and_per_registry_key() -> None:
    assert AUTH.secret_for("agent-a") != AUTH.secret_for("agent-b")
    assert AUTH.secret_for("agent-a") != AgentAuth("other-key").secret_for("agent-a")


def test_with_mutual_tls_only_the_agents_own_certificate_speaks_for_it() -> None:
    auth = AgentAuth("registry-key", certificates=True)
    auth.check_certificate("node-a", "agent:node-a")
    for name in ("agent:node-b", "registry", None):
        with pytest.raises(PermissionDenied) as refused:
            auth.check_certificate("node-a", name)
        assert refused.value.reason == "AGENT_CERTIFICATE_MISMATCH"
        assert [v.field for v in refused.value.violations] == ["agent_id"]
    # Without mutual TLS there is no certificate to check.
    AgentAuth("registry-key").check_certificate("node-a", None)
