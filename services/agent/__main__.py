"""`python -m services.agent`: run one agent until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio

from services.agent import app

if __name__ == "__main__":
    asyncio.run(app.main())
