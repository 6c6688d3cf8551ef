"""A registry token service (the Docker token-auth flow Docker Hub and Harbor use), for tests.

It checks HTTP basic credentials and answers `GET /token?service=&scope=` with an RS256 JWT
granting the asked scopes, signed by a self-signed certificate the registry trusts (x5c header);
`GET /issued` says how many tokens it gave out. It runs as its own process (`start_token_server`):
a thread in the test process would be alive across the forks of skopeo and docker-registry,
which gRPC's fork handlers do not survive.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "shipyard-test-issuer"
SERVICE = "shipyard-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        self.users = users
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = workdir / "token-cert.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.issued = 0
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    def token(self, subject: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/issued":
                    self._reply(json.dumps({"issued": server.issued}))
                    return
                query = parse_qs(urlsplit(self.path).query)
                user = self._user()
                if user is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                server.issued += 1
                self._reply(json.dumps({"token": server.token(user, query.get("scope", []))}))

            def _reply(self, body: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def _user(self) -> str | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user if server.users.get(user) == password else None

            def log_message(self, format: str, *args: object) -> None:
                del format, args  # quiet

        return Handler


class RunningTokenServer:
    def __init__(self, process: subprocess.Popen[bytes], port: int, cert_path: Path) -> None:
        self.process = process
        self.realm = f"http://127.0.0.1:{port}/token"
        self.cert_path = cert_path
        self._issued_url = f"http://127.0.0.1:{port}/issued"

    @property
    def issued(self) -> int:
        import urllib.request

        with urllib.request.urlopen(self._issued_url, timeout=5) as reply:
            return int(json.load(reply)["issued"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_token_server(workdir: Path, users: dict[str, str]) -> RunningTokenServer:
    ready = workdir / "token-server.json"
    args = [f"{u}:{p}" for u, p in users.items()]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.images.token_server", str(workdir), *args]
    )
    deadline = time.monotonic() + 20
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the token server did not start")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    return RunningTokenServer(process, int(info["port"]), Path(info["cert"]))


if __name__ == "__main__":
    workdir = Path(sys.argv[1])
    pairs = dict(a.split(":", 1) for a in sys.argv[2:])
    token_server = TokenServer(workdir, pairs)
    info = {"port": token_server.http.server_address[1], "cert": str(token_server.cert_path)}
    partial = workdir / "token-server.json.tmp"
    partial.write_text(json.dumps(info))
    partial.rename(workdir / "token-server.json")
    token_server.http.serve_forever()
