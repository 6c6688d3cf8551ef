"""Secrets at rest, password hashes, revocation across replicas, the policy service: against
real PostgreSQL, Redis and two auth servers (the audit log: test_audit_log.py)."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from shipyard.auth.v1 import keypair_service_pb2 as kpb
from shipyard.auth.v1 import policy_service_pb2 as pspb
from shipyard.auth.v1 import resource_group_access_service_pb2 as rgpb
from shipyard.auth.v1 import resource_policy_service_pb2 as rpb
from shipyard.auth.v1 import user_service_pb2 as upb
from sqlalchemy import text

from libs.db.engine import create_engine
from services.auth.adapters.passwords import Argon2Passwords
from services.auth.app import serve
from tests.integration.auth.admin_client import Admin, system_metadata
from tests.integration.auth.tenants import (
    PASSWORD,
    World,
    deactivate_keypair,
    issue_keypair,
    mask,
    replica_settings,
)
from tests.integration.auth.test_server import check, signed_check

pytestmark = pytest.mark.integration


async def _scalar(url: str, sql: str, **params: object) -> object:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


async def test_passwords_are_stored_as_argon2_hashes(world: World, migrated_url):
    stored = await _scalar(
        migrated_url,
        "SELECT password_hash FROM auth.users WHERE id = :id",
        id=world.user_a.user_id,
    )
    assert isinstance(stored, str) and stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert Argon2Passwords().verify(stored, PASSWORD)
    assert not Argon2Passwords().verify(stored, PASSWORD + "!")


async def test_secret_is_shown_once_and_encrypted_at_rest(world: World, auth_server, migrated_url):
    issued = await issue_keypair(world, world.user_a)
    key, secret = issued.keypair.access_key, issued.secret_key
    raw = await _scalar(
        migrated_url, "SELECT secret_key FROM auth.keypairs WHERE access_key = :k", k=key
    )
    assert isinstance(raw, str) and raw.startswith("v1:") and secret not in raw
    fetched = await world.root.keypairs.GetKeypair(
        kpb.GetKeypairRequest(user_id=world.user_a.user_id, access_key=key),
        metadata=world.root.metadata,
    )
    assert secret not in str(fetched)
    allowed = await check(auth_server, signed_check(key, secret))
    headers = {h.header.key: h.header.value for h in allowed.ok_response.headers}
    assert headers["x-shipyard-user-id"] == world.user_a.user_id
    assert headers["x-shipyard-project-ids"] == world.project_a.project_id


async def test_plaintext_secrets_are_encrypted_at_startup(
    auth_server, migrated_url, internal_token, unique_email
):
    kp = auth_server.keypair
    engine = create_engine(migrated_url, pool_size=1)
    try:
        async with engine.begin() as conn:  # as a row from before encryption at rest looks
            await conn.execute(
                text("UPDATE auth.keypairs SET secret_key = :s WHERE access_key = :k"),
                {"s": kp.secret_key, "k": kp.access_key},
            )
    finally:
        await engine.dispose()
    second = await serve(replica_settings(migrated_url, internal_token, unique_email, "plain"))
    try:
        raw = await _scalar(
            migrated_url,
            "SELECT secret_key FROM auth.keypairs WHERE access_key = :k",
            k=kp.access_key,
        )
        assert isinstance(raw, str) and raw.startswith("v1:")
        assert (await check(second, signed_check(kp.access_key, kp.secret_key))).ok_response
    finally:
        await second.stop(grace=0.5)


async def test_deactivation_on_one_replica_ends_access_on_another_within_a_second(
    migrated_url, internal_token, unique_email, key_prefix
):
    settings = replica_settings(migrated_url, internal_token, unique_email, key_prefix)
    replica_a = await serve(settings)
    replica_b = await serve(settings)
    try:
        await asyncio.wait_for(replica_b.tenancy.revocations.ready.wait(), 5)
        from tests.integration.auth.admin_client import connect
        from tests.integration.auth.tenants import build_world, superadmin

        async with connect(replica_a.port, system_metadata(internal_token)) as system:
            world = await build_world(
                await superadmin(system, internal_token, unique_email), internal_token
            )
            issued = await issue_keypair(world, world.user_a)
            key, secret = issued.keypair.access_key, issued.secret_key
            # Replica B verifies (and caches) the keypair first.
            assert (await check(replica_b, signed_check(key, secret))).ok_response.headers
            await deactivate_keypair(world, world.user_a, key)
            started = time.monotonic()
            while True:
                response = await check(replica_b, signed_check(key, secret))
                if response.HasField("denied_response"):
                    break
                assert time.monotonic() - started < 1.0, "replica B still accepts the keypair"
                await asyncio.sleep(0.02)
            assert "INACTIVE_KEYPAIR" in response.denied_response.body
    finally:
        await replica_a.stop(grace=0.5)
        await replica_b.stop(grace=0.5)


async def test_deleting_a_user_revokes_every_keypair(world: World, auth_server):
    issued = await issue_keypair(world, world.user_a2)
    key, secret = issued.keypair.access_key, issued.secret_key
    assert (await check(auth_server, signed_check(key, secret))).ok_response.headers
    deleted = await world.root.users.DeleteUser(
        upb.DeleteUserRequest(user_id=world.user_a2.user_id), metadata=world.root.metadata
    )
    assert deleted.user.status == upb.USER_STATUS_DELETED
    denied = await check(auth_server, signed_check(key, secret))
    assert denied.denied_response.status.code == 401
    listed = await world.root.keypairs.ListKeypairs(
        kpb.ListKeypairsRequest(user_id=world.user_a2.user_id, show_revoked=True),
        metadata=world.root.metadata,
    )
    assert all(k.HasField("revoke_time") and not k.is_active for k in listed.keypairs)


async def test_policy_service_resolves_membership_group_access_and_limits(
    world: World, internal_token
):
    root = world.root
    await root.policies.CreateResourcePolicy(
        rpb.CreateResourcePolicyRequest(
            resource_policy=rpb.ResourcePolicy(
                name=f"one-{world.domain_a}",
                max_concurrent_sessions=1,
                max_pending_sessions=4,
                default_for_unspecified=rpb.DEFAULT_FOR_UNSPECIFIED_LIMITED,
            )
        ),
        metadata=root.metadata,
    )
    issued = await issue_keypair(world, world.user_a, resource_policy=f"one-{world.domain_a}")
    await root.access.UpdateResourceGroupAccess(
        rgpb.UpdateResourceGroupAccessRequest(
            access=rgpb.ResourceGroupAccess(
                resource_group=f"gpu-{world.domain_a}", project_ids=[world.project_a.project_id]
            ),
            update_mask=mask("project_ids"),
        ),
        metadata=root.metadata,
    )
    system = Admin(root.channel, system_metadata(internal_token))
    request = pspb.ResolveSessionPolicyRequest(
        user_id=world.user_a.user_id,
        access_key=issued.keypair.access_key,
        domain_name=world.domain_a,
        project_id=world.project_a.project_id,
        resource_group=f"gpu-{world.domain_a}",
    )
    resolved = await system.policy.ResolveSessionPolicy(request, metadata=system.metadata)
    assert resolved.project_member and resolved.project_active and resolved.domain_active
    assert resolved.resource_group_allowed
    assert resolved.keypair_policy.max_concurrent_sessions == 1
    assert resolved.keypair_policy.max_pending_sessions == 4
    await issue_keypair(world, world.user_b)  # the main keypair is the one whose policy applies
    stranger = await system.policy.ResolveSessionPolicy(
        pspb.ResolveSessionPolicyRequest(
            user_id=world.user_b.user_id,
            domain_name=world.domain_b,
            project_id=world.project_a.project_id,
            resource_group=f"gpu-{world.domain_a}",
        ),
        metadata=system.metadata,
    )
    assert not stranger.project_member and not stranger.resource_group_allowed
    limits = await system.policy.BatchGetLimits(
        pspb.BatchGetLimitsRequest(
            access_keys=[issued.keypair.access_key, "AKNOSUCHKEY000000000"],
            domain_names=[world.domain_a],
        ),
        metadata=system.metadata,
    )
    assert set(limits.keypair_policies) == {issued.keypair.access_key}
    assert world.domain_a in limits.domain_total_resource_slots
    user = world.as_user(world.user_a)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await user.policy.ResolveSessionPolicy(request, metadata=user.metadata)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
