"""Protobuf ⇄ domain conversions of the agent's API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.type.v1 import execution_pb2, resources_pb2

from libs.core.errors import InvalidArgument
from services.agent.api import convert
from services.agent.domain import model as m


def _spec(amounts: dict[str, str]) -> pb.KernelSpec:
    return pb.KernelSpec(
        kernel_id="k-1",
        session_id="s-1",
        slots=resources_pb2.ResourceSlots(amounts=amounts),
        mounts=[pb.Mount(host_path="/data/a", name="a", read_only=True)],
        environ={"X": "1"},
        startup_command="exit 3",
    )


def test_spec_from_pb_reads_cpu_mem_mounts_and_command() -> None:
    spec = convert.spec_from_pb(_spec({"cpu": "1.5", "mem": "1073741824"}), "kernels[0]")

    assert (spec.cpu, spec.mem_bytes) == (Decimal("1.5"), 1 << 30)
    assert spec.mounts == (m.Mount(host_path="/data/a", name="a", read_only=True),)
    assert dict(spec.environ) == {"X": "1"}
    assert spec.startup_command == "exit 3"


@pytest.mark.parametrize(
    "amounts", [{"cpu": "1"}, {"cpu": "x", "mem": "1"}, {"cpu": "1", "mem": "0.5"}]
)
def test_spec_without_usable_slots_is_invalid(amounts: dict[str, str]) -> None:
    with pytest.raises(InvalidArgument) as info:
        convert.spec_from_pb(_spec(amounts), "kernels[0]")

    assert info.value.violations[0].field.startswith("kernels[0].slots")


def test_result_to_pb_maps_every_field() -> None:
    result = m.ExecResult(
        status=m.ExecStatus.FAILED,
        stdout="o",
        stderr="e",
        exit_code=1,
        error_name="ZeroDivisionError",
        error_message="division by zero",
    )

    out = convert.result_to_pb(result)

    assert out.status == execution_pb2.EXECUTION_STATUS_FAILED
    assert (out.stdout, out.stderr, out.exit_code) == ("o", "e", 1)
    assert (out.error_name, out.error_message) == ("ZeroDivisionError", "division by zero")
