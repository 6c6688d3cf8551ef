"""Starting and stopping the edge, failures of its upstreams, and tracing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as otlp_grpc

from cli.tls import ensure_self_signed
from gateway.envoy_config import write_bootstrap
from gateway.launcher import EdgeStartError, EnvoyEdge, find_envoy
from tests.integration.gateway.edge_harness import (
    DESCRIPTORS,
    GOOD_CREDENTIAL,
    INTERNAL_TOKEN,
    ROOT,
    edge_settings,
    free_port,
)
from tests.unit.gateway.typed_config_cases import make_settings

GOOD = {"authorization": GOOD_CREDENTIAL}
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def test_generated_config_passes_envoy_validation(upstreams, tmp_path):
    settings = edge_settings(upstreams.addrs, tmp_path, otlp_endpoint="127.0.0.1:4317")
    config = write_bootstrap(settings, tmp_path / "envoy.json")

    result = subprocess.run(
        [find_envoy(), "--mode", "validate", "-c", config, "--disable-hot-restart"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert oct(config.stat().st_mode & 0o777) == "0o600"  # it holds the internal token


def test_static_config_with_every_option_passes_envoy_validation(tmp_path):
    # Bearer tokens, TLS, CORS, tracing, a DNS-named upstream and replicas, all at once.
    cert, key = ensure_self_signed(tmp_path / "tls")
    settings = make_settings("everything", tmp_path, xds=False).model_copy(
        update={"tls_cert_file": cert, "tls_key_file": key}
    )
    config = write_bootstrap(settings, tmp_path / "envoy.json")

    result = subprocess.run(
        [find_envoy(), "--mode", "validate", "-c", config, "--disable-hot-restart"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr


async def test_start_fails_with_envoy_log_on_bad_descriptor_set(upstreams, tmp_path):
    bad = tmp_path / "bad.binpb"
    bad.write_bytes(b"not a descriptor set")
    edge = EnvoyEdge(edge_settings(upstreams.addrs, tmp_path, descriptor_set=bad))

    with pytest.raises(EdgeStartError, match="descriptor"):
        await edge.start()
    assert edge.returncode is not None  # not left running


async def test_stop_terminates_envoy(upstreams, tmp_path):
    edge = EnvoyEdge(edge_settings(upstreams.addrs, tmp_path))
    await edge.start()

    await edge.stop()

    assert await edge.wait() == 0
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{edge.listen_port}/v1/identity")


async def test_temporary_run_dir_is_removed_on_stop(upstreams, tmp_path):
    async with EnvoyEdge(edge_settings(upstreams.addrs, None)) as edge:
        run_dir = edge.run_dir
        assert run_dir is not None
        assert (run_dir / "envoy.json").is_file()

    assert not run_dir.exists()


async def test_authz_down_is_503_json_and_unavailable_for_grpc(upstreams, tmp_path):
    addrs = {**upstreams.addrs, "auth": f"127.0.0.1:{free_port()}"}
    async with EnvoyEdge(edge_settings(addrs, tmp_path)) as edge:
        addr = f"127.0.0.1:{edge.listen_port}"
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://{addr}/v1/scheduler/pending-sessions", headers=GOOD)
        async with grpc.aio.insecure_channel(addr) as channel:
            method = channel.unary_unary(
                "/shipyard.scheduler.v1.SchedulerService/ListPendingSessions"
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await method(b"", metadata=tuple(GOOD.items()))

    assert response.status_code == 503
    assert response.json() == {"code": 14, "message": "authorization service unavailable"}
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "authorization service unavailable"


async def test_upstream_down_is_503_json(upstreams, tmp_path):
    addrs = {**upstreams.addrs, "scheduler": f"127.0.0.1:{free_port()}"}
    async with EnvoyEdge(edge_settings(addrs, tmp_path)) as edge, httpx.AsyncClient() as http:
        response = await http.get(
            f"http://127.0.0.1:{edge.listen_port}/v1/scheduler/pending-sessions", headers=GOOD
        )

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == 14


class _Collector(otlp_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[otlp.ExportTraceServiceRequest] = []
        self.exported = asyncio.Event()

    async def Export(self, request, context):
        self.requests.append(request)
        self.exported.set()
        return otlp.ExportTraceServiceResponse()


async def test_traces_are_exported_with_the_client_trace_id(upstreams, recorder, tmp_path):
    collector = _Collector()
    server = grpc.aio.server()
    otlp_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    settings = edge_settings(upstreams.addrs, tmp_path, otlp_endpoint=f"127.0.0.1:{port}")
    traceparent = f"00-{TRACE_ID}-b7ad6b7169203331-01"
    try:
        async with EnvoyEdge(settings) as edge, httpx.AsyncClient() as http:
            for _ in range(3):  # Envoy flushes after 5 spans (or 5 s); each request makes 3
                await http.get(
                    f"http://127.0.0.1:{edge.listen_port}/v1/identity",
                    headers={**GOOD, "traceparent": traceparent},
                )
            await asyncio.wait_for(collector.exported.wait(), 10)
    finally:
        await server.stop(grace=None)

    resource_spans = [rs for r in collector.requests for rs in r.resource_spans]
    services = {
        a.value.string_value
        for rs in resource_spans
        for a in rs.resource.attributes
        if a.key == "service.name"
    }
    spans = [s for rs in resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert services == {"edge"}
    assert {s.trace_id.hex() for s in spans} == {TRACE_ID}
    assert any(s.name == "router auth egress" for s in spans)  # spawn_upstream_span
    assert recorder.calls[0].metadata["traceparent"].split("-")[1] == TRACE_ID


def test_python_m_gateway_runs_until_sigterm(upstreams, tmp_path):
    port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "EDGE_PORT": str(port),
        "EDGE_ADMIN_PORT": str(admin_port),
        "EDGE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "EDGE_AUTH_ADDR": upstreams.addrs["auth"],
        "EDGE_AUTHZ": "grpc",
        "EDGE_REGISTRY_ADDR": upstreams.addrs["registry"],
        "EDGE_CORS_ORIGINS": "http://a.test, http://b.test",
        "EDGE_DESCRIPTOR_SET": str(DESCRIPTORS),
        "EDGE_RUN_DIR": str(tmp_path),
    }
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:  # a file, not a pipe: nobody reads a pipe while Envoy logs
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway"], cwd=ROOT, env=env, stderr=stderr
        )
    try:
        ready = _wait_ready(f"http://127.0.0.1:{admin_port}/ready", process)
        response = httpx.get(f"http://127.0.0.1:{port}/nope")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # a no-op when it stopped cleanly
        process.wait()

    assert ready, log.read_text()
    assert response.status_code == 404
    assert code == 0, log.read_text()


def _wait_ready(url: str, process: subprocess.Popen[str], attempts: int = 100) -> bool:
    for _ in range(attempts):
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
