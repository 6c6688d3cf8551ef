from __future__ import annotations

from dataclasses import dataclass

import pytest

from libs.core.identity import Caller, Role
from services.storage.service.create import CreateVFolder
from services.storage.service.delete import DeleteVFolder
from services.storage.service.listing import ListVFolders
from services.storage.service.resolve_mounts import ResolveMounts
from services.storage.service.volumes import Volumes
from tests.unit.storage.fakes import FakeClock, FakeDatabase, FakeFolderFiles, FakeVolume, user


@dataclass
class Storage:
    db: FakeDatabase
    volume: FakeVolume
    create: CreateVFolder
    list: ListVFolders
    delete: DeleteVFolder
    resolve: ResolveMounts


@pytest.fixture
def storage() -> Storage:
    db, volume = FakeDatabase(), FakeVolume()
    volumes = Volumes([volume], default="local")
    return Storage(
        db=db,
        volume=volume,
        create=CreateVFolder(uow=db.uow, volumes=volumes, clock=FakeClock()),
        list=ListVFolders(uow=db.uow),
        delete=DeleteVFolder(uow=db.uow, volumes=volumes),
        resolve=ResolveMounts(uow=db.uow, volumes=volumes, files=FakeFolderFiles()),
    )


@pytest.fixture
def alice() -> Caller:
    return user()


@pytest.fixture
def bob() -> Caller:
    return user()


@pytest.fixture
def root() -> Caller:
    return user(Role.SUPERADMIN)
