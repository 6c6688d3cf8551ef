from shipyard.type.v1 import resources_pb2

from libs.core.slots import ResourceSlots
from libs.grpcutil.slots_pb import slots_message


def test_the_message_carries_the_amounts_as_decimal_strings() -> None:
    slots = ResourceSlots({"mem": "1e9", "cpu": "0.25"})
    assert dict(slots_message(slots).amounts) == {"cpu": "0.25", "mem": "1000000000"}
    assert dict(slots_message(slots).amounts) == slots.to_strings()


def test_a_copy_changed_by_its_caller_leaves_the_next_caller_unchanged() -> None:
    slots = ResourceSlots({"cpu": "2"})
    held = resources_pb2.ResourceSlots()
    held.CopyFrom(slots_message(slots))
    held.amounts["cpu"] = "99"
    built = resources_pb2.ResourceSlots(amounts=slots_message(ResourceSlots({"cpu": 2})).amounts)
    assert dict(built.amounts) == {"cpu": "2"}
    assert dict(slots_message(ResourceSlots({"cpu": "2.0"})).amounts) == {"cpu": "2"}


def test_sums_and_differences_format_their_own_amounts() -> None:
    total = ResourceSlots({"cpu": "1"}) + ResourceSlots({"cpu": "0.5"})
    assert total.to_strings() == {"cpu": "1.5"}
    assert dict(slots_message(total - ResourceSlots({"cpu": "1.5"})).amounts) == {}
