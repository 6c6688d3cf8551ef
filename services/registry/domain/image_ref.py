"""Image references in their canonical form: registry/repository:tag (Docker's rules)."""

from __future__ import annotations

import re

from services.registry.domain.images import ImageRef

DEFAULT_REGISTRY = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
# Go/OCI architecture names for the spellings other tools use.
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armv8": "arm64"}


class BadReference(ValueError):
    """Not an image reference; the message says why."""


def parse_ref(text: str) -> ImageRef:
    """`python:3.11` → docker.io/library/python:3.11; `host:5000/ns/img` → tag latest."""
    text = text.strip()
    if not text or "@" in text:
        raise BadReference(f"{text!r} is not an image reference (name[:tag], no digests)")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DEFAULT_REGISTRY, text
    name, _, tag = path.rpartition(":") if ":" in path else (path, "", "latest")
    if registry.lower() in _DOCKER_HUB_ALIASES:
        registry = DEFAULT_REGISTRY
        if "/" not in name:
            name = f"library/{name}"
    if not name or not all(_COMPONENT.match(c) for c in name.split("/")):
        raise BadReference(f"{text!r}: repository {name!r} is not a valid image name")
    if not _TAG.match(tag):
        raise BadReference(f"{text!r}: tag {tag!r} is not a valid tag")
    return ImageRef(registry=registry, repository=name, tag=tag)


def canonical(text: str) -> str:
    return parse_ref(text).canonical


def normalize_arch(arch: str) -> str:
    arch = arch.strip().lower()
    return _ARCH_ALIASES.get(arch, arch)
