"""`python -m services.agent`: run one agent until SIGINT or SIGTERM."""

from __future__ import annotations

from libs.core import event_loop
from services.agent import app

if __name__ == "__main__":
    event_loop.run(app.main())
