"""One attempt at a time: ``HttSleeper.step()`` and ``AsyncHttSleeper.step()``, for job engines.

A step makes one attempt at most, never sleeps, and returns
``Step(done, response, wait, state)``; ``run()`` is a loop over the same
attempt, so the two decide alike. The state a step returns is saved as JSON
and passed to the next step, in a new poller (as another process would).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, List, Optional

import pytest
from fronts import FRONTS, aiohttp_by_default
from werkzeug import Response

import httsleep.aio
import httsleep.main
from httsleep import Alarm, AsyncHttSleeper, GaveUp, HttSleeper, PollState, Step

PENDING = {"status": "PENDING"}
DONE = {"status": "DONE"}
UNTIL = {"jsonpath": [{"expression": "status", "value": "DONE"}]}
ALARMS = {"jsonpath": [{"expression": "status", "value": "FAILED"}]}


def step(front: str, url: str, state: Optional[PollState] = None, checkpoint: Any = None, **options: Any) -> Step:
    """One step on ``front``, by a new poller (nothing kept between steps but the state)."""
    options.setdefault("until", UNTIL)
    if front == "sync":
        return HttSleeper(url, **options).step(state, checkpoint)

    async def one() -> Step:
        with aiohttp_by_default(front == "aiohttp"):
            return await AsyncHttSleeper(url, **options).step(state, checkpoint)

    return asyncio.run(one())


def waited(state: PollState) -> PollState:
    """``state`` as a step sees it once the wait it asked for has passed (the engine held it)."""
    return state.replace(next_attempt_at=time.time() - 0.001)


def through_json(state: PollState) -> PollState:
    return PollState.from_json(state.to_json())


@pytest.fixture
def answers(httpserver):
    """The job answers the bodies of ``answers.script`` in turn (the last one for ever); ``answers.seen`` counts."""

    class Script:
        script: List[Any] = [PENDING]
        seen = 0

    def handler(request):
        body = Script.script[min(Script.seen, len(Script.script) - 1)]
        Script.seen += 1
        if isinstance(body, Response):
            return body
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/job").respond_with_handler(handler)
    Script.url = httpserver.url_for("/job")
    return Script


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch):
    """A step never sleeps: both drivers' sleeps fail the test."""
    def refuse(seconds: float) -> None:
        raise AssertionError("a step slept {}s".format(seconds))

    async def refuse_async(seconds: float) -> None:
        raise AssertionError("a step slept {}s".format(seconds))

    monkeypatch.setattr(httsleep.main, "sleep", refuse)
    monkeypatch.setattr(httsleep.aio, "sleep", refuse_async)


@pytest.mark.parametrize("front", FRONTS)
def test_a_step_makes_one_attempt_and_returns_the_wait_and_the_new_state(answers, front):
    answers.script = [PENDING, PENDING, DONE]
    first = step(front, answers.url, polling_interval=7)
    assert (first.done, first.response, first.wait, first.state.attempts) == (False, None, 7, 1)
    assert answers.seen == 1 and first.state.last_status == 200
    # the engine waited the 7 s: the next attempt is due
    second = step(front, answers.url, through_json(waited(first.state)), polling_interval=7)
    assert (second.done, second.wait, second.state.attempts) == (False, 7, 2)
    third = step(front, answers.url, through_json(waited(second.state)), polling_interval=7)
    assert third.done and third.wait == 0.0 and third.response.json() == DONE
    assert third.state.attempts == 3 and answers.seen == 3


@pytest.mark.parametrize("front", FRONTS)
def test_a_state_resumed_before_its_next_attempt_is_due_sends_nothing_and_returns_the_rest_of_the_wait(answers, front):
    first = step(front, answers.url, polling_interval=30)
    resumed = step(front, answers.url, through_json(first.state), polling_interval=30)
    assert answers.seen == 1
    assert not resumed.done and 25 < resumed.wait <= 30 and resumed.state == first.state


@pytest.mark.parametrize("front", FRONTS)
def test_a_state_resumed_after_its_deadline_gives_up_without_sending_and_says_so(answers, front):
    answers.script = [Response(json.dumps(PENDING), status=503, content_type="application/json")]
    first = step(front, answers.url, timeout=60, polling_interval=1)
    late = first.state.replace(started_at=first.state.started_at - 120, deadline_at=first.state.deadline_at - 120,
                               next_attempt_at=None)
    with pytest.raises(GaveUp) as raised:
        step(front, answers.url, through_json(late), timeout=60, polling_interval=1)
    assert answers.seen == 1
    message = str(raised.value)
    assert "resumed" in message and "after its deadline" in message
    assert "last outcome: HTTP 503" in message  # the saved summary: no attempt finished in this process
    assert raised.value.limit == "timeout" and raised.value.attempts == 1


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("other", [{"until": {"status_code": 201}}, {"max_retries": 3}, {"timeout": 90},
                                   {"alarms": ALARMS}, {"conditional": True}])
def test_a_state_made_under_another_policy_is_a_value_error(answers, front, other):
    first = step(front, answers.url, max_retries=5, timeout=60)
    options = {"max_retries": 5, "timeout": 60, **other}
    with pytest.raises(ValueError, match="this state was saved by a poll with"):
        step(front, answers.url, through_json(first.state), **options)
    assert answers.seen == 1


@pytest.mark.parametrize("front", FRONTS)
def test_a_state_made_by_the_same_policy_in_another_poller_is_accepted(answers, front):
    """Waits, request timeouts and hooks may change between releases of a worker: not the policy."""
    first = step(front, answers.url, max_retries=5, polling_interval=1)
    due = through_json(waited(first.state))
    second = step(front, answers.url, due, max_retries=5, polling_interval=2, request_timeout=5,
                  on_attempt=lambda attempt: None)
    assert second.state.attempts == 2


@pytest.mark.parametrize("front", FRONTS)
def test_the_checkpoint_sees_the_attempt_counted_before_the_request_is_sent(answers, front):
    seen_at_checkpoint = []

    def checkpoint(state: PollState) -> None:
        seen_at_checkpoint.append((state.attempts, answers.seen))

    first = step(front, answers.url, checkpoint=checkpoint)
    assert seen_at_checkpoint == [(1, 0)] and first.state.attempts == 1


def test_an_asynchronous_checkpoint_is_awaited(answers):
    saved = []

    async def checkpoint(state: PollState) -> None:
        await asyncio.sleep(0)
        saved.append(state.to_json())

    result = step("async", answers.url, checkpoint=checkpoint)
    assert len(saved) == 1 and PollState.from_json(saved[0]).attempts == result.state.attempts == 1


@pytest.mark.parametrize("front", FRONTS)
def test_a_step_raises_an_alarm_as_run_does(answers, front):
    answers.script = [{"status": "FAILED"}]
    with pytest.raises(Alarm):
        step(front, answers.url, alarms=ALARMS)


@pytest.mark.parametrize("front", FRONTS)
def test_steps_give_up_where_run_does_with_the_same_message(answers, front):
    """One decision path: three steps with max_retries=3 end as run() does, on the same attempt."""
    state = None
    for _ in range(2):
        result = step(front, answers.url, state, max_retries=3, polling_interval=0)
        state = through_json(waited(result.state))
    with pytest.raises(GaveUp) as by_steps:
        step(front, answers.url, state, max_retries=3, polling_interval=0)
    answers.seen = 0
    runner = HttSleeper if front == "sync" else AsyncHttSleeper
    with pytest.raises(GaveUp) as by_run:
        if front == "sync":
            runner(answers.url, until=UNTIL, max_retries=3, polling_interval=0).run()
        else:
            with aiohttp_by_default(front == "aiohttp"):
                asyncio.run(runner(answers.url, until=UNTIL, max_retries=3, polling_interval=0).run())
    assert by_steps.value.attempts == by_run.value.attempts == 3 and answers.seen == 3
    assert str(by_steps.value).split(" in ")[0] == str(by_run.value).split(" in ")[0]
    assert str(by_steps.value).split("; ", 1)[1] == str(by_run.value).split("; ", 1)[1]


# -- the saved state -------------------------------------------------------------------------------------------

PASSWORD = "pw-STEP-4242"
QUERY_TOKEN = "tok-STEP-4242"
BEARER = "bearer-STEP-4242"


@pytest.mark.parametrize("front", FRONTS)
def test_the_saved_state_is_small_holds_no_credential_and_no_monotonic_time(answers, front):
    url = answers.url.replace("http://", "http://alice:{}@".format(PASSWORD)) + "?token=" + QUERY_TOKEN
    result = step(front, url, headers={"Authorization": "Bearer " + BEARER}, timeout=60, conditional=True)
    saved = result.state.to_json()
    assert len(saved.encode()) < 1024
    for secret in (PASSWORD, QUERY_TOKEN, BEARER, "alice"):
        assert secret not in saved
    now = time.time()
    document = json.loads(saved)
    for name in ("started_at", "deadline_at", "next_attempt_at"):
        assert now - 3600 < document[name] < now + 3600, name  # epoch seconds, not a monotonic clock's


@pytest.mark.parametrize("front", FRONTS)
def test_conditional_polling_goes_on_across_processes_200_then_304_then_304(httpserver, front):
    seen = []

    def handler(request):
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(json.dumps(PENDING), content_type="application/json", headers={"ETag": '"v1"'})

    httpserver.expect_request("/job").respond_with_handler(handler)
    state = None
    for _ in range(3):
        result = step(front, httpserver.url_for("/job"), state, conditional=True, polling_interval=0)
        assert not result.done
        state = through_json(result.state)
    assert seen == [None, '"v1"', '"v1"']
    assert state.attempts == 3 and state.last_status == 304 and state.validators == (("If-None-Match", '"v1"'),)


@pytest.mark.parametrize("front", FRONTS)
def test_a_new_state_starts_the_deadline_without_sending_and_the_first_step_sends(answers, front):
    cls = HttSleeper if front == "sync" else AsyncHttSleeper
    state = cls(answers.url, until=UNTIL, timeout=60, max_retries=5).new_state()
    assert answers.seen == 0 and state.attempts == 0 and state.policy is not None
    assert abs(state.deadline_at - (time.time() + 60)) < 5
    result = step(front, answers.url, through_json(state), timeout=60, max_retries=5)
    assert answers.seen == 1 and result.state.attempts == 1
    assert result.state.deadline_at == state.deadline_at and result.state.started_at == state.started_at


@pytest.mark.parametrize("front", FRONTS)
def test_a_step_resumed_a_few_milliseconds_early_makes_its_attempt(answers, front):
    """Engines' timers round (RQ to whole seconds, Dramatiq to milliseconds): 20 ms early is on time."""
    first = step(front, answers.url, polling_interval=30)
    almost = through_json(first.state.replace(next_attempt_at=time.time() + 0.02))
    second = step(front, answers.url, almost, polling_interval=30)
    assert answers.seen == 2 and second.state.attempts == 2
