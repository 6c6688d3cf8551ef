"""Errors of operations on the files inside a folder."""

from __future__ import annotations

from libs.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)


class InvalidPath(InvalidArgument):
    reason = "INVALID_PATH"

    @classmethod
    def for_field(cls, field: str, rule: str) -> InvalidPath:
        return cls(f"invalid {field}: {rule}", violations=[FieldViolation(field, rule)])


class PathEscapesFolder(InvalidArgument):
    """A symbolic link on the way leads outside the folder (or the path is not a plain one)."""

    reason = "PATH_ESCAPES_FOLDER"

    @classmethod
    def for_field(cls, field: str, path: str) -> PathEscapesFolder:
        rule = "resolves outside the folder (through a symbolic link)"
        return cls(
            f"{field} {path!r} {rule}",
            violations=[FieldViolation(field, rule)],
            metadata={"path": path},
        )


class PathNotFound(NotFound):
    reason = "PATH_NOT_FOUND"


class PathAlreadyExists(AlreadyExists):
    reason = "PATH_ALREADY_EXISTS"


class NotADirectory(FailedPrecondition):
    reason = "NOT_A_DIRECTORY"


class NotAFile(FailedPrecondition):
    reason = "NOT_A_REGULAR_FILE"


class DirectoryNotEmpty(FailedPrecondition):
    reason = "DIRECTORY_NOT_EMPTY"


class FileTooLarge(FailedPrecondition):
    reason = "FILE_TOO_LARGE"


class InvalidMove(InvalidArgument):
    """E.g. a directory moved into itself."""

    reason = "INVALID_MOVE"


class FolderReadOnly(PermissionDenied):
    """The folder is shared read-only with the caller."""

    reason = "VFOLDER_READ_ONLY"


class FolderNotReady(FailedPrecondition):
    reason = "VFOLDER_NOT_READY"


class UploadOffsetMismatch(FailedPrecondition):
    """The stream starts elsewhere than where the stored partial upload ends."""

    reason = "UPLOAD_OFFSET_MISMATCH"


class UploadTooLong(InvalidArgument):
    """More bytes arrived than the upload's declared size."""

    reason = "UPLOAD_EXCEEDS_SIZE"


class QuotaExceeded(ResourceExhausted):
    """The volume refused the write: the quota scope or the volume is full."""

    reason = "QUOTA_EXCEEDED"
