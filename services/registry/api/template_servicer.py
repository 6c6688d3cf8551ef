"""shipyard.registry.v1.SessionTemplateService."""

from __future__ import annotations

import grpc
from shipyard.registry.v1 import session_template_service_pb2 as pb
from shipyard.registry.v1 import session_template_service_pb2_grpc as pb_grpc
from typing_extensions import override

from libs.grpcutil.context import current_caller
from services.registry.api import convert
from services.registry.domain.templates import SessionTemplate, TemplateKind, TemplateSpec
from services.registry.service.session_templates import SessionTemplates

_KIND_TO_PB = {
    TemplateKind.SESSION: pb.SESSION_TEMPLATE_KIND_SESSION,
    TemplateKind.CLUSTER: pb.SESSION_TEMPLATE_KIND_CLUSTER,
}


def _spec_pb(spec: TemplateSpec) -> pb.SessionTemplateSpec:
    return pb.SessionTemplateSpec(
        session_type=convert.TYPE_TO_PB[spec.session_type] if spec.session_type else None,
        image=spec.image,
        resources=dict(spec.resources),
        mounts=list(spec.mounts),
        environ=dict(spec.environ),
        startup_command=spec.startup_command,
        resource_group=spec.resource_group,
        cluster_size=spec.cluster_size,
        cluster_mode=convert.CLUSTER_MODE_TO_PB[spec.cluster_mode] if spec.cluster_mode else None,
    )


def template_pb(template: SessionTemplate) -> pb.SessionTemplate:
    return pb.SessionTemplate(
        template_id=template.id,
        name=template.name,
        kind=_KIND_TO_PB[template.kind],
        owner_user_id=template.owner_user_id,
        project_id=template.project_id,
        domain_name=template.domain_name,
        spec=_spec_pb(template.spec),
        payload=template.payload,
        create_time=convert.timestamp(template.created_at),
        update_time=convert.timestamp(template.updated_at),
    )


class SessionTemplateServicer(pb_grpc.SessionTemplateServiceServicer):
    def __init__(self, templates: SessionTemplates) -> None:
        self._templates = templates

    @override
    async def CreateSessionTemplate(
        self, request: pb.CreateSessionTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateSessionTemplateResponse:
        template = await self._templates.create(
            current_caller(), request.payload, request.project_id
        )
        return pb.CreateSessionTemplateResponse(template=template_pb(template))

    @override
    async def GetSessionTemplate(
        self, request: pb.GetSessionTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionTemplateResponse:
        template = await self._templates.get(current_caller(), request.template_id)
        return pb.GetSessionTemplateResponse(template=template_pb(template))

    @override
    async def ListSessionTemplates(
        self, request: pb.ListSessionTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionTemplatesResponse:
        templates, cursor = await self._templates.list(
            current_caller(),
            request.project_id,
            page_size=request.page_size,
            before=convert.decode_page_token(request.page_token),
        )
        return pb.ListSessionTemplatesResponse(
            templates=[template_pb(t) for t in templates],
            next_page_token=convert.encode_page_token(cursor),
        )

    @override
    async def UpdateSessionTemplate(
        self, request: pb.UpdateSessionTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateSessionTemplateResponse:
        template = await self._templates.update(
            current_caller(), request.template_id, request.payload
        )
        return pb.UpdateSessionTemplateResponse(template=template_pb(template))

    @override
    async def DeleteSessionTemplate(
        self, request: pb.DeleteSessionTemplateRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteSessionTemplateResponse:
        await self._templates.delete(current_caller(), request.template_id)
        return pb.DeleteSessionTemplateResponse()
