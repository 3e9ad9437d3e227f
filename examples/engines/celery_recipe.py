"""Polling from Celery with httsleep: the broker holds the wait, not a worker slot.

Copy this module into your project and adapt it. Start a worker::

    CELERY_BROKER_URL=redis://localhost:6379/0 celery -A celery_recipe worker

and start a poll from any process that imports this module::

    from celery_recipe import start_poll

    result = start_poll("https://api.example.com/exports/42",
                        until={"jsonpath": [{"expression": "status", "value": "DONE"}]},
                        polling_interval=30, timeout=3600)
    result.get()  # the last response's JSON; or StopPolling, Alarm... as httsleep raised them

Each run of the task makes one ``step()`` (one request at most, never a
sleep). Until the poll is done, the task re-queues itself with
``self.retry(countdown=...)``, carrying the poll's state in its own
arguments: a JSON string under 1 KB, with no credential in it. ``retry``
keeps the task id, so ``result.get()`` waits for the whole poll (the result
backend shows RETRY in between), and nothing else stores the state.
"""

import os

from celery import Celery

from httsleep import HttSleeper, PollState

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", BROKER_URL)

# A worker receives a countdown task at once and holds it, unacknowledged, until it is due. Redis
# redelivers a message held for longer than the visibility timeout (the worker may have died), so a
# longer countdown would run twice, and each run would re-queue itself: the poll would fork. So no
# countdown is longer than half of it; a run that comes before the state's next_attempt_at sends
# nothing and re-queues itself for the rest of the wait.
VISIBILITY_TIMEOUT = float(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
MAX_COUNTDOWN = VISIBILITY_TIMEOUT / 2

app = Celery("celery_recipe", broker=BROKER_URL, backend=RESULT_BACKEND)
app.conf.update(
    task_serializer="json",  # httsleep's exceptions rebuild from JSON (type(e)(*e.args)): no pickle needed
    result_serializer="json",
    accept_content=["json"],
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    task_acks_late=True,  # a worker killed during a step: its message comes back, the poll goes on
    task_reject_on_worker_lost=True,  # ... also when a prefork child dies
    worker_prefetch_multiplier=1,  # do not hold messages that a busy worker cannot start in time
)


@app.task(bind=True, name="httsleep.poll", max_retries=None)  # httsleep's own limits end the poll
def poll(self, url, state=None, **options):
    """Poll ``url``; ``options`` are HttSleeper's keyword arguments (JSON values: until, timeout...).

    Keep credentials out of the message (the URL and ``options``): add them
    here, from the worker's configuration, e.g.
    ``headers={"Authorization": os.environ["API_TOKEN"]}``.
    """
    sleeper = HttSleeper(url, **options)
    # Raises Alarm, StopPolling... as they are: the caller's result.get() raises them.
    step = sleeper.step(PollState.from_json(state) if state else None)
    if step.done:
        try:
            return step.response.json()
        except ValueError:
            return step.response.text
    state = step.state.to_json()
    raise self.retry(kwargs={**self.request.kwargs, "state": state}, countdown=min(step.wait, MAX_COUNTDOWN))


def start_poll(url, **options):
    """Start a poll whose deadline runs from now: its first message carries its state (nothing is sent)."""
    first = HttSleeper(url, **options).new_state().to_json()
    return poll.apply_async(args=(url,), kwargs={"state": first, **options})
