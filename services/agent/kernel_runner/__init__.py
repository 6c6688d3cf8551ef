"""The kernel runner program (see `__main__.py`); stdlib only, importable for its path."""

from pathlib import Path

# What the agent starts: the single file runs under any python3, with no repository on its path.
RUNNER_SCRIPT = Path(__file__).resolve().with_name("__main__.py")
# The modules it loads from its own directory (live.py, jupyter_kernel.py, ...).
RUNNER_MODULES = tuple(
    sorted(
        p for p in RUNNER_SCRIPT.parent.glob("*.py") if p.name not in ("__main__.py", "__init__.py")
    )
)
