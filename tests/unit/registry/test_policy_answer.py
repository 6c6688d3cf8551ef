"""Auth's ResolveSessionPolicy answer → errors naming the field, or the keypair's limits."""

from __future__ import annotations

import pytest
from google.protobuf.duration_pb2 import Duration
from shipyard.auth.v1 import policy_service_pb2 as pb
from shipyard.auth.v1 import resource_policy_service_pb2 as policy_pb
from shipyard.type.v1 import resources_pb2

from services.registry.adapters.policy_client import policy_from_answer
from services.registry.domain.errors import ProjectNotFound, ResourceGroupNotFound, TenantInactive

PROJECT = "6f1c3a52-9d7e-4f55-8a59-1d1f0a8f3b11"


def _answer(**kw) -> pb.ResolveSessionPolicyResponse:
    base = {
        "user_active": True,
        "keypair_active": True,
        "domain_active": True,
        "project_active": True,
        "project_member": True,
        "resource_group_allowed": True,
        "allowed_resource_groups": ["gpu", "default"],
    }
    return pb.ResolveSessionPolicyResponse(**{**base, **kw})


def test_the_keypair_policy_becomes_the_session_policy():
    policy = policy_pb.ResourcePolicy(
        default_for_unspecified=policy_pb.DEFAULT_FOR_UNSPECIFIED_LIMITED,
        total_resource_slots=resources_pb2.ResourceSlots(amounts={"cpu": "8"}),
        max_containers_per_session=2,
        max_pending_sessions=5,
        max_session_lifetime=Duration(seconds=3600),
    )
    got = policy_from_answer(_answer(keypair_policy=policy), PROJECT, "gpu")
    assert (got.max_containers_per_session, got.max_pending_sessions) == (2, 5)
    assert (got.max_session_lifetime, got.strict_slots, got.resource_group) == (3600, True, "gpu")
    assert got.total_resource_slots["cpu"] == 8


def test_no_group_asked_means_default_when_allowed_else_the_first_allowed():
    assert policy_from_answer(_answer(), PROJECT, "").resource_group == "default"
    only = _answer(allowed_resource_groups=["b", "a"])
    assert policy_from_answer(only, PROJECT, "").resource_group == "a"
    with pytest.raises(ResourceGroupNotFound):
        policy_from_answer(_answer(allowed_resource_groups=[]), PROJECT, "")


@pytest.mark.parametrize(
    ("flags", "error", "field"),
    [
        ({"project_member": False}, ProjectNotFound, "project_id"),
        ({"project_active": False}, ProjectNotFound, "project_id"),
        ({"resource_group_allowed": False}, ResourceGroupNotFound, "resource_group"),
    ],
)
def test_refusals_name_the_field(flags, error, field):
    with pytest.raises(error) as err:
        policy_from_answer(_answer(**flags), PROJECT, "gpu")
    assert [v.field for v in err.value.violations] == [field]


@pytest.mark.parametrize("flag", ["user_active", "keypair_active", "domain_active"])
def test_an_inactive_tenant_is_refused(flag):
    with pytest.raises(TenantInactive):
        policy_from_answer(_answer(**{flag: False}), PROJECT, "")
