"""Quota scope rules: which scope a folder counts against, scope ids, who reads a scope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from libs.core.errors import InvalidArgument
from libs.core.identity import Caller, Role
from services.storage.domain import quota
from services.storage.domain.model import VFolder, VFolderStatus

U = str(uuid.uuid4())
P = str(uuid.uuid4())


def _folder(project_id: str = "") -> VFolder:
    return VFolder(
        id=str(uuid.uuid4()),
        name="f",
        owner_user_id=U,
        volume="local",
        status=VFolderStatus.READY,
        created_at=datetime.now(UTC),
        project_id=project_id,
    )


def test_project_folders_count_against_the_project_others_against_the_owner() -> None:
    assert quota.scope_of(_folder()) == f"user:{U}"
    assert quota.scope_of(_folder(P)) == f"project:{P}"


def test_scope_ids_are_canonical_and_bad_ones_name_the_field() -> None:
    assert quota.parse_scope_id(f"user:{U.upper()}") == f"user:{U}"
    for bad in ("", "user:", "group:" + U, "user:not-a-uuid", U):
        with pytest.raises(InvalidArgument) as err:
            quota.parse_scope_id(bad)
        assert err.value.violations[0].field == "scope_id"


def test_who_reads_a_scope() -> None:
    me = Caller(user_id=U, role=Role.USER, project_ids=(P,))
    other = Caller(user_id=str(uuid.uuid4()), role=Role.ADMIN)
    root = Caller(user_id=str(uuid.uuid4()), role=Role.SUPERADMIN)
    assert quota.may_read(me, f"user:{U}") and quota.may_read(me, f"project:{P}")
    assert not quota.may_read(other, f"user:{U}")
    assert not quota.may_read(other, f"project:{P}")
    assert quota.may_read(root, f"user:{U}")


def test_room_left() -> None:
    assert quota.room_left(0, 10**12) is None
    assert quota.room_left(100, 30) == 70
    assert quota.room_left(100, 130) == 0
