"""Session and cluster templates: the document rules, and how a request overrides a template.

A template document is a mapping (parsed from YAML or JSON by the service):

    kind: session_template        # or cluster_template
    name: trainer
    spec:
      session_type: batch         # interactive (default) | batch
      image: python:3.11
      resources: {cpu: 1, mem: 268435456}
      mounts: [data, "data/sub:/home/work/x"]
      environ: {EPOCHS: "3"}
      startup_command: python train.py
      resource_group: default
      cluster_size: 2             # cluster templates only (2..64)
      cluster_mode: multi-node    # cluster templates only: single-node (default) | multi-node

Every violation names its key (`spec.resources.cpu`); unknown keys are refused, not ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from libs.core.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.model import SessionType

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GROUP = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}")
MAX_MOUNTS = 32
MAX_CLUSTER_SIZE = 64
# Far above any real capacity; keeps an amount like 1e999999 from becoming a million digits.
MAX_AMOUNT = Decimal(10) ** 24


class TemplateKind(StrEnum):
    SESSION = "session_template"
    CLUSTER = "cluster_template"


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateSpec:
    """What a template gives CreateSession; empty values give nothing."""

    session_type: SessionType | None = None
    image: str = ""
    resources: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[str, ...] = ()
    environ: Mapping[str, str] = field(default_factory=dict)
    startup_command: str = ""
    resource_group: str = ""
    cluster_size: int = 0
    cluster_mode: ClusterMode | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateDocument:
    kind: TemplateKind
    name: str
    spec: TemplateSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTemplate:
    id: str
    name: str
    kind: TemplateKind
    owner_user_id: str
    project_id: str  # "" for a personal template
    domain_name: str
    spec: TemplateSpec
    payload: str
    created_at: datetime
    updated_at: datetime


class TemplateNotFound(NotFound):
    reason = "SESSION_TEMPLATE_NOT_FOUND"

    @classmethod
    def of(cls, template_id: str) -> TemplateNotFound:
        return cls(
            f"session template {template_id} not found", metadata={"template_id": template_id}
        )


class TemplateExists(AlreadyExists):
    reason = "SESSION_TEMPLATE_EXISTS"

    @classmethod
    def named(cls, name: str) -> TemplateExists:
        return cls(
            f"you already have a template named {name!r} there; update or delete it",
            violations=[FieldViolation("payload.name", "already used by another template")],
            metadata={"name": name},
        )


class InvalidTemplate(InvalidArgument):
    reason = "INVALID_SESSION_TEMPLATE"


def _bad(where: str, what: str) -> InvalidTemplate:
    return InvalidTemplate(f"{where}: {what}", violations=[FieldViolation(where, what)])


_SPEC_KEYS = {
    "session_type",
    "image",
    "resources",
    "mounts",
    "environ",
    "startup_command",
    "resource_group",
}
_CLUSTER_KEYS = {"cluster_size", "cluster_mode"}


def parse_document(doc: object, *, where: str = "payload") -> TemplateDocument:
    """The template a loaded document describes, or InvalidTemplate naming the first bad key."""
    top = _mapping(doc, where)
    _only(top, {"kind", "name", "spec"}, where)
    kind_text = _text(top.get("kind"), f"{where}.kind", required=True)
    try:
        kind = TemplateKind(kind_text)
    except ValueError:
        raise _bad(f"{where}.kind", "must be session_template or cluster_template") from None
    name = _text(top.get("name"), f"{where}.name", required=True)
    if not _NAME.fullmatch(name):
        raise _bad(f"{where}.name", "1-64 letters, digits, '.', '_' or '-', not starting with one")
    spec_where = f"{where}.spec"
    raw = _mapping(top.get("spec", {}), spec_where)
    allowed = _SPEC_KEYS | (_CLUSTER_KEYS if kind is TemplateKind.CLUSTER else set())
    _only(raw, allowed, spec_where)
    spec = TemplateSpec(
        session_type=_session_type(raw.get("session_type"), f"{spec_where}.session_type"),
        image=_bounded(raw.get("image"), f"{spec_where}.image", 256),
        resources=_resources(raw.get("resources"), f"{spec_where}.resources"),
        mounts=_mounts(raw.get("mounts"), f"{spec_where}.mounts"),
        environ=_environ(raw.get("environ"), f"{spec_where}.environ"),
        startup_command=_bounded(
            raw.get("startup_command"), f"{spec_where}.startup_command", 16384
        ),
        resource_group=_group(raw.get("resource_group"), f"{spec_where}.resource_group"),
    )
    if kind is TemplateKind.CLUSTER:
        spec = replace(
            spec,
            cluster_size=_cluster_size(raw.get("cluster_size"), f"{spec_where}.cluster_size"),
            cluster_mode=_cluster_mode(raw.get("cluster_mode"), f"{spec_where}.cluster_mode"),
        )
    if spec.session_type is SessionType.BATCH and not spec.startup_command.strip():
        raise _bad(f"{spec_where}.startup_command", "required for batch sessions")
    return TemplateDocument(kind=kind, name=name, spec=spec)


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(where, "must be a mapping with text keys")
    return value


def _only(value: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _bad(f"{where}.{unknown[0]}", "unknown key")


def _text(value: object, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _bad(where, "required text" if required else "must be text")
    return value


def _bounded(value: object, where: str, max_len: int) -> str:
    text = _text(value, where)
    if len(text) > max_len or "\x00" in text:
        raise _bad(where, f"at most {max_len} characters, no NUL")
    return text


def _group(value: object, where: str) -> str:
    text = _text(value, where)
    if text and not _GROUP.fullmatch(text):
        raise _bad(where, "not a valid resource group name")
    return text


def _session_type(value: object, where: str) -> SessionType | None:
    if value is None:
        return None
    text = _text(value, where).upper()
    if text not in SessionType.__members__:
        raise _bad(where, "must be interactive or batch")
    return SessionType(text)


def _scalar(value: object, where: str) -> str:
    # YAML turns `cpu: 1` into an int and `cpu: 0.5` into a float; both mean the same text.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(where, "must be a number or text")
    return str(value)


def _resources(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    raw = _mapping(value, where)
    if len(raw) > 16:
        raise _bad(where, "at most 16 slots")
    out: dict[str, str] = {}
    for slot, amount in raw.items():
        text = _scalar(amount, f"{where}.{slot}")
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number < 0 or len(slot) > 64 or len(text) > 64:
            raise _bad(f"{where}.{slot}", "must be a non-negative number")
        if number >= MAX_AMOUNT:
            raise _bad(f"{where}.{slot}", "must be below 10^24")
        out[slot] = text
    return out


def _environ(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    raw = _mapping(value, where)
    if len(raw) > 64:
        raise _bad(where, "at most 64 variables")
    out: dict[str, str] = {}
    for key, item in raw.items():
        if not _ENV_KEY.fullmatch(key) or len(key) > 256:
            raise _bad(f"{where}.{key}", "not a valid variable name")
        text = _scalar(item, f"{where}.{key}")
        if len(text) > 4096 or "\x00" in text:
            raise _bad(f"{where}.{key}", "at most 4096 characters, no NUL")
        out[key] = text
    return out


def _mounts(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_MOUNTS:
        raise _bad(where, f"must be a list of at most {MAX_MOUNTS} mounts")
    items = tuple(_bounded(v, f"{where}[{i}]", 512) for i, v in enumerate(value))
    for i, item in enumerate(items):
        if not item:
            raise _bad(f"{where}[{i}]", "must not be empty")
    if len(set(items)) != len(items):
        raise _bad(where, "lists a mount twice")
    return items


def _cluster_size(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, "required: a whole number of kernels")
    if not 2 <= value <= MAX_CLUSTER_SIZE:
        raise _bad(where, f"must be between 2 and {MAX_CLUSTER_SIZE}")
    return value


def _cluster_mode(value: object, where: str) -> ClusterMode:
    text = _text(value, where) or "single-node"
    modes = {"single-node": ClusterMode.SINGLE_NODE, "multi-node": ClusterMode.MULTI_NODE}
    if text not in modes:
        raise _bad(where, "must be single-node or multi-node")
    return modes[text]
