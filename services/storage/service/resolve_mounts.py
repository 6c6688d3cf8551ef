"""ResolveMounts: host paths of a user's folders, for the registry to mount into kernels."""

from __future__ import annotations

from collections.abc import Sequence

from libs.core.errors import FieldViolation, InvalidArgument
from services.storage.domain.access import canonical_id
from services.storage.domain.errors import VFolderNotFound
from services.storage.domain.model import Mount
from services.storage.domain.names import is_valid_name
from services.storage.domain.sharing import mounts_read_only
from services.storage.service.ports import UnitOfWorkFactory
from services.storage.service.volumes import Volumes


class ResolveMounts:
    def __init__(self, *, uow: UnitOfWorkFactory, volumes: Volumes) -> None:
        self._uow = uow
        self._volumes = volumes

    async def __call__(
        self, *, user_id: str, names: Sequence[str], project_id: str = ""
    ) -> list[Mount]:
        """Mounts in request order; VFolderNotFound listing every missing name otherwise."""
        owner = _check_input(user_id, names)
        if not names:
            return []
        async with self._uow() as uow:
            rows = await uow.vfolders.find_by_names(owner, names, project_id)
            grants = await uow.sharing.grants_for(owner, [f.id for f in rows])
        # Others' folders first, so that the user's own folder of the same name wins.
        found = {f.name: f for f in sorted(rows, key=lambda f: f.owner_user_id == owner)}
        missing = [n for n in dict.fromkeys(names) if n not in found]
        if missing:
            raise VFolderNotFound.names(missing)
        return [
            Mount(
                vfolder_id=found[n].id,
                name=n,
                host_path=self._volumes.of(found[n]).path_of(found[n].id),
                read_only=mounts_read_only(found[n], grants.get(found[n].id, found[n].permission)),
            )
            for n in names
        ]


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
