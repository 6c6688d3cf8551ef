"""The edge fuzzer's requests: schemathesis cases from the protos' OpenAPI description
(`build/openapi.json`), positive and negative, a share of them mutated the way hostile clients
do (NUL characters, 10 kB strings, deep unicode). Sent by `bench.fuzz_edge`.
"""

from __future__ import annotations

import json
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "build" / "openapi.json"
_HOSTILE = ("\x00", "a\x00b", "x" * 10_000, "\u202e\U0001f600" * 200, "'; DROP TABLE x; --", "../")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # quoted, with its query string
    body: Any  # None: no body


def _mutate(value: Any, rng: random.Random) -> Any:
    """Replace one string somewhere in `value` (or `value` itself) with a hostile one."""
    if isinstance(value, str):
        return rng.choice(_HOSTILE)
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        if rng.random() < 0.2:
            return {**value, rng.choice(_HOSTILE)[:64]: rng.choice(_HOSTILE)}
        return {**value, key: _mutate(value[key], rng)}
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        return [*value[:i], _mutate(value[i], rng), *value[i + 1 :]]
    return value


def _render(case: Any, rng: random.Random, hostile: bool) -> Request:
    params = dict(case.path_parameters or {})
    query = dict(case.query or {})
    body = case.body if case.operation.body else None
    if body is not None and hasattr(body, "__class__") and type(body).__name__ == "NotSet":
        body = None
    if hostile:
        target = rng.choice(("path", "query", "body"))
        if target == "path" and params:
            key = rng.choice(list(params))
            params[key] = _mutate(str(params[key]), rng)[:2000]
        elif target == "query" and query:
            key = rng.choice(list(query))
            query[key] = _mutate(query[key], rng)
        elif body is not None:
            body = _mutate(body, rng)
    path = case.operation.path
    for key, value in params.items():
        path = path.replace("{" + key + "}", quote(str(value), safe=""))
    flat = {k: json.dumps(v) if isinstance(v, (dict, bool)) else v for k, v in query.items()}
    qs = urlencode(flat, doseq=True)
    return Request(case.method.upper(), path + (f"?{qs}" if qs else ""), body)


def generate(count: int, seed: int) -> list[Request]:
    """`count` requests spread over every operation, half positive, half negative."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_path(str(OPENAPI))
        operations = [result.ok() for result in schema.get_all_operations()]
    rng = random.Random(seed)
    per_op = max(1, count // (len(operations) * 2) + 1)
    requests: list[Request] = []
    skipped: list[str] = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                cases = _cases(operation, mode, per_op)
            except Exception:  # e.g. no negative case for an operation with one free-form string
                skipped.append(f"{operation.method.upper()} {operation.path} ({mode.value})")
                continue
            requests += [_render(c, rng, hostile=rng.random() < 0.3) for c in cases]
    if skipped:
        print(f"no cases to generate for {len(skipped)} operation modes: {', '.join(skipped)}")
    rng.shuffle(requests)
    return _cycle(requests, count)


def _cases(operation: Any, mode: Any, count: int) -> list[Any]:
    cases: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def collect(case: Any) -> None:
        cases.append(case)

    collect()
    return cases


def _cycle(requests: list[Request], count: int) -> list[Request]:
    if not requests:
        return []
    return [requests[i % len(requests)] for i in range(count)]
