"""Each service's image (scripts/images) installs every third-party package its code imports.

An image holds only its service's code, libs/ and the generated protos, in a venv made from the
package list in scripts/images; a package missing there shows only when the container starts.
This reads the list, follows each package's own dependencies, and checks every top-level module
that the service's files (and the libs/ modules they reach) import is provided by one of them.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"services", "libs", "gateway", "shipyard", "envoy_ext_authz", "google"}
SOURCES = {
    "auth": ["services/auth"],
    "registry": ["services/registry"],
    "scheduler": ["services/scheduler"],
    "storage": ["services/storage"],
    "agent": ["services/agent"],
    "edge": ["gateway"],
}


def _image_packages() -> dict[str, set[str]]:
    text = (ROOT / "scripts" / "images").read_text()
    variables = {
        name: value.split()
        for name, value in re.findall(r'^([A-Z]+)="([^"]*)"', text, flags=re.M | re.S)
    }
    block = re.search(r"declare -A PACKAGES=\((.*?)\n\)", text, flags=re.S)
    assert block is not None, "scripts/images has no PACKAGES table"
    found: dict[str, set[str]] = {}
    for image, value in re.findall(r'\[(\w+)\]="([^"]*)"', block.group(1)):
        names: set[str] = set()
        for word in value.split():
            names.update(variables.get(word[1:], []) if word.startswith("$") else [word])
        found[image] = {_norm(re.sub(r"\[.*\]", "", n)) for n in names}
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _with_dependencies(names: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            todo.append(_norm(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]))
    return seen


def _imports(paths: list[str]) -> set[str]:
    """Third-party top-level modules imported by the files under `paths` and by every libs/
    module they reach (following first-party imports)."""
    todo = [f for base in paths for f in (ROOT / base).rglob("*.py")]
    todo = [f for f in todo if "kernel_runner" not in f.parts]  # runs on the kernel's python
    seen: set[Path] = set()
    found: set[str] = set()
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        for node in ast.walk(ast.parse(file.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                found.add(name.split(".")[0])
                if name.startswith("libs."):
                    todo += _module_files(name)
    return {m for m in found if m not in sys.stdlib_module_names and m not in FIRST_PARTY}


def _module_files(dotted: str) -> list[Path]:
    path = ROOT.joinpath(*dotted.split("."))
    candidates = [path.with_suffix(".py"), path / "__init__.py"]
    return [c for c in candidates if c.exists()]


@pytest.mark.parametrize("image", sorted(SOURCES))
def test_every_imported_package_is_in_the_image(image: str) -> None:
    provided_by = metadata.packages_distributions()
    installed = _with_dependencies(_image_packages()[image])
    missing = sorted(
        module
        for module in _imports(SOURCES[image])
        if not {_norm(d) for d in provided_by.get(module, [module])} & installed
    )
    assert missing == [], f"scripts/images: the {image} image lacks packages for {missing}"
