"""What `shipyard session info` and `shipyard usage report` print about idleness and usage."""

from __future__ import annotations

from cli.usage_commands import _table, remaining_lines


def test_the_idle_and_lifetime_lines_show_the_time_left() -> None:
    session = {
        "idle_timeout": "1800s",
        "idle_time_remaining": "1799.500s",
        "expire_time": "2026-01-01T12:00:00Z",
        "lifetime_remaining": "3600s",
    }
    assert remaining_lines(session) == [
        "idle timeout 30m00s: 29m59s left before it ends unused (idle-timeout)",
        "max lifetime: ends at 2026-01-01T12:00:00Z, 1h00m00s left",
    ]
    assert remaining_lines({"status": "SESSION_STATUS_RUNNING"}) == []


def test_the_report_table_shows_hours_and_slot_hours() -> None:
    table = _table(
        [
            {
                "user_id": "u1",
                "project_id": "p1",
                "session_count": 2,
                "kernel_count": 3,
                "used_seconds": 7200,
                "slot_seconds": {"cpu": 3600, "mem": 2 * 3600 * 1024**3},
            }
        ]
    )
    header, row = table.splitlines()
    assert header.split()[:4] == ["USER", "PROJECT", "SESSIONS", "KERNELS"]
    assert row.split() == ["u1", "p1", "2", "3", "2.00", "1.00", "2.00"]
