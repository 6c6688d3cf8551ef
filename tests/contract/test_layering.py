"""The layering rules of docs/service-conventions.md, checked on every import statement."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "registry", "scheduler", "storage", "agent")
STDLIB_ONLY_ALLOWED = ("libs.core",)

# Per layer inside a service: import prefixes that are forbidden.
LAYER_FORBIDDEN = {
    "domain": (
        "sqlalchemy",
        "grpc",
        "redis",
        "pydantic",
        "shipyard",
        "opentelemetry",
        "alembic",
        "asyncpg",
        "libs.db",
        "libs.grpcutil",
        "libs.events",
    ),
    "service": (
        "sqlalchemy",
        "grpc",
        "redis",
        "shipyard",
        "alembic",
        "asyncpg",
        "libs.db",
        "libs.grpcutil",
        "libs.events",
    ),
    "adapters": (),
    "api": ("sqlalchemy", "redis", "asyncpg", "alembic", "libs.db"),
}
LAYER_FORBIDDEN_OWN = {
    "domain": ("service", "adapters", "api", "app", "config"),
    "service": ("adapters", "api", "app", "config"),
    "adapters": ("api", "app"),
    "api": ("adapters", "app"),
}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _starts(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations() -> Iterator[str]:
    for path in sorted(ROOT.glob("services/*/**/*.py")):
        rel = path.relative_to(ROOT)
        service = rel.parts[1]
        layer = rel.parts[2] if len(rel.parts) > 3 else rel.stem
        others = (*tuple(f"services.{s}" for s in SERVICES if s != service), "gateway", "cli")
        own = f"services.{service}"
        for line, module in _imports(path):
            where = f"{rel}:{line} imports {module}"
            if _starts(module, others):
                yield f"{where}: a service never imports another service, the edge or the CLI"
            if layer in LAYER_FORBIDDEN and _starts(module, LAYER_FORBIDDEN[layer]):
                yield f"{where}: not allowed in {layer}/"
            if layer in LAYER_FORBIDDEN_OWN and _starts(
                module, tuple(f"{own}.{x}" for x in LAYER_FORBIDDEN_OWN[layer])
            ):
                yield f"{where}: {layer}/ must not depend on that layer"
    for top, forbidden in (
        ("libs", ("services", "gateway", "cli")),
        ("gateway", ("services", "cli")),
        ("cli", ("services", "gateway")),
    ):
        for path in sorted(ROOT.glob(f"{top}/**/*.py")):
            for line, module in _imports(path):
                if _starts(module, forbidden):
                    yield f"{path.relative_to(ROOT)}:{line} imports {module}: {top} is below it"
    for path in sorted(ROOT.glob("libs/core/**/*.py")):
        for line, module in _imports(path):
            if _starts(module, ("grpc", "sqlalchemy", "redis", "shipyard")):
                yield f"{path.relative_to(ROOT)}:{line} imports {module}: libs.core does no I/O"


def test_layering_rules_hold() -> None:
    found = list(_violations())
    assert not found, "layering violations:\n" + "\n".join(found)


def test_the_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from services.registry.adapters import tables\nimport sqlalchemy\n")
    assert [m for _, m in _imports(bad)] == ["services.registry.adapters", "sqlalchemy"]
    assert _starts("services.registry.adapters.tables", ("services.registry.adapters",))
    assert not _starts("services.registryx", ("services.registry",))
