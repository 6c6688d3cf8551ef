"""The scheduler's I/O: the Redis leader lease and the registry's SchedulingService."""
