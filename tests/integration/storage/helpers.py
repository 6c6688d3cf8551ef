"""Caller and error-detail helpers for the storage integration tests."""

from __future__ import annotations

import uuid

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from libs.core.identity import Caller, Role


def user(role: Role = Role.USER) -> Caller:
    return Caller(user_id=str(uuid.uuid4()), role=role, access_key="AKTEST", domain_name="default")


def error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo in the status")


def violated_fields(exc: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return [v.field for v in bad.field_violations]
    return []
