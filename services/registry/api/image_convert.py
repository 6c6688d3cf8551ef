"""Protobuf ⇄ domain for images, container registries, rescan tasks and resource groups."""

from __future__ import annotations

import base64
import binascii
import json

from shipyard.registry.v1 import container_registry_service_pb2 as cr_pb
from shipyard.registry.v1 import image_service_pb2 as img_pb
from shipyard.registry.v1 import resource_group_service_pb2 as rg_pb

from libs.core.slots import ResourceSlots
from services.registry.api.convert import timestamp
from services.registry.domain.errors import InvalidPageToken
from services.registry.domain.group_scheduling import GroupScheduling
from services.registry.domain.images import (
    ContainerRegistry,
    Image,
    RegistryType,
    RescanTask,
    ResourceGroup,
    TaskState,
)
from services.registry.domain.utilization import UtilizationPolicy
from services.registry.service.image_ports import RegistryInput

TYPE_TO_PB = {RegistryType.DOCKER: cr_pb.ContainerRegistry.TYPE_DOCKER}
TYPE_FROM_PB = {
    cr_pb.ContainerRegistry.TYPE_UNSPECIFIED: RegistryType.DOCKER,
    cr_pb.ContainerRegistry.TYPE_DOCKER: RegistryType.DOCKER,
}
STATE_TO_PB = {
    TaskState.RUNNING: cr_pb.RescanTask.STATE_RUNNING,
    TaskState.SUCCEEDED: cr_pb.RescanTask.STATE_SUCCEEDED,
    TaskState.FAILED: cr_pb.RescanTask.STATE_FAILED,
}


def image_pb(image: Image) -> img_pb.Image:
    spec = image.spec
    return img_pb.Image(
        image_id=image.image_id,
        name=image.ref.canonical,
        registry=image.ref.registry,
        repository=image.ref.repository,
        tag=image.ref.tag,
        architecture=image.architecture,
        config_digest=image.config_digest,
        manifest_digest=image.manifest_digest,
        size_bytes=image.size_bytes,
        labels=dict(image.labels),
        features=list(spec.features),
        runtime_path=spec.runtime_path,
        service_ports=[
            img_pb.ServicePort(
                name=p.name, protocol=p.protocol, container_ports=list(p.container_ports)
            )
            for p in spec.service_ports
        ],
        min_resources=ResourceSlots(spec.min_resources).to_strings(),
        aliases=list(image.aliases),
        container_registry=image.container_registry,
        create_time=timestamp(image.created_at),
        update_time=timestamp(image.updated_at),
    )


def registry_pb(registry: ContainerRegistry) -> cr_pb.ContainerRegistry:
    return cr_pb.ContainerRegistry(
        name=registry.name,
        url=registry.url,
        type=TYPE_TO_PB[registry.type],
        username=registry.username,
        has_password=registry.has_password,
        ssl_verify=registry.ssl_verify,
        create_time=timestamp(registry.created_at),
    )


def registry_input(msg: cr_pb.ContainerRegistry, fields: set[str] | None = None) -> RegistryInput:
    """The writable fields of `msg`; with `fields`, only those (an update mask)."""

    def pick(name: str) -> bool:
        return fields is None or name in fields

    return RegistryInput(
        url=msg.url if pick("url") else None,
        type=TYPE_FROM_PB[msg.type].value if pick("type") else None,
        username=msg.username if pick("username") else None,
        password=msg.password if pick("password") else None,
        ssl_verify=msg.ssl_verify if pick("ssl_verify") and _has_ssl_verify(msg, fields) else None,
    )


def _has_ssl_verify(msg: cr_pb.ContainerRegistry, fields: set[str] | None) -> bool:
    # On create an unset flag keeps the secure default; a mask naming it sets it either way.
    return fields is not None or msg.HasField("ssl_verify")


def task_pb(task: RescanTask) -> cr_pb.RescanTask:
    msg = cr_pb.RescanTask(
        task_id=task.task_id,
        container_registry=task.container_registry,
        state=STATE_TO_PB[task.state],
        done=task.done,
        total=task.total,
        progress=task.progress,
        updated=task.updated,
        messages=list(task.messages),
        error=task.error,
        create_time=timestamp(task.created_at),
    )
    if task.finished_at is not None:
        msg.finish_time.CopyFrom(timestamp(task.finished_at))
    return msg


def group_pb(group: ResourceGroup) -> rg_pb.ResourceGroup:
    msg = rg_pb.ResourceGroup(
        name=group.name,
        description=group.description,
        is_active=group.is_active,
        create_time=timestamp(group.created_at),
        scheduler=group.scheduling.scheduler,
        scheduler_options=dict(group.scheduling.scheduler_options),
        agent_selector=group.scheduling.agent_selector,
        allowed_session_types=list(group.scheduling.allowed_session_types),
        pending_timeout_seconds=group.scheduling.pending_timeout_seconds,
        reservation_wait_seconds=group.scheduling.reservation_wait_seconds,
    )
    policy = group.scheduling.idle_utilization
    if policy is not None:
        msg.idle_utilization.window.FromTimedelta(policy.window)
        msg.idle_utilization.initial_grace.FromTimedelta(policy.initial_grace)
        msg.idle_utilization.thresholds.update(policy.thresholds)
        msg.idle_utilization.operator = "or" if policy.any_under else "and"
    return msg


def utilization_from_pb(msg: rg_pb.ResourceGroup) -> UtilizationPolicy | None:
    if not msg.HasField("idle_utilization"):
        return None
    given = msg.idle_utilization
    return UtilizationPolicy(
        window=given.window.ToTimedelta(),
        initial_grace=given.initial_grace.ToTimedelta(),
        thresholds=dict(given.thresholds),
        any_under=given.operator == "or",
    )


def scheduling_from_pb(msg: rg_pb.ResourceGroup) -> GroupScheduling:
    """As given; names left empty become the defaults when the use case normalizes them."""
    return GroupScheduling(
        scheduler=msg.scheduler,
        scheduler_options=dict(msg.scheduler_options),
        agent_selector=msg.agent_selector,
        allowed_session_types=tuple(msg.allowed_session_types),
        pending_timeout_seconds=msg.pending_timeout_seconds,
        reservation_wait_seconds=msg.reservation_wait_seconds,
        idle_utilization=utilization_from_pb(msg),
    )


def encode_key(key: tuple[str, ...] | None) -> str:
    if key is None:
        return ""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_key(token: str, size: int) -> tuple[str, ...] | None:
    """The key in a page token this service issued ("" = first page)."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidPageToken("page_token is not a token this service issued") from exc
    if not isinstance(key, list) or len(key) != size or not all(isinstance(k, str) for k in key):
        raise InvalidPageToken("page_token is not a token this service issued")
    return tuple(key)
