"""Per-agent credentials: how an agent proves which agent it is (docs/access.md, "Agent
credentials").

The registry derives each agent's secret from a key only it holds and hands it to the agent in
`RegisterAgentResponse.agent_secret`. The agent then signs every later RPC (`agent_proof`) and
every kernel event it publishes (`KernelLifecycle.signature`) with it: HMAC-SHA256, hex, over the
newline-joined fields below. A registry checks a proof by deriving the secret again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

_DERIVE = b"shipyard-agent-credential\n"


def agent_secret(registry_key: str, agent_id: str) -> str:
    """The secret of `agent_id` (hex), derived from the registry's key."""
    return hmac.new(registry_key.encode(), _DERIVE + agent_id.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, fields: Iterable[str]) -> str:
    """HMAC-SHA256 (hex) of the newline-joined fields under the agent's secret."""
    payload = "\n".join(fields).encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def rpc_fields(method: str, agent_id: str) -> tuple[str, ...]:
    """What an agent signs for an RPC: its short method name and its own id."""
    return (method, agent_id)


def event_fields(
    event_id: str,
    kernel_id: str,
    session_id: str,
    agent_id: str,
    phase: int,
    reason: str,
    exit_code: int,
    message: str,
) -> tuple[str, ...]:
    """What an agent signs for a kernel event: every field the registry acts on."""
    return (event_id, kernel_id, session_id, agent_id, str(phase), reason, str(exit_code), message)


def certificate_name(agent_id: str) -> str:
    """The common name of `agent_id`'s mutual-TLS certificate (docs/deploy.md)."""
    return "agent:" + agent_id


def verify(secret: str, fields: Iterable[str], proof: str) -> bool:
    return bool(proof) and hmac.compare_digest(sign(secret, fields), proof)
