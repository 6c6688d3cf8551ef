"""Errors of sharing folders and of invitations."""

from __future__ import annotations

from collections.abc import Sequence

from libs.core.errors import AlreadyExists, FailedPrecondition, FieldViolation, NotFound


class InvitationNotFound(NotFound):
    reason = "VFOLDER_INVITATION_NOT_FOUND"


class InvitationNotPending(FailedPrecondition):
    reason = "VFOLDER_INVITATION_NOT_PENDING"


class NotShareable(FailedPrecondition):
    """E.g. inviting to a project folder, sharing a personal one, or a private dot-folder."""

    reason = "VFOLDER_NOT_SHAREABLE"


class UsersNotFound(NotFound):
    reason = "USERS_NOT_FOUND"

    @classmethod
    def emails(cls, missing: Sequence[str], rule: str) -> UsersNotFound:
        joined = ",".join(missing)
        return cls(
            f"{rule}: {joined}",
            violations=[FieldViolation("emails", rule)],
            metadata={"emails": joined},
        )


class AlreadyHasAccess(AlreadyExists):
    reason = "VFOLDER_ALREADY_SHARED"


class FolderNameClash(AlreadyExists):
    """Accepting would give the invitee two folders of one name."""

    reason = "VFOLDER_NAME_CLASH"
