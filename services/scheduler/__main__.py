"""`python -m services.scheduler`: run one scheduler replica until SIGINT or SIGTERM."""

from __future__ import annotations

from libs.core import event_loop
from libs.core.heap import freeze_imports
from services.scheduler import app

if __name__ == "__main__":
    freeze_imports()
    event_loop.run(app.main())
