"""Image references as the container backend reports them: always registry/repository:tag."""

from __future__ import annotations

import pytest

from services.agent.adapters.container_backend import _canonical


@pytest.mark.parametrize(
    ("engine_says", "reported"),
    [
        ("python:3.11", "docker.io/library/python:3.11"),  # Docker's short spelling
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("localhost/python:3.11", "localhost/python:3.11"),  # Podman's: already full
        ("127.0.0.1:5000/ns/app:1", "127.0.0.1:5000/ns/app:1"),
        ("registry.example.org/team/app:2", "registry.example.org/team/app:2"),
    ],
)
def test_references_are_completed_the_way_docker_resolves_them(
    engine_says: str, reported: str
) -> None:
    assert _canonical(engine_says) == reported
