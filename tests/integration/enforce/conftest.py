from tests.integration.registry.conftest import registry_db, stores

__all__ = ["registry_db", "stores"]
