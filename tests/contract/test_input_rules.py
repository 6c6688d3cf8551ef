"""Every string a public request carries is bounded and refuses NUL (rule R-INPUT-BOUNDS).

PostgreSQL refuses NUL characters in text and JSONB and overlong values for its VARCHAR columns;
unchecked, each of them is an HTTP 500. The rules live in the protos, so this walks every public
RPC's request message (and the messages it embeds) and checks each string field, repeated item,
map key and value. A `uuid`, an anchored `pattern` or an `in` list bound a string by themselves.
"""

from __future__ import annotations

from pathlib import Path

import protovalidate
import pytest
from buf.validate import validate_pb2
from google.protobuf import descriptor_pb2
from shipyard.registry.v1 import session_service_pb2 as session_pb
from shipyard.storage.v1 import vfolder_service_pb2 as vfolder_pb

from gateway.config import PUBLIC_SERVICES

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTORS = ROOT / "build" / "descriptors.binpb"
STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED


def _messages(fds: descriptor_pb2.FileDescriptorSet) -> dict[str, descriptor_pb2.DescriptorProto]:
    found: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}"
        found[name] = message
        for nested in message.nested_type:
            walk(name, nested)

    for file in fds.file:
        for message in file.message_type:
            walk(f".{file.package}", message)
    return found


def _bounded(rules: validate_pb2.StringRules) -> bool:
    if rules.uuid or getattr(rules, "in") or rules.pattern.startswith("^"):
        return True
    return rules.HasField("max_len") and rules.not_contains == "\x00"


def _unguarded_fields() -> list[str]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    messages = _messages(fds)
    seen: set[str] = set()
    bad: list[str] = []

    def visit(type_name: str) -> None:
        if type_name in seen or not type_name.startswith(".shipyard."):
            return
        seen.add(type_name)
        for field in messages[type_name].field:
            rules = field.options.Extensions[validate_pb2.field]
            where = f"{type_name[1:]}.{field.name}"
            if field.type == STRING:
                items = rules.repeated.items.string if field.label == REPEATED else rules.string
                if not _bounded(items):
                    bad.append(where)
                continue
            if field.type != MESSAGE:
                continue
            entry = messages.get(field.type_name)
            if entry is None or not entry.options.map_entry:
                visit(field.type_name)
                continue
            for part in entry.field:
                sub = rules.map.keys if part.name == "key" else rules.map.values
                if part.type == STRING and not _bounded(sub.string):
                    bad.append(f"{where}.{part.name}")
                elif part.type == MESSAGE:
                    visit(part.type_name)

    for file in fds.file:
        for service in file.service:
            if f"{file.package}.{service.name}" in PUBLIC_SERVICES:
                for method in service.method:
                    visit(method.input_type)
    return bad


def test_every_public_string_input_is_bounded_and_refuses_nul() -> None:
    assert _unguarded_fields() == []


def _violations(message: object) -> list[str]:
    try:
        protovalidate.Validator().validate(message)  # type: ignore[arg-type]
    except protovalidate.ValidationError as exc:
        return [str(v.proto.field.elements[0].field_name) for v in exc.violations]
    return []


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"image": "python:3\x00"}, "image"),
        ({"startup_command": "echo hi\x00"}, "startup_command"),
        ({"client_token": "tok\x00en"}, "client_token"),
        ({"resource_group": "default\x00"}, "resource_group"),
        ({"project_id": "p" * 70}, "project_id"),
        ({"environ": {"BIG": "x" * 10_000}}, "environ"),
        ({"environ": {"NUL": "a\x00b"}}, "environ"),
        ({"environ": {"BAD KEY": "v"}}, "environ"),
    ],
)
def test_create_session_refuses_what_postgresql_would_reject(
    fields: dict[str, object], named: str
) -> None:
    assert _violations(session_pb.CreateSessionRequest(**fields)) == [named]  # type: ignore[arg-type]


def test_create_vfolder_refuses_nul_and_overlong_project() -> None:
    assert _violations(vfolder_pb.CreateVFolderRequest(name="data", volume="local\x00")) == [
        "volume"
    ]
    assert _violations(vfolder_pb.CreateVFolderRequest(name="data", project_id="p" * 70)) == [
        "project_id"
    ]


def test_ordinary_requests_still_pass() -> None:
    request = session_pb.CreateSessionRequest(
        image="python:3.11",
        startup_command="echo hi; exit 0",
        client_token="c" * 64,
        project_id="0c3a9e8d-1b2f-4e6a-8c7d-5f4e3d2c1b0a",
        environ={"PYTHONUNBUFFERED": "1", "_X": "y" * 4096},
        resources={"cpu": "1", "mem": "268435456"},
    )
    assert _violations(request) == []
