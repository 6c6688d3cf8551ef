"""The gRPC services of the cluster's operators and peers: agents and their registration,
images, container registries, resource groups, scheduling, admin session and event tools,
usage."""

from __future__ import annotations

from shipyard.registry.v1 import (
    agent_registry_service_pb2_grpc,
    cluster_service_pb2_grpc,
    container_registry_service_pb2_grpc,
    event_admin_service_pb2_grpc,
    image_service_pb2_grpc,
    rescan_task_service_pb2_grpc,
    resource_group_service_pb2_grpc,
    scheduling_service_pb2_grpc,
    session_admin_service_pb2_grpc,
)

from libs.events.dead_letters import DeadLetterQueue
from libs.grpcutil.server import Registration
from services.registry.adapters.owner_sessions import SqlOwnerSessions
from services.registry.adapters.preempt_requeue_store import SqlPreemptRequeue
from services.registry.adapters.slot_holders import SqlSlotHolders
from services.registry.api.agent_servicers import AgentRegistryServicer, ClusterServicer
from services.registry.api.event_admin_servicer import EventAdminServicer
from services.registry.api.image_servicers import (
    ContainerRegistryServicer,
    ImageServicer,
    ResourceGroupServicer,
)
from services.registry.api.rescan_task_servicer import RescanTaskServicer
from services.registry.api.scheduling_servicer import SchedulingServicer
from services.registry.api.session_admin_servicer import SessionAdminServicer
from services.registry.app_parts import KERNEL_EVENTS_GROUP, RegistryParts
from services.registry.idle_app import usage_registration
from services.registry.service.container_registries import ContainerRegistries
from services.registry.service.dead_letters import DeadLetters
from services.registry.service.images import Images
from services.registry.service.scheduling import Scheduling
from services.registry.service.terminate_owners import TerminateSessionsOfOwners
from services.registry.service.watch_rescan import WatchRescan


def admin_registrations(p: RegistryParts) -> list[Registration]:
    dead_letters = DeadLetterQueue(p.redis, p.kernel_stream, KERNEL_EVENTS_GROUP)
    scheduling = Scheduling(
        p.store,
        p.agent_store,
        p.events,
        p.wakeup,
        ending=p.lifecycle,
        agents=p.agent_client,
        requeue=SqlPreemptRequeue(p.sessions),
        holders=SqlSlotHolders(p.sessions),
    )
    return [
        Registration(
            rescan_task_service_pb2_grpc.add_RescanTaskServiceServicer_to_server,
            RescanTaskServicer(WatchRescan(p.rescans)),
            "shipyard.registry.v1.RescanTaskService",
        ),
        Registration(
            cluster_service_pb2_grpc.add_ClusterServiceServicer_to_server,
            ClusterServicer(p.agents),
            "shipyard.registry.v1.ClusterService",
        ),
        Registration(
            image_service_pb2_grpc.add_ImageServiceServicer_to_server,
            ImageServicer(Images(p.image_store)),
            "shipyard.registry.v1.ImageService",
        ),
        Registration(
            container_registry_service_pb2_grpc.add_ContainerRegistryServiceServicer_to_server,
            ContainerRegistryServicer(ContainerRegistries(p.registry_store), p.rescans),
            "shipyard.registry.v1.ContainerRegistryService",
        ),
        Registration(
            resource_group_service_pb2_grpc.add_ResourceGroupServiceServicer_to_server,
            ResourceGroupServicer(p.groups),
            "shipyard.registry.v1.ResourceGroupService",
        ),
        Registration(
            agent_registry_service_pb2_grpc.add_AgentRegistryServiceServicer_to_server,
            AgentRegistryServicer(p.agents, p.settings.heartbeat_interval, p.agent_auth),
            "shipyard.registry.v1.AgentRegistryService",
        ),
        Registration(
            session_admin_service_pb2_grpc.add_SessionAdminServiceServicer_to_server,
            SessionAdminServicer(
                TerminateSessionsOfOwners(SqlOwnerSessions(p.sessions), p.lifecycle, p.agent_client)
            ),
            "shipyard.registry.v1.SessionAdminService",
        ),
        Registration(
            event_admin_service_pb2_grpc.add_EventAdminServiceServicer_to_server,
            EventAdminServicer(DeadLetters({"kernel-events": dead_letters})),
            "shipyard.registry.v1.EventAdminService",
        ),
        Registration(
            scheduling_service_pb2_grpc.add_SchedulingServiceServicer_to_server,
            SchedulingServicer(scheduling),
            "shipyard.registry.v1.SchedulingService",
        ),
        usage_registration(p.sessions),
    ]
