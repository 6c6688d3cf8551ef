"""Registry credentials: a password stored encrypted and never returned, and used to scan a
registry that asks for it directly or through a token service."""

from __future__ import annotations

import pytest
from shipyard.registry.v1 import container_registry_service_pb2 as cr_pb
from sqlalchemy import text

from libs.db.engine import create_engine
from tests.integration.images.helpers import (
    add_registry,
    all_images,
    mask,
    rescan,
)

pytestmark = pytest.mark.integration


async def test_passwords_are_stored_encrypted_and_never_returned(platform, docker_registry):
    created = await add_registry(
        platform,
        "secret.example:5000",
        "https://secret.example:5000",
        username="robot",
        password="hunter2-very-secret",
    )
    assert created.has_password and created.password == ""
    assert created.username == "robot"
    listed = await platform.registries.ListContainerRegistries(
        cr_pb.ListContainerRegistriesRequest(), metadata=platform.as_caller(platform.superadmin)
    )
    assert all(r.password == "" for r in listed.container_registries)
    engine = create_engine(platform.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            stored = await conn.scalar(
                text(
                    "SELECT password_encrypted FROM registry.container_registries WHERE name = :n"
                ),
                {"n": "secret.example:5000"},
            )
    finally:
        await engine.dispose()
    assert stored and "hunter2" not in stored

    cleared = await platform.registries.UpdateContainerRegistry(
        cr_pb.UpdateContainerRegistryRequest(
            container_registry=cr_pb.ContainerRegistry(name="secret.example:5000", password=""),
            update_mask=mask("password"),
        ),
        metadata=platform.as_caller(platform.superadmin),
    )
    assert not cleared.container_registry.has_password
    assert cleared.container_registry.username == "robot"  # not in the mask: unchanged


async def test_a_registry_that_needs_a_password_is_scanned_with_the_stored_one(platform, tmp_path):
    from tests.integration.images.oci_images import KERNEL_LABELS, build_layout, push
    from tests.integration.images.registry_server import start_registry

    server = start_registry(tmp_path, users={"robot": "s3cret"})
    try:
        build_layout(tmp_path / "layout", {"x": (["arm64"], KERNEL_LABELS)})
        push(tmp_path / "layout", "x", f"{server.host}/private/one:1", creds="robot:s3cret")
        await add_registry(platform, server.host, server.url, username="robot", password="wrong")
        refused = await rescan(platform, server.host)
        assert refused.state == cr_pb.RescanTask.STATE_FAILED
        assert "401" in refused.error

        await platform.registries.UpdateContainerRegistry(
            cr_pb.UpdateContainerRegistryRequest(
                container_registry=cr_pb.ContainerRegistry(name=server.host, password="s3cret"),
                update_mask=mask("password"),
            ),
            metadata=platform.as_caller(platform.superadmin),
        )
        task = await rescan(platform, server.host)
        assert task.state == cr_pb.RescanTask.STATE_SUCCEEDED, task.error
        images = await all_images(platform, await platform.user(), container_registry=server.host)
        assert [(i.name, i.architecture) for i in images] == [
            (f"{server.host}/private/one:1", "arm64")
        ]
    finally:
        server.stop()


async def test_a_registry_behind_a_token_service_is_scanned_with_bearer_tokens(platform, tmp_path):
    from tests.integration.images.oci_images import KERNEL_LABELS, build_layout, push
    from tests.integration.images.registry_server import TOKEN_AUTH, start_registry
    from tests.integration.images.token_server import ISSUER, SERVICE, start_token_server

    tokens = start_token_server(tmp_path, {"robot": "s3cret"})
    auth = TOKEN_AUTH.format(
        realm=tokens.realm, service=SERVICE, issuer=ISSUER, cert=tokens.cert_path
    )
    server = start_registry(tmp_path, token_auth=auth)
    try:
        build_layout(tmp_path / "layout", {"x": (["amd64"], KERNEL_LABELS)})
        push(tmp_path / "layout", "x", f"{server.host}/hub/one:1", creds="robot:s3cret")
        pushed = tokens.issued
        await add_registry(platform, server.host, server.url, username="robot", password="s3cret")
        task = await rescan(platform, server.host)
        assert task.state == cr_pb.RescanTask.STATE_SUCCEEDED, task.error
        assert tokens.issued > pushed  # the scanner fetched its own tokens
        images = await all_images(platform, await platform.user(), container_registry=server.host)
        assert [i.name for i in images] == [f"{server.host}/hub/one:1"]
    finally:
        server.stop()
        tokens.stop()
