"""Write an OpenAPI 3 description of the edge's REST API, generated from the protos' HTTP rules.

Every public RPC with a `google.api.http` rule becomes an operation: path parameters from the
template (`{user.user_id}` names a field of the body message), query parameters from the other
scalar fields of GET/DELETE requests, a JSON body from the `body` field ("*" = the whole
request). Field schemas follow the proto JSON mapping with proto field names (the edge's
transcoder preserves them) and carry the `buf.validate` string bounds, so a fuzzer can aim at
and beyond them. Used by `bench.fuzz_edge`.

    .venv/bin/python scripts/openapi.py [--out build/openapi.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "build" / "gen")]

from buf.validate import validate_pb2  # noqa: E402
from google.api import annotations_pb2  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402

from gateway.config import PUBLIC_SERVICES  # noqa: E402

DESCRIPTORS = ROOT / "build" / "descriptors.binpb"
F = descriptor_pb2.FieldDescriptorProto
_INTS = {F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32, F.TYPE_UINT32, F.TYPE_FIXED32}
_LONGS = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64, F.TYPE_FIXED64}
_WELL_KNOWN = {
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Duration": {"type": "string", "pattern": "^[0-9]{1,6}(\\.[0-9]{1,9})?s$"},
    ".google.protobuf.FieldMask": {"type": "string"},
}
_MAX_DEPTH = 4


class Catalog:
    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, list[str]] = {}
        for file in fds.file:
            for message in file.message_type:
                self._walk(f".{file.package}", message)
            for enum in file.enum_type:
                self.enums[f".{file.package}.{enum.name}"] = [v.name for v in enum.value]

    def _walk(self, prefix: str, message: descriptor_pb2.DescriptorProto) -> None:
        name = f"{prefix}.{message.name}"
        self.messages[name] = message
        for nested in message.nested_type:
            self._walk(name, nested)
        for enum in message.enum_type:
            self.enums[f"{name}.{enum.name}"] = [v.name for v in enum.value]

    def message_schema(self, type_name: str, depth: int = 0) -> dict[str, Any]:
        if type_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[type_name])
        message = self.messages[type_name]
        if depth >= _MAX_DEPTH:
            return {"type": "object"}
        props = {f.name: self.field_schema(f, depth + 1) for f in message.field}
        return {"type": "object", "properties": props, "additionalProperties": False}

    def field_schema(self, field: descriptor_pb2.FieldDescriptorProto, depth: int) -> Any:
        rules = field.options.Extensions[validate_pb2.field]
        entry = self.messages.get(field.type_name) if field.type == F.TYPE_MESSAGE else None
        if entry is not None and entry.options.map_entry:
            value = next(f for f in entry.field if f.name == "value")
            return {
                "type": "object",
                "additionalProperties": self.single(value, rules.map.values, depth),
            }
        if field.label == F.LABEL_REPEATED:
            return {"type": "array", "items": self.single(field, rules.repeated.items, depth)}
        return self.single(field, rules, depth)

    def single(
        self, field: descriptor_pb2.FieldDescriptorProto, rules: Any, depth: int
    ) -> dict[str, Any]:
        if field.type == F.TYPE_STRING:
            schema: dict[str, Any] = {"type": "string"}
            if rules.string.HasField("max_len"):
                schema["maxLength"] = rules.string.max_len
            if rules.string.uuid:
                schema["format"] = "uuid"
            return schema
        if field.type == F.TYPE_BOOL:
            return {"type": "boolean"}
        if field.type in _INTS:
            return {"type": "integer", "format": "int32"}
        if field.type in _LONGS:
            return {"type": "integer", "format": "int64"}
        if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return {"type": "number"}
        if field.type == F.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        if field.type == F.TYPE_ENUM:
            return {"type": "string", "enum": self.enums[field.type_name]}
        return self.message_schema(field.type_name, depth)


def _operation(
    catalog: Catalog, service: str, method: descriptor_pb2.MethodDescriptorProto
) -> tuple[str, str, dict[str, Any]] | None:
    rule = method.options.Extensions[annotations_pb2.http]
    verb = next((v for v in ("get", "post", "patch", "delete", "put") if getattr(rule, v)), None)
    if verb is None:
        return None
    template: str = getattr(rule, verb)
    request = catalog.messages[method.input_type]
    params: list[dict[str, Any]] = []
    bound: set[str] = set()
    for var in re.findall(r"{([^}=]+)(?:=[^}]*)?}", template):
        safe = var.replace(".", "_")
        template = re.sub(r"{" + re.escape(var) + r"(=[^}]*)?}", "{" + safe + "}", template)
        bound.add(var.split(".")[0])
        params.append({"name": safe, "in": "path", "required": True, "schema": {"type": "string"}})
    op: dict[str, Any] = {"operationId": f"{service}.{method.name}", "parameters": params}
    if rule.body:
        if rule.body == "*":
            schema = catalog.message_schema(method.input_type)
            for name in bound:
                schema["properties"].pop(name, None)
        else:
            field = next(f for f in request.field if f.name == rule.body)
            schema = catalog.field_schema(field, 1)
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    else:
        for field in request.field:
            if field.name in bound or field.type == F.TYPE_MESSAGE:
                continue
            schema = catalog.field_schema(field, 1)
            op["parameters"].append({"name": field.name, "in": "query", "schema": schema})
    op["responses"] = {"200": {"description": "OK"}, "default": {"description": "error"}}
    return template, verb, op


def _event_stream(catalog: Catalog, method: descriptor_pb2.MethodDescriptorProto) -> bool:
    """A server stream that follows events (its request has `last_event_id`): browsers get it
    as SSE, and a plain REST request to it waits for events rather than answering."""
    request = catalog.messages[method.input_type]
    return method.server_streaming and any(f.name == "last_event_id" for f in request.field)


def build() -> dict[str, Any]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    catalog = Catalog(fds)
    paths: dict[str, dict[str, Any]] = {}
    for file in fds.file:
        for service in file.service:
            full = f"{file.package}.{service.name}"
            if full not in PUBLIC_SERVICES:
                continue
            for method in service.method:
                if _event_stream(catalog, method):
                    continue
                made = _operation(catalog, full, method)
                if made is not None:
                    path, verb, op = made
                    paths.setdefault(path, {})[verb] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shipyard edge (generated from the protos)", "version": "v1"},
        "paths": dict(sorted(paths.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "openapi.json")
    args = parser.parse_args()
    spec = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(spec, indent=1))
    count = sum(len(v) for v in spec["paths"].values())
    print(f"wrote {args.out} ({count} operations)")


if __name__ == "__main__":
    main()
