"""The scheduler: places pending sessions on agents (watch → cache → assume → bind)."""
