"""Polling from Temporal: one activity per attempt, the workflow's durable timer between them.

Copy this module into your project and adapt it. A workflow runs the poll;
each attempt is an activity that makes one ``HttSleeper.step()`` from the
state the workflow hands it; between attempts the workflow sleeps on a
Temporal timer, which the server holds: no worker slot, no thread, and no
process is busy during the wait, and a worker may die or be redeployed
meanwhile.

    client = await Client.connect("localhost:7233")
    handle = await start(client, Poll("https://api.example.com/exports/1",
                                      until={"jsonpath": [{"expression": "status", "value": "DONE"}]},
                                      options={"polling_interval": 30, "timeout": 3600}))
    body = await handle.result()
"""

from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Dict, Optional

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():  # the workflow sandbox need not re-import httsleep and requests
    from httsleep import HttSleeper, PollState

TASK_QUEUE = "httsleep-polls"


@dataclasses.dataclass
class Poll:
    """What to poll: the workflow's input, stored in its history (so no credential here: see ``poll_step``)."""

    url: str
    until: Any  # the success conditions, as HttSleeper's `until=`: JSON-able (no callback)
    options: Dict[str, Any] = dataclasses.field(default_factory=dict)  # polling_interval, timeout, max_retries...
    attempt_timeout: float = 60.0  # the longest one attempt may take: above the request timeout (10 + 30 s by default)


@dataclasses.dataclass
class StepResult:
    """What one attempt returns to the workflow (stored in its history: keep it small)."""

    done: bool
    wait: float  # seconds until the next attempt
    state: str  # PollState.to_json(), for the next attempt
    body: Any = None  # when done: what the workflow needs of the response


@activity.defn
def poll_step(poll: Poll, state_json: Optional[str]) -> StepResult:
    """One attempt at most: one `step()` from the state the workflow passes in."""
    # A retry of this activity (its worker died mid-request) resumes from the state heartbeated below,
    # in which the lost request is already counted.
    details = activity.info().heartbeat_details
    state_json = details[0] if details else state_json
    # Credentials belong here, from the worker's environment or secret store (headers=, auth=), never in `poll`.
    sleeper = HttSleeper(poll.url, until=poll.until, **poll.options)
    try:
        step = sleeper.step(
            PollState.from_json(state_json) if state_json else None,
            checkpoint=lambda counted: activity.heartbeat(counted.to_json()),  # sent before the request goes out
        )
        body = step.response.json() if step.done else None  # adapt: .text, a header, the status code...
    except Exception as exc:  # GaveUp, Alarm, an error not ignored: the poll is over, as run() would raise it
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
    return StepResult(step.done, step.wait, step.state.to_json(), body)


@workflow.defn
class PollWorkflow:
    @workflow.run
    async def run(self, poll: Poll, state: Optional[str]) -> Any:  # state: None for a new poll
        while True:
            # Temporal retries the activity when its worker dies (after attempt_timeout), never for the
            # errors that end a poll (non_retryable above).
            result = await workflow.execute_activity(
                poll_step, args=[poll, state], start_to_close_timeout=timedelta(seconds=poll.attempt_timeout))
            if result.done:
                return result.body
            state = result.state
            await workflow.sleep(result.wait)  # a durable timer: the server holds the wait, no worker does
            if workflow.info().is_continue_as_new_suggested():  # thousands of attempts: a fresh history
                workflow.continue_as_new(args=[poll, state])  # the state goes on: count and deadline kept


async def start(client: Client, poll: Poll, workflow_id: Optional[str] = None,
                task_queue: str = TASK_QUEUE) -> WorkflowHandle:
    """Start a poll; ``await handle.result()`` is the done response's body."""
    return await client.start_workflow(PollWorkflow.run, args=[poll, None],
                                       id=workflow_id or "poll-" + str(uuid.uuid4()), task_queue=task_queue)


async def run_worker(address: str, task_queue: str = TASK_QUEUE, max_concurrent_activities: int = 10,
                     **worker_options: Any) -> None:
    """Run a worker for the polls until it is cancelled (or its process ends)."""
    client = await Client.connect(address)
    with ThreadPoolExecutor(max_concurrent_activities) as executor:  # poll_step is synchronous: threads run it
        worker = Worker(client, task_queue=task_queue, workflows=[PollWorkflow], activities=[poll_step],
                        activity_executor=executor, max_concurrent_activities=max_concurrent_activities,
                        **worker_options)
        await worker.run()
