"""A short tour of httsleep that needs no network: ``python -m httsleep.demo``.

It starts a small job server on 127.0.0.1 (see ``httsleep/_jobserver.py``)
and polls two jobs on it:

1. ``/job`` goes PENDING -> RUNNING -> SUCCESS: :func:`httsleep.httsleep`
   returns the response that matched, and we print its JSON.
2. ``/failing-job`` goes PENDING -> ERROR: the alarm condition matches and
   :class:`httsleep.Alarm` is raised instead of waiting until the timeout.

This file is meant to be read: it is a complete httsleep program.
"""

from __future__ import annotations

import json
import sys

import requests

from httsleep import Alarm, httsleep
from httsleep._jobserver import JobServer
from httsleep._progress import LINES, Progress

# Done when the job's "status" field is SUCCESS...
UNTIL = {"status_code": 200, "jsonpath": [{"expression": "status", "value": "SUCCESS"}]}
# ...and stop at once, with an Alarm, when it is ERROR.
ALARMS = {"jsonpath": [{"expression": "status", "value": "ERROR"}]}


def show_status(response: requests.Response) -> str:
    """What the progress line shows about each response: the job's status."""
    return "status={}".format(response.json().get("status"))


def poll(url: str) -> requests.Response:
    """Poll ``url`` every 0.3 s, for 10 s at most, showing each attempt."""
    progress = Progress(sys.stdout, mode=LINES, detail=show_status, prefix="    ")
    try:
        return httsleep(url, until=UNTIL, alarms=ALARMS, polling_interval=0.3, timeout=10, on_attempt=progress)
    finally:
        progress.finish()


def main() -> int:
    with JobServer() as server:
        print("A job server is running at {}\n".format(server.url("/")))

        url = server.url("/job")
        print("1. Waiting for {} to succeed:".format(url))
        response = poll(url)
        print("    Done! The job's final JSON:")
        print("    " + json.dumps(response.json(), indent=4).replace("\n", "\n    "))

        url = server.url("/failing-job")
        print("\n2. Waiting for {}, which fails:".format(url))
        try:
            poll(url)
        except Alarm as alarm:
            print("    Alarm raised, no need to wait for the timeout:")
            print("    {}".format(alarm))
            print("    The job said: {}".format(alarm.response.json()["error"]))

    print("\nThe same from a shell: httsleep URL --jsonpath status=SUCCESS --alarm-jsonpath status=ERROR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
