"""ResolveMounts: host paths of a user's folders, for the registry to mount into kernels.

Besides the folders asked for, every dot-folder the user can use (their own, shared with them,
their project's `.local`) is mounted too, as Backend.AI does: `.local` keeps pip's user installs,
`.ssh`-like configuration lives in others. A project's `.local` gives each user a subdirectory
of their own (named by their user id), so members do not overwrite each other's packages.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import PurePosixPath

from libs.core.errors import FieldViolation, InvalidArgument, ShipyardError
from services.storage.domain.access import canonical_id
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.model import Mount, MountPermission, VFolder
from services.storage.domain.mount_specs import (
    MountSpec,
    check_overlaps,
    default_target,
    parse_spec,
)
from services.storage.domain.names import PROJECT_DOT_FOLDER, is_valid_name
from services.storage.domain.sharing import mounts_read_only
from services.storage.service.file_ports import FolderFiles
from services.storage.service.ports import UnitOfWorkFactory
from services.storage.service.volumes import Volumes


class ResolveMounts:
    def __init__(self, *, uow: UnitOfWorkFactory, volumes: Volumes, files: FolderFiles) -> None:
        self._uow = uow
        self._volumes = volumes
        self._files = files

    async def __call__(
        self,
        *,
        user_id: str,
        names: Sequence[str],
        project_id: str = "",
        specs: Sequence[str] = (),
    ) -> list[Mount]:
        """Mounts in request order (names, then specs, then dot-folders); VFolderNotFound
        listing every missing name; MountTargetRefused for overlapping kernel paths."""
        owner = _check_input(user_id, names)
        parsed = [parse_spec(text, f"mounts[{i}]") for i, text in enumerate(specs)]
        wanted = list(dict.fromkeys([*names, *(p.name for p in parsed)]))
        async with self._uow() as uow:
            rows = await uow.vfolders.find_by_names(owner, wanted, project_id, dot_folders=True)
            grants = await uow.sharing.grants_for(owner, [f.id for f in rows])
        # Others' folders first, so that the user's own folder of the same name wins.
        found = {f.name: f for f in sorted(rows, key=lambda f: f.owner_user_id == owner)}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise VFolderNotFound.names(missing)
        automatic = sorted(n for n in found if n.startswith(".") and n not in wanted)
        named = [
            (f"vfolder_names[{i}]", await self._mount(found[n], owner, grants.get(found[n].id)))
            for i, n in enumerate(dict.fromkeys(names))
        ]
        for i, spec in enumerate(parsed):
            folder = found[spec.name]
            whole = await self._mount(folder, owner, grants.get(folder.id))
            named.append((f"mounts[{i}]", await self._sub(whole, spec, f"mounts[{i}]")))
        for n in automatic:
            named.append((n, await self._mount(found[n], owner, grants.get(found[n].id))))
        check_overlaps([(where, m.kernel_path) for where, m in named])
        return [m for _, m in named]

    async def _sub(self, whole: Mount, spec: MountSpec, field: str) -> Mount:
        if spec.subpath:
            try:
                await self._files.list_dir(whole.host_path, spec.subpath, after="", limit=1)
            except ShipyardError:
                sub = "/".join(spec.subpath)
                raise InvalidArgument(
                    f"{field}: {sub!r} is not a directory inside folder {spec.name!r}",
                    violations=[FieldViolation(field, "the subpath is not a directory in it")],
                ) from None
        host_path = str(PurePosixPath(whole.host_path, *spec.subpath))
        return replace(whole, host_path=host_path, kernel_path=spec.kernel_path)

    async def _mount(self, folder: VFolder, user_id: str, grant: MountPermission | None) -> Mount:
        host_path = self._volumes.of(folder).path_of(folder.id)
        if folder.project_id and folder.name == PROJECT_DOT_FOLDER:
            own = uuid.UUID(user_id).hex
            await self._files.make_dir(host_path, (own,), parents=False, exist_ok=True)
            host_path = str(PurePosixPath(host_path) / own)
        return Mount(
            vfolder_id=folder.id,
            name=folder.name,
            host_path=host_path,
            read_only=mounts_read_only(folder, grant or folder.permission),
            kernel_path=default_target(folder.name),
        )


def _check_input(user_id: str, names: Sequence[str]) -> str:
    # A name outside the name rule can never exist; rejecting it keeps the comma-joined
    # list of missing names unambiguous.
    violations = [
        FieldViolation(f"names[{i}]", "not a valid folder name")
        for i, name in enumerate(names)
        if not is_valid_name(name)
    ]
    owner = canonical_id(user_id)
    if owner is None:
        violations.insert(0, FieldViolation("user_id", "must be a UUID"))
    if owner is None or violations:
        raise InvalidArgument("invalid mount request", violations=violations)
    return owner
