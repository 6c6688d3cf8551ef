from libs.db.migrate import run_env

run_env()
