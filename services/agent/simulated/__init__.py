"""Simulated agents: many agents in one process, for scale tests and bench/scheduler.py."""
