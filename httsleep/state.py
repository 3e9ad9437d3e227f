"""The values of a poll: :class:`PollState` (where a poll stands) and :class:`Attempt` (what hooks see). No I/O.

A :class:`PollState` is everything a poll must remember between two
attempts, as a value: immutable, comparable, and JSON-serialisable, so that
it can be saved by a job engine and resumed in another process, shared, or
checked in a unit test without a socket. Its times are on the wall clock
(seconds since the epoch), never a process's monotonic clock; it holds no
credential, no body, no callable and no exception text: only counts, times,
the conditional-request validators and a summary of the last outcome (a
status code, an exception's class name).

:class:`httsleep.policy.PollRun` decides from a state and makes the next one.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Optional, Tuple

from ._values import Value

__all__ = ["MAX_VALIDATOR", "STATE_VERSION", "Attempt", "PollState", "sendable_validator"]

#: The version of :meth:`PollState.to_json`'s format; :meth:`PollState.from_json` refuses others.
STATE_VERSION = 1


class Attempt(Value):
    """What hooks (``on_attempt=``) are told after every attempt. Immutable.

    :ivar number: 1 for the first request.
    :ivar elapsed: seconds since the poll started.
    :ivar response: the response, or ``None`` if the attempt raised.
    :ivar exception: the exception of the attempt, or ``None``.
    :ivar outcome: ``"success"``, ``"alarm"``, ``"retry"`` (another attempt
        follows after ``wait``), ``"gave_up"``, ``"error"`` (an exception
        that is not ignored is about to propagate), ``"throttled"``
        (added in 1.1: attempt ``number`` is not sent yet, but waits
        ``wait`` seconds for its slot of the ``rate_limit``; no request was
        made, ``response`` and ``exception`` are ``None``, and the attempt
        is reported again, with its outcome, once sent) or ``"refused"``
        (added in 1.1: the circuit breaker refused it: nothing was sent,
        ``number`` is the attempt that was not made and ``state.attempts``
        does not count it; ``exception`` is the
        :class:`~httsleep.exceptions.CircuitBrokenError` about to
        propagate). A hook that only knows the other outcomes can ignore
        these two.
    :ivar wait: seconds until the next attempt (only for ``"retry"`` and
        ``"throttled"``).
    :ivar wait_reason: ``"interval"`` or ``"Retry-After"`` for ``"retry"``,
        ``"rate_limit"`` for ``"throttled"``.
    :ivar state: the poll's :class:`PollState` after this attempt (``None``
        when made by hand): what a hook saves to resume the poll elsewhere.
    """

    __slots__ = ("number", "elapsed", "response", "exception", "outcome", "wait", "wait_reason", "state")

    number: int
    elapsed: float
    response: Any
    exception: Optional[BaseException]
    outcome: str
    wait: Optional[float]
    wait_reason: Optional[str]
    state: Optional[PollState]

    def __init__(
        self,
        number: int,
        elapsed: float,
        response: Any,
        exception: Optional[BaseException],
        outcome: str,
        wait: Optional[float] = None,
        wait_reason: Optional[str] = None,
        state: Optional[PollState] = None,
    ) -> None:
        super().__init__(number, elapsed, response, exception, outcome, wait, wait_reason, state)


class PollState(Value):
    """Where one poll stands, as a value: what a resumed poll needs, and nothing secret.

    :ivar attempts: requests made so far (an attempt counts from the moment
        it is decided to send it).
    :ivar started_at: when the poll started, in seconds since the epoch.
    :ivar deadline_at: when its ``timeout`` runs out (epoch seconds), or
        ``None`` without one. Fixed at the start: resuming never moves it.
    :ivar next_attempt_at: when the next attempt is due (epoch seconds),
        once an attempt has asked to wait; ``None`` before the first.
    :ivar validators: the conditional-request headers for the next request
        (``If-None-Match``, ``If-Modified-Since``), as ``(name, value)``
        pairs; empty unless the poll is conditional.
    :ivar last_status: the status code of the last response, or ``None``.
    :ivar last_error: the class name of the last attempt's exception
        (``"ReadTimeout"``), or ``None`` when it gave a response.
    :ivar policy: the fingerprint of the poll's conditions and limits (a
        short hash, no secret in it: see ``Policy.fingerprint``); a poll
        refuses to go on with a state made under another policy. ``None``
        in a state made without one (then it is not checked).
    :ivar slot_reserved: a rate limit (``rate_limit=``) has reserved a slot
        for the next attempt, due at ``next_attempt_at``: that attempt is
        sent without asking the limit again. Saved by :meth:`to_json` only
        when ``True`` (a state that never waited for a slot reads as it did
        in httsleep 1.0).

    Make a new one with :meth:`start`, change one with :meth:`replace`
    (which returns a new state), save it with :meth:`to_json` and load it
    with :meth:`from_json`.
    """

    __slots__ = (
        "attempts",
        "started_at",
        "deadline_at",
        "next_attempt_at",
        "validators",
        "last_status",
        "last_error",
        "policy",
        "slot_reserved",
    )

    attempts: int
    started_at: float
    deadline_at: Optional[float]
    next_attempt_at: Optional[float]
    validators: Tuple[Tuple[str, str], ...]
    last_status: Optional[int]
    last_error: Optional[str]
    policy: Optional[str]
    slot_reserved: bool

    def __init__(
        self,
        attempts: int,
        started_at: float,
        deadline_at: Optional[float] = None,
        next_attempt_at: Optional[float] = None,
        validators: Tuple[Tuple[str, str], ...] = (),
        last_status: Optional[int] = None,
        last_error: Optional[str] = None,
        policy: Optional[str] = None,
        slot_reserved: bool = False,
    ) -> None:
        super().__init__(
            _count(attempts),
            _time(started_at, "started_at"),
            None if deadline_at is None else _time(deadline_at, "deadline_at"),
            None if next_attempt_at is None else _time(next_attempt_at, "next_attempt_at"),
            _validators(validators),
            _status(last_status),
            _error_name(last_error),
            _fingerprint(policy),
            _flag(slot_reserved, "slot_reserved"),
        )

    @classmethod
    def start(cls, now: float, timeout: Optional[float] = None, policy: Optional[str] = None) -> PollState:
        """The state of a poll starting at ``now`` (epoch seconds), with ``timeout`` seconds to run, if any.

        ``policy``: the fingerprint of the poll's policy (see :attr:`policy`).
        """
        deadline = None if timeout is None or math.isinf(timeout) else now + timeout
        return cls(0, now, deadline, policy=policy)

    def replace(self, **changes: Any) -> PollState:
        """A new state with ``changes`` applied (the names of the attributes); this one is unchanged."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise TypeError("PollState has no field {}".format(", ".join(sorted(unknown))))
        fields = dict(zip(self.__slots__, self._fields()))
        fields.update(changes)
        return PollState(**fields)

    def evolve(self, **changes: Any) -> PollState:
        """:meth:`replace` without checking the values again: for the poll's own decisions (a hot path)."""
        if not changes.keys() <= _FIELDS:
            raise TypeError("PollState has no field {}".format(", ".join(sorted(changes.keys() - _FIELDS))))
        state: PollState = object.__new__(PollState)
        for name in _SLOTS:
            _set(state, name, changes[name] if name in changes else getattr(self, name))
        return state

    def to_json(self) -> str:
        """The state as a JSON object (under 1 KB; see :meth:`from_json`)."""
        document: Dict[str, Any] = {"httsleep_poll_state": STATE_VERSION}
        document.update(zip(self.__slots__, self._fields()))
        document["validators"] = [list(pair) for pair in self.validators]
        if not self.slot_reserved:
            del document["slot_reserved"]
        return json.dumps(document, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> PollState:
        """Load a state saved by :meth:`to_json`.

        :raises ValueError: ``text`` is not such a state, or one of another
            version, or a field has the wrong type or an impossible value.
        """
        try:
            document = json.loads(text)
        except (TypeError, ValueError, RecursionError) as error:
            raise ValueError("not a saved PollState: {}".format(
                error if not isinstance(error, RecursionError) else "nested too deeply")) from None
        if not isinstance(document, dict) or "httsleep_poll_state" not in document:
            raise ValueError("not a saved PollState (no 'httsleep_poll_state' version field)")
        version = document.pop("httsleep_poll_state")
        if type(version) is not int or version != STATE_VERSION:
            raise ValueError(
                "a PollState of version {!r}; this httsleep reads version {}".format(version, STATE_VERSION)
            )
        missing = [name for name in ("attempts", "started_at") if name not in document]
        unknown = sorted(set(document) - set(cls.__slots__))
        if missing or unknown:
            raise ValueError("not a saved PollState: {}".format(
                "; ".join(filter(None, ("missing " + ", ".join(missing) if missing else "",
                                        "unknown " + ", ".join(unknown) if unknown else "")))))
        pairs = document.get("validators", [])
        if not isinstance(pairs, list) or not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
            raise ValueError("PollState: validators must be a list of [name, value] pairs")
        document["validators"] = tuple(tuple(pair) for pair in pairs)
        state = cls(**document)
        if state.deadline_at is not None and state.deadline_at < state.started_at:
            raise ValueError("PollState: deadline_at is before started_at")
        return state

    @property
    def last_outcome(self) -> str:
        """The last outcome in a few words (``"HTTP 202"``, ``"ReadTimeout"``), or ``""`` before any."""
        if self.last_error is not None:
            return self.last_error
        if self.last_status is not None:
            return "HTTP {}".format(self.last_status)
        return ""


_SLOTS = PollState.__slots__
_FIELDS = frozenset(_SLOTS)
_set = object.__setattr__


# -- checks of a state's fields (a state may come from a file: it is checked like an argument) ----------


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("PollState: attempts must be a whole number >= 0, not {!r}".format(value))
    return value


def _time(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError("PollState: {} must be a time in seconds since the epoch, not {!r}".format(name, value))
    return float(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError("PollState: {} must be true or false, not {!r}".format(name, value))
    return value


def _status(value: Any) -> Optional[int]:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 999):
        raise ValueError("PollState: last_status must be a status code or None, not {!r}".format(value))
    return value


def _error_name(value: Any) -> Optional[str]:
    if value is not None and (not isinstance(value, str) or not value.replace(".", "").replace("_", "").isalnum()
                              or len(value) > 100):
        raise ValueError("PollState: last_error must be an exception's class name or None, not {!r}".format(value))
    return value


def _fingerprint(value: Any) -> Optional[str]:
    if value is not None and (not isinstance(value, str) or not 8 <= len(value) <= 64
                              or value.strip("0123456789abcdef")):
        raise ValueError("PollState: policy must be a policy's fingerprint (hexadecimal) or None, not {!r}".format(
            value if not isinstance(value, str) else value[:80]))
    return value


#: The longest validator value a state holds (a longer ETag is not kept: the next request is unconditional).
MAX_VALIDATOR = 512


def sendable_validator(value: Any) -> bool:
    """Whether ``value`` can be sent back as a header: printable Latin-1 text of at most :data:`MAX_VALIDATOR`."""
    if not isinstance(value, str) or len(value) > MAX_VALIDATOR or not value.isprintable():
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _validators(value: Any) -> Tuple[Tuple[str, str], ...]:
    pairs = tuple(tuple(pair) for pair in value)
    for pair in pairs:
        if len(pair) != 2 or pair[0] not in ("If-None-Match", "If-Modified-Since") or not sendable_validator(pair[1]):
            raise ValueError("PollState: validators must be (If-None-Match or If-Modified-Since, value) pairs of "
                             "printable Latin-1 text of at most {} characters, not {}".format(
                                 MAX_VALIDATOR, repr(pair)[:100]))
    return pairs
