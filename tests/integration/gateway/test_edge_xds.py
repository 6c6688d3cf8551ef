"""The edge as a live control plane: what the gateway serves over xDS reaches the real Envoy
without a restart (routes, clusters, replicas, certificates), and Envoy holds what was sent."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from betterproto2 import Casing, Message
from cryptography.hazmat.primitives.asymmetric import ec

from cli.tls import ensure_self_signed
from gateway.launcher import EnvoyEdge
from gateway.xds import types as t
from libs.core.identity import Caller, Role
from services.auth.adapters.access_tokens import Es256Signer, write_jwks
from tests.integration.gateway.edge_harness import (
    GOOD_CREDENTIAL,
    ROOT,
    FakeUpstreams,
    edge_settings,
)
from tests.integration.gateway.xds_harness import (
    APP_METHOD,
    Replica,
    answers,
    call,
    eventually,
    h2load_summary,
)


@pytest.fixture
async def own_edge(upstreams: FakeUpstreams, tmp_path: Path) -> AsyncIterator[EnvoyEdge]:
    async with EnvoyEdge(edge_settings(upstreams.addrs, tmp_path)) as edge:
        yield edge


def _server_pid(edge: EnvoyEdge) -> int:
    assert edge.pid is not None
    return edge.pid


async def test_route_and_cluster_added_at_run_time_serve_without_restart(own_edge, replicas):
    addr = f"127.0.0.1:{own_edge.listen_port}"
    state = own_edge.control_plane
    assert state is not None
    pid = _server_pid(own_edge)
    assert await call(addr, APP_METHOD) == grpc.StatusCode.UNIMPLEMENTED  # Envoy's 404

    state.add_cluster("app-1", replicas[0].addr)
    state.add_route("app-1", "/demo.v1.Echo/", "app-1")

    async def served() -> bool:
        return await call(addr, APP_METHOD) == b"r0"

    await eventually(served)
    assert _server_pid(own_edge) == pid and own_edge.returncode is None

    assert state.remove_route("app-1")

    async def gone() -> bool:
        return await call(addr, APP_METHOD) == grpc.StatusCode.UNIMPLEMENTED

    await eventually(gone)
    assert state.remove_cluster("app-1")
    assert not [r for r in state.replies if r.error], state.replies  # every push was ACKed


async def test_replicas_added_and_removed_change_the_edge_live(own_edge, replicas):
    addr = f"127.0.0.1:{own_edge.listen_port}"
    state = own_edge.control_plane
    assert state is not None
    state.add_cluster("app", replicas[0].addr)
    state.add_route("app", "/demo.v1.Echo/", "app")
    await eventually(lambda: answers(addr, {"r0"}))

    state.add_cluster("app", f"{replicas[0].addr},{replicas[1].addr}")
    # Bounded loosely for a loaded CI machine; the push time itself is measured by
    # bench/xds_changes.py (milliseconds).
    await eventually(lambda: answers(addr, {"r0", "r1"}), within=5.0)

    state.add_cluster("app", replicas[1].addr)
    await eventually(lambda: answers(addr, {"r1"}), within=5.0)


async def test_config_dump_matches_what_the_control_plane_sent(own_edge):
    state = own_edge.control_plane
    assert state is not None
    async with httpx.AsyncClient() as http:
        dump = (await http.get(f"{own_edge.admin_url}/config_dump?include_eds")).json()
    sections = {c["@type"].rsplit(".", 1)[1]: c for c in dump["configs"]}
    held = {
        t.LISTENER: [
            (e["active_state"]["version_info"], e["active_state"]["listener"])
            for e in sections["ListenersConfigDump"]["dynamic_listeners"]
        ],
        t.ROUTE: [
            (e["version_info"], e["route_config"])
            for e in sections["RoutesConfigDump"]["dynamic_route_configs"]
        ],
        t.CLUSTER: [
            (e["version_info"], e["cluster"])
            for e in sections["ClustersConfigDump"]["dynamic_active_clusters"]
        ],
        t.ENDPOINT: [
            (state.version(t.ENDPOINT), e["endpoint_config"])
            for e in sections["EndpointsConfigDump"]["dynamic_endpoint_configs"]
        ],
    }
    classes: dict[str, type[Message]] = {
        t.LISTENER: t.Listener,
        t.ROUTE: t.RouteConfiguration,
        t.CLUSTER: t.Cluster,
        t.ENDPOINT: t.ClusterLoadAssignment,
    }
    for type_url, found in held.items():
        cls = classes[type_url]
        envoy_holds = sorted(
            ((v, _normal(cls.from_dict(_untyped(r)))) for v, r in found), key=lambda p: str(p[1])
        )
        version = state.version(type_url)
        we_sent = sorted(
            ((version, _normal(a.unpack())) for a in state.resources(type_url).values()),
            key=lambda p: str(p[1]),
        )
        assert envoy_holds == we_sent, type_url
    acked = {r.type_url: r.version for r in state.replies if not r.error}
    assert acked == {u: state.version(u) for u in held}


def _untyped(resource: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in resource.items() if k != "@type"}


def _normal(message: Message | None) -> dict[str, object]:
    """A resource as comparable data. Envoy fills in its defaults (locality, weights,
    overprovisioning) in the endpoints it reports, so those compare by their addresses."""
    assert message is not None
    if isinstance(message, t.ClusterLoadAssignment):
        addrs = sorted(
            f"{lb.endpoint.address.socket_address.address}:"
            f"{lb.endpoint.address.socket_address.port_value}"
            for group in message.endpoints
            for lb in group.lb_endpoints
            if lb.endpoint and lb.endpoint.address and lb.endpoint.address.socket_address
        )
        return {"cluster_name": message.cluster_name, "addresses": addrs}
    return message.to_dict(casing=Casing.SNAKE)


async def _presented_certificate(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return bytes(der)


async def test_rotated_certificate_is_served_without_restart(upstreams, tmp_path):
    old_cert, old_key = ensure_self_signed(tmp_path / "old")
    new_cert, new_key = ensure_self_signed(tmp_path / "new")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(old_cert, cert)
    shutil.copy(old_key, key)
    settings = edge_settings(
        upstreams.addrs, tmp_path / "run", tls_cert_file=cert, tls_key_file=key
    )
    async with EnvoyEdge(settings) as edge:
        first = await _presented_certificate(edge.listen_port)
        assert first == ssl.PEM_cert_to_DER_cert(old_cert.read_text())
        pid = _server_pid(edge)

        shutil.copy(new_key, tmp_path / "key.tmp")
        (tmp_path / "key.tmp").replace(key)
        shutil.copy(new_cert, tmp_path / "cert.tmp")
        (tmp_path / "cert.tmp").replace(cert)

        async def rotated() -> bool:
            presented = await _presented_certificate(edge.listen_port)
            return presented == ssl.PEM_cert_to_DER_cert(new_cert.read_text())

        await eventually(rotated, within=3.0)
        assert _server_pid(edge) == pid


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) not installed")
async def test_replica_killed_under_h2load_loses_no_idempotent_call(upstreams, tmp_path):
    doomed = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.integration.gateway.replica_process"),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert doomed.stdout is not None
    doomed_port = int(await asyncio.wait_for(doomed.stdout.readline(), 10))
    survivor = await Replica("survivor", empty=True).start()
    addrs = {**upstreams.addrs, "registry": f"127.0.0.1:{doomed_port},{survivor.addr}"}
    total = 3000
    try:
        async with EnvoyEdge(edge_settings(addrs, tmp_path)) as edge:
            url = f"http://127.0.0.1:{edge.listen_port}/v1/sessions/s-1"  # GetSession: a read
            load = await asyncio.create_subprocess_exec(
                *("h2load", "-n", str(total), "-c", "4", "-m", "4"),
                *("-H", f"authorization: {GOOD_CREDENTIAL}", url),
                stdout=asyncio.subprocess.PIPE,
            )
            await eventually(_past(survivor, 300), within=20.0)
            doomed.kill()  # SIGKILL mid-load: its in-flight calls are cut off
            killed_at = survivor.calls
            out, _ = await load.communicate()
    finally:
        if doomed.returncode is None:
            doomed.kill()
        await doomed.wait()
        await survivor.server.stop(grace=None)
    summary = h2load_summary(out.decode())

    assert summary["total"] == total
    assert summary["succeeded"] == total, out.decode()
    assert summary["5xx"] == 0 and summary["4xx"] == 0
    assert survivor.calls - killed_at > total // 4  # the survivor took over the rest


def _past(replica: Replica, calls: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return replica.calls >= calls

    return check


async def test_rotated_token_key_takes_effect_without_restart(upstreams, tmp_path):
    old_key, new_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    jwks = write_jwks(old_key, tmp_path / "jwks.json")
    caller = Caller(user_id="u-rotated", role=Role.USER, domain_name="default")
    signer = Es256Signer(new_key, ttl=timedelta(seconds=60))
    token = signer.issue(caller, now=datetime.now(UTC)).token
    bearer = {"authorization": f"Bearer {token}"}
    async with EnvoyEdge(edge_settings(upstreams.addrs, tmp_path / "run", jwks_file=jwks)) as edge:
        pid = _server_pid(edge)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{edge.listen_port}") as http:
            assert (await http.get("/v1/identity", headers=bearer)).status_code == 401

            write_jwks(new_key, tmp_path / "jwks.tmp").replace(jwks)

            async def accepted() -> bool:
                return (await http.get("/v1/identity", headers=bearer)).status_code == 200

            await eventually(accepted, within=3.0)
            body = (await http.get("/v1/identity", headers=bearer)).json()
        assert body["identity"]["user_id"] == "u-rotated"
        assert _server_pid(edge) == pid


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) not installed")
async def test_replicas_removed_and_added_under_h2load_drop_no_request(upstreams, tmp_path):
    pair = [await Replica(f"r{i}", empty=True).start() for i in range(2)]
    both = f"{pair[0].addr},{pair[1].addr}"
    total = 3000
    try:
        addrs = {**upstreams.addrs, "registry": both}
        async with EnvoyEdge(edge_settings(addrs, tmp_path)) as edge:
            state = edge.control_plane
            assert state is not None
            url = f"http://127.0.0.1:{edge.listen_port}/v1/sessions/s-1"
            load = await asyncio.create_subprocess_exec(
                *("h2load", "-n", str(total), "-c", "4", "-m", "4"),
                *("-H", f"authorization: {GOOD_CREDENTIAL}", url),
                stdout=asyncio.subprocess.PIPE,
            )
            await eventually(_past(pair[0], 200), within=20.0)
            state.set_replicas("registry", pair[1].addr)  # r0 leaves
            await eventually(_past(pair[1], pair[1].calls + 300), within=20.0)
            state.set_replicas("registry", both)  # and comes back
            r0_back = pair[0].calls
            out, _ = await load.communicate()
    finally:
        for replica in pair:
            await replica.server.stop(grace=None)
    summary = h2load_summary(out.decode())

    assert summary["succeeded"] == total, out.decode()
    assert summary["5xx"] == 0 and summary["4xx"] == 0
    assert pair[0].calls > r0_back  # traffic reached the returning replica again
