"""Settings of the Envoy edge, read from EDGE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from libs.core.config import MtlsFiles

Upstream = Literal["auth", "registry", "scheduler", "storage"]
# The cluster of storage's HTTP transfer endpoints, and the path prefix the edge sends there.
STORAGE_HTTP = "storage-http"
# The cluster of auth's HTTP ext_authz Check (EDGE_AUTHZ=http), every replica's endpoint.
AUTHZ_CLUSTER = "auth-authz"
# The WebSocket/SSE bridge's cluster (gateway/bridge/), in the gateway's own process.
BRIDGE_CLUSTER = "bridge"
TRANSFERS_PREFIX = "/v1/storage/transfers/"

# Services reachable through the edge, and the upstream that serves each. Internal services
# (SchedulingService, AgentRegistryService, MountService, agents' KernelService) are left out on
# purpose: the edge has no route to them.
PUBLIC_SERVICES: dict[str, Upstream] = {
    "shipyard.auth.v1.IdentityService": "auth",
    "shipyard.auth.v1.AuthenticationService": "auth",
    "shipyard.auth.v1.DomainService": "auth",
    "shipyard.auth.v1.ProjectService": "auth",
    "shipyard.auth.v1.UserService": "auth",
    "shipyard.auth.v1.KeypairService": "auth",
    "shipyard.auth.v1.ResourcePolicyService": "auth",
    "shipyard.auth.v1.ResourceGroupAccessService": "auth",
    "shipyard.auth.v1.AuditService": "auth",
    "shipyard.registry.v1.SessionService": "registry",
    "shipyard.registry.v1.ExecutionService": "registry",
    "shipyard.registry.v1.UserEventService": "registry",
    "shipyard.registry.v1.SessionControlService": "registry",
    "shipyard.registry.v1.RescanTaskService": "registry",
    "shipyard.registry.v1.AppService": "registry",
    "shipyard.registry.v1.TerminalService": "registry",
    "shipyard.registry.v1.SessionFileService": "registry",
    "shipyard.registry.v1.ClusterService": "registry",
    "shipyard.registry.v1.ImageService": "registry",
    "shipyard.registry.v1.ContainerRegistryService": "registry",
    "shipyard.registry.v1.ResourceGroupService": "registry",
    "shipyard.registry.v1.EventAdminService": "registry",
    "shipyard.registry.v1.UsageService": "registry",
    "shipyard.registry.v1.SessionTemplateService": "registry",
    "shipyard.registry.v1.ResourcePresetService": "registry",
    "shipyard.storage.v1.FileService": "storage",
    "shipyard.storage.v1.VFolderSharingService": "storage",
    "shipyard.scheduler.v1.SchedulerService": "scheduler",
    "shipyard.storage.v1.VFolderService": "storage",
    "shipyard.storage.v1.VFolderTaskService": "storage",
}


class EdgeSettings(BaseSettings):
    """Everything the generated Envoy bootstrap depends on. Port 0 means "any free port"."""

    model_config = SettingsConfigDict(env_prefix="EDGE_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    admin_port: int = Field(default=9901, ge=0, le=65535)  # admin always binds 127.0.0.1
    auth_addr: str = "127.0.0.1:50051"
    # How the edge asks auth about a signed request: "http", auth's HTTP/1.1 Check on
    # auth_authz_addr (AUTH_AUTHZ_BIND; one replica per entry, as auth_addr), or "grpc", the
    # ext_authz gRPC Check on auth_addr (docs/edge-auth.md, docs/decisions.md D6).
    authz: Literal["http", "grpc"] = "http"
    auth_authz_addr: str = "127.0.0.1:50061"
    registry_addr: str = "127.0.0.1:50052"
    scheduler_addr: str = "127.0.0.1:50053"
    storage_addr: str = "127.0.0.1:50054"
    # Storage's HTTP transfer endpoints (tus, Range), served under TRANSFERS_PREFIX; empty: none.
    storage_http_addr: str = "127.0.0.1:50064"
    internal_token: SecretStr
    otlp_endpoint: str | None = None  # host:port of an OTLP/gRPC collector; enables tracing
    trace_sampling_percent: float = Field(default=100.0, ge=0.0, le=100.0)
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    descriptor_set: Path = Path("build/descriptors.binpb")
    public_services: dict[str, Upstream] = Field(default_factory=lambda: dict(PUBLIC_SERVICES))
    max_connections: int = Field(default=10_000, gt=0)
    authz_timeout_seconds: float = Field(default=1.0, gt=0.0)
    concurrency: int = Field(default=2, gt=0)
    log_level: str = "warning"
    run_dir: Path | None = None  # where the bootstrap and log go; a temporary directory if unset
    # Serve listeners, routes, clusters, endpoints and secrets over xDS from this process
    # (docs/decisions.md); False writes them all into a static bootstrap instead.
    xds: bool = True
    # host:port of the internal route API (shipyard.gateway.v1.EdgeRouteService; needs xds);
    # unset: routes change only through the in-process control plane.
    route_api_addr: str | None = None
    # Where run-time route, cluster and app changes are kept across restarts
    # (gateway/xds/state_file.py); unset: a restarted edge starts from its settings alone.
    state_file: Path | None = None
    # The WebSocket/SSE bridge for streaming RPCs (docs/streaming.md), run beside Envoy on
    # 127.0.0.1:bridge_port (0: any free port; the launcher then records the one it bound).
    bridge: bool = True
    bridge_port: int = Field(default=0, ge=0, le=65535)
    # Active gRPC health checks of every replica (grpc.health.v1), in seconds.
    health_check_interval: float = Field(default=0.5, gt=0.0, le=60.0)
    # Auth's public JWKS (AUTH_JWKS_FILE): enables bearer tokens, verified by Envoy itself.
    jwks_file: Path | None = None
    # Leeway for the token's exp/nbf; auth's AUTH_ACCESS_TOKEN_TTL (<= 290 s) + this < 300 s.
    # (0 would mean Envoy's default of 60 s, hence >= 1.)
    bearer_clock_skew_seconds: int = Field(default=5, ge=1, le=5)
    bearer_rate_limit: int = Field(default=1000, gt=0)  # per user and window, per Envoy worker
    bearer_rate_window: int = Field(default=900, gt=0)  # seconds
    # Login, refresh and logout calls per client address and window, per Envoy worker.
    login_rate_limit: int = Field(default=60, gt=0)
    login_rate_window: int = Field(default=60, gt=0)  # seconds
    # Session apps (docs/apps.md; needs jwks_file): each app gets the host
    # <app>-<session id>.<app_domain>; its URL uses app_public_port (default: port).
    app_domain: str = Field(default="localhost", pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
    app_public_port: int | None = Field(default=None, ge=1, le=65535)
    # Lifetime of an app token (and of the cookie holding it) unless the caller asks for less.
    app_token_max_ttl_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    # Both or neither: serve HTTPS (and gRPC over TLS) with this certificate chain and key.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # All three or none: dial the services over mutual TLS (scripts/dev-ca; docs/deploy.md).
    mtls_cert_file: Path | None = None
    mtls_key_file: Path | None = None
    mtls_ca_file: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> EdgeSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("EDGE_TLS_CERT_FILE and EDGE_TLS_KEY_FILE go together")
        given = [self.mtls_cert_file, self.mtls_key_file, self.mtls_ca_file]
        if any(f is not None for f in given) and not all(f is not None for f in given):
            raise ValueError(
                "EDGE_MTLS_CERT_FILE, EDGE_MTLS_KEY_FILE and EDGE_MTLS_CA_FILE go together"
            )
        return self

    def mtls(self) -> MtlsFiles | None:
        if self.mtls_cert_file is None or self.mtls_key_file is None or self.mtls_ca_file is None:
            return None
        return MtlsFiles(self.mtls_cert_file, self.mtls_key_file, self.mtls_ca_file)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip() for o in value.split(",") if o.strip())
        return value

    @field_validator(
        "auth_addr", "auth_authz_addr", "registry_addr", "scheduler_addr", "storage_addr"
    )
    @classmethod
    def _check_addr(cls, value: str) -> str:
        split_addrs(value)
        return value

    @field_validator("storage_http_addr")
    @classmethod
    def _check_http_addr(cls, value: str) -> str:
        if value:
            split_addrs(value)
        return value

    def http_upstreams(self) -> dict[str, list[tuple[str, int]]]:
        """The plain-HTTP (HTTP/1.1) upstreams, by cluster name, with their replicas."""
        found = {STORAGE_HTTP: self.storage_http_addr}
        if self.authz == "http":
            found[AUTHZ_CLUSTER] = self.auth_authz_addr
        clusters = {name: split_addrs(addr) for name, addr in found.items() if addr}
        if self.bridge_enabled():
            clusters[BRIDGE_CLUSTER] = [("127.0.0.1", self.bridge_port)]
        return clusters

    def bridge_enabled(self) -> bool:
        """Whether a bridge runs (the launcher records its port once it is listening)."""
        return self.bridge and self.bridge_port != 0

    @field_validator("route_api_addr")
    @classmethod
    def _check_route_api(cls, value: str | None) -> str | None:
        if value:
            split_addr(value.removesuffix(":0") + ":1")  # port 0: any free port
        return value or None

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_otlp(cls, value: str | None) -> str | None:
        if not value:
            return None
        # Accept the OTel SDK's spelling too (http://host:4317): Envoy only wants host:port.
        value = value.removeprefix("http://").removeprefix("https://").rstrip("/")
        split_addr(value)
        return value

    def upstream_addrs(self, upstream: Upstream) -> list[tuple[str, int]]:
        """Every replica of `upstream` (its *_ADDR setting holds `host:port[,host:port...]`)."""
        return split_addrs(self.upstream_addr(upstream))

    def upstream_addr(self, upstream: Upstream) -> str:
        addrs: dict[Upstream, str] = {
            "auth": self.auth_addr,
            "registry": self.registry_addr,
            "scheduler": self.scheduler_addr,
            "storage": self.storage_addr,
        }
        return addrs[upstream]


def split_addr(addr: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) as a pair; ValueError when it is not one."""
    host, sep, port = addr.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {addr!r}")
    return host, int(port)


def split_addrs(addrs: str) -> list[tuple[str, int]]:
    """A comma-separated list of `host:port` (one per replica); ValueError if empty or bad."""
    parts = [split_addr(a.strip()) for a in addrs.split(",") if a.strip()]
    if not parts:
        raise ValueError(f"expected host:port[,host:port...], got {addrs!r}")
    return parts
