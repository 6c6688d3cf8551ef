"""KernelStats: protobuf ⇄ domain."""

from __future__ import annotations

from datetime import datetime

from shipyard.type.v1 import kernel_stats_pb2 as pb

from services.registry.domain.utilization import KernelStats


def kernel_stats_of(msg: pb.KernelStats, agent_id: str, received_at: datetime) -> KernelStats:
    """An agent's report, stamped with the registry's clock."""
    return KernelStats(
        kernel_id=msg.kernel_id,
        agent_id=agent_id,
        received_at=received_at,
        cpu_seconds=msg.cpu_seconds,
        mem_bytes=msg.mem_bytes,
        io_read_bytes=msg.io_read_bytes,
        io_write_bytes=msg.io_write_bytes,
        accelerator_util=dict(msg.accelerator_util),
    )


def kernel_stats_pb(stats: KernelStats) -> pb.KernelStats:
    msg = pb.KernelStats(
        kernel_id=stats.kernel_id,
        cpu_seconds=stats.cpu_seconds,
        mem_bytes=stats.mem_bytes,
        io_read_bytes=stats.io_read_bytes,
        io_write_bytes=stats.io_write_bytes,
        accelerator_util=dict(stats.accelerator_util),
    )
    msg.collect_time.FromDatetime(stats.received_at)
    return msg
