"""A watchdog that cuts a blocking socket when its time is up.

A blocking socket's timeout bounds each ``recv``, not a whole exchange: a
server that sends its headers, its ``100 Continue`` lines or its chunked
trailers one byte at a time, each byte just before the timeout, holds the
reader for as long as it likes. The synchronous transport therefore hands
each request's connection to this watchdog with a time limit; when the
limit passes first, the watchdog shuts the socket down, and the read
blocked on it returns at once with an error. The transport sees that the
watch :attr:`~Watch.fired` and reports a timeout.

One daemon thread serves the whole process, started on first use and again
after a ``fork``. Arming and disarming a watch costs a lock and a heap push;
the thread looks at the heap at the earliest limit or a second after its
last look, whichever comes first, and is woken only for a limit sooner
than that. (An attempt arms its watch two or three times: woken each
time, the thread cost more CPU than the rest of httsleep's bookkeeping.)
Entries of disarmed watches are dropped lazily, and all at once when they
outnumber the armed ones.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import socket
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

__all__ = ["Watch", "watch"]

# (when, sequence, watch, generation): the generation tells a stale entry from the current one.
_Entry = Tuple[float, int, "Watch", int]


class Watch:
    """A time limit on one connection at a time; see :func:`watch`.

    :attr:`target` returns the socket to cut (it may change: a request
    moves to a new connection on a redirect); :meth:`arm` sets or moves the
    limit; :meth:`disarm` cancels it. Once it has fired it stays fired.
    """

    __slots__ = ("_dog", "target", "fired", "_generation", "_armed")

    def __init__(self, dog: _Watchdog) -> None:
        self._dog = dog
        #: returns the socket to shut down (or ``None`` when there is none yet)
        self.target: Optional[Callable[[], Any]] = None
        #: whether the limit passed and the socket was shut down
        self.fired = False
        self._generation = 0
        self._armed = False

    def arm(self, seconds: float) -> None:
        """Cut :attr:`target` ``seconds`` from now, unless re-armed or disarmed before."""
        self._dog.arm(self, seconds)

    def disarm(self) -> None:
        """Cancel the limit. After this returns, the watchdog will not touch the socket."""
        self._dog.disarm(self)


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: List[_Entry] = []
        self._sequence = itertools.count()
        self._thread: Optional[threading.Thread] = None
        self._armed = 0  # watches with a current entry in the heap
        self._planned = math.inf  # when the thread looks at the heap next (-inf: as soon as it runs)

    def arm(self, watch: Watch, seconds: float) -> None:
        when = time.monotonic() + max(seconds, 0.0)
        with self._lock:
            watch._generation += 1
            if not watch._armed:
                watch._armed = True
                self._armed += 1
            heapq.heappush(self._heap, (when, next(self._sequence), watch, watch._generation))
            if len(self._heap) > _SLACK + 2 * self._armed:  # mostly stale entries: keep only the current ones
                self._heap = [entry for entry in self._heap if entry[3] == entry[2]._generation]
                heapq.heapify(self._heap)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="httsleep-watchdog", daemon=True)
                self._thread.start()
                self._planned = -math.inf  # it looks at the heap first thing: no need to wake it
            elif when < self._planned:  # earlier than the thread's next wake-up: it must re-plan
                self._wake.notify()
                self._planned = -math.inf  # woken: it re-plans as soon as it runs

    def disarm(self, watch: Watch) -> None:
        with self._lock:
            watch._generation += 1  # every entry of this watch is stale now
            if watch._armed:
                watch._armed = False
                self._armed -= 1

    def _run(self) -> None:
        idle_since: Optional[float] = None
        with self._lock:
            while True:
                while self._heap and self._heap[0][3] != self._heap[0][2]._generation:
                    heapq.heappop(self._heap)  # disarmed or re-armed since
                now = time.monotonic()
                if self._heap:
                    idle_since = None
                    when, _, watch, _ = self._heap[0]
                    if when <= now:
                        heapq.heappop(self._heap)
                        watch._generation += 1
                        watch._armed = False
                        self._armed -= 1
                        watch.fired = True
                        _cut(watch.target)  # under the lock: disarm() cannot return while the socket is cut
                        continue
                    delay = min(when - now, _TICK)
                else:
                    idle_since = now if idle_since is None else idle_since
                    if now - idle_since >= _IDLE_EXIT:  # nothing armed for a minute: let the thread go
                        self._thread, self._planned = None, math.inf
                        return
                    delay = _TICK
                # at least every _TICK: an arm then wakes the thread only for a limit sooner than that
                self._planned = now + delay
                self._wake.wait(delay)


#: Stale heap entries tolerated before the heap is rebuilt from the current ones.
_SLACK = 64
#: The longest the thread sleeps between two looks at the heap, and how long it waits idle before it ends.
_TICK = 1.0
_IDLE_EXIT = 60.0


def _cut(target: Optional[Callable[[], Any]]) -> None:
    """Shut down the socket ``target`` returns. Never raises: the thread serves every other watch too."""
    with contextlib.suppress(Exception):
        sock = target() if target is not None else None
        for _ in range(4):  # a wrapper (urllib3's SSLTransport, for HTTPS through an HTTPS proxy) holds its socket
            if sock is None or isinstance(sock, socket.socket):
                break
            sock = getattr(sock, "socket", None)
        if isinstance(sock, socket.socket):
            # socket.socket's own shutdown, also for an SSLSocket: the TLS layer is
            # being read by another thread, only the file descriptor is cut
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_DOG = _Watchdog()


def _after_fork() -> None:  # pragma: no cover - runs in a forked child
    global _DOG
    _DOG = _Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def watch() -> Watch:
    """A new, unarmed :class:`Watch` served by the process's watchdog thread."""
    return Watch(_DOG)
