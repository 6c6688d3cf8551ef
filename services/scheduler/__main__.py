"""`python -m services.scheduler`: run one scheduler replica until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio

from services.scheduler import app

if __name__ == "__main__":
    asyncio.run(app.main())
