"""`python -m services.agent`: run one agent until SIGINT or SIGTERM.

The agent stays on Python's standard event loop, not uvloop as the other services
(docs/decisions.md D8): under uvloop, kernels of cluster sessions it started exited with 139.
"""

from __future__ import annotations

import asyncio

from services.agent import app

if __name__ == "__main__":
    asyncio.run(app.main())
