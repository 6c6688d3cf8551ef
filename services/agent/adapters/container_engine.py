"""The container backend's calls to a Docker Engine API (Docker or Podman), via aiodocker.

Everything that speaks the engine's dialect lives here: image presence and pulls with progress,
create/start, wait, inspect, logs and removal. Engine errors become the agent's own errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from libs.core.errors import Unavailable
from services.agent.domain import model as m

log = logging.getLogger(__name__)

# Called once when an image must be pulled before the kernel can be created.
PullListener = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    exit_code: int
    oom_killed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """A container of ours the engine knows, as listed."""

    container_id: str
    labels: dict[str, str]
    running: bool


class Engine:
    def __init__(self, url: str | None = None) -> None:
        # None: aiodocker's own search ($DOCKER_HOST, then the usual socket paths).
        self._docker = aiodocker.Docker(url=url)

    async def close(self) -> None:
        await self._docker.close()

    async def problem(self, timeout: float = 5.0) -> str | None:
        """Why the engine cannot be used now (None: it answers)."""
        try:
            async with asyncio.timeout(timeout):
                await self._docker.version()
        except TimeoutError:
            return f"the container engine did not answer within {timeout:.0f}s"
        except (DockerError, OSError, aiohttp.ClientError) as exc:
            return f"the container engine does not answer: {exc}"
        return None

    async def network_subnets(self, name: str) -> list[str]:
        """The subnets (CIDR) of engine network `name`, from its IPAM configuration."""
        try:
            network = await self._docker.networks.get(name)
            info = await network.show()
        except DockerError as exc:
            raise _unavailable(f"inspecting network {name}", exc) from exc
        configs = (info.get("IPAM") or {}).get("Config") or []
        return [str(c["Subnet"]) for c in configs if c.get("Subnet")]

    async def image_labels(self, image: str, on_pull: PullListener | None) -> dict[str, str]:
        """The image's labels, pulling it first when the engine does not have it."""
        try:
            info = await self._docker.images.inspect(image)
        except DockerError as exc:
            if exc.status != 404:
                msg = f"cannot inspect image {image}: {exc.message}"
                raise m.KernelStartFailed(msg, metadata={"image": image}) from exc
            await self._pull(image, on_pull)
            try:
                info = await self._docker.images.inspect(image)
            except DockerError as exc2:
                msg = f"image {image} is not there after its pull: {exc2.message}"
                raise m.KernelStartFailed(msg, metadata={"image": image}) from exc2
        labels = (info.get("Config") or {}).get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    async def _pull(self, image: str, on_pull: PullListener | None) -> None:
        if on_pull is not None:
            await on_pull()
        last = ""
        try:
            async for progress in self._docker.images.pull(image, stream=True):
                if "error" in progress:
                    raise m.KernelStartFailed(
                        f"cannot pull image {image}: {progress['error']}", metadata={"image": image}
                    )
                status = str(progress.get("status", ""))
                if status and status != last:
                    last = status
                    log.info("pulling %s: %s %s", image, status, progress.get("progress", ""))
        except DockerError as exc:
            raise m.KernelStartFailed(
                f"cannot pull image {image}: {exc.message}", metadata={"image": image}
            ) from exc

    async def image_tags(self) -> list[str]:
        """Every tag of every image the engine has, as it spells them."""
        try:
            listed = await self._docker.images.list()
        except DockerError as exc:
            raise _unavailable("cannot list images", exc) from exc
        return [str(tag) for image in listed for tag in image.get("RepoTags") or ()]

    async def run(self, body: dict[str, Any], name: str) -> str:
        """Create and start; the container id. A container that did not start is removed."""
        try:
            container = await self._docker.containers.create(body, name=name)
        except DockerError as exc:
            raise m.KernelStartFailed(f"cannot create container {name}: {exc.message}") from exc
        try:
            await container.start()
        except DockerError as exc:
            await self.remove(container.id)
            raise m.KernelStartFailed(f"cannot start container {name}: {exc.message}") from exc
        return container.id

    async def pid(self, container_id: str) -> int:
        """The host pid of the container's first process; 0 once it has ended."""
        try:
            info = await self._docker.containers.container(container_id).show()
        except DockerError:
            return 0
        return int((info.get("State") or {}).get("Pid") or 0)

    async def stats(self, container_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The container's one-shot stats; empty when the engine cannot give them now."""
        try:
            async with asyncio.timeout(timeout):
                found = await self._docker.containers.container(container_id).stats(stream=False)
        except (TimeoutError, DockerError, OSError, aiohttp.ClientError):
            return {}
        return dict(found[-1]) if found else {}

    async def wait(self, container_id: str) -> Ended:
        """Block until the container ends; its exit code and whether the OOM killer ended it."""
        container = self._docker.containers.container(container_id)
        with contextlib.suppress(DockerError):
            await container.wait()
        try:
            state = (await container.show()).get("State") or {}
        except DockerError:
            return Ended(exit_code=-1, oom_killed=False)  # removed under us: nothing to read
        code = int(state.get("ExitCode") or 0)
        # cgroup v1 engines report OOMKilled; a SIGKILL'd runner (137) whose limit was hit, too.
        return Ended(exit_code=code, oom_killed=bool(state.get("OOMKilled")))

    async def kill(self, container_id: str, signal: str) -> None:
        with contextlib.suppress(DockerError):  # already stopped or gone
            await self._docker.containers.container(container_id).kill(signal=signal)

    async def remove(self, container_id: str) -> None:
        try:
            await self._docker.containers.container(container_id).delete(force=True)
        except DockerError as exc:
            if exc.status != 404:
                log.warning("cannot remove container %s: %s", container_id, exc.message)

    async def logs(self, container_id: str, tail: int) -> str | None:
        """The container's stdout+stderr (last `tail` lines, 0: all); None when it is gone."""
        container = self._docker.containers.container(container_id)
        kwargs: dict[str, Any] = {"tail": str(tail)} if tail > 0 else {}
        try:
            lines = await container.log(stdout=True, stderr=True, follow=False, **kwargs)
        except DockerError as exc:
            if exc.status == 404:
                return None
            raise _unavailable(f"cannot read the logs of container {container_id}", exc) from exc
        return "".join(lines)

    async def owned(self, agent_label: str, agent_id: str) -> list[Found]:
        """Every container (running or not) carrying this agent's label."""
        params = {"all": "true", "filters": f'{{"label": ["{agent_label}={agent_id}"]}}'}
        try:
            listed = await self._docker.containers.list(**params)
        except DockerError as exc:
            raise _unavailable("cannot list containers", exc) from exc
        found = []
        for container in listed:
            raw = container._container  # the list entry as the engine sent it
            found.append(
                Found(
                    container_id=container.id,
                    labels={str(k): str(v) for k, v in (raw.get("Labels") or {}).items()},
                    running=str(raw.get("State", "")).lower() == "running",
                )
            )
        return found


def _unavailable(what: str, exc: DockerError) -> Unavailable:
    return Unavailable(f"{what}: {exc.message} (engine status {exc.status})")
