"""Serve the registry; with `migrate`, upgrade its schema and exit (a deployment's migration
job)."""

import asyncio
import sys

from libs.db.migrate import upgrade
from services.registry.adapters.tables import SCHEMA
from services.registry.app import MIGRATIONS, main
from services.registry.config import Settings

if sys.argv[1:] == ["migrate"]:
    settings = Settings()  # type: ignore[call-arg]  # required keys come from the environment
    asyncio.run(upgrade(settings.database_url, MIGRATIONS, SCHEMA))
elif sys.argv[1:]:
    sys.exit("usage: python -m services.registry [migrate]")
else:
    asyncio.run(main())
