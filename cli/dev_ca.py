"""A development CA for service-to-service mutual TLS (`scripts/dev-ca`; docs/deploy.md).

    scripts/dev-ca DIR service registry --san 10.0.0.5 --san registry.internal
    scripts/dev-ca DIR agent node-7 --san 10.0.1.7

The CA (`DIR/ca.pem`, `DIR/ca-key.pem`) is made on first use and reused. A service's
certificate is named after the service (`DIR/registry.pem` + `-key.pem`), an agent's after
its id (`DIR/agent-node-7.pem`, common name `agent:node-7`). Every certificate is valid for
both server and client use, for localhost, 127.0.0.1 and the given names and addresses.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from libs.core.agent_credentials import certificate_name
from libs.core.config import MtlsFiles

VALIDITY = timedelta(days=365)
_LOCAL = ("localhost", "127.0.0.1")


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shipyard development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ensure_ca(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) of the CA in `directory`, made when missing."""
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Shipyard development CA"))
        .issuer_name(_name("Shipyard development CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _alt_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def issue(directory: Path, common_name: str, stem: str, sans: Sequence[str] = ()) -> MtlsFiles:
    """A certificate for `common_name`, signed by the CA, as `<stem>.pem` / `<stem>-key.pem`."""
    ca_cert_path, ca_key_path = ensure_ca(directory)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    names = list(dict.fromkeys([*_LOCAL, *sans]))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return MtlsFiles(cert=cert_path, key=key_path, ca=ca_cert_path)


def issue_service(directory: Path, service: str, sans: Sequence[str] = ()) -> MtlsFiles:
    return issue(directory, service, service, sans)


def issue_agent(directory: Path, agent_id: str, sans: Sequence[str] = ()) -> MtlsFiles:
    return issue(directory, certificate_name(agent_id), f"agent-{agent_id}", sans)


def process_certificate(directory: Path, process: str, agent_id: str, host: str) -> MtlsFiles:
    """The certificate of one process of a local platform (`shipyard up --mtls`): a service
    replica ("registry-1": the service's), the agent, or "client" (the platform's own calls);
    made on first use, for `host` besides loopback."""
    service = process.partition("-")[0]
    stem = f"agent-{agent_id}" if service == "agent" else service
    if (directory / f"{stem}.pem").exists():
        return MtlsFiles(
            directory / f"{stem}.pem", directory / f"{stem}-key.pem", directory / "ca.pem"
        )
    if service == "agent":
        return issue_agent(directory, agent_id, [host])
    if service == "client":
        return issue(directory, "shipyard-cli", "client")
    return issue_service(directory, service, [host])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/dev-ca", description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path, help="where the CA and certificates live")
    parser.add_argument("kind", choices=["ca", "service", "agent"])
    parser.add_argument("name", nargs="?", default="", help="the service name or agent id")
    parser.add_argument("--san", action="append", default=[], help="host name or IP (repeat)")
    args = parser.parse_args(argv)
    if args.kind == "ca":
        print(ensure_ca(args.directory)[0])
        return
    if not args.name:
        parser.error(f"{args.kind} needs a name")
    make = issue_service if args.kind == "service" else issue_agent
    files = make(args.directory, args.name, args.san)
    print(f"cert {files.cert}\nkey {files.key}\nca {files.ca}")


if __name__ == "__main__":
    main()
