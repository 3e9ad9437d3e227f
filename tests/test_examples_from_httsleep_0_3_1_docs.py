"""Every code example of httsleep 0.3.1's README and documentation is in the tutorial, as a block that runs.

httsleep 0.3.1 shipped examples in three places: its README (the keyword
shorthand), the index page of its documentation ("A Real-World Example")
and its tutorial. The tutorial here (docs/tutorial.md) carries each of them,
corrected where 0.3.1's version could not run on Python 3 with today's
requests (``print`` as a function, ``Request(url=..., method='POST')``,
callbacks that return ``True``, balanced brackets), and
``tests/test_docs_examples.py`` runs each block against a local server with
a response script that makes it do what the text says. This module pins the
first half: that none of 0.3.1's examples silently disappears from the
tutorial.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest
import requests
from test_docs_examples import parse_markdown

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"

# (source: name, snippet): a distinctive part of each example of httsleep
# 0.3.1, as it appears (corrected) in the tutorial. Compared with all
# whitespace removed.
EXAMPLES_OF_0_3_1 = [
    # the README: the keyword shorthand
    ("README: simple", "resp = httsleep('http://myendpoint/jobs/1', status_code=200)"),
    (
        "README: interval, retries, auth, headers",
        "httsleep('http://myendpoint/jobs/1', status_code=200, polling_interval=5, max_retries=10,"
        " auth=(username, password), headers={'User-Agent': 'httsleep'})",
    ),
    (
        "README: json and ignore_exceptions",
        "from requests.exceptions import ConnectionError\n"
        "httsleep('http://myendpoint/jobs/1', status_code=200, json={'status': 'SUCCESS'},"
        " ignore_exceptions=[ConnectionError])",
    ),
    (
        "README: POST request",
        "req = Request(method='POST', url='http://myendpoint/some_resource', data={'some': 'data'})\n"
        "httsleep(req, json={'status': 'SUCCESS'})",
    ),
    ("README: status_code", "httsleep('http://myendpoint/jobs/1', status_code=200)"),
    ("README: text", "httsleep('http://myendpoint/jobs/1', text=\"OK!\")"),
    ("README: json", "httsleep('http://myendpoint/jobs/1', json={'status': 'SUCCESS'})"),
    (
        "README: jsonpath",
        "httsleep('http://myendpoint/jobs/1', jsonpath=[{'expression': 'status', 'value': 'SUCCESS'}])",
    ),
    (
        "README: precompiled jsonpath",
        "from jsonpath_rw.jsonpath import Fields\n"
        "httsleep('http://myendpoint/jobs/1', jsonpath=[{'expression': Fields('status'), 'value': 'SUCCESS'}])",
    ),
    (
        "README: callback (returns True to match)",
        "httsleep('http://myendpoint/jobs/1', callback=ensure_scheduled_change_in_past)",
    ),
    (
        "README: shorthand equals until",
        "httsleep('http://myendpoint/jobs/1', status_code=200, json={'status': 'SUCCESS'})\n"
        "httsleep('http://myendpoint/jobs/1', until={'status_code': 200, 'json': {'status': 'SUCCESS'}})",
    ),
    (
        "README: OR",
        "httsleep('http://myendpoint/jobs/1',"
        " until=[{'json': {'status': 'SUCCESS'}}, {'json': {'status': 'PENDING'}}])",
    ),
    (
        "README: alarms on an HTML 500",
        "httsleep('http://myendpoint/jobs/1', {'status_code': 200, 'json': {'status': 'SUCCESS'}},"
        " alarms=[{'json': {'status': 'ERROR'}}, {'json': {'status': 'CRITICAL'}}, {'status_code': 500}])\n"
        "except Alarm as e:\n"
        "    if e.response.status_code == 500:\n"
        '        print("There was an internal system error!")',
    ),
    (
        "README: going crazy",
        "until = [{'status_code': 200, 'jsonpath': [{'expression': 'status', 'value': 'OK'}]}]\n"
        "alarms = [{'json': {'status': 'ERROR'}},\n"
        "          {'jsonpath': [{'expression': 'status', 'value': 'UNKNOWN'},\n"
        "                        {'expression': 'owner', 'value': 'Chris'}],\n"
        "           'callback': is_job_really_failing},\n"
        "          {'status_code': 404}]\n"
        "httsleep('http://myendpoint/jobs/1', until, alarms=alarms)",
    ),
    # the tutorial of the documentation
    ("tutorial: polling", "response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200})"),
    (
        "tutorial: max_retries and StopIteration",
        "response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200},"
        " max_retries=10, polling_interval=60)\n"
        "except StopIteration",
    ),
    (
        "tutorial: POST request (method named)",
        "req = Request(url='http://myendpoint/jobs/1', method='POST', data={'payload': 'here'})\n"
        "response = httsleep(req, until={'status_code': 200})",
    ),
    (
        "tutorial: session",
        "session = requests.Session()\nsession.verify = False\n"
        "session.headers.update({'Authorization': 'token=%s' % auth_token, 'Content-Type': 'application/json'})\n"
        "response = session.post('http://server/jobs/create', data=data)\n"
        "response = httsleep('http://server/jobs/1', session=session, until={'status_code': 200})\n"
        "response = session.get('http://server/jobs/1/output')",
    ),
    (
        "tutorial: ignore_exceptions",
        "response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200},"
        " ignore_exceptions=[ConnectionError])",
    ),
    (
        "tutorial: text and json",
        "httsleep('http://myendpoint/jobs/1', until={'text': 'OK!'})\n"
        "# Poll until the json-decoded response has a certain value:\n"
        "httsleep('http://myendpoint/jobs/1', until={'json': {'status': 'OK'}})",
    ),
    (
        "tutorial: jsonpath",
        "httsleep('http://myendpoint/jobs/1', until={'jsonpath': [{'expression': 'status', 'value': 'OK'}]})",
    ),
    (
        "tutorial: precompiled jsonpath",
        "httsleep('http://myendpoint/jobs/1', until={'jsonpath': [{'expression': Fields('status'), 'value': 'OK'}]})",
    ),
    (
        "tutorial: callback",
        "def ensure_scheduled_change_in_past(response):\n    data = response.json()\n",
    ),
    (
        "tutorial: callback call",
        "httsleep('http://myendpoint/jobs/1', until={'callback': ensure_scheduled_change_in_past})",
    ),
    (
        "tutorial: AND with an empty dict",
        "httsleep('http://myendpoint/jobs/1', until={'status_code': 200, 'json': {}})",
    ),
    (
        "tutorial: alarm",
        "httsleep('http://myendpoint/jobs/1', until={'json': {'status': 'OK'}}, alarms={'json': {'status': 'ERROR'}})\n"
        "except Alarm as e:\n"
        '    print("Got a response with status ERROR!")\n'
        '    print("Here\'s the response:", e.response)\n'
        '    print("And here\'s the alarm went off:", e.alarm)',
    ),
    (
        "tutorial: OR",
        "httsleep('http://myendpoint/jobs/1',\n"
        "         until=[{'json': {'status': 'SUCCESS'}},\n"
        "                {'json': {'status': 'PENDING'}}])",
    ),
    (
        "tutorial: OR alarms",
        "until=[{'json': {'status': 'SUCCESS'}}, {'json': {'status': 'PENDING'}}],"
        " alarms=[{'json': {'status': 'ERROR'}}, {'json': {'status': 'TIMEOUT'}}])",
    ),
    (
        "tutorial: putting it all together",
        "until = {\n    'status_code': 200,\n    'jsonpath': [{'expression': 'status', 'value': 'OK'}]\n}\n"
        "alarms = [\n    {'json': {'status': 'ERROR'}},\n"
        "    {'jsonpath': [{'expression': 'status', 'value': 'UNKNOWN'},\n"
        "                  {'expression': 'owner', 'value': 'Chris'}],\n"
        "     'callback': is_job_really_failing},\n    {'status_code': 404}\n]\n"
        "httsleep('http://myendpoint/jobs/1', until=until, alarms=alarms, max_retries=20)",
    ),
    (
        "docs index: a real-world example",
        "until={'status_code': 200, 'json': {'status': 'SUCCESS'}},"
        " alarms=[{'status_code': 500}, {'json': {'status': 'TIMEOUT'}}],"
        " ignore_exceptions=[ConnectionError], max_retries=20)",
    ),
]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _runnable_blocks() -> List[str]:
    blocks = parse_markdown(TUTORIAL.read_text(encoding="utf-8"), "docs/tutorial.md")
    return [_squash(block.code) for block in blocks if block.skip is None and block.error is None]


@pytest.mark.parametrize(
    "snippet", [snippet for _, snippet in EXAMPLES_OF_0_3_1], ids=[name for name, _ in EXAMPLES_OF_0_3_1]
)
def test_an_example_of_0_3_1_is_a_runnable_tutorial_block(snippet: str) -> None:
    """The example is inside one python block of the tutorial that the docs harness runs."""
    wanted = _squash(snippet)
    assert any(wanted in block for block in _runnable_blocks()), "not in any runnable tutorial block:\n" + snippet


def test_the_request_example_of_0_3_1_fails_as_written_with_requests() -> None:
    """0.3.1's tutorial's ``Request(url, method='POST')`` passes the method twice; ours names both arguments."""
    with pytest.raises(TypeError, match="method"):
        requests.Request("http://myendpoint/jobs/1", method="POST", data={"payload": "here"})
    assert requests.Request(url="http://myendpoint/jobs/1", method="POST").method == "POST"


def test_the_tutorial_has_no_python2_print_statements() -> None:
    """No ``print "..."`` statement (0.3.1's examples' Python 2 syntax) is left in a runnable block."""
    assert not any(re.search(r"\bprint\s+[\"']", block.code) for block in parse_markdown(TUTORIAL.read_text()))
