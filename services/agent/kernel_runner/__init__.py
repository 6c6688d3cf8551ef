"""The kernel runner program (see `__main__.py`); stdlib only, importable for its path."""

from pathlib import Path

# What the agent starts: the single file runs under any python3, with no repository on its path.
RUNNER_SCRIPT = Path(__file__).resolve().with_name("__main__.py")
# Loaded by the runner from beside its script when a terminal is opened.
PTY_SCRIPT = RUNNER_SCRIPT.with_name("pty_session.py")
