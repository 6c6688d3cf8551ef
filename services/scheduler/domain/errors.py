"""Errors of the scheduler."""

from __future__ import annotations

from libs.core.errors import InvalidArgument


class UnknownPolicy(InvalidArgument):
    reason = "UNKNOWN_SCHEDULING_POLICY"


class UnknownSelector(InvalidArgument):
    reason = "UNKNOWN_AGENT_SELECTOR"
