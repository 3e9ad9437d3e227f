"""Every code example of seeds 000, 001 and 002 is in the tutorial, as a block the docs harness runs.

The tutorial (docs/tutorial.md) carries the seed examples, corrected as
/work/shared/seeds/README.md says (Python 3 prints, ``Request(url=...,
method='POST')``, callbacks that return ``True``, balanced brackets), and
``tests/test_docs_examples.py`` runs each block against a local server with
a response script that makes it do what the text says. This module pins the
first half: that no seed example silently disappears from the tutorial.
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

# (seed, snippet): a distinctive part of each seed example, as it appears
# (corrected) in the tutorial. Compared with all whitespace removed.
SEED_EXAMPLES = [
    # 000: the 0.1 README, keyword shorthand
    ("000 simple", "resp = httsleep('http://myendpoint/jobs/1', status_code=200)"),
    (
        "000 interval, retries, auth, headers",
        "httsleep('http://myendpoint/jobs/1', status_code=200, polling_interval=5, max_retries=10,"
        " auth=(username, password), headers={'User-Agent': 'httsleep'})",
    ),
    (
        "000 json and ignore_exceptions",
        "from requests.exceptions import ConnectionError\n"
        "httsleep('http://myendpoint/jobs/1', status_code=200, json={'status': 'SUCCESS'},"
        " ignore_exceptions=[ConnectionError])",
    ),
    (
        "000 POST request",
        "req = Request(method='POST', url='http://myendpoint/some_resource', data={'some': 'data'})\n"
        "httsleep(req, json={'status': 'SUCCESS'})",
    ),
    ("000 status_code", "httsleep('http://myendpoint/jobs/1', status_code=200)"),
    ("000 text", "httsleep('http://myendpoint/jobs/1', text=\"OK!\")"),
    ("000 json", "httsleep('http://myendpoint/jobs/1', json={'status': 'SUCCESS'})"),
    ("000 jsonpath", "httsleep('http://myendpoint/jobs/1', jsonpath=[{'expression': 'status', 'value': 'SUCCESS'}])"),
    (
        "000 precompiled jsonpath",
        "from jsonpath_rw.jsonpath import Fields\n"
        "httsleep('http://myendpoint/jobs/1', jsonpath=[{'expression': Fields('status'), 'value': 'SUCCESS'}])",
    ),
    (
        "000 callback (returns True to match)",
        "httsleep('http://myendpoint/jobs/1', callback=ensure_scheduled_change_in_past)",
    ),
    (
        "000 shorthand equals until",
        "httsleep('http://myendpoint/jobs/1', status_code=200, json={'status': 'SUCCESS'})\n"
        "httsleep('http://myendpoint/jobs/1', until={'status_code': 200, 'json': {'status': 'SUCCESS'}})",
    ),
    (
        "000 OR",
        "httsleep('http://myendpoint/jobs/1',"
        " until=[{'json': {'status': 'SUCCESS'}}, {'json': {'status': 'PENDING'}}])",
    ),
    (
        "000 alarms on an HTML 500",
        "httsleep('http://myendpoint/jobs/1', {'status_code': 200, 'json': {'status': 'SUCCESS'}},"
        " alarms=[{'json': {'status': 'ERROR'}}, {'json': {'status': 'CRITICAL'}}, {'status_code': 500}])\n"
        "except Alarm as e:\n"
        "    if e.response.status_code == 500:\n"
        '        print("There was an internal system error!")',
    ),
    (
        "000 going crazy",
        "until = [{'status_code': 200, 'jsonpath': [{'expression': 'status', 'value': 'OK'}]}]\n"
        "alarms = [{'json': {'status': 'ERROR'}},\n"
        "          {'jsonpath': [{'expression': 'status', 'value': 'UNKNOWN'},\n"
        "                        {'expression': 'owner', 'value': 'Chris'}],\n"
        "           'callback': is_job_really_failing},\n"
        "          {'status_code': 404}]\n"
        "httsleep('http://myendpoint/jobs/1', until, alarms=alarms)",
    ),
    # 001/002: the 0.3.1 tutorial
    ("002 polling", "response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200})"),
    (
        "002 max_retries and StopIteration",
        "response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200},"
        " max_retries=10, polling_interval=60)\n"
        "except StopIteration",
    ),
    (
        "002 POST request (method named)",
        "req = Request(url='http://myendpoint/jobs/1', method='POST', data={'payload': 'here'})\n"
        "response = httsleep(req, until={'status_code': 200})",
    ),
    (
        "002 session",
        "session = requests.Session()\nsession.verify = False\n"
        "session.headers.update({'Authorization': 'token=%s' % auth_token, 'Content-Type': 'application/json'})\n"
        "response = session.post('http://server/jobs/create', data=data)\n"
        "response = httsleep('http://server/jobs/1', session=session, until={'status_code': 200})\n"
        "response = session.get('http://server/jobs/1/output')",
    ),
    (
        "002 ignore_exceptions",
        "response = httsleep('http://myendpoint/jobs/1', until={'status_code': 200},"
        " ignore_exceptions=[ConnectionError])",
    ),
    (
        "002 text and json",
        "httsleep('http://myendpoint/jobs/1', until={'text': 'OK!'})\n"
        "# Poll until the json-decoded response has a certain value:\n"
        "httsleep('http://myendpoint/jobs/1', until={'json': {'status': 'OK'}})",
    ),
    (
        "002 jsonpath",
        "httsleep('http://myendpoint/jobs/1', until={'jsonpath': [{'expression': 'status', 'value': 'OK'}]})",
    ),
    (
        "002 precompiled jsonpath",
        "httsleep('http://myendpoint/jobs/1', until={'jsonpath': [{'expression': Fields('status'), 'value': 'OK'}]})",
    ),
    (
        "002 callback",
        "def ensure_scheduled_change_in_past(response):\n    data = response.json()\n",
    ),
    ("002 callback call", "httsleep('http://myendpoint/jobs/1', until={'callback': ensure_scheduled_change_in_past})"),
    ("002 AND with an empty dict", "httsleep('http://myendpoint/jobs/1', until={'status_code': 200, 'json': {}})"),
    (
        "002 alarm",
        "httsleep('http://myendpoint/jobs/1', until={'json': {'status': 'OK'}}, alarms={'json': {'status': 'ERROR'}})\n"
        "except Alarm as e:\n"
        '    print("Got a response with status ERROR!")\n'
        '    print("Here\'s the response:", e.response)\n'
        '    print("And here\'s the alarm went off:", e.alarm)',
    ),
    (
        "002 OR",
        "httsleep('http://myendpoint/jobs/1',\n"
        "         until=[{'json': {'status': 'SUCCESS'}},\n"
        "                {'json': {'status': 'PENDING'}}])",
    ),
    (
        "002 OR alarms",
        "until=[{'json': {'status': 'SUCCESS'}}, {'json': {'status': 'PENDING'}}],"
        " alarms=[{'json': {'status': 'ERROR'}}, {'json': {'status': 'TIMEOUT'}}])",
    ),
    (
        "002 putting it all together",
        "until = {\n    'status_code': 200,\n    'jsonpath': [{'expression': 'status', 'value': 'OK'}]\n}\n"
        "alarms = [\n    {'json': {'status': 'ERROR'}},\n"
        "    {'jsonpath': [{'expression': 'status', 'value': 'UNKNOWN'},\n"
        "                  {'expression': 'owner', 'value': 'Chris'}],\n"
        "     'callback': is_job_really_failing},\n    {'status_code': 404}\n]\n"
        "httsleep('http://myendpoint/jobs/1', until=until, alarms=alarms, max_retries=20)",
    ),
    (
        "001 a real-world example",
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


@pytest.mark.parametrize("snippet", [snippet for _, snippet in SEED_EXAMPLES], ids=[name for name, _ in SEED_EXAMPLES])
def test_seed_example_is_a_runnable_tutorial_block(snippet: str) -> None:
    """The seed example is inside one python block of the tutorial that the docs harness runs."""
    wanted = _squash(snippet)
    assert any(wanted in block for block in _runnable_blocks()), "not in any runnable tutorial block:\n" + snippet


def test_the_seed_request_example_fails_as_written_with_requests() -> None:
    """Seed 002's ``Request(url, method='POST')`` passes the method twice; the tutorial names both arguments."""
    with pytest.raises(TypeError, match="method"):
        requests.Request("http://myendpoint/jobs/1", method="POST", data={"payload": "here"})
    assert requests.Request(url="http://myendpoint/jobs/1", method="POST").method == "POST"


def test_the_tutorial_has_no_python2_print_statements() -> None:
    """No ``print "..."`` statement (the seeds' Python 2 syntax) is left in a runnable block."""
    assert not any(re.search(r"\bprint\s+[\"']", block.code) for block in parse_markdown(TUTORIAL.read_text()))
