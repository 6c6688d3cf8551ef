"""Serve storage; with `migrate`, upgrade its schema and exit (a deployment's migration job)."""

import asyncio
import sys

from libs.core import event_loop
from libs.db.migrate import upgrade
from services.storage import app
from services.storage.adapters.tables import SCHEMA
from services.storage.config import Settings

if sys.argv[1:] == ["migrate"]:
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    asyncio.run(upgrade(settings.database_url, app.MIGRATIONS, SCHEMA))
elif sys.argv[1:]:
    sys.exit("usage: python -m services.storage [migrate]")
else:
    event_loop.run(app.main())
