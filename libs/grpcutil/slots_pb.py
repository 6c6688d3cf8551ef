"""ResourceSlots as its protobuf message, built once per distinct amount map.

Building a `shipyard.type.v1.ResourceSlots` from a dict fills its map one item at a time
through the generic mapping update, several microseconds each; a batch bind and the cluster
watch build two per agent and one or two per session, nearly all of them alike (most agents
have the same capacity, most sessions ask the same). The message returned is shared: pass it
to a constructor or to `CopyFrom` (both copy it), never change it.
"""

from __future__ import annotations

import functools

from shipyard.type.v1 import resources_pb2

from libs.core.slots import ResourceSlots


def slots_message(slots: ResourceSlots) -> resources_pb2.ResourceSlots:
    """The message of `slots` (shared, read-only)."""
    return _message(slots.string_items())


@functools.lru_cache(maxsize=4096)
def _message(items: tuple[tuple[str, str], ...]) -> resources_pb2.ResourceSlots:
    return resources_pb2.ResourceSlots(amounts=dict(items))
