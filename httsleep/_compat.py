"""What httsleep keeps only so that code written for httsleep 0.3.1 runs unchanged. One place for all of it.

- :data:`DEFAULT_MAX_RETRIES`: 50, as in 0.3.1, and a marker that
  ``max_retries`` was not given (then ``timeout=`` alone limits the poll).
- :class:`PolicyAttributes`: the configuration attributes of 0.3.1's
  ``HttSleeper`` (``until``, ``alarms``, ``max_retries``,
  ``polling_interval``, ``ignore_exceptions``), readable and writable on
  both front ends, backed by the compiled :class:`~httsleep.policy.Policy`.
- :class:`SessionAttributes`: the synchronous poller's ``kwargs``.
- :func:`main_module_attribute`: the names 0.3.1's ``httsleep.main``
  offered that cost something or changed meaning (``DEFAULT_SESSION``,
  ``string_types``, ``jsonpath_rw``, ``logging``, ``warnings``), made on first
  use.
- :class:`AlarmAttributes`: ``Alarm.mesg``, where 0.3.1 kept the message.

The poll ``poll`` 1.0's helpers live on in :mod:`httsleep.resilience`,
where they are the API itself, not a shim.

Nothing here is imported at ``import httsleep``; this module imports no
other httsleep module at import time (the exceptions module uses it).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Type

if TYPE_CHECKING:
    from .policy import Policy
    from .waits import WaitLike

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "AlarmAttributes",
    "PolicyAttributes",
    "SessionAttributes",
    "main_module_attribute",
]


class _DefaultMaxRetries(int):
    """50, and a marker: ``max_retries`` was not given (then ``timeout=`` alone limits the poll)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "50"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        return (_default_max_retries, ())


def _default_max_retries() -> int:
    return DEFAULT_MAX_RETRIES


#: Requests made before giving up when nothing else is said (as in 0.3.1). When
#: ``timeout=`` is given and ``max_retries`` is not, there is no such limit: the
#: deadline ends the poll.
DEFAULT_MAX_RETRIES: int = _DefaultMaxRetries(50)


class PolicyAttributes:
    """The 0.3.1 configuration attributes, read from and written to ``self._policy``."""

    _policy: Policy
    _polling_interval: WaitLike

    @property
    def until(self) -> List[dict]:
        """The success conditions, normalised copies in dict form."""
        return [condition.spec for condition in self._policy.until]

    @until.setter
    def until(self, value: Any) -> None:
        from .conditions import compile_conditions

        compiled = compile_conditions(value, "until")
        if not compiled:
            raise ValueError("no success conditions given")
        self._policy.until = compiled

    @property
    def alarms(self) -> List[dict]:
        """The alarm conditions, normalised copies in dict form."""
        return [condition.spec for condition in self._policy.alarms]

    @alarms.setter
    def alarms(self, value: Any) -> None:
        from .conditions import compile_conditions

        self._policy.alarms = compile_conditions(value, "alarms")

    @property
    def max_retries(self) -> Optional[int]:
        """See the ``max_retries`` parameter. Runs never change it (0.3.1 counted it down)."""
        return self._policy.max_retries

    @max_retries.setter
    def max_retries(self, value: Optional[int]) -> None:
        from ._validate import max_retries

        self._policy.max_retries = max_retries(value)

    @property
    def polling_interval(self) -> WaitLike:
        """See the ``polling_interval`` parameter."""
        return self._polling_interval

    @polling_interval.setter
    def polling_interval(self, value: WaitLike) -> None:
        from .waits import as_wait

        self._policy.wait = as_wait(value)
        self._polling_interval = value

    @property
    def ignore_exceptions(self) -> Tuple[Type[BaseException], ...]:
        """See the ``ignore_exceptions`` parameter (always a tuple)."""
        return self._policy.ignore_exceptions

    @ignore_exceptions.setter
    def ignore_exceptions(self, value: Any) -> None:
        from ._validate import exception_types

        self._policy.ignore_exceptions = exception_types(value, "ignore_exceptions")

    @property
    def policy(self) -> Policy:
        """The compiled configuration (shared with every run)."""
        return self._policy


class SessionAttributes(PolicyAttributes):
    """:class:`PolicyAttributes`, and the synchronous poller's ``kwargs``."""

    verify: Any

    @property
    def kwargs(self) -> dict:
        """The extra arguments given to ``Session.send`` (0.3.1 name)."""
        return {} if self.verify is None else {"verify": self.verify}


class AlarmAttributes:
    """``Alarm.mesg``: the message (0.3.1 kept it in this attribute)."""

    __slots__ = ()

    @property
    def mesg(self) -> str:
        """The message (0.3.1 kept it in this attribute)."""
        return str(self)


_DEFAULT_SESSION: Any = None


def main_module_attribute(name: str) -> Any:
    """The 0.3.1 names of ``httsleep.main`` that are made on first use (its module ``__getattr__``).

    ``DEFAULT_SESSION`` was the one ``requests.Session`` 0.3.1 sent every
    poll through, sharing cookies and connections between unrelated callers
    and threads. It is still importable (reading it warns), but no poll uses
    it unless it is passed as ``session=``: each poller has a session of its
    own.
    """
    global _DEFAULT_SESSION
    if name == "DEFAULT_SESSION":
        warnings.warn(
            "httsleep.main.DEFAULT_SESSION is no longer used by every poll (httsleep 0.3.1 shared it between all "
            "callers); each poller has a session of its own. Pass session= to share one on purpose.",
            DeprecationWarning,
            stacklevel=2,
        )
        if _DEFAULT_SESSION is None:
            from .transports.requests_transport import new_session

            _DEFAULT_SESSION = new_session()
        return _DEFAULT_SESSION
    if name == "string_types":  # from 0.3.1's Python 2 compatibility module
        return (str,)
    if name == "jsonpath_rw":  # imported by 0.3.1's main module; imported here on first use (it is slow)
        import jsonpath_rw

        return jsonpath_rw
    if name in ("logging", "warnings"):  # 0.3.1's main module imported them
        import importlib

        return importlib.import_module(name)
    raise AttributeError("module 'httsleep.main' has no attribute {!r}".format(name))
