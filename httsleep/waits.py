"""Wait strategies: how long to pause between two attempts.

A wait strategy is any callable that takes the number of the attempt that
just finished (1 after the first request) and returns the seconds to wait
before the next one. The classes here are small, immutable and compose::

    >>> from httsleep.waits import Constant, Exponential, FullJitter
    >>> Exponential(initial=0.5, maximum=10)(4)
    4.0
    >>> (Constant(1) + Constant(0.5))(1)
    1.5
    >>> wait = FullJitter(Exponential(initial=1, maximum=30))
    >>> 0 <= wait(3) <= 4
    True

Pass one as ``polling_interval`` to :class:`~httsleep.HttSleeper`,
:func:`~httsleep.httsleep` and the helpers in :mod:`httsleep.resilience`; a
plain number still means a constant wait.
"""

from __future__ import annotations

import math
import numbers
import random
from typing import Callable, Union

from ._validate import MAX_SECONDS, ArgumentTypeError, shorten
from ._validate import seconds as _checked_seconds

__all__ = [
    "Constant",
    "Exponential",
    "FullJitter",
    "Sum",
    "WaitLike",
    "WaitStrategy",
    "as_wait",
    "never_ending",
    "wait_seconds",
]

#: A wait strategy: attempt number (1-based) -> seconds to wait.
WaitStrategy = Callable[[int], float]
#: What the public API accepts: seconds as a number, or a strategy.
WaitLike = Union[float, int, WaitStrategy]


class _Composable:
    """Gives strategies ``+`` (sum of two waits)."""

    def __call__(self, attempt: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __add__(self, other: WaitLike) -> Sum:
        return Sum(self, as_wait(other, "wait"))

    def __radd__(self, other: WaitLike) -> Sum:
        return Sum(as_wait(other, "wait"), self)


class Constant(_Composable):
    """Always the same wait (the default, from ``polling_interval``)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = _checked_seconds(seconds, "seconds")

    def __call__(self, attempt: int) -> float:
        return self.seconds

    def __repr__(self) -> str:
        return "Constant({!r})".format(self.seconds)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constant) and other.seconds == self.seconds

    def __hash__(self) -> int:
        return hash(("Constant", self.seconds))


class Exponential(_Composable):
    """``initial * base ** (attempt - 1)``, never more than ``maximum``.

    Growth is computed without overflow for any attempt number: once the
    cap is reached it stays there.
    """

    __slots__ = ("initial", "base", "maximum")

    def __init__(self, initial: float = 1.0, maximum: float = 60.0, base: float = 2.0) -> None:
        self.initial = _checked_seconds(initial, "initial")
        self.maximum = _checked_seconds(maximum, "maximum", infinite=True)
        self.base = _checked_seconds(base, "base")
        if self.base < 1:
            raise ValueError("base must be >= 1, not {!r}".format(base))

    def __call__(self, attempt: int) -> float:
        exponent = max(attempt - 1, 0)
        if self.initial == 0 or self.maximum == 0:
            return 0.0
        if self.base == 1 or self.initial >= self.maximum:
            return min(self.initial, self.maximum)
        # Compare in log space (maximum / initial itself may overflow), so that
        # huge attempt numbers cannot overflow: past the cap, stay there.
        if exponent >= (math.log(self.maximum) - math.log(self.initial)) / math.log(self.base):
            return self.maximum
        try:
            grown = self.initial * self.base**exponent
        except OverflowError:  # base**exponent alone is too big, the product is not
            grown = math.exp(math.log(self.initial) + exponent * math.log(self.base))
        return min(grown, self.maximum)

    def __repr__(self) -> str:
        return "Exponential(initial={!r}, maximum={!r}, base={!r})".format(
            self.initial, self.maximum, self.base
        )


class FullJitter(_Composable):
    """A uniformly random wait between 0 and what ``strategy`` says.

    "Full jitter" spreads many clients that started together, so that they
    do not retry in lockstep. ``rng`` returns a float in [0, 1) and can be
    replaced for tests.
    """

    __slots__ = ("strategy", "rng")

    def __init__(self, strategy: WaitLike, rng: Callable[[], float] = random.random) -> None:
        self.strategy = as_wait(strategy, "strategy")
        self.rng = rng

    def __call__(self, attempt: int) -> float:
        return self.strategy(attempt) * self.rng()

    def __repr__(self) -> str:
        return "FullJitter({!r})".format(self.strategy)


class Sum(_Composable):
    """The sum of two waits, e.g. ``Constant(1) + FullJitter(Constant(0.5))``."""

    __slots__ = ("first", "second")

    def __init__(self, first: WaitStrategy, second: WaitStrategy) -> None:
        self.first = first
        self.second = second

    def __call__(self, attempt: int) -> float:
        return self.first(attempt) + self.second(attempt)

    def __repr__(self) -> str:
        return "({!r} + {!r})".format(self.first, self.second)


def wait_seconds(strategy: WaitStrategy, attempt: int) -> float:
    """What ``strategy`` says to wait after ``attempt``, as seconds a sleep can take.

    A custom strategy's negative or NaN answer means no wait; an answer
    longer than any sleep can take (more than about 31 years, or infinity)
    comes back as ``math.inf``, which the caller treats as "never": with a
    deadline the poll gives up, without one :func:`never_ending` says why.

    :raises TypeError: the strategy answered something that is not a number.
    """
    answer = strategy(attempt)
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        raise ArgumentTypeError(
            "wait strategy {} returned {} after attempt {}; it must return a number of seconds".format(
                shorten(strategy), shorten(answer), attempt
            )
        )
    try:
        seconds = float(answer)
    except OverflowError:
        return math.inf
    if not seconds > 0:
        return 0.0
    return math.inf if seconds > MAX_SECONDS else seconds


def never_ending(strategy: WaitStrategy, attempt: int) -> ValueError:
    """The error for a strategy that asked to wait forever when no deadline can end the wait."""
    return ValueError(
        "wait strategy {} asked to wait forever (or longer than {:g}s) after attempt {}; "
        "cap the strategy, or give a timeout".format(shorten(strategy), MAX_SECONDS, attempt)
    )


def as_wait(value: WaitLike, name: str = "polling_interval") -> WaitStrategy:
    """Turn a number of seconds into :class:`Constant`; pass strategies through.

    :raises TypeError: ``value`` is neither a number nor callable.
    :raises ValueError: ``value`` is a negative or non-finite number.
    """
    if callable(value):
        return value
    return Constant(_checked_seconds(value, name, allow_str=name == "polling_interval"))
