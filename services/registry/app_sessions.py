"""The gRPC services users call about their own sessions: create and read them, execute, files,
terminals, apps, events, rename and restart (plus the catalog's templates and presets)."""

from __future__ import annotations

from shipyard.registry.v1 import (
    app_service_pb2_grpc,
    execution_service_pb2_grpc,
    session_control_service_pb2_grpc,
    session_file_service_pb2_grpc,
    session_service_pb2_grpc,
    terminal_service_pb2_grpc,
    user_event_service_pb2_grpc,
)

from libs.grpcutil.server import Registration
from services.registry.adapters.session_names import SqlSessionNames
from services.registry.adapters.user_events import RedisUserEvents
from services.registry.api.app_servicer import SERVICE_NAME as APP_SERVICE_NAME
from services.registry.api.app_servicer import AppServicer
from services.registry.api.execution_servicer import ExecutionServicer
from services.registry.api.session_control_servicer import SessionControlServicer
from services.registry.api.session_file_servicer import FILE_SERVICE_NAME, SessionFileServicer
from services.registry.api.session_servicer import SessionServicer
from services.registry.api.terminal_servicer import TerminalServicer
from services.registry.api.user_event_servicer import UserEventServicer
from services.registry.app_catalog import catalog
from services.registry.app_parts import RegistryParts
from services.registry.idle_app import idle_grace
from services.registry.service.apps import ListApps, StartApp
from services.registry.service.create_session import CreateSession
from services.registry.service.destroy_session import DestroySession
from services.registry.service.execute import ExecTargets, Execute
from services.registry.service.image_resolution import ImageResolver
from services.registry.service.queries import SessionQueries
from services.registry.service.rename_session import RenameSession
from services.registry.service.session_files import SessionFiles
from services.registry.service.session_logs import GetSessionLogs
from services.registry.service.terminal import OpenTerminal
from services.registry.service.watch_events import WatchUserEvents


def session_registrations(p: RegistryParts) -> list[Registration]:
    store, agent_store, agent_client = p.store, p.agent_store, p.agent_client
    activity = p.idle.activity
    templates, catalog_services = catalog(p.sessions, p.policies)
    session_servicer = SessionServicer(
        CreateSession(
            store,
            p.mounts,
            p.waiter,
            p.policies,
            p.groups,
            ImageResolver(p.image_store),
            templates,
        ),
        SessionQueries(store, p.idle.live, idle_grace(p.settings)),
        DestroySession(store, p.lifecycle, agent_client),
        Execute(store, agent_store, agent_client, activity),
        GetSessionLogs(store, agent_store, agent_client),
    )
    return [
        Registration(
            session_service_pb2_grpc.add_SessionServiceServicer_to_server,
            session_servicer,
            "shipyard.registry.v1.SessionService",
        ),
        *catalog_services,
        Registration(
            execution_service_pb2_grpc.add_ExecutionServiceServicer_to_server,
            ExecutionServicer(ExecTargets(store, agent_store, activity), agent_client),
            "shipyard.registry.v1.ExecutionService",
        ),
        Registration(
            user_event_service_pb2_grpc.add_UserEventServiceServicer_to_server,
            UserEventServicer(
                WatchUserEvents(store, RedisUserEvents(p.redis, p.settings.redis_prefix))
            ),
            "shipyard.registry.v1.UserEventService",
        ),
        Registration(
            session_control_service_pb2_grpc.add_SessionControlServiceServicer_to_server,
            SessionControlServicer(
                RenameSession(store, SqlSessionNames(p.sessions)), p.restart_session
            ),
            "shipyard.registry.v1.SessionControlService",
        ),
        Registration(
            app_service_pb2_grpc.add_AppServiceServicer_to_server,
            AppServicer(StartApp(store, agent_store, agent_client, p.app_edge), ListApps(store)),
            APP_SERVICE_NAME,
        ),
        Registration(
            terminal_service_pb2_grpc.add_TerminalServiceServicer_to_server,
            TerminalServicer(OpenTerminal(store, agent_store, p.terminals), activity),
            "shipyard.registry.v1.TerminalService",
        ),
        Registration(
            session_file_service_pb2_grpc.add_SessionFileServiceServicer_to_server,
            SessionFileServicer(SessionFiles(ExecTargets(store, agent_store, activity), p.files)),
            FILE_SERVICE_NAME,
        ),
    ]
