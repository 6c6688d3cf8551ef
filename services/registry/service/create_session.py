"""CreateSession: validate, resolve mounts, enqueue PENDING, optionally wait for RUNNING."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from libs.core.ids import new_id
from libs.core.kernel_environ import refused_environ
from libs.core.slots import CPU, MEM, ResourceSlots
from libs.telemetry.tracing import current_trace_context
from services.registry.domain.cluster import ClusterMode, cluster_layout
from services.registry.domain.errors import InvalidResources, PolicyLimitExceeded
from services.registry.domain.image_labels import (
    RESERVED_PORTS,
    LabelError,
    parse_service_ports,
)
from services.registry.domain.model import (
    DEAD_STATUSES,
    Session,
    SessionPolicy,
    SessionScheduling,
    SessionType,
    Status,
)
from services.registry.domain.templates import TemplateSpec
from services.registry.service.image_resolution import ImageResolver, check_minimums
from services.registry.service.ports import (
    MountResolver,
    NewKernel,
    NewSession,
    PolicyResolver,
    SessionWaiter,
)
from services.registry.service.resource_groups import ResourceGroups
from services.registry.service.session_ports import SessionIntake
from services.registry.service.session_scheduling import check_scheduling
from services.registry.service.session_templates import SessionTemplates

DEFAULT_SLOTS = {CPU: Decimal(1), MEM: Decimal(256 * 1024 * 1024)}
DEFAULT_IMAGE = "python:3.11"
DEFAULT_RESOURCE_GROUP = "default"
DEFAULT_WAIT = 30.0
T = TypeVar("T")
# Backend.AI's name: kernels and their service launchers read the image's ports from it.
SERVICE_PORTS_ENV = "BACKENDAI_SERVICE_PORTS"
PREOPEN_PORTS_ENV = "BACKENDAI_PREOPEN_PORTS"


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


@dataclass(frozen=True, slots=True)
class CreateSession:
    store: SessionIntake
    mounts: MountResolver
    waiter: SessionWaiter
    policies: PolicyResolver
    groups: ResourceGroups
    images: ImageResolver
    templates: SessionTemplates | None = None

    async def __call__(self, caller: Caller, cmd: CreateSessionCommand) -> Session:
        if cmd.template_id:
            if self.templates is None:
                raise InvalidArgument(
                    "session templates are not available here",
                    violations=[FieldViolation("template_id", "templates are not available")],
                )
            template = await self.templates.get(caller, cmd.template_id)
            cmd = apply_template(cmd, template.spec)
        slots = _requested_slots(cmd.resources)
        if cmd.session_type is SessionType.BATCH and not cmd.startup_command.strip():
            raise InvalidResources(
                "batch sessions need a startup_command",
                violations=[FieldViolation("startup_command", "required for batch sessions")],
            )
        refused = refused_environ(cmd.environ)
        if refused:
            raise InvalidArgument(
                f"environ may not set {', '.join(refused)} (docs/kernel-isolation.md)",
                violations=[FieldViolation(f"environ[{k}]", "may not be set") for k in refused],
            )
        project_id = cmd.project_id or (caller.project_ids[0] if caller.project_ids else "")
        if not project_id:
            raise InvalidArgument(
                "you belong to no project; pass project_id",
                violations=[FieldViolation("project_id", "required: you belong to no project")],
            )
        # The image and the mounts do not depend on the policy: ask for them meanwhile (one
        # round trip instead of three). Errors still surface in the order of the checks below.
        image_ahead = _ahead(self.images.resolve(cmd.image or DEFAULT_IMAGE))
        # Always asked: storage adds the user's dot-folders (e.g. `.local`) to what was named.
        mounts_ahead = _ahead(
            self.mounts.resolve(caller.user_id, cmd.vfolder_names, project_id, specs=cmd.mounts)
        )
        try:
            # Membership and resource-group permission come from auth, never from the request.
            policy = await self.policies.resolve(
                caller, project_id=project_id, resource_group=cmd.resource_group
            )
            resource_group = policy.resource_group or cmd.resource_group or DEFAULT_RESOURCE_GROUP
            size = max(cmd.cluster_size, 1)
            check_policy(policy, slots, size)
            scheduling = await check_scheduling(
                caller,
                cmd.scheduling,
                session_type=cmd.session_type or SessionType.INTERACTIVE,
                policy=policy,
                store=self.store,
                now=datetime.now(UTC),
            )
            group = await self.groups.require_usable(resource_group)
            image = await image_ahead
            check_minimums(image, slots)
            mounts = await mounts_ahead
        finally:
            image_ahead.cancel()  # no-ops once done; a refused request stops asking
            mounts_ahead.cancel()
        environ = dict(cmd.environ)
        if image.service_ports:
            environ[SERVICE_PORTS_ENV] = image.service_ports
        if cmd.preopen_ports:
            environ[PREOPEN_PORTS_ENV] = preopen_environ(cmd.preopen_ports, image.service_ports)
        session_id = new_id()
        new = NewSession(
            session_id=session_id,
            name=cmd.name or f"s-{session_id[:8]}",
            session_type=cmd.session_type or SessionType.INTERACTIVE,
            image=image.canonical,
            image_architectures=image.architectures,
            owner_user_id=caller.user_id,
            access_key=caller.access_key,
            domain_name=caller.domain_name,
            project_id=project_id,
            resource_group=group.name,
            mounts=tuple(mounts),
            client_token=cmd.client_token,
            startup_command=cmd.startup_command,
            environ=environ,
            trace_context=current_trace_context(),
            kernels=_kernels(slots, size),
            created_at=datetime.now(UTC),
            max_lifetime_seconds=policy.max_session_lifetime,
            idle_timeout_seconds=policy.idle_timeout,
            owner_created_at=policy.owner_created_at,
            max_pending_sessions=policy.max_pending_sessions,
            cluster_mode=cmd.cluster_mode or ClusterMode.SINGLE_NODE,
            scheduling=scheduling,
            requeue_on_agent_loss=cmd.requeue_on_agent_loss,
        )
        # The enqueue must complete even if the client hangs up mid-request (rule R-SHIELD).
        session, _ = await asyncio.shield(self._enqueue(new))
        if cmd.wait:
            session = await self._wait(session, cmd.wait_timeout or DEFAULT_WAIT)
        return session

    async def _enqueue(self, new: NewSession) -> tuple[Session, bool]:
        # The store stages SessionEnqueued in the insert's transaction, and again when a retry
        # finds the session still PENDING (rule R-OUTBOX).
        return await self.store.add(new)

    async def _wait(self, session: Session, timeout: float) -> Session:
        deadline = time.monotonic() + timeout
        flag = self.waiter.subscribe(session.session_id)
        try:
            while True:
                # Clear before reading: a change that lands after the read sets it again.
                flag.clear()
                session = await self.store.get(session.session_id)
                remaining = deadline - time.monotonic()
                if session.status is Status.RUNNING or session.status in DEAD_STATUSES:
                    return session
                if remaining <= 0:
                    return session
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(flag.wait(), remaining)
        finally:
            self.waiter.unsubscribe(session.session_id, flag)


def _ahead(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """`work` started now; its failure is raised where it is awaited, or dropped if it is not."""
    task = asyncio.create_task(work)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return task


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


def _kernels(slots: ResourceSlots, size: int) -> tuple[NewKernel, ...]:
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


def _requested_slots(raw: Mapping[str, str]) -> ResourceSlots:
    slots = ResourceSlots.parse(raw, field="resources")
    filled = {**DEFAULT_SLOTS, **dict(slots)}
    result = ResourceSlots(filled)
    if result[CPU] <= 0 or result[MEM] <= 0:
        raise InvalidResources(
            "resources.cpu and resources.mem must be positive",
            violations=[FieldViolation("resources", "cpu and mem must be positive")],
        )
    return result
