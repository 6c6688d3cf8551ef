"""Protobuf <-> domain conversion for what tenants may use: keypairs, resource policies and
resource-group access lists (the shared helpers live in tenancy_convert)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import field_mask_pb2
from shipyard.auth.v1 import keypair_service_pb2 as kpb
from shipyard.auth.v1 import resource_group_access_service_pb2 as apb
from shipyard.auth.v1 import resource_policy_service_pb2 as rpb

from services.auth.api.tenancy_convert import (
    changes_from_mask,
    duration_of,
    duration_pb,
    name_of,
    slots_of,
    slots_pb,
    ts,
)
from services.auth.domain.tenancy import (
    DEFAULT_RATE_LIMIT,
    DefaultForUnspecified,
    KeypairInfo,
    ResourceGroupAccess,
    ResourcePolicy,
)

_DFU_PB = {
    DefaultForUnspecified.LIMITED: rpb.DEFAULT_FOR_UNSPECIFIED_LIMITED,
    DefaultForUnspecified.UNLIMITED: rpb.DEFAULT_FOR_UNSPECIFIED_UNLIMITED,
}
_DFU_OF: dict[int, DefaultForUnspecified] = {int(v): k for k, v in _DFU_PB.items()}


def keypair_pb(k: KeypairInfo) -> kpb.Keypair:
    return kpb.Keypair(
        access_key=k.access_key,
        user_id=k.user_id,
        is_active=k.is_active,
        is_admin=k.is_admin,
        resource_policy=k.resource_policy,
        rate_limit=k.rate_limit,
        create_time=ts(k.created_at),
        last_used_time=ts(k.last_used_at),
        update_time=ts(k.updated_at),
        revoke_time=ts(k.revoked_at),
    )


def keypair_of(user_id: str, pb: kpb.Keypair) -> KeypairInfo:
    return KeypairInfo(
        access_key="",
        user_id=user_id,
        is_admin=pb.is_admin,
        resource_policy=pb.resource_policy,
        rate_limit=pb.rate_limit or DEFAULT_RATE_LIMIT,
    )


def keypair_changes(pb: kpb.Keypair, mask: field_mask_pb2.FieldMask) -> dict[str, Any]:
    return changes_from_mask(
        mask,
        {
            "is_active": lambda: pb.is_active,
            "is_admin": lambda: pb.is_admin,
            "resource_policy": lambda: name_of(pb.resource_policy, "keypair.resource_policy"),
            "rate_limit": lambda: pb.rate_limit or DEFAULT_RATE_LIMIT,
        },
        "keypair",
    )


# --- policies and access lists -----------------------------------------------------------


def policy_pb(p: ResourcePolicy) -> rpb.ResourcePolicy:
    return rpb.ResourcePolicy(
        name=p.name,
        default_for_unspecified=_DFU_PB[p.default_for_unspecified],
        total_resource_slots=slots_pb(p.total_resource_slots),
        max_concurrent_sessions=p.max_concurrent_sessions,
        max_containers_per_session=p.max_containers_per_session,
        max_session_lifetime=duration_pb(p.max_session_lifetime),
        idle_timeout=duration_pb(p.idle_timeout),
        max_pending_sessions=p.max_pending_sessions,
        max_vfolder_count=p.max_vfolder_count,
        max_vfolder_size=p.max_vfolder_size,
        allowed_vfolder_hosts=list(p.allowed_vfolder_hosts),
        max_session_priority=p.max_session_priority,
        create_time=ts(p.created_at),
        update_time=ts(p.updated_at),
    )


def _policy_readers(pb: rpb.ResourcePolicy) -> dict[str, Callable[[], Any]]:
    return {
        "default_for_unspecified": lambda: _DFU_OF.get(
            pb.default_for_unspecified,
            DefaultForUnspecified.UNLIMITED,
        ),
        "total_resource_slots": lambda: slots_of(
            pb.total_resource_slots, "resource_policy.total_resource_slots"
        ),
        "max_concurrent_sessions": lambda: pb.max_concurrent_sessions,
        "max_containers_per_session": lambda: pb.max_containers_per_session,
        "max_session_lifetime": lambda: duration_of(pb.max_session_lifetime),
        "idle_timeout": lambda: duration_of(pb.idle_timeout),
        "max_pending_sessions": lambda: pb.max_pending_sessions,
        "max_vfolder_count": lambda: pb.max_vfolder_count,
        "max_vfolder_size": lambda: pb.max_vfolder_size,
        "allowed_vfolder_hosts": lambda: tuple(pb.allowed_vfolder_hosts),
        "max_session_priority": lambda: pb.max_session_priority,
    }


def policy_of(pb: rpb.ResourcePolicy) -> ResourcePolicy:
    values = {name: read() for name, read in _policy_readers(pb).items()}
    return ResourcePolicy(name=name_of(pb.name, "resource_policy.name"), **values)


def policy_changes(pb: rpb.ResourcePolicy, mask: field_mask_pb2.FieldMask) -> dict[str, Any]:
    return changes_from_mask(mask, _policy_readers(pb), "resource_policy")


def access_pb(a: ResourceGroupAccess) -> apb.ResourceGroupAccess:
    return apb.ResourceGroupAccess(
        resource_group=a.resource_group,
        domain_names=list(a.domain_names),
        project_ids=list(a.project_ids),
        access_keys=list(a.access_keys),
    )


def access_of(pb: apb.ResourceGroupAccess) -> ResourceGroupAccess:
    return ResourceGroupAccess(
        resource_group=name_of(pb.resource_group, "access.resource_group"),
        domain_names=tuple(pb.domain_names),
        project_ids=tuple(p.lower() for p in pb.project_ids),
        access_keys=tuple(pb.access_keys),
    )
