"""A CreateSession request before it touches any store: the command, the template's defaults,
the checks against the keypair's policy and the kernels the session is made of."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.ids import new_id
from libs.core.slots import CPU, MEM, ResourceSlots
from services.registry.domain.cluster import ClusterMode, cluster_layout
from services.registry.domain.errors import InvalidResources, PolicyLimitExceeded
from services.registry.domain.image_labels import (
    RESERVED_PORTS,
    LabelError,
    parse_service_ports,
)
from services.registry.domain.model import SessionPolicy, SessionScheduling, SessionType
from services.registry.domain.templates import TemplateSpec
from services.registry.service.ports import NewKernel

DEFAULT_SLOTS = {CPU: Decimal(1), MEM: Decimal(256 * 1024 * 1024)}
DEFAULT_IMAGE = "python:3.11"
DEFAULT_RESOURCE_GROUP = "default"
# Backend.AI's name: kernels and their service launchers read the image's ports from it.
SERVICE_PORTS_ENV = "BACKENDAI_SERVICE_PORTS"
PREOPEN_PORTS_ENV = "BACKENDAI_PREOPEN_PORTS"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSessionCommand:
    name: str
    session_type: SessionType | None  # None: the template's, else INTERACTIVE
    image: str
    resources: Mapping[str, str]
    vfolder_names: Sequence[str]
    startup_command: str
    resource_group: str
    client_token: str
    project_id: str
    environ: Mapping[str, str]
    wait: bool
    wait_timeout: float | None
    cluster_size: int = 1  # 0: the template's, else 1
    cluster_mode: ClusterMode | None = None  # None: the template's, else SINGLE_NODE
    scheduling: SessionScheduling = field(default_factory=SessionScheduling)
    requeue_on_agent_loss: bool = False
    preopen_ports: tuple[int, ...] = ()
    template_id: str = ""
    # "name[/subpath][:kernel_path]" mounts (docs/storage.md), resolved by storage.
    mounts: Sequence[str] = ()


def preopen_environ(ports: Sequence[int], service_ports: str) -> str:
    """The ports as the kernel sees them ("8000,8001"); none may be the runner's own or one
    the image's apps already use."""
    taken = set(RESERVED_PORTS)
    with contextlib.suppress(LabelError):
        taken |= {n for p in parse_service_ports(service_ports) for n in p.container_ports}
    clash = [p for p in ports if p in taken]
    if clash:
        raise InvalidArgument(
            f"preopen_ports: {clash} are used by the kernel runner or the image's apps",
            violations=[FieldViolation("preopen_ports", "port already in use in the kernel")],
        )
    return ",".join(str(p) for p in ports)


def apply_template(cmd: CreateSessionCommand, spec: TemplateSpec) -> CreateSessionCommand:
    """The template's values wherever the request leaves a field empty; maps merge per key."""
    return replace(
        cmd,
        session_type=cmd.session_type or spec.session_type,
        image=cmd.image or spec.image,
        resources={**spec.resources, **cmd.resources},
        environ={**spec.environ, **cmd.environ},
        startup_command=cmd.startup_command or spec.startup_command,
        resource_group=cmd.resource_group or spec.resource_group,
        cluster_size=cmd.cluster_size or spec.cluster_size,
        cluster_mode=cmd.cluster_mode or spec.cluster_mode,
        mounts=tuple(cmd.mounts) or spec.mounts,
    )


def check_policy(policy: SessionPolicy, slots: ResourceSlots, size: int) -> None:
    """Refuse what the keypair policy can never allow, naming the limit."""
    cap = policy.max_containers_per_session
    if cap > 0 and size > cap:
        raise PolicyLimitExceeded(
            f"cluster_size {size} exceeds max_containers_per_session {cap}",
            violations=[
                FieldViolation("cluster_size", f"at most {cap} (max_containers_per_session)")
            ],
            metadata={
                "limit": "max_containers_per_session",
                "max_containers_per_session": str(cap),
            },
        )
    total = ResourceSlots()
    for _ in range(size):
        total = total + slots
    over = policy.slots_over(total)
    if over:
        limits = ", ".join(f"{s} {policy.total_resource_slots[s]}" for s in over)
        raise PolicyLimitExceeded(
            f"the session asks for more than the keypair's total_resource_slots ({limits})",
            violations=[
                FieldViolation(f"resources.{s}", "above the keypair's total_resource_slots")
                for s in over
            ],
            metadata={"limit": "total_resource_slots", "slots": ",".join(over)},
        )


def kernels_of(slots: ResourceSlots, size: int) -> tuple[NewKernel, ...]:
    """main1 and sub1..sub(size-1) (docs/cluster-sessions.md), each with the requested slots."""
    return tuple(
        NewKernel(
            kernel_id=new_id(),
            cluster_role=place.role,
            cluster_idx=place.idx,
            local_rank=place.local_rank,
            requested_slots=slots,
        )
        for place in cluster_layout(size)
    )


def requested_slots(raw: Mapping[str, str]) -> ResourceSlots:
    slots = ResourceSlots.parse(raw, field="resources")
    filled = {**DEFAULT_SLOTS, **dict(slots)}
    result = ResourceSlots(filled)
    if result[CPU] <= 0 or result[MEM] <= 0:
        raise InvalidResources(
            "resources.cpu and resources.mem must be positive",
            violations=[FieldViolation("resources", "cpu and mem must be positive")],
        )
    return result
