"""`DomainService` and `ProjectService`."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from shipyard.auth.v1 import domain_service_pb2 as dpb
from shipyard.auth.v1 import domain_service_pb2_grpc as dpb_grpc
from shipyard.auth.v1 import project_service_pb2 as ppb
from shipyard.auth.v1 import project_service_pb2_grpc as ppb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.auth.api import tenancy_convert as cv
from services.auth.api.audited import audited, note
from services.auth.domain.paging import page_request
from services.auth.service.audit import AuditLog
from services.auth.service.domains import Domains
from services.auth.service.ports import Clock
from services.auth.service.projects import Projects

Ctx: TypeAlias = grpc.aio.ServicerContext


def _opt(msg: object, field: str) -> bool | None:
    return getattr(msg, field) if msg.HasField(field) else None  # type: ignore[attr-defined]


class DomainServicer(dpb_grpc.DomainServiceServicer):
    def __init__(self, domains: Domains, audit: AuditLog, clock: Clock) -> None:
        self.domains = domains
        self.audit = audit
        self.clock = clock

    @override
    @audited("domain.create", "domain", lambda r: r.domain.name)
    async def CreateDomain(
        self, request: dpb.CreateDomainRequest, context: Ctx
    ) -> dpb.CreateDomainResponse:
        note(domain_name=request.domain.name)
        created = await self.domains.create(current_caller(), cv.domain_of(request.domain))
        return dpb.CreateDomainResponse(domain=cv.domain_pb(created))

    @override
    async def GetDomain(self, request: dpb.GetDomainRequest, context: Ctx) -> dpb.GetDomainResponse:
        found = await self.domains.get(current_caller(), request.name)
        return dpb.GetDomainResponse(domain=cv.domain_pb(found))

    @override
    async def ListDomains(
        self, request: dpb.ListDomainsRequest, context: Ctx
    ) -> dpb.ListDomainsResponse:
        page = await self.domains.list(
            current_caller(),
            page_request(request.page_size, request.page_token),
            is_active=_opt(request, "is_active"),
            show_deleted=request.show_deleted,
        )
        return dpb.ListDomainsResponse(
            domains=[cv.domain_pb(d) for d in page.items], next_page_token=page.next_token
        )

    @override
    @audited("domain.update", "domain", lambda r: r.domain.name)
    async def UpdateDomain(
        self, request: dpb.UpdateDomainRequest, context: Ctx
    ) -> dpb.UpdateDomainResponse:
        note(domain_name=request.domain.name, detail=",".join(request.update_mask.paths))
        changes = cv.domain_changes(request.domain, request.update_mask)
        domain, ended = await self.domains.update(
            current_caller(), request.domain.name, changes, end_sessions=request.end_sessions
        )
        return dpb.UpdateDomainResponse(
            domain=cv.domain_pb(domain),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )

    @override
    @audited("domain.delete", "domain", lambda r: r.name)
    async def DeleteDomain(
        self, request: dpb.DeleteDomainRequest, context: Ctx
    ) -> dpb.DeleteDomainResponse:
        note(domain_name=request.name)
        domain, ended = await self.domains.delete(
            current_caller(), request.name, now=self.clock(), end_sessions=request.end_sessions
        )
        return dpb.DeleteDomainResponse(
            domain=cv.domain_pb(domain),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )


class ProjectServicer(ppb_grpc.ProjectServiceServicer):
    def __init__(self, projects: Projects, audit: AuditLog, clock: Clock) -> None:
        self.projects = projects
        self.audit = audit
        self.clock = clock

    @override
    @audited("project.create", "project", lambda r: r.project.name)
    async def CreateProject(
        self, request: ppb.CreateProjectRequest, context: Ctx
    ) -> ppb.CreateProjectResponse:
        note(domain_name=request.project.domain_name)
        wanted = cv.project_of(request.project)
        created = await self.projects.create(current_caller(), wanted)
        note(target_id=created.project_id)
        return ppb.CreateProjectResponse(project=cv.project_pb(created))

    @override
    async def GetProject(
        self, request: ppb.GetProjectRequest, context: Ctx
    ) -> ppb.GetProjectResponse:
        found = await self.projects.get(current_caller(), request.project_id)
        return ppb.GetProjectResponse(project=cv.project_pb(found))

    @override
    async def ListProjects(
        self, request: ppb.ListProjectsRequest, context: Ctx
    ) -> ppb.ListProjectsResponse:
        page = await self.projects.list(
            current_caller(),
            page_request(request.page_size, request.page_token),
            domain_name=request.domain_name,
            name_contains=request.name_contains,
            member_user_id=request.member_user_id,
            is_active=_opt(request, "is_active"),
            show_deleted=request.show_deleted,
        )
        return ppb.ListProjectsResponse(
            projects=[cv.project_pb(p) for p in page.items], next_page_token=page.next_token
        )

    @override
    @audited("project.update", "project", lambda r: r.project.project_id)
    async def UpdateProject(
        self, request: ppb.UpdateProjectRequest, context: Ctx
    ) -> ppb.UpdateProjectResponse:
        note(detail=",".join(request.update_mask.paths))
        changes = cv.project_changes(request.project, request.update_mask)
        project, ended = await self.projects.update(
            current_caller(),
            request.project.project_id,
            changes,
            end_sessions=request.end_sessions,
        )
        note(domain_name=project.domain_name)
        return ppb.UpdateProjectResponse(
            project=cv.project_pb(project),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )

    @override
    @audited("project.delete", "project", lambda r: r.project_id)
    async def DeleteProject(
        self, request: ppb.DeleteProjectRequest, context: Ctx
    ) -> ppb.DeleteProjectResponse:
        project, ended = await self.projects.delete(
            current_caller(),
            request.project_id,
            now=self.clock(),
            end_sessions=request.end_sessions,
        )
        note(domain_name=project.domain_name)
        return ppb.DeleteProjectResponse(
            project=cv.project_pb(project),
            sessions_ended=ended.sessions_ended,
            ended_session_count=ended.count,
        )

    @override
    @audited("project.add-member", "project", lambda r: r.project_id)
    async def AddProjectMember(
        self, request: ppb.AddProjectMemberRequest, context: Ctx
    ) -> ppb.AddProjectMemberResponse:
        note(detail=f"user {request.user_id}")
        member = await self.projects.add_member(
            current_caller(), request.project_id, request.user_id
        )
        return ppb.AddProjectMemberResponse(member=cv.member_pb(member))

    @override
    async def ListProjectMembers(
        self, request: ppb.ListProjectMembersRequest, context: Ctx
    ) -> ppb.ListProjectMembersResponse:
        page = await self.projects.members(
            current_caller(),
            request.project_id,
            page_request(request.page_size, request.page_token),
        )
        return ppb.ListProjectMembersResponse(
            members=[cv.member_pb(m) for m in page.items], next_page_token=page.next_token
        )

    @override
    @audited("project.remove-member", "project", lambda r: r.project_id)
    async def RemoveProjectMember(
        self, request: ppb.RemoveProjectMemberRequest, context: Ctx
    ) -> ppb.RemoveProjectMemberResponse:
        note(detail=f"user {request.user_id}")
        await self.projects.remove_member(current_caller(), request.project_id, request.user_id)
        return ppb.RemoveProjectMemberResponse()
