"""The public SchedulerService."""
