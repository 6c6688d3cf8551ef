from __future__ import annotations

from libs.core.identity import Caller, Role
from services.scheduler.domain.cache import ClusterCache
from services.scheduler.domain.model import ClusterSnapshot
from services.scheduler.domain.policy import get_policy
from services.scheduler.service.list_pending import ListPendingSessions
from tests.unit.scheduler.factories import agent, session

ALICE = Caller(user_id="u1", access_key="AKALICE", role=Role.USER)
ADMIN = Caller(user_id="u0", access_key="AKADMIN", role=Role.ADMIN, domain_name="default")
OTHER_ADMIN = Caller(user_id="u9", access_key="AKOTHER", role=Role.ADMIN, domain_name="other")
SUPERADMIN = Caller(user_id="u8", access_key="AKROOT", role=Role.SUPERADMIN, domain_name="other")
MONITOR = Caller(user_id="u7", access_key="AKMON", role=Role.MONITOR, domain_name="other")


def _use_case(*pending, leader=True):
    cache = ClusterCache()
    cache.replace(ClusterSnapshot(agents=(agent("a1"),), pending=tuple(pending)))
    fifo = get_policy("fifo")
    return cache, ListPendingSessions(
        cache=cache, policy_for=lambda _group: fifo, is_leader=lambda: leader
    )


def test_admins_see_the_whole_queue_in_scheduling_order_with_reasons():
    mine_new = session(access_key="AKALICE", age=3)
    theirs = session(access_key="AKBOB", age=2)
    mine_old = session(access_key="AKALICE", age=1)
    gpu = session(access_key="AKBOB", group="gpu", age=0)
    cache, list_pending = _use_case(mine_new, theirs, mine_old, gpu)
    cache.attempt(theirs.session_id).record("no-available-instances", "full")

    queue = list_pending(ADMIN)

    assert queue.leader is True
    ids = [q.session.session_id for q in queue.sessions]
    assert ids == [mine_old.session_id, theirs.session_id, mine_new.session_id, gpu.session_id]
    waiting = queue.sessions[1]
    assert (waiting.pending_reason, waiting.pending_message, waiting.attempts) == (
        "no-available-instances",
        "full",
        1,
    )
    assert queue.sessions[0].attempts == 0


def test_users_see_only_their_own_sessions():
    mine, theirs = session(access_key="AKALICE"), session(access_key="AKBOB")
    _, list_pending = _use_case(mine, theirs, leader=False)

    queue = list_pending(ALICE)

    assert [q.session.session_id for q in queue.sessions] == [mine.session_id]
    assert queue.leader is False


def test_the_queue_can_be_filtered_by_resource_group():
    default, gpu = session(), session(group="gpu")
    _, list_pending = _use_case(default, gpu)
    queue = list_pending(ADMIN, resource_group="gpu")
    assert [q.session.session_id for q in queue.sessions] == [gpu.session_id]


def test_a_domain_admin_sees_only_their_domain_and_superadmins_and_monitors_see_all():
    here = session(access_key="AKALICE", domain="default", age=1)
    there = session(access_key="AKCAROL", domain="other", age=2)
    _, list_pending = _use_case(here, there)

    def ids(caller):
        return [q.session.session_id for q in list_pending(caller).sessions]

    assert ids(ADMIN) == [here.session_id]
    assert ids(OTHER_ADMIN) == [there.session_id]
    assert ids(SUPERADMIN) == ids(MONITOR) == [here.session_id, there.session_id]


def test_a_user_sees_where_their_sessions_stand_in_the_whole_queue():
    theirs_old = session(access_key="AKBOB", age=0)
    mine = session(access_key="AKALICE", age=1)
    theirs_new = session(access_key="AKBOB", age=2)
    gpu_mine = session(access_key="AKALICE", group="gpu", age=3)
    _, list_pending = _use_case(theirs_new, mine, theirs_old, gpu_mine)

    queue = list_pending(ALICE)

    places = {q.session.session_id: (q.queue_position, q.queue_length) for q in queue.sessions}
    assert places == {mine.session_id: (2, 3), gpu_mine.session_id: (1, 1)}
