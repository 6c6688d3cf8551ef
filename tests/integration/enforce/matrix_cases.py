"""The isolation matrix's object cases: what each public RPC acts on, and who may.

Each case builds its request against an object of user-A1 (creating a fresh one where the call
changes or deletes it) and names the expected outcome per caller (see matrix.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from tests.integration.enforce import matrix as m
from tests.integration.enforce.matrix_kit import (
    GROUP,
    Case,
    Platform,
    owner_folder,
    owner_session,
    queued_owner_session,
    req,
)

# --- cases ------------------------------------------------------------------------------------


def _on_session(method: str, **fields: Any) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    async def prepare(p: Platform) -> tuple[Any, str]:
        session_id = await owner_session(p)
        return req(method, session_id=session_id, **fields), session_id

    return prepare


def _on_folder(method: str) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    async def prepare(p: Platform) -> tuple[Any, str]:
        folder_id = await owner_folder(p)
        return req(method, vfolder_id=folder_id), folder_id

    return prepare


FILES = "/shipyard.storage.v1.FileService"


def _on_folder_files(
    method: str, **fields: Any
) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    """A fresh folder of user-A1 holding a directory "d" (made through the API as its owner)."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        folder_id = await owner_folder(p)
        mkdir = f"{FILES}/MakeDirectory"
        await p.call(mkdir, req(mkdir, vfolder_id=folder_id, path="d"), p.tenancy.owner)
        return req(method, vfolder_id=folder_id, **fields), folder_id

    return prepare


def _listing(method: str, make: Callable[[Platform], Awaitable[str]], **fields: Any):
    async def prepare(p: Platform) -> tuple[Any, str]:
        return req(method, **fields), await make(p)

    return prepare


def _usage_of_owner(method: str) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    """User-A1's usage, named by user and domain."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        wanted = {"user_id": p.tenancy.owner.user_id, "domain_name": p.tenancy.domain_a}
        return req(method, filter=wanted), ""

    return prepare


def _plain(method: str, **fields: Any):
    async def prepare(p: Platform) -> tuple[Any, str]:
        return req(method, **fields), ""

    return prepare


AUTH = "/shipyard.auth.v1"


def _tenancy_read(kind: str) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    """Reads of user-A1's project, account and keypair (no fresh object needed)."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        owner, project = p.tenancy.owner, p.tenancy.project_a1
        requests = {
            "project": (f"{AUTH}.ProjectService/GetProject", {"project_id": project}, ""),
            "user": (f"{AUTH}.UserService/GetUser", {"user_id": owner.user_id}, ""),
            "keypair": (
                f"{AUTH}.KeypairService/GetKeypair",
                {"user_id": owner.user_id, "access_key": owner.access_key},
                "",
            ),
            "members": (f"{AUTH}.ProjectService/ListProjectMembers", {"project_id": project}, ""),
            "projects": (f"{AUTH}.ProjectService/ListProjects", {"page_size": 500}, project),
            "users": (f"{AUTH}.UserService/ListUsers", {"page_size": 500}, owner.user_id),
        }
        method, fields, target = requests[kind]
        return req(method, **fields), target

    return prepare


def _fresh_in_a(kind: str) -> Callable[[Platform], Awaitable[tuple[Any, str]]]:
    """A new project or user in domain A, to be deleted."""

    async def prepare(p: Platform) -> tuple[Any, str]:
        root = p.tenancy.callers["superadmin"]
        assert root is not None
        if kind == "project":
            method = f"{AUTH}.ProjectService/CreateProject"
            created = await p.call(
                method,
                req(
                    method,
                    project={
                        "domain_name": p.tenancy.domain_a,
                        "name": f"x-{secrets.token_hex(3)}",
                    },
                ),
                root,
            )
            project_id = created.project.project_id
            return req(f"{AUTH}.ProjectService/DeleteProject", project_id=project_id), ""
        member = await m.new_member(
            p.channels["auth"],
            p.token,
            root,
            domain=p.tenancy.domain_a,
            project_id=p.tenancy.project_a1,
        )
        return req(f"{AUTH}.UserService/DeleteUser", user_id=member.user_id), ""

    return prepare


def new_session_request() -> dict[str, Any]:
    return {"resources": {"cpu": "1", "mem": str(256 * 1024**2)}, "resource_group": GROUP}


REG = "/shipyard.registry.v1"
CASES: dict[str, Case] = {
    f"{REG}.SessionService/CreateSession": Case(
        m.CREATE_OWN, _plain(f"{REG}.SessionService/CreateSession", **new_session_request())
    ),
    f"{REG}.SessionService/GetSession": Case(
        m.READ_OBJECT, _on_session(f"{REG}.SessionService/GetSession")
    ),
    f"{REG}.SessionService/ListSessions": Case(
        m.LIST,
        _listing(f"{REG}.SessionService/ListSessions", owner_session, page_size=100),
        listed=lambda r: {s.session_id for s in r.sessions},
    ),
    f"{REG}.SessionService/DestroySession": Case(
        m.CHANGE_OBJECT, _on_session(f"{REG}.SessionService/DestroySession")
    ),
    # Allowed callers reach the session, which is PENDING: "not running" (not "not found").
    f"{REG}.SessionService/Execute": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.SessionService/Execute", code="print(1)", mode=1),
        ok_code="FAILED_PRECONDITION",
    ),
    # Allowed callers reach the session, which is PENDING: no kernel to open a terminal in.
    f"{REG}.TerminalService/OpenTerminal": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.TerminalService/OpenTerminal"),
        ok_code="FAILED_PRECONDITION",
    ),
    # Live execution and interrupts are Execute's right; the PENDING session runs nothing yet.
    f"{REG}.ExecutionService/StreamExecute": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.ExecutionService/StreamExecute"),
        ok_code="FAILED_PRECONDITION",
    ),
    f"{REG}.ExecutionService/InterruptExecution": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.ExecutionService/InterruptExecution"),
        ok_code="FAILED_PRECONDITION",
    ),
    # Work-directory files are Execute's right; the PENDING session has no kernel holding them.
    f"{REG}.SessionFileService/ListSessionFiles": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.SessionFileService/ListSessionFiles"),
        ok_code="FAILED_PRECONDITION",
    ),
    f"{REG}.SessionFileService/DownloadSessionFile": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.SessionFileService/DownloadSessionFile", path="x.txt"),
        ok_code="FAILED_PRECONDITION",
    ),
    f"{REG}.SessionFileService/UploadSessionFile": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.SessionFileService/UploadSessionFile", path="x.txt", data=b"x"),
        ok_code="FAILED_PRECONDITION",
    ),
    # Allowed callers reach the session; a PENDING session has no kernel to read logs from.
    f"{REG}.SessionService/GetSessionLogs": Case(
        m.READ_OBJECT,
        _on_session(f"{REG}.SessionService/GetSessionLogs", tail_lines=10),
        ok_code="FAILED_PRECONDITION",
    ),
    f"{REG}.UsageService/GetUsage": Case(
        m.READ_OBJECT, _usage_of_owner(f"{REG}.UsageService/GetUsage")
    ),
    f"{REG}.UsageService/GetUsageSeries": Case(
        m.READ_OBJECT, _usage_of_owner(f"{REG}.UsageService/GetUsageSeries")
    ),
    # Opening an app is Execute's right; the PENDING session has no kernel to run it in.
    f"{REG}.AppService/StartApp": Case(
        m.CHANGE_OBJECT,
        _on_session(f"{REG}.AppService/StartApp", app="echo"),
        ok_code="FAILED_PRECONDITION",
    ),
    f"{REG}.AppService/ListApps": Case(m.READ_OBJECT, _on_session(f"{REG}.AppService/ListApps")),
    f"{REG}.ClusterService/ListAgents": Case(
        m.ADMIN_READ, _plain(f"{REG}.ClusterService/ListAgents")
    ),
    "/shipyard.scheduler.v1.SchedulerService/ListPendingSessions": Case(
        m.LIST,
        _listing(
            "/shipyard.scheduler.v1.SchedulerService/ListPendingSessions", queued_owner_session
        ),
        listed=lambda r: {s.session_id for s in r.sessions},
    ),
    "/shipyard.storage.v1.VFolderService/CreateVFolder": Case(
        m.CREATE_OWN,
        _plain(
            "/shipyard.storage.v1.VFolderService/CreateVFolder", name="n-" + secrets.token_hex(4)
        ),
    ),
    "/shipyard.storage.v1.VFolderService/ListVFolders": Case(
        m.LIST,
        _listing("/shipyard.storage.v1.VFolderService/ListVFolders", owner_folder, page_size=1000),
        listed=lambda r: {f.vfolder_id for f in r.vfolders},
    ),
    "/shipyard.storage.v1.VFolderService/DeleteVFolder": Case(
        m.CHANGE_OBJECT, _on_folder("/shipyard.storage.v1.VFolderService/DeleteVFolder")
    ),
    f"{FILES}/ListFiles": Case(m.READ_OBJECT, _on_folder_files(f"{FILES}/ListFiles")),
    # Allowed callers reach the folder; "d" is a directory, which is not fetched as a file.
    f"{FILES}/FetchFile": Case(
        m.READ_OBJECT,
        _on_folder_files(f"{FILES}/FetchFile", path="d"),
        ok_code="FAILED_PRECONDITION",
    ),
    f"{FILES}/MakeDirectory": Case(
        m.CHANGE_OBJECT, _on_folder_files(f"{FILES}/MakeDirectory", path="e")
    ),
    f"{FILES}/MoveFile": Case(
        m.CHANGE_OBJECT,
        _on_folder_files(f"{FILES}/MoveFile", source_path="d", destination_path="e"),
    ),
    f"{FILES}/DeleteFiles": Case(
        m.CHANGE_OBJECT, _on_folder_files(f"{FILES}/DeleteFiles", paths=["d"])
    ),
    # Tenancy objects of user-A1: their project and their account.
    "/shipyard.auth.v1.ProjectService/GetProject": Case(m.READ_OBJECT, _tenancy_read("project")),
    "/shipyard.auth.v1.UserService/GetUser": Case(m.READ_OBJECT, _tenancy_read("user")),
    "/shipyard.auth.v1.KeypairService/GetKeypair": Case(m.READ_OBJECT, _tenancy_read("keypair")),
    "/shipyard.auth.v1.ProjectService/ListProjectMembers": Case(
        m.READ_OBJECT, _tenancy_read("members")
    ),
    "/shipyard.auth.v1.ProjectService/ListProjects": Case(
        m.LIST,
        _tenancy_read("projects"),
        listed=lambda r: {p.project_id for p in r.projects},
    ),
    "/shipyard.auth.v1.UserService/ListUsers": Case(
        m.LIST, _tenancy_read("users"), listed=lambda r: {u.user_id for u in r.users}
    ),
    "/shipyard.auth.v1.ProjectService/DeleteProject": Case(m.MANAGE_IN_A, _fresh_in_a("project")),
    "/shipyard.auth.v1.UserService/DeleteUser": Case(m.MANAGE_IN_A, _fresh_in_a("user")),
    "/shipyard.auth.v1.IdentityService/GetCurrentIdentity": Case(
        m.SELF, _plain("/shipyard.auth.v1.IdentityService/GetCurrentIdentity")
    ),
}
