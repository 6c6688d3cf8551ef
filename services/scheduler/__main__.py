"""`python -m services.scheduler`: run one scheduler replica until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio

from libs.core.heap import freeze_imports
from services.scheduler import app

if __name__ == "__main__":
    freeze_imports()
    asyncio.run(app.main())
