"""The images' health probe: which address it asks, and what it says when it cannot ask."""

from __future__ import annotations

from libs.grpcutil.health_probe import check, probe_address


def test_a_wildcard_bind_is_asked_on_loopback() -> None:
    assert probe_address("0.0.0.0:50051") == "127.0.0.1:50051"
    assert probe_address("[::]:50052") == "127.0.0.1:50052"
    assert probe_address("10.1.2.3:50053") == "10.1.2.3:50053"


def test_an_unknown_service_or_a_missing_bind_is_unhealthy_with_the_reason() -> None:
    assert (
        check("nope", {})
        == "unknown service 'nope' (one of edge, auth, registry, scheduler, storage, agent)"
    )
    assert check("auth", {}) == "AUTH_BIND is not set"


def test_nobody_listening_is_unhealthy() -> None:
    reason = check("registry", {"REGISTRY_BIND": "127.0.0.1:1"}, timeout=1.0)
    assert reason is not None and reason.startswith("127.0.0.1:1: UNAVAILABLE")
    edge = check("edge", {"EDGE_ADMIN_PORT": "1"}, timeout=1.0)
    assert edge is not None and edge.startswith("http://127.0.0.1:1/ready")
