"""Errors of the scheduler."""

from __future__ import annotations

from libs.core.errors import FieldViolation, InvalidArgument


class UnknownPolicy(InvalidArgument):
    reason = "UNKNOWN_SCHEDULING_POLICY"


class UnknownSelector(InvalidArgument):
    reason = "UNKNOWN_AGENT_SELECTOR"


class InvalidPolicyOption(InvalidArgument):
    reason = "INVALID_SCHEDULER_OPTION"

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(
            f"scheduler option {option}: {problem}",
            violations=[FieldViolation(f"scheduler_options.{option}", problem)],
        )
