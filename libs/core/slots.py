"""Resource slot arithmetic: amounts per slot name ("cpu" cores, "mem" bytes, "cuda.device")."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation

from typing_extensions import override

from libs.core.errors import FieldViolation, InvalidArgument

CPU = "cpu"
MEM = "mem"
# Accelerator slots by suffix: "<family>.device" counts whole devices, "<family>.shares" counts
# fractions of devices in hundredths (the agent's device pools allocate in those units).
_STEPS = {
    ".device": (Decimal(1), "a whole number"),
    ".shares": (Decimal("0.01"), "a multiple of 0.01"),
}


_ZERO = Decimal(0)


class ResourceSlots(Mapping[str, Decimal]):
    """An immutable map of slot name to amount. Missing slots count as zero."""

    __slots__ = ("_amounts", "_strings")

    def __init__(self, amounts: Mapping[str, Decimal | int | str] | None = None) -> None:
        self._amounts = {k: d for k, v in (amounts or {}).items() if (d := Decimal(v)) != 0}
        self._strings: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def _of(cls, amounts: dict[str, Decimal]) -> ResourceSlots:
        """From amounts that are Decimals already (sums and differences): no conversion."""
        made = cls.__new__(cls)
        made._amounts = {k: v for k, v in amounts.items() if v != 0}
        made._strings = None
        return made

    @classmethod
    def parse(cls, raw: Mapping[str, str], *, field: str = "resources") -> ResourceSlots:
        """Parse decimal strings; reject junk and negative amounts with a field violation."""
        parsed: dict[str, Decimal] = {}
        for name, text in raw.items():
            try:
                amount = Decimal(text)
            except InvalidOperation:
                amount = Decimal("NaN")
            if not amount.is_finite() or amount < 0:
                raise InvalidArgument(
                    f"{field}.{name} must be a non-negative number, got {text!r}",
                    violations=[FieldViolation(f"{field}.{name}", "must be a non-negative number")],
                )
            _check_step(name, amount, f"{field}.{name}")
            parsed[name] = amount
        return cls(parsed)

    @override
    def __getitem__(self, key: str) -> Decimal:
        return self._amounts.get(key, Decimal(0))

    @override
    def __iter__(self) -> Iterator[str]:
        return iter(self._amounts)

    @override
    def __len__(self) -> int:
        return len(self._amounts)

    def __add__(self, other: Mapping[str, Decimal]) -> ResourceSlots:
        mine = self._amounts
        return ResourceSlots._of(
            {k: mine.get(k, _ZERO) + Decimal(other.get(k, _ZERO)) for k in mine.keys() | other}
        )

    def __sub__(self, other: Mapping[str, Decimal]) -> ResourceSlots:
        mine = self._amounts
        return ResourceSlots._of(
            {k: mine.get(k, _ZERO) - Decimal(other.get(k, _ZERO)) for k in mine.keys() | other}
        )

    def fits_in(self, capacity: Mapping[str, Decimal]) -> bool:
        """True when every requested amount is at most what `capacity` has."""
        return all(amount <= capacity.get(name, Decimal(0)) for name, amount in self.items())

    def shortage(self, capacity: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """Per slot, how much more than `capacity` is requested (only slots that do not fit)."""
        return {
            n: a - capacity.get(n, Decimal(0))
            for n, a in self.items()
            if a > capacity.get(n, Decimal(0))
        }

    def to_strings(self) -> dict[str, str]:
        return dict(self.string_items())

    def string_items(self) -> tuple[tuple[str, str], ...]:
        """(name, decimal string) in name order; formatted once per instance (immutable)."""
        if self._strings is None:
            self._strings = tuple((k, _format(v)) for k, v in sorted(self._amounts.items()))
        return self._strings

    @override
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return all(self[k] == Decimal(other.get(k, 0)) for k in set(self) | set(other))

    @override
    def __hash__(self) -> int:
        return hash(tuple(sorted(self._amounts.items())))

    @override
    def __repr__(self) -> str:
        return f"ResourceSlots({self.to_strings()})"


def _check_step(name: str, amount: Decimal, where: str) -> None:
    for suffix, (step, wording) in _STEPS.items():
        if name.endswith(suffix) and amount % step != 0:
            raise InvalidArgument(
                f"{where} must be {wording}, got {format(amount, 'f')}",
                violations=[FieldViolation(where, f"must be {wording}")],
            )


def _format(value: Decimal) -> str:
    normalized = value.normalize()
    # Decimal("1E+9").normalize() prints in exponent form; keep plain digits for clients.
    return format(normalized, "f")
