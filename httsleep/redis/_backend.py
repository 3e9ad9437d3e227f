"""Whether Redis answers: when to fall back, when to probe again, whom to tell. No I/O.

Shared by the breakers and the rate limits of :mod:`httsleep.redis`: after a
call to Redis fails (refused, timed out, any redis-py error), the object
falls back on something local and asks Redis again only every
``probe_interval`` seconds (plus up to 20 % of jitter, so that a fleet does
not probe in step); the first call that gets an answer ends the fallback.
``on_backend`` hears ``"degraded"`` and ``"recovered"``.
"""

from __future__ import annotations

import os
import random
import threading
import time
import weakref
from typing import Any, Callable, Optional

from .._logs import log
from .._validate import callable_or_none, seconds

__all__ = ["PROBE_JITTER", "Backend"]

#: A probe waits ``probe_interval * (1 + up to this)``.
PROBE_JITTER = 0.2


class Backend:
    """The health of one object's Redis, as this process sees it; thread-safe.

    :param name: for log lines.
    :param probe_interval: seconds between probes while fallen back (> 0).
    :param on_backend: called with ``"degraded"`` or ``"recovered"``; what it
        raises is logged, never passed on.
    """

    def __init__(self, name: str, probe_interval: Any, on_backend: Any) -> None:
        self.name = name
        self.probe_interval = seconds(probe_interval, "probe_interval", positive=True)
        callable_or_none(on_backend, "on_backend")
        self.on_backend: Optional[Callable[[str], Any]] = on_backend
        #: Held while the state changes; callers may hold it to change theirs together (it is reentrant).
        self.lock = threading.RLock()
        self.degraded = False
        self.next_probe = 0.0
        _BACKENDS.add(self)  # its lock is made anew in a forked child (see _after_fork)

    def use_redis(self) -> bool:
        """Whether to ask Redis now: it answers, or a probe is due (this caller makes it; others fall back)."""
        with self.lock:
            if not self.degraded:
                return True
            now = time.monotonic()
            if now < self.next_probe:
                return False
            self.next_probe = now + self._probe_delay()
            return True

    def seconds_to_probe(self) -> float:
        with self.lock:
            return max(self.next_probe - time.monotonic(), 0.0)

    def _probe_delay(self) -> float:
        return self.probe_interval * (1 + random.uniform(0, PROBE_JITTER))

    def failed(self, exc: BaseException, fall_back: Callable[[], Any], fallback: str) -> None:
        """Redis did not answer: the first time, call ``fall_back()`` (under the lock) and tell; wait to probe."""
        with self.lock:
            self.next_probe = time.monotonic() + self._probe_delay()
            if self.degraded:
                return
            fall_back()
            self.degraded = True
        log.warning("%s: Redis did not answer (%r); falling back to %s until it does, probing every %gs",
                    self.name, exc, fallback, self.probe_interval)
        self._tell("degraded")

    def answered(self, recover: Optional[Callable[[], Any]] = None) -> None:
        """Redis answered: the fallback ends (``recover()`` is called under the lock), if there was one."""
        if not self.degraded:
            return
        with self.lock:
            if not self.degraded:
                return
            self.degraded = False
            if recover is not None:
                recover()
        log.warning("%s: Redis answers again", self.name)
        self._tell("recovered")

    def _tell(self, event: str) -> None:
        callback = self.on_backend
        if callback is None:
            return
        try:
            callback(event)
        except Exception:  # noqa: BLE001 - a callback's bug must not reach the poll either
            log.exception("%s: on_backend(%r) raised", self.name, event)


#: Every Backend of this process, to give each a new lock in a forked child.
_BACKENDS: weakref.WeakSet[Backend] = weakref.WeakSet()


def _after_fork() -> None:  # pragma: no cover - runs in a forked child
    """A child forked while another thread held a lock would wait for it for ever: a lock of its own."""
    for backend in list(_BACKENDS):
        backend.lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
