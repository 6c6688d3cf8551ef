"""Domain error → google.rpc.Status: the code, ErrorInfo and BadRequest a client receives."""

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2

from libs.core import errors
from libs.core.errors import FieldViolation
from libs.grpcutil.status import to_status


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidArgument, code_pb2.INVALID_ARGUMENT),
        (errors.NotFound, code_pb2.NOT_FOUND),
        (errors.AlreadyExists, code_pb2.ALREADY_EXISTS),
        (errors.PermissionDenied, code_pb2.PERMISSION_DENIED),
        (errors.Unauthenticated, code_pb2.UNAUTHENTICATED),
        (errors.FailedPrecondition, code_pb2.FAILED_PRECONDITION),
        (errors.Aborted, code_pb2.ABORTED),
        (errors.ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
        (errors.Unavailable, code_pb2.UNAVAILABLE),
        (errors.DeadlineExceeded, code_pb2.DEADLINE_EXCEEDED),
        (errors.Internal, code_pb2.INTERNAL),
    ],
)
def test_each_error_class_maps_to_its_canonical_code(
    error: type[errors.ShipyardError], code: int
) -> None:
    status = to_status(error("boom"), "x.shipyard")
    assert status.code == code
    assert status.message == "boom"
    assert grpc.StatusCode[error.code].value[0] == code


def test_error_info_carries_reason_domain_and_metadata() -> None:
    class SessionGone(errors.NotFound):
        reason = "SESSION_NOT_FOUND"

    status = to_status(SessionGone("gone", metadata={"session_id": "s1"}), "registry.shipyard")
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "SESSION_NOT_FOUND",
        "registry.shipyard",
        {"session_id": "s1"},
    )


def test_field_violations_become_bad_request_details() -> None:
    err = errors.InvalidArgument("bad", violations=[FieldViolation("name", "too long")])
    status = to_status(err, "x.shipyard")
    bad = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [("name", "too long")]
