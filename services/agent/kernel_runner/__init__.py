"""The kernel runner program (see `__main__.py`); stdlib only, importable for its path."""

from pathlib import Path

# What the agent starts: the single file runs under any python3, with no repository on its path.
RUNNER_SCRIPT = Path(__file__).resolve().with_name("__main__.py")
# The built-in `echo` app, whose text the agent sends to the runner to run (domain/apps.py).
ECHO_APP_SCRIPT = Path(__file__).resolve().with_name("echo_app.py")
