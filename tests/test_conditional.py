"""Conditional polling (``conditional=True``): ``If-None-Match`` / ``If-Modified-Since``, and what a 304 means.

A 304 says "unchanged since the response whose validators you sent": the
verdict on that response (it matched nothing) stands, no condition is
evaluated on the 304's empty body, hooks see the attempt, and the poll
waits and tries again. Off by default, as in 0.3.1.
"""

from __future__ import annotations

from email.utils import formatdate
from typing import Any, Dict, List, Optional

import pytest
from faultservers import RecordedRequest, Reply, ScriptedServer
from fronts import FRONTS, run

from httsleep import AsyncHttSleeper, GaveUp, HttSleeper
from httsleep.testing import no_waiting

DONE = [{"expression": "status", "value": "SUCCESS"}]


class Job:
    """A job resource: ``states`` in turn, each with its ETag (and Last-Modified); 304 for an unchanged one.

    ``changes_at[i]``: the request index at which the job moves to state ``i + 1``.
    ``etag=False``: the server sends no ETag from request ``drop_etag_at`` on.
    """

    def __init__(self, states: List[str], changes_at: List[int], drop_etag_at: Optional[int] = None,
                 last_modified: bool = False) -> None:
        self.states = states
        self.changes_at = changes_at
        self.drop_etag_at = drop_etag_at
        self.last_modified = last_modified
        self.seen: List[RecordedRequest] = []

    def version(self, index: int) -> int:
        return sum(1 for change in self.changes_at if index >= change)

    def __call__(self, request: RecordedRequest, index: int) -> Reply:
        self.seen.append(request)
        version = self.version(index)
        headers: Dict[str, str] = {}
        send_etag = self.drop_etag_at is None or index < self.drop_etag_at
        if send_etag:
            headers["ETag"] = '"v{}"'.format(version)
        if self.last_modified:
            headers["Last-Modified"] = "Thu, 0{} Jan 2026 00:00:00 GMT".format(version + 1)
            headers["Date"] = formatdate(usegmt=True)
        unchanged = (send_etag and request.headers.get("if-none-match") == headers.get("ETag")) or (
            self.last_modified and "if-none-match" not in request.headers
            and request.headers.get("if-modified-since") == headers.get("Last-Modified")
        )
        if unchanged:
            return Reply(304, headers=headers)
        return Reply(json={"job": 7, "status": self.states[version], "log": "x" * 2000}, headers=headers)


def poll(front: str, url: str, **options: Any) -> Any:
    options.setdefault("jsonpath", DONE)
    options.setdefault("polling_interval", 1)
    with no_waiting():
        return run(front, url, **options)


@pytest.mark.parametrize("front", FRONTS)
def test_a_jsonpath_poll_runs_through_304s_until_the_job_changes(front):
    job = Job(["PENDING", "SUCCESS"], changes_at=[5])
    attempts: List[Any] = []
    with ScriptedServer(job) as server:
        response = poll(front, server.url, conditional=True, on_attempt=attempts.append)
    assert response.json()["status"] == "SUCCESS"
    sent = [request.headers.get("if-none-match") for request in job.seen]
    assert sent == [None, '"v0"', '"v0"', '"v0"', '"v0"', '"v0"']
    assert [(attempt.response.status_code, attempt.outcome) for attempt in attempts] == [
        (200, "retry"), (304, "retry"), (304, "retry"), (304, "retry"), (304, "retry"), (200, "success")]


@pytest.mark.parametrize("front", FRONTS)
def test_without_conditional_no_validator_is_sent_as_in_0_3_1(front):
    job = Job(["PENDING", "SUCCESS"], changes_at=[3])
    with ScriptedServer(job) as server:
        poll(front, server.url)
    assert [request.headers.get("if-none-match") for request in job.seen] == [None, None, None, None]


@pytest.mark.parametrize("front", FRONTS)
def test_a_server_that_drops_its_etag_gets_unconditional_requests_again(front):
    job = Job(["PENDING", "SUCCESS"], changes_at=[6], drop_etag_at=3)
    with ScriptedServer(job) as server:
        response = poll(front, server.url, conditional=True)
    assert response.json()["status"] == "SUCCESS"
    sent = [request.headers.get("if-none-match") for request in job.seen]
    # 0: no validator yet; 1-2: 304 for "v0"; 3: the answer to "v0" is a full one without an ETag; then none
    assert sent == [None, '"v0"', '"v0"', '"v0"', None, None, None]


@pytest.mark.parametrize("front", FRONTS)
def test_last_modified_is_sent_back_as_if_modified_since(front):
    job = Job(["PENDING", "SUCCESS"], changes_at=[3], drop_etag_at=0, last_modified=True)
    with ScriptedServer(job) as server:
        response = poll(front, server.url, conditional=True)
    assert response.json()["status"] == "SUCCESS"
    sent = [request.headers.get("if-modified-since") for request in job.seen]
    assert sent == [None] + ["Thu, 01 Jan 2026 00:00:00 GMT"] * 3


@pytest.mark.parametrize("front", FRONTS)
def test_giving_up_on_304s_names_the_response_they_repeat(front):
    job = Job(["PENDING"], changes_at=[])
    with ScriptedServer(job) as server, pytest.raises(GaveUp) as raised:
        poll(front, server.url, conditional=True, max_retries=4)
    gave_up = raised.value
    assert gave_up.last_response.status_code == 200 and gave_up.last_response.json()["status"] == "PENDING"
    assert "last response: HTTP 304 " in str(gave_up)
    assert '(unchanged: HTTP 200 OK; body: {"job": 7, "status": "PENDING"' in str(gave_up)


@pytest.mark.parametrize("front", FRONTS)
def test_a_304_is_not_judged_by_the_alarms_either(front):
    """An alarm on a status the 304 would match (say status_code 3xx) is not evaluated on it."""
    job = Job(["PENDING", "SUCCESS"], changes_at=[3])
    with ScriptedServer(job) as server:
        response = poll(front, server.url, conditional=True, alarms={"status_code": "3xx"})
    assert response.status_code == 200


@pytest.mark.parametrize("front", FRONTS)
def test_a_304_without_a_conditional_request_is_an_ordinary_response(front):
    """A server answering 304 to an unconditional request: judged like any response (here it matches)."""
    with ScriptedServer([Reply(304)]) as server:
        response = poll(front, server.url, jsonpath=None, status_code=304, conditional=True)
    assert response.status_code == 304


@pytest.mark.parametrize("front", FRONTS)
def test_conditional_is_true_or_false(front):
    with pytest.raises(TypeError, match="conditional must be True or False"):
        (HttSleeper if front == "sync" else AsyncHttSleeper)("http://127.0.0.1:9/", status_code=200, conditional=1)


@pytest.mark.parametrize("front", FRONTS)
def test_a_last_modified_in_the_same_second_as_the_answer_is_not_sent_back(front):
    """A date has a one-second resolution: a document changed again in that second would stay "not modified"."""
    now = formatdate(usegmt=True)
    replies = [Reply(json={"status": "PENDING"}, headers={"Last-Modified": now, "Date": now}),
               Reply(json={"status": "SUCCESS"})]
    with ScriptedServer(replies) as server:
        poll(front, server.url, conditional=True)
    assert [request.headers.get("if-modified-since") for request in server.requests] == [None, None]


@pytest.mark.parametrize("front", FRONTS)
def test_a_304_that_repeats_only_some_validators_keeps_the_others(front):
    old = "Thu, 01 Jan 2026 00:00:00 GMT"
    replies = [Reply(json={"status": "PENDING"}, headers={"ETag": '"v1"', "Last-Modified": old,
                                                          "Date": formatdate(usegmt=True)}),
               Reply(304, headers={"Last-Modified": old}), Reply(304), Reply(json={"status": "SUCCESS"})]
    with ScriptedServer(replies) as server:
        poll(front, server.url, conditional=True)
    assert [request.headers.get("if-none-match") for request in server.requests] == [None, '"v1"', '"v1"', '"v1"']
    assert all("if-modified-since" not in request.headers for request in server.requests)  # the ETag decides


@pytest.mark.parametrize("front", FRONTS)
def test_a_304_after_an_ignored_error_still_stands_for_the_last_full_response(front):
    from faultservers import RawServer, read_head

    full = Reply(json={"status": "PENDING"}, headers={"ETag": '"v1"'}).render(keep_alive=False)
    not_modified = Reply(304, headers={"ETag": '"v1"'}).render(keep_alive=False)

    def handler(conn: Any, server: Any) -> None:
        if read_head(conn)[0] is None:
            return
        if server.connections == 2:
            return  # hang up without an answer: an error that retry_transient polls through
        conn.sendall(full if server.connections == 1 else not_modified)

    seen: List[Any] = []
    with RawServer(handler) as server, pytest.raises(GaveUp) as raised:
        poll(front, server.url, conditional=True, retry_transient=True, max_retries=3, on_attempt=seen.append)
    assert raised.value.last_response.json() == {"status": "PENDING"} and raised.value.last_exception is None
    assert "HTTP 304" in str(raised.value) and "no attempt finished" not in str(raised.value)
    statuses = [attempt.response.status_code if attempt.response is not None else None for attempt in seen]
    # the hooks see each attempt's own answer, the 304 included (aiohttp may try a hung-up request once more
    # on another connection itself, so the error is not always an attempt of its own)
    assert statuses[0] == 200 and statuses[-1] == 304 and (None in statuses or front == "aiohttp"), statuses
