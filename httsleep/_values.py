"""What the values of a poll are made of: :class:`Value`, an immutable value of its slots.

:mod:`httsleep.state` (a poll's state, what hooks see) and :mod:`httsleep._events`
(what the instrumentation reports) build on it. Only :mod:`typing` is imported.
"""

from __future__ import annotations

from typing import Any, Tuple

__all__ = ["Value"]


class Value:
    """An immutable value made of its slots: compared, hashed, copied, pickled and shown by them.

    A plain slotted class rather than a dataclass: importing dataclasses
    (and the inspect module it pulls in) would cost every poll's first
    import ~3 ms.
    """

    __slots__: Tuple[str, ...] = ()

    def __init__(self, *values: Any) -> None:
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def _fields(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("{} is immutable: cannot set {!r}".format(type(self).__name__, name))

    def __delattr__(self, name: str) -> None:
        raise AttributeError("{} is immutable: cannot delete {!r}".format(type(self).__name__, name))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __reduce__(self) -> Tuple[Any, ...]:
        # copy, deepcopy and pickle would otherwise set the slots one by one, which __setattr__ refuses
        return (self.__class__, self._fields())

    def __repr__(self) -> str:
        return "{}({})".format(
            type(self).__name__,
            ", ".join("{}={!r}".format(name, value) for name, value in zip(self.__slots__, self._fields())),
        )
