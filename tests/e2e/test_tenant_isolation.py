"""Tenant isolation through the real edge: callers the edge must refuse, on every public route.

Public routes come from the google.api.http rules in the descriptor set, so a new public RPC
is covered here as soon as it exists.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from cli.platform import Platform
from libs.core import rpc_access
from tests.integration.enforce.matrix import DESCRIPTORS

pytestmark = pytest.mark.e2e


def _routes() -> list[tuple[str, str, str]]:
    """(rpc, HTTP method, path with every variable filled) for each public RPC."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    routes = []
    for f in fds.file:
        for service in f.service:
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule_of = rpc_access.rule_for(f"/{f.package}.{service.name}/{method.name}")
                if rule_of is not None and rule_of.public:
                    continue  # reachable without credentials on purpose (e.g. login)
                rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                template = getattr(rule, verb)
                path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
                routes.append((f"{f.package}.{service.name}/{method.name}", verb.upper(), path))
    return sorted(routes)


ROUTES = _routes()


@pytest.mark.parametrize(("rpc", "verb", "path"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_a_stranger_is_refused_on_every_public_route(
    platform: Platform, rpc: str, verb: str, path: str
) -> None:
    async with httpx.AsyncClient() as http:
        body = b"{}" if verb in ("POST", "PUT", "PATCH") else None
        response = await http.request(
            verb,
            f"{platform.endpoint}{path}",
            content=body,
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 401, f"{rpc}: {response.status_code} {response.text}"
    assert response.json()["message"]
