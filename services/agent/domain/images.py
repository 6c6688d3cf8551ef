"""The node's architecture and the process backend's built-in image, in registry spelling."""

from __future__ import annotations

import platform
import sys

# Go/OCI architecture names (what image manifests say) for what the kernel reports.
_ARCH_NAMES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def detect_architecture() -> str:
    machine = platform.machine().lower()
    return _ARCH_NAMES.get(machine, machine)


def builtin_python_image() -> str:
    """The process backend runs kernels on the agent's own interpreter; it advertises that as
    the Docker Hub reference of the same Python, so `python:3.11` resolves to it."""
    return f"docker.io/library/python:{sys.version_info.major}.{sys.version_info.minor}"
