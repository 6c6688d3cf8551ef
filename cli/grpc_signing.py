"""Sign native gRPC calls through the edge with a keypair (the same HMAC scheme as REST).

For gRPC the signed request is `POST /<package>.<Service>/<Method>` with content type
`application/grpc` and the channel's authority as the host.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import grpc

from libs.core.signing import DEFAULT_API_VERSION, authorization_header, sign
from libs.grpcutil.call_details import rewriting_interceptors, with_metadata


class Signer:
    """Signs each call's details with the keypair, for `rewriting_interceptors`."""

    def __init__(
        self,
        authority: str,
        access_key: str,
        secret_key: str,
        api_version: str = DEFAULT_API_VERSION,
    ) -> None:
        self._authority = authority
        self._access_key = access_key
        self._secret_key = secret_key
        self._version = api_version

    def __call__(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        now = datetime.now(UTC)
        signature = sign(
            secret_key=self._secret_key,
            method="POST",
            rel_url=method,
            date=now,
            host=self._authority,
            content_type="application/grpc",
            api_version=self._version,
        )
        return with_metadata(
            details,
            {
                "date": now.isoformat(),
                "x-backendai-version": self._version,
                "authorization": authorization_header(self._access_key, signature),
            },
        )


def signed_channel(
    address: str, access_key: str, secret_key: str, *, tls: bool = False, ca_file: str | None = None
) -> grpc.aio.Channel:
    """A channel to the edge whose calls are signed with the keypair (TLS when `tls`)."""
    interceptors = rewriting_interceptors(Signer(address, access_key, secret_key))
    if not tls:
        return grpc.aio.insecure_channel(address, interceptors=interceptors)
    roots = Path(ca_file).read_bytes() if ca_file else None
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return grpc.aio.secure_channel(address, credentials, interceptors=interceptors)
