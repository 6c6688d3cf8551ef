"""Many rows in one statement: `… FROM unnest(column arrays)`, shared by the bind's writes
(`bind_sql.py`) and the outbox insert (`outbox.py`), and `column = ANY(array)` for reading them.

PostgreSQL zips the arrays into rows, so one round trip writes a whole batch whatever its size,
and each array is a single bound parameter (no statement text that grows with the batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute


def any_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Sequence[object]
) -> ColumnElement[bool]:
    """`column = ANY(:array)`: one parameter for the whole list. `column.in_(values)` renders
    one parameter per value at every execution, and each new length is a new statement for the
    driver to prepare."""
    array = bindparam(None, list(values), type_=ARRAY(column.type), unique=True)
    return column == any_(array)


def array_of(name: str, column: ColumnElement[Any]) -> BindParameter[Any]:
    """`any_of`'s array as a named parameter, bound at each execution: for statements built
    once at import, whose cache keys SQLAlchemy then computes once, not on every transaction."""
    return bindparam(name, type_=ARRAY(column.type))


def unnest(
    alias: str, ordinality: str = "", **columns: tuple[str, Sequence[object]]
) -> tuple[str, dict[str, object]]:
    """The FROM item `unnest(CAST(:<alias>_<col> AS <type>[]), …) AS <alias>(<col>, …)` and its
    parameters, from `col=(SQL type, values)` with every value list as long as the others;
    with `ordinality`, a last column of that name numbers the rows from 1 in list order."""
    kinds = {name: kind for name, (kind, _) in columns.items()}
    return unnest_from(alias, ordinality, **kinds), unnest_params(
        alias, **{name: values for name, (_, values) in columns.items()}
    )


def unnest_from(alias: str, ordinality: str = "", **kinds: str) -> str:
    """`unnest`'s FROM item alone, from `col=SQL type`: for a statement built once."""
    casts = ", ".join(f"CAST(:{alias}_{name} AS {kind}[])" for name, kind in kinds.items())
    names = ", ".join([*kinds, *([ordinality] if ordinality else [])])
    numbered = " WITH ORDINALITY" if ordinality else ""
    return f"unnest({casts}){numbered} AS {alias}({names})"


def unnest_params(alias: str, **values: Sequence[object]) -> dict[str, object]:
    """The parameters of `unnest_from(alias, …)`, from `col=values`."""
    return {f"{alias}_{name}": list(v) for name, v in values.items()}
