"""The watchdog that bounds the synchronous transport's blocking reads (httsleep/_watchdog.py).

Each test uses a watchdog of its own, so that the polls of other tests
(and their watches) cannot disturb what it counts.
"""

from __future__ import annotations

import socket
import time
from typing import List

from httsleep import _watchdog


def cut_when_due(dog: _watchdog._Watchdog, seconds: float) -> _watchdog.Watch:
    """Arm a watch on a fresh socket pair and block reading it until the watchdog cuts it."""
    reader, writer = socket.socketpair()
    with reader, writer:
        watch = _watchdog.Watch(dog)
        watch.target = lambda: reader
        watch.arm(seconds)
        reader.settimeout(10)  # a safety net: the watchdog must cut long before
        assert reader.recv(1) == b""  # shut down: the blocked read returns at once
    return watch


def test_a_limit_that_passes_cuts_the_socket_being_read():
    assert cut_when_due(_watchdog._Watchdog(), 0.02).fired


def test_a_disarmed_watch_never_cuts_its_socket():
    dog = _watchdog._Watchdog()
    reader, writer = socket.socketpair()
    with reader, writer:
        early = _watchdog.Watch(dog)
        early.target = lambda: reader
        early.arm(0.01)
        early.disarm()
        cut_when_due(dog, 0.05)  # a later limit passes: the earlier one would have passed by then
        assert not early.fired
        writer.sendall(b"x")
        assert reader.recv(1) == b"x"  # the socket still works


def test_re_arming_wakes_the_thread_only_for_a_limit_due_within_its_next_look():
    """An attempt arms its watch two or three times (the head, then each wait for the body); each of those
    woke the thread (a context switch) whenever the new limit came before the one it slept towards."""
    dog = _watchdog._Watchdog()
    woken: List[int] = []
    notify = dog._wake.notify
    dog._wake.notify = lambda n=1: (woken.append(n), notify(n))  # type: ignore[method-assign]
    watch = _watchdog.Watch(dog)
    for step in range(200):  # every limit earlier than the one before, the thread re-planning in between
        watch.arm(40 - step * 0.1)
        time.sleep(0.001)
    assert woken == []
    watch.arm(0.01)  # due before the thread's next look: it is woken, and cuts in time
    assert woken == [1]
    assert cut_when_due(dog, 0.05).fired and watch.fired


def test_entries_of_disarmed_watches_do_not_pile_up():
    dog = _watchdog._Watchdog()
    watch = _watchdog.Watch(dog)
    for _ in range(10_000):
        watch.arm(40)
        watch.arm(30)
        watch.disarm()
    assert len(dog._heap) <= _watchdog._SLACK + 2


def test_a_target_that_is_not_a_socket_does_not_stop_the_thread_serving_the_others():
    """urllib3's SSLTransport (HTTPS through an HTTPS proxy) wraps its socket; a target may also fail."""
    dog = _watchdog._Watchdog()
    reader, writer = socket.socketpair()

    class Wrapper:  # as SSLTransport: the socket is its .socket
        socket = reader

    with reader, writer:
        odd, failing, wrapped = (_watchdog.Watch(dog) for _ in range(3))
        odd.target = lambda: object()
        failing.target = lambda: 1 / 0
        wrapped.target = lambda: Wrapper()
        odd.arm(0.001)
        failing.arm(0.002)
        wrapped.arm(0.02)
        reader.settimeout(10)
        assert reader.recv(1) == b""  # cut through the wrapper
    assert odd.fired and failing.fired and wrapped.fired
    assert cut_when_due(dog, 0.01).fired  # and the thread still serves new limits
