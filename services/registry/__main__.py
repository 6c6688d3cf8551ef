import asyncio

from services.registry.app import main

asyncio.run(main())
