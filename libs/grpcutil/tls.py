"""Mutual TLS between Shipyard processes (docs/deploy.md, "Many hosts and mutual TLS").

Every certificate is signed by the deployment's CA; its common name says who holds it: a
service's name (`registry`, `scheduler`, `edge`, ...) or `agent:<agent id>` for an agent
(`libs.core.agent_credentials.certificate_name`). A server with mutual TLS refuses connections
without a certificate of that CA, so the internal token alone no longer opens a service; the
registry also checks an agent's name (`peer_name`).
"""

from __future__ import annotations

import ssl

import grpc

from libs.core.agent_credentials import certificate_name
from libs.core.config import MtlsFiles


def _read(files: MtlsFiles) -> tuple[bytes, bytes, bytes]:
    return files.cert.read_bytes(), files.key.read_bytes(), files.ca.read_bytes()


def server_credentials(files: MtlsFiles) -> grpc.ServerCredentials:
    """Server side: present our certificate, require one from every client, signed by the CA."""
    cert, key, ca = _read(files)
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=True
    )


def channel_credentials(files: MtlsFiles) -> grpc.ChannelCredentials:
    """Client side: trust only the CA, present our certificate."""
    cert, key, ca = _read(files)
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def http_server_context(files: MtlsFiles) -> ssl.SSLContext:
    """The same rule for a plain HTTP listener (storage's transfers): our certificate, and one
    signed by the CA required from every client (the edge)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(files.ca))
    context.load_cert_chain(str(files.cert), str(files.key))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def not_an_agent(name: str | None) -> bool:
    """A PeerRule for agents' servers: only services (the registry) command kernels, so one
    agent's certificate opens no other agent."""
    return name is None or not name.startswith(certificate_name(""))


def peer_name(context: grpc.aio.ServicerContext) -> str | None:
    """The common name of the caller's verified certificate; None on a plaintext connection."""
    names = context.auth_context().get("x509_common_name") or []
    return names[0].decode() if names else None
