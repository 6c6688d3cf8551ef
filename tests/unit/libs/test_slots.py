from decimal import Decimal

import pytest

from libs.core.errors import InvalidArgument
from libs.core.slots import ResourceSlots


def test_arithmetic_treats_missing_slots_as_zero() -> None:
    a = ResourceSlots({"cpu": "2", "mem": "1000"})
    b = ResourceSlots({"cpu": "0.5", "cuda.device": "1"})
    assert (a + b).to_strings() == {"cpu": "2.5", "cuda.device": "1", "mem": "1000"}
    assert (a - b)["cuda.device"] == Decimal(-1)


def test_fits_in_and_shortage() -> None:
    want = ResourceSlots({"cpu": "2", "mem": "3000"})
    free = ResourceSlots({"cpu": "4", "mem": "2000"})
    assert not want.fits_in(free)
    assert want.shortage(free) == {"mem": Decimal(1000)}
    assert ResourceSlots({"cpu": "1"}).fits_in(free)


def test_large_byte_counts_print_without_exponent() -> None:
    assert ResourceSlots({"mem": "1e9"}).to_strings() == {"mem": "1000000000"}


@pytest.mark.parametrize("bad", ["abc", "-1", "nan", "inf"])
def test_parse_rejects_junk_with_the_field_named(bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        ResourceSlots.parse({"cpu": bad})
    assert err.value.violations[0].field == "resources.cpu"
