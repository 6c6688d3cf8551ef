"""Reading the generated Envoy bootstrap as data: settings, the JSON and its parts."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from gateway.config import EdgeSettings
from gateway.envoy_config import as_json, build_bootstrap

IDENTITY_HEADERS = [
    "x-shipyard-system",
    "x-shipyard-user-id",
    "x-shipyard-access-key",
    "x-shipyard-role",
    "x-shipyard-domain",
    "x-shipyard-project-ids",
    "x-shipyard-email",
    "x-shipyard-internal-token",
    "x-shipyard-app-host",  # which app an app token opens (gateway/apps.py)
    "x-shipyard-identity-reply",  # auth's answer to GET /v1/identity (gateway/identity_reply.py)
]
INTERNAL_SERVICES = [
    "shipyard.registry.v1.SchedulingService",
    "shipyard.registry.v1.AgentRegistryService",
    "shipyard.storage.v1.MountService",
    "shipyard.agent.v1.KernelService",
]
EXT_AUTHZ = "envoy.filters.http.ext_authz"


def settings(**overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {"internal_token": SecretStr("s3cret"), **overrides}
    return EdgeSettings(**values)


def bootstrap_json(edge: EdgeSettings) -> dict[str, Any]:
    """The static bootstrap as the JSON Envoy reads."""
    return as_json(build_bootstrap(edge))


def hcm(boot: dict[str, Any]) -> dict[str, Any]:
    (listener,) = boot["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    config: dict[str, Any] = manager["typed_config"]
    return config


def filters(boot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f["typed_config"] for f in hcm(boot)["http_filters"]}


def vhost(boot: dict[str, Any]) -> dict[str, Any]:
    (host,) = hcm(boot)["route_config"]["virtual_hosts"]
    return host  # type: ignore[no-any-return]


def route_for(boot: dict[str, Any], prefix: str) -> dict[str, Any]:
    (route,) = [r for r in vhost(boot)["routes"] if r["match"].get("prefix") == prefix]
    return route  # type: ignore[no-any-return]
