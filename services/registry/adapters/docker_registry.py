"""Scanner for the Docker Registry HTTP API v2 (distribution, Harbor's /v2, ...).

Anonymous, basic and bearer-token authentication (the `WWW-Authenticate: Bearer` challenge).
Manifests are asked for in every media type a registry may hold: Docker v2 and OCI image
manifests, Docker manifest lists and OCI indexes (multi-arch: one image per platform).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urljoin

import httpx

from services.registry.domain.image_ref import normalize_arch
from services.registry.domain.images import ImageRef, RegistryCredentials, ScannedImage
from services.registry.service.image_ports import ScanFailed, TagOutcome

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
LISTS = frozenset({DOCKER_LIST, OCI_INDEX})
PAGE = 100
_LINK = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryUnreachable(ScanFailed):
    """The registry cannot be listed (network, credentials, no catalog support)."""


class DockerRegistryScanner:
    def __init__(
        self, credentials: RegistryCredentials, *, timeout: float = 30.0, page_size: int = PAGE
    ) -> None:
        registry = credentials.registry
        self._name = registry.name
        self._base = registry.url.rstrip("/") + "/"
        self._user = registry.username
        self._password = credentials.password
        self._client = httpx.AsyncClient(verify=registry.ssl_verify, timeout=timeout)
        self._tokens: dict[str, str] = {}  # scope -> bearer token
        self._page = page_size

    async def close(self) -> None:
        await self._client.aclose()

    async def tags(self) -> AsyncIterator[tuple[str, str]]:
        async for body in self._pages(f"v2/_catalog?n={self._page}", "registry:catalog:*"):
            for repository in body.get("repositories") or []:
                scope = f"repository:{repository}:pull"
                async for tags in self._pages(f"v2/{repository}/tags/list?n={self._page}", scope):
                    for tag in tags.get("tags") or []:
                        yield repository, tag

    async def scan(self, repository: str, tag: str) -> TagOutcome:
        try:
            return await self._scan(repository, tag)
        except (KeyError, ValueError, TypeError) as exc:
            return TagOutcome(repository=repository, tag=tag, skipped=f"malformed manifest: {exc}")

    async def _scan(self, repository: str, tag: str) -> TagOutcome:
        ref = ImageRef(registry=self._name, repository=repository, tag=tag)
        scope = f"repository:{repository}:pull"
        response = await self._get(f"v2/{repository}/manifests/{tag}", scope, accept=ACCEPT)
        if response.status_code == 404:
            return TagOutcome(repository=repository, tag=tag, skipped="missing or deleted")
        _raise_for(response)
        manifest = response.json()
        media_type = manifest.get("mediaType") or response.headers.get("content-type", "")
        digest = response.headers.get("docker-content-digest", "")
        if media_type.split(";")[0] in LISTS or "manifests" in manifest:
            images = []
            for entry in manifest.get("manifests", []):
                platform = entry.get("platform") or {}
                # Attestation and signature entries carry "unknown" platforms: not runnable.
                if platform.get("architecture", "unknown") == "unknown":
                    continue
                child = await self._get(
                    f"v2/{repository}/manifests/{entry['digest']}", scope, accept=ACCEPT
                )
                _raise_for(child)
                images.append(
                    await self._image(ref, child.json(), entry["digest"], platform, scope)
                )
            return TagOutcome(repository=repository, tag=tag, images=tuple(images))
        image = await self._image(ref, manifest, digest, {}, scope)
        return TagOutcome(repository=repository, tag=tag, images=(image,))

    async def _image(
        self,
        ref: ImageRef,
        manifest: Mapping[str, Any],
        digest: str,
        platform: Mapping[str, Any],
        scope: str,
    ) -> ScannedImage:
        config_digest = manifest["config"]["digest"]
        blob = await self._get(f"v2/{ref.repository}/blobs/{config_digest}", scope)
        _raise_for(blob)
        config = json.loads(blob.content)
        labels = (config.get("config") or {}).get("Labels") or (
            config.get("container_config") or {}
        ).get("Labels")
        size = int(manifest["config"].get("size", 0)) + sum(
            int(layer.get("size", 0)) for layer in manifest.get("layers", [])
        )
        arch = config.get("architecture") or platform.get("architecture") or ""
        return ScannedImage(
            ref=ref,
            architecture=normalize_arch(arch),
            config_digest=config_digest,
            manifest_digest=digest,
            size_bytes=size,
            labels={str(k): str(v) for k, v in (labels or {}).items()},
        )

    async def _pages(self, path: str, scope: str) -> AsyncIterator[dict[str, Any]]:
        url: str | None = path
        while url:
            response = await self._get(url, scope)
            if response.status_code in (401, 403, 404) and "_catalog" in url:
                raise RegistryUnreachable(
                    f"{self._name} does not allow catalog listing (HTTP {response.status_code})"
                )
            _raise_for(response)
            yield response.json()
            match = _LINK.search(response.headers.get("link", ""))
            url = match.group(1).lstrip("/") if match else None

    async def _get(self, path: str, scope: str, *, accept: str = "") -> httpx.Response:
        headers = {"Accept": accept} if accept else {}
        try:
            response = await self._send(path, scope, headers)
            if response.status_code == 401 and await self._authenticate(response, scope):
                response = await self._send(path, scope, headers)
            return response
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"{self._name}: {exc}") from exc

    async def _send(self, path: str, scope: str, headers: dict[str, str]) -> httpx.Response:
        headers = dict(headers)
        auth: tuple[str, str] | None = None
        if scope in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        elif self._user:
            auth = (self._user, self._password)
        return await self._client.get(urljoin(self._base, path), headers=headers, auth=auth)

    async def _authenticate(self, response: httpx.Response, scope: str) -> bool:
        """Fetch a bearer token for the challenge; False when there is nothing more to try."""
        challenge = response.headers.get("www-authenticate", "")
        if not challenge.lower().startswith("bearer") or scope in self._tokens:
            return False
        params = dict(_CHALLENGE.findall(challenge))
        query = {"service": params.get("service", ""), "scope": scope}
        auth = (self._user, self._password) if self._user else None
        reply = await self._client.get(params["realm"], params=query, auth=auth)
        if reply.status_code != 200:
            raise RegistryUnreachable(f"{self._name}: token request refused ({reply.status_code})")
        body = reply.json()
        self._tokens[scope] = body.get("token") or body.get("access_token") or ""
        return True


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise RegistryUnreachable(
            f"{response.request.url.path}: HTTP {response.status_code} {response.text[:200]}"
        )


def scanner_for(credentials: RegistryCredentials) -> DockerRegistryScanner:
    """The scanner of the registry's type (only the v2 API so far; Hub/Harbor plug in here)."""
    return DockerRegistryScanner(credentials)
