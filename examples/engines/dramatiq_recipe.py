"""Poll an HTTP endpoint from Dramatiq: one ``step()`` per message; the next step is a delayed message.

Copy this module into your project and make ``sleeper()`` your poll. Start a
poll with ``start_poll(url, then="your_actor")`` and run workers as usual::

    REDIS_URL=redis://localhost:6379/0 dramatiq dramatiq_recipe your_module

Each message makes one attempt at most, then either sends the response's JSON
to the actor named by ``then``, or sends itself again, delayed by the poll's
wait, with the poll's state (its JSON) in the message, and ends. A delayed
message waits in a worker's memory, not in a worker thread: while the poll
waits, no thread is busy.

Timing: a worker looks at its delayed messages, and then at its queue, once per
worker timeout when idle (``dramatiq_worker_timeout``, 1000 ms by default): a
step runs up to about 2 s late, never early.

A worker that dies (SIGKILL, a lost machine) still holds the delayed messages it
fetched. The Redis broker gives them back once the worker's heartbeat is older
than ``heartbeat_timeout`` (60 s by default) and a queue maintenance pass runs,
which happens on ``maintenance_chance`` commands in a million (1000 by default):
with idle workers that can take minutes, raise it if a poll must not wait that
long. A message whose worker died during the request runs again from the state
before it: that attempt is not counted, so the poll may send one request more
than ``max_retries``.
"""

from __future__ import annotations

import math
import os
from typing import Optional

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from httsleep import HttSleeper, PollState

QUEUE = "httsleep"
broker = RedisBroker(url=os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
dramatiq.set_broker(broker)


def sleeper(url: str, polling_interval: float) -> HttSleeper:
    """The poll. Its conditions and limits must not change between steps (a saved state refuses them)."""
    return HttSleeper(url, jsonpath=[{"expression": "status", "value": "SUCCESS"}],
                      polling_interval=polling_interval, timeout=3600)


# max_retries=0: an exception ends the poll (GaveUp, Alarm...). Dramatiq's retries would run
# the step again from the state before it, sending requests the poll has already counted out.
@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def poll_step(url: str, polling_interval: float, then: str, state: Optional[str] = None) -> None:
    """One step of the poll; ``state`` is the JSON of the poll's state (``None`` for the first step)."""
    step = sleeper(url, polling_interval).step(PollState.from_json(state) if state else None)
    if step.done:
        broker.get_actor(then).send(url, step.response.json())
        return
    # The eta is counted in whole milliseconds: round up, and one more, so that it is never early.
    poll_step.send_with_options(args=(url, polling_interval, then, step.state.to_json()),
                                delay=math.ceil(step.wait * 1000) + 1)


def start_poll(url: str, polling_interval: float = 30.0, then: str = "poll_done") -> dramatiq.Message:
    """Send a poll's first step; the actor named ``then`` gets ``(url, the response's JSON)`` at the end.

    The first message already carries the poll's state (``new_state()``: nothing is sent), so its
    deadline runs from now even if the first worker dies during the first request.
    """
    return poll_step.send(url, polling_interval, then, sleeper(url, polling_interval).new_state().to_json())


@dramatiq.actor(queue_name=QUEUE)
def poll_done(url: str, body: object) -> None:
    """The default ``then``: replace it with what your application does with the result."""
    poll_done.logger.info("%s is done: %s", url, body)
