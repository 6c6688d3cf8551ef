"""Serve auth; with `bootstrap`, print the superadmin keypair as JSON instead; with `migrate`,
upgrade auth's schema and exit (a deployment's migration job)."""

import asyncio
import sys

from libs.core import event_loop
from services.auth import app
from services.auth.adapters.schema import migrate
from services.auth.config import BootstrapSettings

if sys.argv[1:] == ["bootstrap"]:
    asyncio.run(app.bootstrap_main())
elif sys.argv[1:] == ["migrate"]:
    asyncio.run(migrate(BootstrapSettings().database_url))
elif sys.argv[1:]:
    sys.exit("usage: python -m services.auth [bootstrap|migrate]")
else:
    event_loop.run(app.main())
