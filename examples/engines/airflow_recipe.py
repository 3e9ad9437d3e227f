"""Polling an HTTP job from Airflow with httsleep: a reschedule-mode sensor and its deferrable variant.

Copy this module next to your DAGs (Airflow puts the dags folder on
``sys.path``). It needs Airflow 3.3 or later (``task_state_store``) and, for
the deferrable variant, httsleep's asyncio front end (httpx or aiohttp).

One decision, two ways of waiting. Both paths hand the same ``poll`` keyword
arguments to httsleep and let ``step()`` judge every response: the sensor
with ``HttSleeper.step()`` once per poke, the trigger with
``AsyncHttSleeper.step()`` in a loop on the triggerer. Neither has a check of
its own, so the two cannot drift apart. The results go through one function
(``_result``) and the failures through another (``_failure``), shared too.

Between pokes the sensor keeps the poll's ``PollState`` (a small JSON text) in
the task instance's ``task_state_store``: XCom does not survive a reschedule
(Airflow clears a task's XComs each time it starts, deferral resumes
excepted), the store does, and it also survives a retry of the task.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Dict, Tuple

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
)
from airflow.triggers.base import BaseTrigger, TriggerEvent

from httsleep import Alarm, AsyncHttSleeper, GaveUp, HttSleeper, PollState

#: The task_state_store key of a poll in progress.
STATE_KEY = "httsleep_poll_state"


def _result(response: Any) -> Any:
    """What the task returns (its XCom): the body's JSON, else its text. Same for requests and httpx."""
    try:
        return response.json()
    except ValueError:
        return response.text


def _failure(kind: str, message: str) -> AirflowException:
    """The exception that fails the task, raised alike by the sensor and after the trigger."""
    if kind == "gave_up":  # max_retries or the poll's timeout ran out: a sensor timeout (no retry; soft_fail works)
        return AirflowSensorTimeout(message)
    if kind == "alarm":  # the job says it failed: retrying the task would not change that
        return AirflowFailException(message)
    return AirflowException(message)  # anything else: the task's `retries` apply


def _kind(error: Exception) -> str:
    return "gave_up" if isinstance(error, GaveUp) else "alarm" if isinstance(error, Alarm) else "error"


class HttSleepSensor(BaseSensorOperator):
    """Wait until an HTTP endpoint says a job is done, without holding a worker slot.

    :param url: the URL to poll (templated).
    :param poll: httsleep's keyword arguments: ``until``, ``alarms``,
        ``polling_interval``, ``max_retries``, ``timeout``... As the trigger
        carries them to the triggerer, keep them JSON (no ``callback`` or hook)
        when ``deferrable=True``.
    :param deferrable: wait in the triggerer instead of rescheduling pokes.

    The wait between attempts is httsleep's (``polling_interval``, or what a
    ``Retry-After`` asked for), not ``poke_interval``; the poll's limits are
    its ``max_retries`` and ``timeout``, not the sensor's ``timeout``.
    """

    template_fields = ("url",)

    def __init__(self, *, url: str, poll: Dict[str, Any], deferrable: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.url = url
        self.poll = poll
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        if self.deferrable:
            # Airflow's own limit on the deferral, a minute past the poll's timeout: the poll ends first, but a
            # triggerer that restarts runs the trigger again from its arguments, and this limit does not move.
            limit = self.poll.get("timeout")
            self.defer(trigger=HttSleepTrigger(self.url, self.poll), method_name="execute_complete",
                       timeout=None if limit is None else timedelta(seconds=limit + 60))
        return super().execute(context)  # reschedule mode: BaseSensorOperator calls poke() once per run

    def poke(self, context: Context) -> Any:
        """One attempt at most, with the state the last poke saved; then done, or rescheduled at httsleep's wait."""
        store = context["task_state_store"]
        saved = store.get(STATE_KEY)
        state = PollState.from_json(saved) if saved else None
        try:
            # checkpoint: the attempt is saved as counted before its request leaves, so a worker killed during
            # the request does not get it back; the next try of the task resumes with the same count and deadline.
            step = HttSleeper(self.url, **self.poll).step(
                state, checkpoint=lambda counted: store.set(STATE_KEY, counted.to_json()))
        except Exception as error:  # the poll is over (gave up, alarm, an error it does not ignore)
            store.delete(STATE_KEY)  # so that a retry or a cleared task starts a new poll
            if isinstance(error, (GaveUp, Alarm)):
                raise _failure(_kind(error), str(error)) from error
            raise
        if step.done:
            store.delete(STATE_KEY)
            return PokeReturnValue(is_done=True, xcom_value=_result(step.response))
        store.set(STATE_KEY, step.state.to_json())
        # Give the worker slot back until httsleep's next attempt is due (the task goes up_for_reschedule).
        raise AirflowRescheduleException(datetime.now(timezone.utc) + timedelta(seconds=step.wait))

    def execute_complete(self, context: Context, event: Dict[str, Any]) -> Any:
        """Back from the trigger: its result, or the same failure the sensor would raise."""
        if event["status"] == "done":
            return event["result"]
        raise _failure(event["status"], event["message"])


class HttSleepTrigger(BaseTrigger):
    """Run the poll on the triggerer's event loop: ``AsyncHttSleeper.step()``, then sleep its wait, until it ends.

    A triggerer that restarts runs the trigger again from its arguments (``serialize()``): a new poll.
    """

    def __init__(self, url: str, poll: Dict[str, Any]) -> None:
        super().__init__()
        self.url = url
        self.poll = poll

    def serialize(self) -> Tuple[str, Dict[str, Any]]:
        return "{}.{}".format(type(self).__module__, type(self).__qualname__), {"url": self.url, "poll": self.poll}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        sleeper = AsyncHttSleeper(self.url, **self.poll)
        state = None
        try:
            while True:
                step = await sleeper.step(state)  # the same decision as the sensor's poke, on httpx or aiohttp
                if step.done:
                    event = {"status": "done", "result": _result(step.response)}
                    break
                state = step.state
                await asyncio.sleep(step.wait)  # on the triggerer's loop: no worker slot is held
        except Exception as error:  # not CancelledError: a cancelled trigger fires nothing
            event = {"status": _kind(error), "message": str(error)}
        yield TriggerEvent(event)
