"""Session access by scope: own, domain, all; other tenants' sessions are NOT_FOUND."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.core.access import Verb
from libs.core.identity import SYSTEM_CALLER, Caller, Role
from libs.core.slots import ResourceSlots
from services.registry.domain.errors import SessionNotFound
from services.registry.domain.model import Session, SessionType, Status
from services.registry.service.access import check_access, list_filter
from services.registry.service.ports import SessionFilter

OWNER = Caller(
    user_id="u-a1", access_key="AKA1", role=Role.USER, domain_name="A", project_ids=("pA1",)
)
PEER = Caller(
    user_id="u-a2", access_key="AKA2", role=Role.USER, domain_name="A", project_ids=("pA1",)
)
ADMIN_A = Caller(user_id="u-adm-a", access_key="AKADMA", role=Role.ADMIN, domain_name="A")
ADMIN_B = Caller(user_id="u-adm-b", access_key="AKADMB", role=Role.ADMIN, domain_name="B")
ROOT = Caller(user_id="u-root", access_key="AKROOT", role=Role.SUPERADMIN, domain_name="B")
MONITOR = Caller(user_id="u-mon", access_key="AKMON", role=Role.MONITOR, domain_name="B")


def _session() -> Session:
    return Session(
        session_id="s1",
        name="s1",
        session_type=SessionType.INTERACTIVE,
        image="python:3.11",
        status=Status.RUNNING,
        status_info="",
        status_message="",
        owner_user_id=OWNER.user_id,
        access_key=OWNER.access_key,
        domain_name="A",
        project_id="pA1",
        resource_group="default",
        requested_slots=ResourceSlots(),
        vfolder_names=(),
        client_token="",
        startup_command="",
        environ={},
        created_at=datetime.now(UTC),
        terminated_at=None,
        trace_context={},
    )


@pytest.mark.parametrize("caller", [OWNER, ADMIN_A, ROOT, SYSTEM_CALLER])
@pytest.mark.parametrize("verb", [Verb.READ, Verb.DELETE, Verb.EXECUTE])
def test_owner_domain_admin_and_superadmin_reach_the_session(caller, verb):
    check_access(caller, _session(), verb)


@pytest.mark.parametrize("caller", [PEER, ADMIN_B])
@pytest.mark.parametrize("verb", [Verb.READ, Verb.DELETE, Verb.EXECUTE])
def test_others_are_told_it_does_not_exist(caller, verb):
    # A project peer does not share sessions; an admin of domain B cannot reach domain A.
    with pytest.raises(SessionNotFound):
        check_access(caller, _session(), verb)


def test_a_monitor_reads_every_session():
    check_access(MONITOR, _session(), Verb.READ)


def test_listings_are_narrowed_by_scope():
    assert list_filter(OWNER) == SessionFilter(owner_user_id="u-a1")
    assert list_filter(ADMIN_B) == SessionFilter(domain_name="B")
    assert list_filter(ROOT) == list_filter(MONITOR) == SessionFilter()
