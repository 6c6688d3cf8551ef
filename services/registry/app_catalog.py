"""Composition of the registry's catalog services: session templates, resource presets and the
mounted-folder lookup storage asks (kept apart from app.py, which wires the session path)."""

from __future__ import annotations

from shipyard.registry.v1 import (
    mount_usage_service_pb2_grpc,
    resource_preset_service_pb2_grpc,
    session_template_service_pb2_grpc,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.grpcutil.server import Registration
from services.registry.adapters.mounted_folders import SqlMountedFolders
from services.registry.adapters.policy_client import GrpcPolicyResolver
from services.registry.adapters.preset_store import SqlPresetStore
from services.registry.adapters.template_store import SqlTemplateStore
from services.registry.api.mount_usage_servicer import MountUsageServicer
from services.registry.api.preset_servicer import ResourcePresetServicer
from services.registry.api.template_servicer import SessionTemplateServicer
from services.registry.service.mounted_folders import MountedFolders
from services.registry.service.presets import ResourcePresets
from services.registry.service.session_templates import SessionTemplates


def catalog(
    sessions: async_sessionmaker[AsyncSession], policies: GrpcPolicyResolver
) -> tuple[SessionTemplates, list[Registration]]:
    """The templates CreateSession resolves, and the gRPC services of the catalog."""
    templates = SessionTemplates(SqlTemplateStore(sessions))
    return templates, [
        Registration(
            session_template_service_pb2_grpc.add_SessionTemplateServiceServicer_to_server,
            SessionTemplateServicer(templates),
            "shipyard.registry.v1.SessionTemplateService",
        ),
        Registration(
            resource_preset_service_pb2_grpc.add_ResourcePresetServiceServicer_to_server,
            ResourcePresetServicer(ResourcePresets(SqlPresetStore(sessions), policies)),
            "shipyard.registry.v1.ResourcePresetService",
        ),
        Registration(
            mount_usage_service_pb2_grpc.add_MountUsageServiceServicer_to_server,
            MountUsageServicer(MountedFolders(SqlMountedFolders(sessions))),
            "shipyard.registry.v1.MountUsageService",
        ),
    ]
