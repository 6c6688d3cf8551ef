"""Errors of the storage service."""

from __future__ import annotations

from collections.abc import Sequence

from libs.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)


class VFolderNotFound(NotFound):
    reason = "VFOLDER_NOT_FOUND"

    @classmethod
    def names(cls, missing: Sequence[str]) -> VFolderNotFound:
        # Names cannot contain commas (see domain/names.py), so the joined list is unambiguous.
        joined = ",".join(missing)
        return cls(f"vfolders not found or not accessible: {joined}", metadata={"names": joined})


class VFolderAlreadyExists(AlreadyExists):
    reason = "VFOLDER_ALREADY_EXISTS"


class InvalidVFolderName(InvalidArgument):
    reason = "INVALID_VFOLDER_NAME"

    @classmethod
    def for_field(cls, field: str, name: str, rule: str = "") -> InvalidVFolderName:
        rule = rule or (
            'a folder name is letters, digits, ".", "_", "-", at most 64, and not one of the'
            ' reserved names (".", "..", ".ssh", ".jupyter", ".terminfo", ".config", ".tmux.conf")'
        )
        return cls(f"invalid folder name {name!r}", violations=[FieldViolation(field, rule)])


class UnknownVolume(InvalidArgument):
    reason = "UNKNOWN_VOLUME"

    @classmethod
    def named(cls, volume: str) -> UnknownVolume:
        return cls(
            f"unknown volume {volume!r}",
            violations=[FieldViolation("volume", "no volume of this name is configured")],
            metadata={"volume": volume},
        )


class InvalidPageToken(InvalidArgument):
    reason = "INVALID_PAGE_TOKEN"

    def __init__(self) -> None:
        super().__init__(
            "invalid page token",
            violations=[FieldViolation("page_token", "not a token from a previous response")],
        )


class UserCallerRequired(PermissionDenied):
    reason = "USER_CALLER_REQUIRED"


class VolumeNotConfigured(FailedPrecondition):
    """A folder lives on a volume this deployment no longer configures."""

    reason = "VOLUME_NOT_CONFIGURED"


class VolumeOperationFailed(Internal):
    reason = "VOLUME_OPERATION_FAILED"


class ProjectNotFound(NotFound):
    """A project the caller is not a member of (or that does not exist: no existence leak)."""

    reason = "PROJECT_NOT_FOUND"

    @classmethod
    def named(cls, project_id: str) -> ProjectNotFound:
        return cls(
            f"project {project_id} not found",
            violations=[FieldViolation("project_id", "not a project you are a member of")],
            metadata={"project_id": project_id},
        )


class VFolderMounted(FailedPrecondition):
    """A session that has not ended mounts the folder: it cannot be deleted or renamed."""

    reason = "VFOLDER_MOUNTED"
