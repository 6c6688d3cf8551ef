"""Agents grouped by state, so that placing a session costs O(distinct states), not O(agents).

Two agents whose state agrees in everything but the id (resource group, liveness, capacity,
occupancy, architecture, images, backend) pass the same predicates and score the same with any
selector. Such agents form one *class*; a placement only has to look at one agent per class: the
one with the smallest id, which is the one a full scan picks among equals (selectors break ties
by the smallest id). The choice is therefore exactly the full scan's (docs/scheduler-scale.md).

In a cluster of many alike machines the number of classes stays small (a 64-core agent packed
by 1-core kernels has at most 65 occupancy states), whatever the number of agents.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import cast

from libs.core.slots import ResourceSlots
from services.scheduler.domain.model import Agent

StateKey = tuple[object, ...]


def state_key(agent: Agent) -> StateKey:
    """Everything predicates and selectors may read except the id (see AgentPredicate)."""
    # Plain tuples of (slot, amount) compare and hash in C; ResourceSlots would not.
    return (
        agent.resource_group,
        agent.alive,
        agent.available_key,
        agent.occupied_key,
        agent.architecture,
        agent.images,
        agent.backend,
    )


class AgentIndex:
    """The current view of every agent, grouped by resource group and state class."""

    def __init__(self, agents: Iterable[Agent] = ()) -> None:
        self._views: dict[str, Agent] = {}
        self._key_of: dict[str, StateKey] = {}
        # resource group → state key → member ids, sorted.
        self._classes: dict[str, dict[StateKey, list[str]]] = {}
        for agent in agents:
            self.put(agent)

    def put(self, agent: Agent) -> None:
        """Add or update an agent's view."""
        key = state_key(agent)
        old = self._key_of.get(agent.agent_id)
        if old != key:
            if old is not None:
                self._leave(agent.agent_id, old)
            classes = self._classes.setdefault(agent.resource_group, {})
            bisect.insort(classes.setdefault(key, []), agent.agent_id)
            self._key_of[agent.agent_id] = key
        self._views[agent.agent_id] = agent

    def remove(self, agent_id: str) -> None:
        self._views.pop(agent_id, None)
        key = self._key_of.pop(agent_id, None)
        if key is not None:
            self._leave(agent_id, key)

    def clear(self) -> None:
        self._views.clear()
        self._key_of.clear()
        self._classes.clear()

    def get(self, agent_id: str) -> Agent | None:
        return self._views.get(agent_id)

    def agents(self, resource_group: str) -> list[Agent]:
        """Every agent of the group, sorted by id: O(agents), for messages and listings only."""
        ids = sorted(i for m in self._classes.get(resource_group, {}).values() for i in m)
        return [self._views[i] for i in ids]

    def alive_capacity(self, resource_group: str) -> ResourceSlots:
        """The sum of the group's alive agents' capacity: O(classes), not O(agents)."""
        total: dict[str, Decimal] = {}
        for key, members in self._classes.get(resource_group, {}).items():
            if key[1]:  # alive
                for slot, amount in cast(tuple[tuple[str, Decimal], ...], key[2]):
                    total[slot] = total.get(slot, Decimal(0)) + amount * len(members)
        return ResourceSlots(total)

    def class_count(self, resource_group: str) -> int:
        return len(self._classes.get(resource_group, {}))

    def representatives(
        self, resource_group: str, *, excluding: Collection[str] = ()
    ) -> list[Agent]:
        """The smallest-id agent of each class not in `excluding`, sorted by id."""
        found: list[Agent] = []
        for members in self._classes.get(resource_group, {}).values():
            for agent_id in members:
                if agent_id not in excluding:
                    found.append(self._views[agent_id])
                    break
        found.sort(key=_agent_id)
        return found

    def _leave(self, agent_id: str, key: StateKey) -> None:
        group = str(key[0])
        classes = self._classes.get(group)
        if classes is None:
            return
        members = classes.get(key)
        if members is None:
            return
        at = bisect.bisect_left(members, agent_id)
        if at < len(members) and members[at] == agent_id:
            del members[at]
        if not members:
            del classes[key]
            if not classes:
                del self._classes[group]


def _agent_id(agent: Agent) -> str:
    return agent.agent_id
