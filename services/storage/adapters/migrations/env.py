from libs.db.migrate import run_env
from services.storage.adapters.tables import metadata

run_env(metadata)
