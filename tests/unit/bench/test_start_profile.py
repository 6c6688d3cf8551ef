"""How the start profile turns exported spans into a table of hops."""

from __future__ import annotations

from bench.start_profile import CREATE, Span, hop_table

MS = 1_000_000


def _trace(trace_id: bytes, root_at: int, bind_at: int) -> list[Span]:
    return [
        Span("edge", "ingress", trace_id, (root_at - 2) * MS, (root_at + 50) * MS),
        Span("registry", CREATE, trace_id, root_at * MS, (root_at + 40) * MS),
        Span("scheduler", "schedule session", trace_id, bind_at * MS, (bind_at + 4) * MS),
        Span(
            "registry", "kernel PHASE_STARTED", trace_id, (root_at + 30) * MS, (root_at + 33) * MS
        ),
    ]


def test_hops_are_offsets_from_the_registry_create_span_in_order() -> None:
    spans = _trace(b"a", 1000, 1010) + _trace(b"b", 5000, 5014) + _trace(b"c", 9000, 9012)
    spans.append(Span("registry", "unrelated", b"z", 0, MS))  # a trace without CreateSession
    table = hop_table(spans, CREATE)
    assert [row[0] for row in table] == [
        "edge: ingress",
        f"registry: {CREATE}",
        "scheduler: schedule session",
        "registry: kernel PHASE_STARTED",
    ]
    by_key = {key: (offset, took, n) for key, offset, took, n in table}
    assert by_key["scheduler: schedule session"] == (12.0, 4.0, 3)  # medians over the traces
    assert by_key["edge: ingress"] == (-2.0, 52.0, 3)


def test_a_span_repeated_in_one_trace_is_listed_apart() -> None:
    spans = _trace(b"a", 0, 10)
    spans.append(Span("scheduler", "schedule session", b"a", 20 * MS, 21 * MS))
    keys = [row[0] for row in hop_table(spans, CREATE)]
    assert "scheduler: schedule session (again)" in keys
