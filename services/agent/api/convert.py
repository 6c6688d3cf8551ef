"""shipyard.agent.v1 / shipyard.type.v1 messages ⇄ the agent's domain types."""

from __future__ import annotations

from decimal import Decimal

from google.protobuf.duration_pb2 import Duration
from shipyard.agent.v1 import kernel_service_pb2 as pb
from shipyard.type.v1 import execution_pb2

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.slots import CPU, MEM, ResourceSlots
from services.agent.domain.model import (
    ExecMode,
    ExecResult,
    ExecStatus,
    KernelHandle,
    KernelSpec,
    Mount,
)
from services.agent.service.polled_runs import PolledRuns

_MODES = {
    execution_pb2.EXECUTION_MODE_QUERY: ExecMode.QUERY,
    execution_pb2.EXECUTION_MODE_BATCH: ExecMode.BATCH,
}
_STATUSES = {
    ExecStatus.FINISHED: execution_pb2.EXECUTION_STATUS_FINISHED,
    ExecStatus.FAILED: execution_pb2.EXECUTION_STATUS_FAILED,
    ExecStatus.TIMED_OUT: execution_pb2.EXECUTION_STATUS_TIMED_OUT,
    ExecStatus.CONTINUED: execution_pb2.EXECUTION_STATUS_CONTINUED,
    ExecStatus.WAITING_INPUT: execution_pb2.EXECUTION_STATUS_WAITING_INPUT,
}


def spec_from_pb(spec: pb.KernelSpec, field: str) -> KernelSpec:
    """`field` names the spec in error messages, e.g. "kernels[0]"."""
    slots = ResourceSlots.parse(dict(spec.slots.amounts), field=f"{field}.slots")
    cpu, mem = slots[CPU], slots[MEM]
    if cpu <= 0 or mem <= 0 or mem != mem.to_integral_value():
        where = f"{field}.slots"
        raise InvalidArgument(
            f"{where} needs a positive cpu and a positive whole mem (bytes)",
            violations=[FieldViolation(where, "needs cpu > 0 and mem > 0 (whole bytes)")],
        )
    return KernelSpec(
        kernel_id=spec.kernel_id,
        session_id=spec.session_id,
        image=spec.image,
        cpu=Decimal(cpu),
        mem_bytes=int(mem),
        mounts=tuple(
            Mount(
                host_path=m.host_path,
                name=m.name,
                read_only=m.read_only,
                kernel_path=m.kernel_path,
            )
            for m in spec.mounts
        ),
        environ=dict(spec.environ),
        startup_command=spec.startup_command,
        accelerator_slots={k: v for k, v in slots.items() if k not in (CPU, MEM)},
        cluster_hostname=spec.cluster_hostname,
        cluster_hosts=tuple((h.hostname, h.address) for h in spec.cluster_hosts),
    )


def kernel_info(handle: KernelHandle) -> pb.KernelInfo:
    return pb.KernelInfo(kernel_id=handle.kernel_id, session_id=handle.session_id, pid=handle.pid)


def mode_from_pb(mode: execution_pb2.ExecutionMode) -> ExecMode:
    try:
        return _MODES[mode]
    except KeyError:
        raise InvalidArgument(
            "mode must be QUERY or BATCH here",
            violations=[FieldViolation("mode", "QUERY or BATCH")],
        ) from None


def seconds(duration: Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def result_to_pb(result: ExecResult) -> execution_pb2.ExecutionResult:
    return execution_pb2.ExecutionResult(
        status=_STATUSES[result.status],
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code,
        error_name=result.error_name,
        error_message=result.error_message,
        displays=[
            execution_pb2.DisplayData(data=dict(d.data), result=d.result) for d in result.displays
        ],
        truncated=result.truncated,
        run_id=result.run_id,
        input_request=None
        if result.prompt is None
        else execution_pb2.InputRequest(prompt=result.prompt, password=result.password),
    )


POLL_MODES = (execution_pb2.EXECUTION_MODE_CONTINUE, execution_pb2.EXECUTION_MODE_INPUT)


async def poll(runs: PolledRuns, request: pb.ExecuteRequest, timeout: float) -> ExecResult:
    """A polled Execute: start a run (query / batch) or continue one (continue / input)."""
    flush = seconds(request.flush_timeout)
    if request.mode == execution_pb2.EXECUTION_MODE_CONTINUE:
        return await runs.resume(request.kernel_id, request.run_id, flush)
    if request.mode == execution_pb2.EXECUTION_MODE_INPUT:
        return await runs.resume(request.kernel_id, request.run_id, flush, request.code)
    mode = mode_from_pb(request.mode)
    require_code(request.code)
    return await runs.start(request.kernel_id, mode, request.code, timeout, flush)


def require_code(code: str) -> None:
    if not code:
        why = "query and batch need code to run"
        raise InvalidArgument(f"code: {why}", violations=[FieldViolation("code", why)])
