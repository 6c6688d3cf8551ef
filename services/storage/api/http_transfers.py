"""HTTP transfers: tus 1.0 resumable uploads and Range downloads, authorised by transfer tokens.

The edge routes `/v1/storage/transfers/` here without authenticating the request itself: the
signed token (service/transfers.py, domain/transfer_token.py) is the credential, issued by
`CreateUploadSession` / `CreateDownloadToken` to a user who could read or write the folder then,
and good for exactly one file until it expires. Every request acts as that user
(`TransferGrant.caller`), so the folder's permission is checked again each time. Routes
(docs/storage.md "Transfers over HTTP"):

    POST  /v1/storage/transfers/uploads?token=T   tus creation (Upload-Length = the token's size)
    HEAD  /v1/storage/transfers/uploads/T          the stored offset (Upload-Offset)
    PATCH /v1/storage/transfers/uploads/T          bytes at Upload-Offset; 409 elsewhere
    GET   /v1/storage/transfers/download?token=T  the file; `Range: bytes=...` gives 206;
                                                   a directory comes as a streamed zip
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from libs.core.errors import FieldViolation, InvalidArgument, ShipyardError
from services.storage.domain import byte_range
from services.storage.domain import transfer_token as tt
from services.storage.domain.file_errors import NotAFile
from services.storage.service.transfers import Transfers, UploadTarget

PREFIX = "/v1/storage/transfers"
TUS_VERSION = "1.0.0"
WRITE_BATCH = 4 * 1024 * 1024  # request bytes gathered per write to the volume

# ShipyardError.code -> (HTTP status, google.rpc.Code number for the JSON body).
_STATUS = {
    "INVALID_ARGUMENT": (400, 3),
    "UNAUTHENTICATED": (401, 16),
    "PERMISSION_DENIED": (403, 7),
    "NOT_FOUND": (404, 5),
    "ALREADY_EXISTS": (409, 6),
    "FAILED_PRECONDITION": (409, 9),
    "ABORTED": (423, 10),  # tus: the upload is locked by another request
    "RESOURCE_EXHAUSTED": (507, 8),
    "UNAVAILABLE": (503, 14),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(transfers: Transfers) -> web.Application:
    app = web.Application(middlewares=[_errors])
    h = _Handlers(transfers)
    app.router.add_post(f"{PREFIX}/uploads", h.create_upload)
    app.router.add_route("HEAD", f"{PREFIX}/uploads/{{token}}", h.upload_offset)
    app.router.add_patch(f"{PREFIX}/uploads/{{token}}", h.append)
    app.router.add_get(f"{PREFIX}/download", h.download)  # aiohttp adds HEAD for GET routes
    for path in (f"{PREFIX}/uploads", f"{PREFIX}/uploads/{{token}}"):
        app.router.add_route("OPTIONS", path, h.tus_options)
    return app


class _Handlers:
    def __init__(self, transfers: Transfers) -> None:
        self._transfers = transfers

    async def tus_options(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=204,
            headers={"Tus-Version": TUS_VERSION, "Tus-Extension": "creation", **_TUS},
        )

    async def create_upload(self, request: web.Request) -> web.StreamResponse:
        _require_tus(request)
        token = request.query.get("token", "")
        grant = self._grant(token, tt.TransferKind.UPLOAD)
        length = _int_header(request, "Upload-Length")
        if length != grant.size:
            raise InvalidArgument(
                "Upload-Length differs from the size the token was issued for",
                violations=[FieldViolation("Upload-Length", f"must be {grant.size}")],
            )
        # A creation starts afresh (offset 0); a size of 0 completes the file at once.
        await self._transfers.upload(grant.caller(), _target(grant, 0), _nothing())
        location = f"{PREFIX}/uploads/{urllib.parse.quote(token, safe='')}"
        return web.Response(status=201, headers={"Location": location, **_TUS})

    async def upload_offset(self, request: web.Request) -> web.StreamResponse:
        _require_tus(request)
        grant = self._grant(request.match_info["token"], tt.TransferKind.UPLOAD)
        stored = await self._transfers.upload_offset(
            grant.caller(), grant.vfolder_id, grant.path, grant.size
        )
        headers = {
            "Upload-Offset": str(stored),
            "Upload-Length": str(grant.size),
            "Cache-Control": "no-store",
            **_TUS,
        }
        return web.Response(status=200, headers=headers)

    async def append(self, request: web.Request) -> web.StreamResponse:
        _require_tus(request)
        if request.content_type != "application/offset+octet-stream":
            return _error(415, 3, "Content-Type must be application/offset+octet-stream")
        grant = self._grant(request.match_info["token"], tt.TransferKind.UPLOAD)
        offset = _int_header(request, "Upload-Offset")
        result = await self._transfers.upload(
            grant.caller(), _target(grant, offset), _batched(request)
        )
        return web.Response(status=204, headers={"Upload-Offset": str(result.offset), **_TUS})

    async def download(self, request: web.Request) -> web.StreamResponse:
        grant = self._grant(request.query.get("token", ""), tt.TransferKind.DOWNLOAD)
        try:
            reader = await self._transfers.open_reader(grant.caller(), grant.vfolder_id, grant.path)
        except NotAFile:
            return await self._archive(request, grant)
        try:
            size = reader.size
            try:
                wanted = byte_range.parse(request.headers.get("Range"), size)
            except byte_range.Unsatisfiable:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            start, end = (wanted.start, wanted.end) if wanted else (0, size)
            response = web.StreamResponse(status=206 if wanted else 200)
            response.headers.update(
                {
                    "Accept-Ranges": "bytes",
                    "Content-Type": "application/octet-stream",
                    "Content-Disposition": _attachment(grant.path),
                    "Cache-Control": "no-store",
                }
            )
            if wanted:
                response.headers["Content-Range"] = wanted.content_range(size)
            response.content_length = end - start
            await response.prepare(request)
            if request.method != "HEAD" and end > start:
                async for data in reader.pieces(start, end - start):
                    await response.write(data)
            await response.write_eof()
            return response
        finally:
            await reader.close()

    async def _archive(self, request: web.Request, grant: tt.TransferGrant) -> web.StreamResponse:
        """A directory: a zip of its files, streamed (no length known, no ranges)."""
        pieces = await self._transfers.archive(grant.caller(), grant.vfolder_id, grant.path)
        first = await anext(pieces, b"")  # a path that is no directory fails here, before 200
        response = web.StreamResponse(status=200)
        response.headers.update(
            {
                "Content-Type": "application/zip",
                "Content-Disposition": _attachment(grant.path.rstrip("/") + ".zip"),
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        try:
            if request.method != "HEAD":
                await response.write(first)
                async for piece in pieces:
                    await response.write(piece)
            await response.write_eof()
        finally:
            await pieces.aclose()  # type: ignore[attr-defined]
        return response

    def _grant(self, token: str, kind: tt.TransferKind) -> tt.TransferGrant:
        if not token:
            raise InvalidArgument(
                "a transfer token is required",
                violations=[FieldViolation("token", "must be a token from the storage API")],
            )
        return self._transfers.verify(token, kind)


_TUS = {"Tus-Resumable": TUS_VERSION}


def _require_tus(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise _TusVersion()


class _TusVersion(Exception):
    """The client speaks another tus version (412 with the one we speak)."""


def _target(grant: tt.TransferGrant, offset: int) -> UploadTarget:
    return UploadTarget(
        vfolder_id=grant.vfolder_id,
        path=grant.path,
        size=grant.size,
        offset=offset,
        overwrite=False,
    )


def _int_header(request: web.Request, name: str) -> int:
    raw = request.headers.get(name, "")
    if not raw.isdigit():
        raise InvalidArgument(
            f"the {name} header is required",
            violations=[FieldViolation(name, "must be a non-negative integer")],
        )
    return int(raw)


async def _nothing() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()  # an async generator that yields nothing
    for chunk in empty:
        yield chunk


async def _batched(request: web.Request) -> AsyncIterator[bytes]:
    """The request body in writes of about WRITE_BATCH bytes (fewer, larger writes)."""
    pending = bytearray()
    async for data in request.content.iter_any():
        pending += data
        if len(pending) >= WRITE_BATCH:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


def _attachment(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1] or "download"
    return f"attachment; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except _TusVersion:
        wanted = f"Tus-Resumable {TUS_VERSION} is required"
        return _error(412, 9, wanted, {"Tus-Version": TUS_VERSION})
    except ShipyardError as exc:
        status, code = _STATUS.get(exc.code, (500, 13))
        body: dict[str, object] = {"code": code, "message": str(exc), "reason": exc.reason}
        if exc.violations:
            body["violations"] = [
                {"field": v.field, "description": v.description} for v in exc.violations
            ]
        headers = dict(_TUS)
        if "offset" in exc.metadata:  # an upload resumed at the wrong offset: where to resume
            headers["Upload-Offset"] = exc.metadata["offset"]
        return web.json_response(body, status=status, headers=headers)
