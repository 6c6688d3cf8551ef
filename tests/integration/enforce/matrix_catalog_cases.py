"""Object cases for registry's catalog: images, aliases, container registries, resource groups.

These are global objects. Everyone signed in reads images (users pick them); admins and
monitors read registries; superadmins change them, except that admins may update a resource
group. Users see the resource groups allowed to them (the matrix group is allowed to A and B).
Images are seeded straight into the registry's store, as a rescan would leave them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from services.registry.adapters.image_store import SqlImageStore
from services.registry.domain.image_ref import parse_ref
from services.registry.domain.images import ScannedImage
from tests.integration.enforce import matrix as m
from tests.integration.enforce.matrix_kit import GROUP, Case, Platform, Prepare, req

REG = "/shipyard.registry.v1"
GROUP_UPDATE = {**m.SUPER_ONLY, "admin-A": m.OK, "admin-B": m.OK}
# Nothing listens there: a rescan's task starts and then fails, which is all the matrix needs.
UNREACHABLE = "http://127.0.0.1:9"


def _tag(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


async def _as_root(p: Platform, method: str, **fields: Any) -> Any:
    root = p.tenancy.callers["superadmin"]
    return await p.call(f"{REG}.{method}", req(f"{REG}.{method}", **fields), root)


async def seed_image(engine: AsyncEngine, reference: str) -> str:
    """An image row, as a rescan of some registry would have recorded it; returns its id."""
    store = SqlImageStore(async_sessionmaker(engine))
    ref = parse_ref(reference)
    digest = "sha256:" + secrets.token_hex(32)
    scanned = ScannedImage(
        ref=ref,
        architecture="x86_64",
        config_digest=digest,
        manifest_digest=digest,
        size_bytes=1024,
        labels={},
    )
    await store.upsert("matrix-registry", scanned, datetime.now(UTC))
    (image,) = await store.by_name(ref.canonical)
    return image.image_id


async def _image(p: Platform) -> str:
    return await seed_image(p.registry_engine, f"127.0.0.1:9/matrix/{_tag('img')}:1.0")


async def _alias(p: Platform) -> str:
    alias = _tag("alias")
    await _as_root(
        p,
        "ImageService/CreateImageAlias",
        image_alias={"alias": alias, "target": "127.0.0.1:9/matrix/base:1.0"},
    )
    return alias


async def _registry(p: Platform) -> str:
    name = _tag("cr")
    body = {"name": name, "url": UNREACHABLE}
    await _as_root(p, "ContainerRegistryService/CreateContainerRegistry", container_registry=body)
    return name


async def _group(p: Platform) -> str:
    name = _tag("rg")
    await _as_root(p, "ResourceGroupService/CreateResourceGroup", resource_group={"name": name})
    return name


def _on(method: str, make: Callable[[Platform], Any], key: str, listed: bool = False) -> Prepare:
    """A request naming a fresh object by `key` (or, for a listing, expecting it listed)."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        made = await make(p)
        if listed:
            return req(f"{REG}.{method}", page_size=1000), made
        return req(f"{REG}.{method}", **{key: made}), ""

    return prepare


def _body(method: str, key: str, fields: dict[str, Any]) -> Prepare:
    """A create (fresh name) or an update with a mask of `fields`."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        full = f"{REG}.{method}"
        if method.startswith(("ResourceGroupService/Create", "ContainerRegistryService/Create")):
            return req(full, **{key: {"name": _tag("new"), **fields}}), ""
        make = _group if method.startswith("ResourceGroup") else _registry
        body = {"name": await make(p), **fields}
        return req(full, **{key: body}, update_mask={"paths": list(fields)}), ""

    return prepare


async def _new_alias(p: Platform) -> tuple[Any, str]:
    body = {"alias": _tag("alias"), "target": "127.0.0.1:9/matrix/base:1.0"}
    return req(f"{REG}.ImageService/CreateImageAlias", image_alias=body), ""


async def _rescan_task(p: Platform) -> tuple[Any, str]:
    started = await _as_root(
        p, "ContainerRegistryService/RescanContainerRegistry", name=await _registry(p)
    )
    return req(f"{REG}.ContainerRegistryService/GetRescanTask", task_id=started.task.task_id), ""


async def _matrix_group(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.ResourceGroupService/GetResourceGroup", name=GROUP), ""


async def _groups_listing(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.ResourceGroupService/ListResourceGroups", page_size=1000), GROUP


def _listed(attr: str, key: str) -> Callable[[Any], set[str]]:
    return lambda r: {str(getattr(o, key)) for o in getattr(r, attr)}


IMG, CR, RG = "ImageService", "ContainerRegistryService", "ResourceGroupService"
EVENTS = "EventAdminService"


async def _dead_letters(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.{EVENTS}/ListDeadLetters", page_size=10), ""


async def _replay_all(p: Platform) -> tuple[Any, str]:
    return req(f"{REG}.{EVENTS}/ReplayDeadLetters", all=True), ""


CASES: dict[str, Case] = {
    f"{REG}.{EVENTS}/ListDeadLetters": Case(m.SUPER_ONLY, _dead_letters),
    f"{REG}.{EVENTS}/ReplayDeadLetters": Case(m.SUPER_ONLY, _replay_all),
    f"{REG}.{IMG}/ListImages": Case(
        m.SIGNED_IN, _on(f"{IMG}/ListImages", _image, "", True), _listed("images", "image_id")
    ),
    f"{REG}.{IMG}/GetImage": Case(m.SIGNED_IN, _on(f"{IMG}/GetImage", _image, "image_id")),
    f"{REG}.{IMG}/DeleteImage": Case(m.SUPER_ONLY, _on(f"{IMG}/DeleteImage", _image, "image_id")),
    f"{REG}.{IMG}/CreateImageAlias": Case(m.SUPER_ONLY, _new_alias),
    f"{REG}.{IMG}/ListImageAliases": Case(
        m.SIGNED_IN,
        _on(f"{IMG}/ListImageAliases", _alias, "", True),
        _listed("image_aliases", "alias"),
    ),
    f"{REG}.{IMG}/DeleteImageAlias": Case(
        m.SUPER_ONLY, _on(f"{IMG}/DeleteImageAlias", _alias, "alias")
    ),
    f"{REG}.{CR}/CreateContainerRegistry": Case(
        m.SUPER_ONLY,
        _body(f"{CR}/CreateContainerRegistry", "container_registry", {"url": UNREACHABLE}),
    ),
    f"{REG}.{CR}/GetContainerRegistry": Case(
        m.ADMIN_READ, _on(f"{CR}/GetContainerRegistry", _registry, "name")
    ),
    f"{REG}.{CR}/ListContainerRegistries": Case(
        m.ADMIN_READ,
        _on(f"{CR}/ListContainerRegistries", _registry, "", True),
        _listed("container_registries", "name"),
    ),
    f"{REG}.{CR}/UpdateContainerRegistry": Case(
        m.SUPER_ONLY,
        _body(f"{CR}/UpdateContainerRegistry", "container_registry", {"ssl_verify": False}),
    ),
    f"{REG}.{CR}/DeleteContainerRegistry": Case(
        m.SUPER_ONLY, _on(f"{CR}/DeleteContainerRegistry", _registry, "name")
    ),
    f"{REG}.{CR}/RescanContainerRegistry": Case(
        m.SUPER_ONLY, _on(f"{CR}/RescanContainerRegistry", _registry, "name")
    ),
    f"{REG}.{CR}/GetRescanTask": Case(m.ADMIN_READ, _rescan_task),
    f"{REG}.{RG}/CreateResourceGroup": Case(
        m.SUPER_ONLY, _body(f"{RG}/CreateResourceGroup", "resource_group", {"description": "x"})
    ),
    f"{REG}.{RG}/GetResourceGroup": Case(m.SIGNED_IN, _matrix_group),
    f"{REG}.{RG}/ListResourceGroups": Case(
        m.SIGNED_IN, _groups_listing, _listed("resource_groups", "name")
    ),
    f"{REG}.{RG}/UpdateResourceGroup": Case(
        GROUP_UPDATE, _body(f"{RG}/UpdateResourceGroup", "resource_group", {"description": "y"})
    ),
    f"{REG}.{RG}/DeleteResourceGroup": Case(
        m.SUPER_ONLY, _on(f"{RG}/DeleteResourceGroup", _group, "name")
    ),
}
