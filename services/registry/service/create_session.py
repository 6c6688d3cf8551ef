"""CreateSession: validate, resolve mounts, enqueue PENDING, optionally wait for RUNNING."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from opentelemetry import trace

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.identity import Caller
from libs.core.ids import new_id
from libs.core.kernel_environ import refused_environ
from libs.telemetry.tracing import current_trace_context
from services.registry.domain.cluster import ClusterMode
from services.registry.domain.errors import InvalidResources
from services.registry.domain.model import WAIT_ENDS, Session, SessionType
from services.registry.service.image_resolution import ImageResolver, check_minimums
from services.registry.service.ports import MountResolver, NewSession, PolicyResolver, SessionWaiter
from services.registry.service.resource_groups import ResourceGroups
from services.registry.service.session_ports import SessionIntake
from services.registry.service.session_requests import (
    DEFAULT_IMAGE,
    DEFAULT_RESOURCE_GROUP,
    PREOPEN_PORTS_ENV,
    SERVICE_PORTS_ENV,
    CreateSessionCommand,
    apply_template,
    check_policy,
    kernels_of,
    preopen_environ,
    requested_slots,
)
from services.registry.service.session_scheduling import check_scheduling
from services.registry.service.session_templates import SessionTemplates

DEFAULT_WAIT = 30.0
T = TypeVar("T")
tracer = trace.get_tracer(__name__)


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
        slots = requested_slots(cmd.resources)
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
            kernels=kernels_of(slots, size),
            created_at=datetime.now(UTC),
            max_lifetime_seconds=policy.max_session_lifetime,
            idle_timeout_seconds=policy.idle_timeout,
            owner_created_at=policy.owner_created_at,
            max_pending_sessions=policy.max_pending_sessions,
            cluster_mode=cmd.cluster_mode or ClusterMode.SINGLE_NODE,
            scheduling=scheduling,
            requeue_on_agent_loss=cmd.requeue_on_agent_loss,
        )
        if not cmd.wait:
            # The enqueue must complete even if the client hangs up mid-request (rule R-SHIELD).
            return (await asyncio.shield(self._enqueue(new)))[0]
        # Subscribed before the enqueue: the session it returns is read after the subscription,
        # so a change after that read sets the flag, and the wait need not read it again.
        watched = new.session_id
        flag = self.waiter.subscribe(watched)
        try:
            session, _ = await asyncio.shield(self._enqueue(new))
            fresh = session.session_id == watched
            if not fresh:  # a retry found the first request's session: wait for that one
                self.waiter.unsubscribe(watched, flag)
                watched = session.session_id
                flag = self.waiter.subscribe(watched)
            return await self._wait(session, cmd.wait_timeout or DEFAULT_WAIT, flag, fresh=fresh)
        finally:
            self.waiter.unsubscribe(watched, flag)

    async def _enqueue(self, new: NewSession) -> tuple[Session, bool]:
        # The store stages SessionEnqueued in the insert's transaction, and again when a retry
        # finds the session still PENDING (rule R-OUTBOX).
        with tracer.start_as_current_span("enqueue session"):
            return await self.store.add(new)

    async def _wait(
        self, session: Session, timeout: float, flag: asyncio.Event, *, fresh: bool
    ) -> Session:
        """Until the session reaches a status of WAIT_ENDS or `timeout` passes; `flag` is set on
        each change after it was subscribed. `fresh`: `session` was read after that."""
        deadline = time.monotonic() + timeout
        while True:
            if not fresh:
                # Clear before reading: a change that lands after the read sets it again.
                flag.clear()
                session = await self.store.get(session.session_id)
            fresh = False
            remaining = deadline - time.monotonic()
            if session.status in WAIT_ENDS:
                return session
            if remaining <= 0:
                return session
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flag.wait(), remaining)


def _ahead(work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """`work` started now; its failure is raised where it is awaited, or dropped if it is not."""
    task = asyncio.create_task(work)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return task
