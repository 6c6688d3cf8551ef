"""Composition root: settings → database → use cases → servicers → gRPC server."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from envoy_ext_authz.v3 import external_auth_pb2_grpc as authz_grpc
from redis.asyncio import Redis
from shipyard.auth.v1 import authentication_service_pb2_grpc, identity_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from libs.db.engine import create_engine, session_factory
from libs.grpcutil.runner import run_service
from libs.grpcutil.server import GrpcServer, Registration, create_server
from libs.grpcutil.tls import http_server_context
from libs.telemetry.logging import setup_logging
from services.auth.adapters.access_tokens import Es256Signer, load_or_create_key, write_jwks
from services.auth.adapters.bootstrap_store import SqlBootstrapStore
from services.auth.adapters.keypair_cache import CachedKeypairStore
from services.auth.adapters.keypair_store import SqlKeypairStore
from services.auth.adapters.passwords import Argon2Passwords
from services.auth.adapters.refresh_tokens import RedisRefreshTokenStore
from services.auth.adapters.request_gate import RedisRequestGate
from services.auth.adapters.schema import migrate
from services.auth.adapters.usage import SqlUsageRecorder
from services.auth.adapters.user_directory import SqlUserDirectory
from services.auth.api.audited import RefusalAudit
from services.auth.api.authentication import AuthenticationServicer
from services.auth.api.check_outcome import ERROR_DOMAIN
from services.auth.api.ext_authz import AuthorizationServicer
from services.auth.api.ext_authz_http import HttpCheck
from services.auth.api.http1 import Http1Server
from services.auth.api.servicer import IdentityServicer
from services.auth.config import BootstrapSettings, Settings
from services.auth.domain.errors import InvalidBootstrapKeypair
from services.auth.domain.model import Keypair
from services.auth.service import bootstrap as bootstrap_uc
from services.auth.service.admission import SignedRequestAdmission
from services.auth.service.login import LoginService
from services.auth.service.verify import RequestVerifier
from services.auth.tenancy_app import Tenancy, build_tenancy, secret_cipher

log = logging.getLogger(__name__)

SERVICE_NAME = "auth"


@dataclass(slots=True)
class AuthServer:
    """A running auth service."""

    grpc: GrpcServer
    engine: AsyncEngine
    usage: SqlUsageRecorder
    keypair: Keypair
    redis: Redis
    tenancy: Tenancy
    authz_http: Http1Server | None = None  # the HTTP Check (settings.authz_bind)

    @property
    def port(self) -> int:
        return self.grpc.port

    @property
    def authz_port(self) -> int:
        """The HTTP Check's port; 0 when it is off."""
        return 0 if self.authz_http is None else self.authz_http.port

    async def stop(self, grace: float = 5.0) -> None:
        try:
            if self.authz_http is not None:
                await self.authz_http.stop()
            await self.grpc.stop(grace)
            await self.usage.stop()
            await self.tenancy.stop()
        finally:
            await self.redis.aclose()
            await self.engine.dispose()


async def bootstrap(
    settings: BootstrapSettings, *, engine: AsyncEngine | None = None, internal_token: str = ""
) -> Keypair:
    """Migrate (unless disabled), encrypt any plaintext secrets, and ensure the default
    tenancy; return the superadmin keypair."""
    cipher = secret_cipher(settings, internal_token)
    if engine is None and settings.migrate:
        await migrate(settings.database_url)
    own_engine = engine is None
    engine = engine or create_engine(settings.database_url, pool_size=1)
    try:
        store = SqlBootstrapStore(session_factory(engine), cipher)
        if encrypted := await store.encrypt_plaintext_secrets():
            log.info("encrypted %d keypair secrets stored in plaintext", encrypted)
        return await bootstrap_uc.bootstrap(store, _plan(settings))
    finally:
        if own_engine:
            await engine.dispose()


def _plan(settings: BootstrapSettings) -> bootstrap_uc.BootstrapPlan:
    access_key = settings.bootstrap_access_key
    secret = settings.bootstrap_secret_key
    if (access_key is None) != (secret is None):
        raise InvalidBootstrapKeypair(
            "AUTH_BOOTSTRAP_ACCESS_KEY and AUTH_BOOTSTRAP_SECRET_KEY go together"
        )
    keypair = None
    if access_key is not None and secret is not None:
        keypair = Keypair(access_key=access_key, secret_key=secret.get_secret_value())
    return bootstrap_uc.BootstrapPlan(admin_email=settings.bootstrap_admin_email, keypair=keypair)


def _token_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The bearer-token signing key; its public JWKS is (re)written for the edge."""
    if settings.token_key_file is None:
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = load_or_create_key(settings.token_key_file)
    jwks = settings.jwks_path()
    if jwks is not None:
        write_jwks(key, jwks)
    return key


def _login_service(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: Redis
) -> LoginService:
    signer = Es256Signer(_token_key(settings), ttl=timedelta(seconds=settings.access_token_ttl))
    return LoginService(
        users=SqlUserDirectory(sessions),
        hasher=Argon2Passwords(),
        signer=signer,
        refresh_tokens=RedisRefreshTokenStore(redis, prefix=settings.redis_prefix),
        clock=_utc_now,
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def serve(settings: Settings) -> AuthServer:
    """Migrate, bootstrap, and start serving; the caller owns `stop()`."""
    if settings.migrate:
        await migrate(settings.database_url)
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    redis = Redis.from_url(settings.redis_url)
    try:
        token = settings.internal_token.get_secret_value()
        keypair = await bootstrap(settings, engine=engine, internal_token=token)
        cipher = secret_cipher(settings, token)
        sessions = session_factory(engine)
        usage = SqlUsageRecorder(
            sessions,
            interval=settings.last_used_interval,
            flush_every=settings.last_used_flush_every,
        )
        keypairs = CachedKeypairStore(
            SqlKeypairStore(sessions, cipher), ttl=settings.keypair_cache_ttl
        )
        tenancy = build_tenancy(settings, sessions, cipher, keypairs)
        verifier = RequestVerifier(keypairs=keypairs, usage=usage, clock=_utc_now)
        admission = SignedRequestAdmission(
            verifier=verifier,
            gate=RedisRequestGate(redis, prefix=settings.redis_prefix),
            clock=_utc_now,
            window=timedelta(seconds=settings.rate_limit_window),
        )
        server = create_server(
            domain=ERROR_DOMAIN,
            internal_token=token,
            bind=settings.bind,
            mtls=settings.mtls(),
            services=[
                Registration(
                    identity_service_pb2_grpc.add_IdentityServiceServicer_to_server,
                    IdentityServicer(),
                    "shipyard.auth.v1.IdentityService",
                ),
                Registration(
                    authentication_service_pb2_grpc.add_AuthenticationServiceServicer_to_server,
                    AuthenticationServicer(
                        _login_service(settings, sessions, redis), tenancy.audit
                    ),
                    "shipyard.auth.v1.AuthenticationService",
                ),
                Registration(
                    authz_grpc.add_AuthorizationServicer_to_server,
                    AuthorizationServicer(admission),
                    "envoy.service.auth.v3.Authorization",
                ),
                *tenancy.registrations,
            ],
            on_refusal=RefusalAudit(tenancy.audit, token),
        )
        await server.start()
        authz_http = await _serve_http_check(settings, admission)
        usage.start()
        tenancy.start()
    except BaseException:
        await redis.aclose()
        await engine.dispose()
        raise
    log.info("auth serving on port %d (superadmin key %s)", server.port, keypair.access_key)
    return AuthServer(
        grpc=server,
        engine=engine,
        usage=usage,
        keypair=keypair,
        redis=redis,
        tenancy=tenancy,
        authz_http=authz_http,
    )


async def _serve_http_check(
    settings: Settings, admission: SignedRequestAdmission
) -> Http1Server | None:
    """The HTTP Check on settings.authz_bind, over mutual TLS when the services use it."""
    if not settings.authz_bind:
        return None
    host, _, port = settings.authz_bind.rpartition(":")
    tls = http_server_context(mtls) if (mtls := settings.mtls()) else None
    server = Http1Server(HttpCheck(admission))
    await server.start(host.strip("[]"), int(port), tls)
    log.info("auth's HTTP Check on %s", settings.authz_bind)
    return server


async def main() -> None:
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    await run_service(SERVICE_NAME, settings, serve)


async def bootstrap_main() -> None:
    """`python -m services.auth bootstrap`: print the superadmin keypair as JSON."""
    settings = BootstrapSettings()
    setup_logging(SERVICE_NAME, "WARNING")
    keypair = await bootstrap(settings)
    out = {"access_key": keypair.access_key, "secret_key": keypair.secret_key}
    sys.stdout.write(json.dumps(out) + "\n")
