"""Which RPCs the bridge serves and how a browser's request becomes their request message."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from shipyard.registry.v1 import terminal_service_pb2
from shipyard.storage.v1 import file_service_pb2

from gateway.bridge import codec
from gateway.bridge.routes import Kind, discover, template_regex
from gateway.config import PUBLIC_SERVICES

DESCRIPTORS = Path(__file__).resolve().parents[3] / "build" / "descriptors.binpb"


def test_streaming_get_rpcs_are_bridged_by_kind_and_others_are_not():
    routes = {r.grpc_path: r for r in discover(DESCRIPTORS, set(PUBLIC_SERVICES))}

    terminal = routes["/shipyard.registry.v1.TerminalService/OpenTerminal"]
    assert terminal.kind is Kind.WEBSOCKET
    assert terminal.match("/v1/sessions/abc/terminal") == {"session_id": "abc"}
    assert terminal.match("/v1/sessions/abc/def/terminal") is None
    assert routes["/shipyard.storage.v1.FileService/Download"].kind is Kind.SSE
    # Unary RPCs and client-streaming uploads stay with the transcoder.
    assert "/shipyard.registry.v1.SessionService/GetSession" not in routes
    assert "/shipyard.storage.v1.FileService/Upload" not in routes


def test_services_the_edge_does_not_route_are_not_bridged():
    assert discover(DESCRIPTORS, {"shipyard.auth.v1.IdentityService"}) == []


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("/v1/a/{x}/b", "/v1/a/1/b", ("1",)),
        ("/v1/a/{x=*}:verb", "/v1/a/1:verb", ("1",)),
        ("/v1/a/{x.y=**}", "/v1/a/1/2/3", ("1/2/3",)),
        ("/v1/a/{x}:verb", "/v1/a/1:other", None),
    ],
)
def test_path_templates_match_like_the_transcoder(template, path, expected):
    regex, _ = template_regex(template)
    found = re.fullmatch(regex, path)
    assert (found.groups() if found else None) == expected


def test_path_and_query_parameters_fill_the_request_and_unknown_ones_are_ignored():
    message = codec.build_request(
        terminal_service_pb2.OpenTerminalRequest,
        [("session_id", "s1"), ("size.rows", "30"), ("size.cols", "100"), ("utm", "x")],
    )

    assert message == terminal_service_pb2.OpenTerminalRequest(
        session_id="s1", size={"rows": 30, "cols": 100}
    )


def test_a_bad_parameter_is_refused_naming_the_field():
    with pytest.raises(codec.BadRequest, match="rows"):
        codec.build_request(terminal_service_pb2.OpenTerminalRequest, [("size.rows", "tall")])


def test_last_event_id_fills_only_a_message_that_has_the_field():
    download = codec.build_request(
        file_service_pb2.DownloadRequest, [("vfolder_id", "v")], last_event_id="7"
    )
    assert download.vfolder_id == "v"  # DownloadRequest has no last_event_id: nothing breaks


def test_proto3_json_frames_round_trip_with_bytes_as_base64():
    message = codec.parse_json(terminal_service_pb2.OpenTerminalRequest, '{"data": "aGk="}')
    assert message.data == b"hi"
    with pytest.raises(codec.BadRequest):
        codec.parse_json(terminal_service_pb2.OpenTerminalRequest, "not json")


@pytest.mark.parametrize(
    ("code", "http", "close"),
    [
        (grpc.StatusCode.OK, 200, 1000),
        (grpc.StatusCode.UNAUTHENTICATED, 401, 4016),
        (grpc.StatusCode.PERMISSION_DENIED, 403, 4007),
        (grpc.StatusCode.NOT_FOUND, 404, 4005),
        (grpc.StatusCode.INVALID_ARGUMENT, 400, 4003),
        (grpc.StatusCode.INTERNAL, 500, 4013),
    ],
)
def test_grpc_statuses_map_to_http_statuses_and_close_codes(code, http, close):
    if code is not grpc.StatusCode.OK:
        assert codec.http_status(code) == http
    assert codec.close_code(code) == close
