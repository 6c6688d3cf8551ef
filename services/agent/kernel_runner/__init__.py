"""The kernel runner program (see `__main__.py`); stdlib only, importable for its path."""

from pathlib import Path

# What the agent starts: the single file runs under any python3, with no repository on its path.
RUNNER_SCRIPT = Path(__file__).resolve().with_name("__main__.py")
# The modules it loads from its own directory (live.py, jupyter_kernel.py, ...).
_NOT_MODULES = ("__main__.py", "__init__.py", "echo_app.py")  # echo_app.py is an app's script
RUNNER_MODULES = tuple(
    sorted(p for p in RUNNER_SCRIPT.parent.glob("*.py") if p.name not in _NOT_MODULES)
)
# The built-in `echo` app, whose text the agent sends to the runner to run (domain/apps.py).
ECHO_APP_SCRIPT = Path(__file__).resolve().with_name("echo_app.py")
