"""Serve auth; with `bootstrap`, print the superadmin keypair as JSON instead."""

import asyncio
import sys

from services.auth import app

if sys.argv[1:] == ["bootstrap"]:
    asyncio.run(app.bootstrap_main())
elif sys.argv[1:]:
    sys.exit("usage: python -m services.auth [bootstrap]")
else:
    asyncio.run(app.main())
