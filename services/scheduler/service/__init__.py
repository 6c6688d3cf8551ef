"""Use cases of the scheduler: sync the cache, elect a leader, run cycles, show the queue."""
