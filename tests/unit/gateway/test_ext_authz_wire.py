"""Our vendored ext_authz messages against bytes of Envoy's real ones.

The UPSTREAM_* bytes were serialized by xds-protos 1.85.0 (Envoy's generated protos, in a scratch
venv: the package cannot live in ours). The OURS_* bytes are what our messages produce; the same
scratch venv parsed them back with xds-protos and found every field below.
"""

from __future__ import annotations

from envoy_ext_authz.v3 import external_auth_pb2 as ea
from google.rpc import status_pb2

UPSTREAM_CHECK_REQUEST = bytes.fromhex(
    "0a90020a230a100a0e120831302e312e322e3318c0b8021203737663220a7370696666653a2f2f7812120a100a0e"
    "12093132372e302e302e31189a3f22bc010a060880e2cfaa0612b1010a057265712d3112034745541a160a04686f"
    "7374120e3132372e302e302e313a383039301a150a0d617574686f72697a6174696f6e1204676f6f641a200a0c63"
    "6f6e74656e742d7479706512106170706c69636174696f6e2f6a736f6e22102f76312f6964656e746974793f783d"
    "312a0e3132372e302e302e313a38303930320468747470420466726167480c5208485454502f312e315a08626f64"
    "79746578746204007261776a080a060a016b12017652060a01611201625a070a050a0166120062050a03736e69"
)
UPSTREAM_OK = bytes.fromhex(
    "0a001a64121c0a180a12782d73686970796172642d757365722d6964120275311802121e0a180a0f782d73686970"
    "796172642d726f6c65120561646d696e180120012a0d617574686f72697a6174696f6e2a0464617465320c0a080a"
    "03782d7212013118034201712200"
)
UPSTREAM_DENIED = bytes.fromhex(
    "0a08081012046e6f706512470a0308910312220a200a0c636f6e74656e742d7479706512106170706c6963617469"
    "6f6e2f6a736f6e1a1c7b22636f6465223a31362c226d657373616765223a226e6f7065227d"
)
OURS_OK = bytes.fromhex(
    "0a001a59121c0a180a12782d73686970796172642d757365722d6964120275311802121c0a180a0f782d73686970"
    "796172642d726f6c65120561646d696e18012a0d617574686f72697a6174696f6e320c0a080a03782d721201311803"
)
OURS_DENIED = bytes.fromhex(
    "0a120810120e6261642063726564656e7469616c12510a0308910312220a200a0c636f6e74656e742d7479706512"
    "106170706c69636174696f6e2f6a736f6e1a267b22636f6465223a31362c226d657373616765223a226261642063"
    "726564656e7469616c227d"
)
HVO = ea.HeaderValueOption


def test_parses_envoys_check_request():
    request = ea.CheckRequest.FromString(UPSTREAM_CHECK_REQUEST)

    http = request.attributes.request.http
    assert (http.id, http.method, http.path, http.host, http.scheme) == (
        "req-1",
        "GET",
        "/v1/identity?x=1",
        "127.0.0.1:8090",
        "http",
    )
    assert (http.query, http.fragment, http.size, http.protocol) == ("", "frag", 12, "HTTP/1.1")
    assert dict(http.headers) == {
        "authorization": "good",
        "host": "127.0.0.1:8090",
        "content-type": "application/json",
    }
    source = request.attributes.source
    assert source.address.socket_address.address == "10.1.2.3"
    assert source.address.socket_address.port_value == 40000
    assert source.principal == "spiffe://x"
    assert request.attributes.destination.address.socket_address.port_value == 8090
    # Fields we do not declare (time, header_map, raw_body, tls_session...) are kept as unknown
    # fields (re-serialized after the known ones, so only the length is comparable).
    assert len(request.SerializeToString()) == len(UPSTREAM_CHECK_REQUEST)


def test_parses_envoys_ok_and_denied_responses():
    ok = ea.CheckResponse.FromString(UPSTREAM_OK)
    denied = ea.CheckResponse.FromString(UPSTREAM_DENIED)

    assert ok.WhichOneof("http_response") == "ok_response"
    assert [(h.header.key, h.header.value, h.append_action) for h in ok.ok_response.headers] == [
        ("x-shipyard-user-id", "u1", HVO.OVERWRITE_IF_EXISTS_OR_ADD),
        ("x-shipyard-role", "admin", HVO.ADD_IF_ABSENT),
    ]
    assert list(ok.ok_response.headers_to_remove) == ["authorization", "date"]
    assert ok.ok_response.response_headers_to_add[0].append_action == HVO.OVERWRITE_IF_EXISTS
    assert denied.WhichOneof("http_response") == "denied_response"
    assert (denied.status.code, denied.status.message) == (16, "nope")
    assert denied.denied_response.status.code == 401
    assert denied.denied_response.headers[0].header.value == "application/json"
    assert denied.denied_response.body == '{"code":16,"message":"nope"}'


def test_serializes_what_envoy_parses():
    ok = ea.CheckResponse(
        status=status_pb2.Status(code=0),
        ok_response=ea.OkHttpResponse(
            headers=[
                HVO(
                    header=ea.HeaderValue(key="x-shipyard-user-id", value="u1"),
                    append_action=HVO.OVERWRITE_IF_EXISTS_OR_ADD,
                ),
                HVO(
                    header=ea.HeaderValue(key="x-shipyard-role", value="admin"),
                    append_action=HVO.ADD_IF_ABSENT,
                ),
            ],
            headers_to_remove=["authorization"],
            response_headers_to_add=[
                HVO(
                    header=ea.HeaderValue(key="x-r", value="1"),
                    append_action=HVO.OVERWRITE_IF_EXISTS,
                )
            ],
        ),
    )
    denied = ea.CheckResponse(
        status=status_pb2.Status(code=16, message="bad credential"),
        denied_response=ea.DeniedHttpResponse(
            status=ea.HttpStatus(code=401),
            headers=[HVO(header=ea.HeaderValue(key="content-type", value="application/json"))],
            body='{"code":16,"message":"bad credential"}',
        ),
    )

    assert ok.SerializeToString() == OURS_OK
    assert denied.SerializeToString() == OURS_DENIED


def test_service_name_is_envoys():
    service = ea.DESCRIPTOR.services_by_name["Authorization"]

    assert service.full_name == "envoy.service.auth.v3.Authorization"
    assert [m.name for m in service.methods] == ["Check"]
