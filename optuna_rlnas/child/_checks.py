"""The child package's argument checks: one small set, each error naming the value it got."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import TypeGuard
from typing import TypeVar

_T = TypeVar("_T")


def is_int(value: object) -> TypeGuard[int]:
    """``True`` for an ``int`` that is not a ``bool`` (``True`` is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value: object, *, low: int = 1, odd: bool = False, what: str = "") -> int:
    """Return ``value`` when it is an int ``>= low`` (and odd with ``odd``); else ``ValueError``.

    ``what`` replaces the default description in the message (e.g. "hold positive integers"
    for a list's element).
    """
    if not is_int(value) or value < low or (odd and value % 2 == 0):
        if not what:
            what = "be an odd positive integer" if odd else "be a positive integer"
            what = what if low == 1 else f"be an integer >= {low}"
        raise ValueError(f"{name} must {what}, but got {value!r}.")
    return value


def check_choices(name: str, values: Iterable[_T], check: Callable[[_T], object]) -> tuple[_T, ...]:
    """``values`` as a tuple of distinct choices, each passed through ``check(value)``."""
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must hold at least one choice, but got {values!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a choice, but got {values!r}.")
    for value in values:
        check(value)
    return values
