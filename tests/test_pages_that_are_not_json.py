"""A body a JSON condition cannot read: a gateway's HTML error page, a maintenance page, a truncated answer.

- On a server's temporary failure (a 5xx or a 429) with ``retry_transient=True``, such a page is "not
  yet", as a refused connection is: the poll goes on, and if it gives up, the message shows the page.
- Otherwise the poll ends with the JSON decode error of its HTTP library (so ``except ValueError`` and
  ``ignore_exceptions`` keep working, as with httsleep 0.3.1), and its message names the request, the
  status and the start of the body.
- ``ignore_exceptions=[ValueError]`` polls through every such page, as the command line does by default.

Each test is written as a user would write the call, and runs on every front end.
"""

from __future__ import annotations

import json

import pytest
import requests
from fronts import FRONTS, run
from werkzeug import Response

import httsleep
from httsleep.testing import no_waiting

DONE = [{"expression": "status", "value": "done"}]
GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


def pages_then_json(httpserver, status: int, pages: int, body: str = GATEWAY_PAGE) -> list:
    """The job answers ``pages`` HTML pages with ``status``, then ``{"status": "done"}``; returns the log."""
    served: list = []

    def answer(request):
        served.append(request.path)
        if len(served) <= pages:
            return Response(body, status=status, content_type="text/html")
        return Response(json.dumps({"status": "done"}), content_type="application/json")

    httpserver.expect_request("/job").respond_with_handler(answer)
    return served


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_a_gateway_page_is_not_yet_with_retry_transient(httpserver, front, status):
    served = pages_then_json(httpserver, status, pages=2)
    with no_waiting():
        response = run(front, httpserver.url_for("/job"), jsonpath=DONE, retry_transient=True, timeout=10)
    assert response.json() == {"status": "done"}
    assert len(served) == 3


@pytest.mark.parametrize("front", FRONTS)
def test_a_give_up_after_gateway_pages_shows_the_status_and_the_page(httpserver, front):
    pages_then_json(httpserver, 502, pages=100)
    with no_waiting(), pytest.raises(httsleep.GaveUp) as raised:
        run(front, httpserver.url_for("/job"), jsonpath=DONE, retry_transient=True, max_retries=3)
    message = str(raised.value)
    assert "last response: HTTP 502" in message
    assert "<title>502 Bad Gateway</title>" in message
    assert "whose body a JSON condition cannot read" in message
    assert raised.value.last_exception is None and raised.value.last_response.status_code == 502


@pytest.mark.parametrize("front", FRONTS)
def test_without_retry_transient_a_gateway_page_ends_the_poll_saying_where_and_what(httpserver, front):
    served = pages_then_json(httpserver, 502, pages=1)
    url = httpserver.url_for("/job")
    with no_waiting(), pytest.raises(ValueError) as raised:
        run(front, url + "?token=s3cr3t-value-123", jsonpath=DONE, timeout=10)
    message = str(raised.value)
    assert message.startswith("GET {}?token=***: HTTP 502 ".format(url))
    assert "a JSON condition cannot read (body: <html><head><title>502 Bad Gateway" in message
    assert "s3cr3t" not in message
    assert isinstance(raised.value, json.JSONDecodeError)
    assert isinstance(raised.value.__cause__, json.JSONDecodeError)  # the parser's own error
    assert len(served) == 1


def test_the_sync_error_is_still_requests_json_decode_error(httpserver):
    """Code that catches requests' own error (as with 0.3.1) still catches it."""
    pages_then_json(httpserver, 502, pages=1)
    with pytest.raises(requests.exceptions.JSONDecodeError) as raised:
        httsleep.httsleep(httpserver.url_for("/job"), jsonpath=DONE)
    assert "HTTP 502" in str(raised.value)
    assert raised.value.doc.startswith("<html>") and raised.value.pos == 0


@pytest.mark.parametrize("front", FRONTS)
def test_a_page_that_is_not_json_on_a_200_ends_the_poll_even_with_retry_transient(httpserver, front):
    """A 200 is the server's answer, not a temporary failure: a poll that expects JSON says so at once."""
    served = pages_then_json(httpserver, 200, pages=1, body="<html>Welcome to nginx!</html>")
    with no_waiting(), pytest.raises(ValueError, match="HTTP 200 .*Welcome to nginx"):
        run(front, httpserver.url_for("/job"), jsonpath=DONE, retry_transient=True, timeout=10)
    assert len(served) == 1


@pytest.mark.parametrize("front", FRONTS)
def test_ignore_exceptions_value_error_polls_through_any_page_as_the_cli_does(httpserver, front):
    served = pages_then_json(httpserver, 200, pages=2, body="<html>maintenance</html>")
    with no_waiting():
        response = run(front, httpserver.url_for("/job"), jsonpath=DONE, ignore_exceptions=[ValueError], timeout=10)
    assert response.json() == {"status": "done"} and len(served) == 3
