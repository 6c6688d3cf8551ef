import asyncio

from services.storage import app

asyncio.run(app.main())
