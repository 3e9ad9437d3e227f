"""The Airflow recipe (examples/engines/airflow_recipe.py), run by Airflow itself.

Each DAG of tests/engines/dags runs through ``dag.test()`` on a sqlite
database of its own (AIRFLOW_HOME is a temporary folder), polling a job
server on loopback that counts the requests. ``dag.test()`` in Airflow 3.3
runs the task in this process through the Task SDK's in-process supervisor,
keeps a rescheduled task ``up_for_reschedule`` until its reschedule date (it
looks again every second), and runs a deferred task's trigger inline, on an
event loop of its own: both recipes run as Airflow runs them, without a
scheduler, a worker or a triggerer process.

What is covered: the number of requests (exact), the state carried between
pokes in ``task_state_store`` (read by the job server while each request is
in flight), the task instance released between pokes (a ``task_reschedule``
row per reschedule: the state ``up_for_reschedule``), the same outcome
through the sensor and the trigger, and a try that dies after counting its
attempt (``SystemExit`` from the poke, as a killed worker) resumed by
Airflow's retry. What is not: a real scheduler, executor, worker slots and
pools, a worker killed by a signal, a triggerer restart.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from engine_helpers import EXAMPLES, Answer, JobServer, gaps

HERE = Path(__file__).resolve().parent
AIRFLOW_HOME = tempfile.mkdtemp(prefix="httsleep-airflow-")
atexit.register(shutil.rmtree, AIRFLOW_HOME, True)
# Airflow reads its configuration when first imported: set it before any import of airflow.
os.environ.update({
    "AIRFLOW_HOME": AIRFLOW_HOME,
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "dags"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:///{}/airflow.db".format(AIRFLOW_HOME),
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
})
sys.path.insert(0, str(EXAMPLES))  # the recipe is a module users copy next to their DAGs, not part of httsleep

DAGS = ("httsleep_reschedule", "httsleep_deferrable")
TASK = "wait_for_job"

PENDING = (200, {}, {"status": "PENDING"})
DONE = (200, {}, {"status": "DONE", "rows": 42})
FAILED = (200, {}, {"status": "FAILED"})
LATER = (202, {"Retry-After": "1"}, {"status": "PENDING"})
#: What the job server answers, request after request (the last answer repeats).
SCRIPTS = {
    "done": [PENDING, PENDING, DONE],
    "never": [PENDING],
    "alarm": [PENDING, FAILED],
    "retry_after": [LATER, DONE],
}
#: What both DAGs must do with each script: the requests made, and the outcome.
EXPECTED = {
    "done": (3, ("done", {"status": "DONE", "rows": 42})),
    "never": (3, ("gave_up", "max_retries")),
    "alarm": (2, ("alarm", "FAILED")),
    "retry_after": (2, ("done", {"status": "DONE", "rows": 42})),
}
#: Past this many requests the server answers FAILED: a recipe that lost its state fails a test, never hangs it.
MAX_REQUESTS = 8
#: Each run must take less than this (dag.test() looks at a rescheduled task once a second).
RUN_BUDGET = 20.0


class StateReadingJobServer(JobServer):
    """Jobs at /jobs/<id>/<script>; while a request is in flight, it also reads the poll's state from the
    ``task_state_store`` table: what the poke saved (the checkpoint) before sending it."""

    def record(self, name: str, request: Any) -> Dict[str, Any]:
        return dict(super().record(name, request), saved=saved_state(name.split("/")[0]))


def capped(script: str) -> List[Answer]:
    """The answers of ``script`` for the first MAX_REQUESTS requests (the last repeats), then FAILED."""
    answers = SCRIPTS[script]
    return [answers[min(n, len(answers) - 1)] for n in range(MAX_REQUESTS)] + [FAILED]


def saved_state(job: str) -> Any:
    """The attempts of the state saved for the run polling ``job`` (its conf names it), or None."""
    from airflow.models.dagrun import DagRun
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for run_id, conf in session.execute(select(DagRun.run_id, DagRun.conf)):
            if conf and job in conf.get("url", ""):
                value = session.scalar(select(TaskStateStoreModel.value).where(
                    TaskStateStoreModel.run_id == run_id, TaskStateStoreModel.key == "httsleep_poll_state"))
                return None if value is None else json.loads(json.loads(value))["attempts"]
    return None


@pytest.fixture(scope="module")
def airflow() -> Iterator[Dict[str, Any]]:
    """A fresh metadata database, the DAGs of tests/engines/dags, and the job server."""
    start = time.monotonic()
    try:
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils import db
    except ImportError as error:  # never skipped: the Airflow stage of .ci/run installs it
        pytest.fail("Airflow is not installed (tests/engines/requirements-airflow.txt): {}".format(error))
    db.initdb()
    bag = DagBag(dag_folder=str(HERE / "dags"))
    assert not bag.import_errors, bag.import_errors
    assert set(DAGS) <= set(bag.dags)
    server = StateReadingJobServer()
    print("Airflow database ready in {:.1f} s".format(time.monotonic() - start))
    try:
        yield {"dags": bag.dags, "server": server, "runs": {}}
    finally:
        server.close()


def run_dag(airflow: Dict[str, Any], dag_id: str, script: str) -> Dict[str, Any]:
    """Run ``dag_id`` once against a new job answering ``script``; what Airflow and the job server saw."""
    import airflow_recipe
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    job = uuid.uuid4().hex
    served = airflow["server"].job("{}/{}".format(job, script), *capped(script))
    failures: List[Any] = []
    make_failure = airflow_recipe._failure

    def recording_failure(kind: str, message: str) -> Any:
        failures.append((kind, message))
        return make_failure(kind, message)

    airflow_recipe._failure = recording_failure
    start = time.monotonic()
    try:
        dag_run = airflow["dags"][dag_id].test(run_conf={"url": served.url})
    finally:
        airflow_recipe._failure = make_failure
    took = time.monotonic() - start
    with create_session() as session:
        ti = session.scalar(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id, TaskInstance.task_id == TASK))
        ti_ids = [ti.id] + list(session.scalars(select(TaskInstanceHistory.task_instance_id).where(
            TaskInstanceHistory.dag_id == dag_id, TaskInstanceHistory.run_id == dag_run.run_id)))
        reschedules = len(list(session.scalars(select(TaskReschedule.id).where(TaskReschedule.ti_id.in_(ti_ids)))))
        xcom = session.scalar(select(XComModel.value).where(
            XComModel.dag_id == dag_id, XComModel.run_id == dag_run.run_id, XComModel.key == "return_value"))
        result = {
            "dag_run": str(dag_run.state),
            "ti": str(ti.state),
            "try_number": ti.try_number,
            "reschedules": reschedules,
            "xcom": xcom if not isinstance(xcom, str) else json.loads(xcom),
            "requests": airflow["server"].requests(served.name),
            "failures": failures,
            "took": took,
            "saved_after": saved_state(job),
        }
    print("{} {}: {} requests, {} reschedules, {:.1f} s, gaps {}".format(
        dag_id, script, len(result["requests"]), reschedules, took, ["{:.2f}".format(g) for g in gaps(served.times)]))
    return result


def outcome(run: Dict[str, Any]) -> Any:
    """('done', the task's XCom) or (the failure's kind, the word that tells which limit or alarm)."""
    if run["dag_run"] == "success":
        return ("done", run["xcom"])
    assert len(run["failures"]) == 1, run["failures"]
    kind, message = run["failures"][0]
    for word in ("max_retries", "timeout", "FAILED"):
        if word in message:
            return (kind, word)
    return (kind, message)


def cached_run(airflow: Dict[str, Any], dag_id: str, script: str) -> Dict[str, Any]:
    key = (dag_id, script)
    if key not in airflow["runs"]:
        airflow["runs"][key] = run_dag(airflow, dag_id, script)
    return airflow["runs"][key]


# -- 1. the sensor in reschedule mode: one step() per poke, the state in task_state_store --------------------


def test_reschedule_sensor_done_after_three_pokes(airflow: Dict[str, Any]) -> None:
    run = cached_run(airflow, "httsleep_reschedule", "done")
    assert run["dag_run"] == "success" and run["ti"] == "success"
    assert run["xcom"] == {"status": "DONE", "rows": 42}
    requests = run["requests"]
    assert len(requests) == 3  # exactly: PENDING, PENDING, DONE
    assert all(r["agent"].startswith("python-requests") for r in requests)  # the poke's HttSleeper.step()
    # Each request was counted and saved before it left: the n-th found attempts == n in the store.
    assert [r["saved"] for r in requests] == [1, 2, 3]
    # Between pokes the task instance gave its slot back: up_for_reschedule twice (a task_reschedule row each).
    assert run["reschedules"] == 2 and run["try_number"] == 1
    # Airflow waited (at least) httsleep's polling_interval between pokes; dag.test() looks once a second.
    between = gaps([r["at"] for r in requests])
    assert all(0.2 <= gap < 5 for gap in between), between
    assert run["took"] < RUN_BUDGET
    assert run["saved_after"] is None  # a finished poll leaves nothing in the store


def test_reschedule_sensor_gives_up_at_max_retries_across_pokes(airflow: Dict[str, Any]) -> None:
    run = cached_run(airflow, "httsleep_reschedule", "never")
    # Each poke alone makes one request: only the state carried between pokes reaches max_retries=3.
    assert len(run["requests"]) == 3
    assert [r["saved"] for r in run["requests"]] == [1, 2, 3]
    assert run["dag_run"] == "failed" and run["ti"] == "failed"
    assert outcome(run) == ("gave_up", "max_retries")
    assert "3" in run["failures"][0][1]
    assert run["try_number"] == 1  # giving up is a sensor timeout: final, the task's retries=1 is not used
    assert run["reschedules"] == 2
    assert run["saved_after"] is None


def test_reschedule_sensor_waits_what_retry_after_asks(airflow: Dict[str, Any]) -> None:
    run = cached_run(airflow, "httsleep_reschedule", "retry_after")
    requests = run["requests"]
    assert len(requests) == 2 and run["dag_run"] == "success"
    assert requests[1]["at"] - requests[0]["at"] >= 1.0  # the reschedule date is httsleep's wait, not 0.2 s


def test_a_try_that_dies_after_counting_resumes_the_poll(airflow: Dict[str, Any]) -> None:
    """The second poke dies once its attempt is counted (SystemExit, as a killed worker): Airflow retries the
    task, and the new try resumes the same poll from task_state_store: max_retries counts the lost attempt."""
    import airflow_recipe

    real = airflow_recipe.HttSleeper
    deaths = []

    class DyingHttSleeper(real):  # type: ignore[misc, valid-type]
        def step(self, state: Any = None, checkpoint: Any = None) -> Any:
            def dying_checkpoint(counted: Any) -> None:
                checkpoint(counted)
                if counted.attempts == 2 and not deaths:
                    deaths.append(counted)
                    raise SystemExit(137)  # after the save, before the request: nothing cleans up

            return super().step(state, dying_checkpoint)

    airflow_recipe.HttSleeper = DyingHttSleeper
    try:
        run = run_dag(airflow, "httsleep_reschedule", "never")
    finally:
        airflow_recipe.HttSleeper = real
    assert len(deaths) == 1
    assert run["try_number"] == 2  # Airflow retried the task once
    assert [r["saved"] for r in run["requests"]] == [1, 3]  # attempt 2 never reached the server, and counts
    assert outcome(run) == ("gave_up", "max_retries")
    assert run["dag_run"] == "failed"


# -- 2. the deferrable variant: the trigger runs AsyncHttSleeper.step() on the triggerer's loop ---------------


def test_deferrable_done_through_the_trigger(airflow: Dict[str, Any]) -> None:
    run = cached_run(airflow, "httsleep_deferrable", "done")
    assert run["dag_run"] == "success" and run["ti"] == "success"
    assert run["xcom"] == {"status": "DONE", "rows": 42}
    requests = run["requests"]
    assert len(requests) == 3
    # the trigger's AsyncHttSleeper.step(), on the triggerer's shared aiohttp session (Airflow installs aiohttp)
    assert all("aiohttp/" in r["agent"] for r in requests), [r["agent"] for r in requests]
    assert run["reschedules"] == 0  # deferred once, never rescheduled
    between = gaps([r["at"] for r in requests])
    assert all(0.2 <= gap < 2 for gap in between), between  # the trigger slept httsleep's wait between steps
    assert run["took"] < RUN_BUDGET


# -- 3. one decision: the same answers, the same requests and outcome through both ---------------------------


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_sensor_and_trigger_decide_alike(airflow: Dict[str, Any], script: str) -> None:
    sensor, trigger = (cached_run(airflow, dag_id, script) for dag_id in DAGS)
    expected_requests, expected_outcome = EXPECTED[script]
    assert (len(sensor["requests"]), outcome(sensor)) == (expected_requests, expected_outcome)
    assert (len(trigger["requests"]), outcome(trigger)) == (expected_requests, expected_outcome)
    assert sensor["dag_run"] == trigger["dag_run"]
    assert sensor["try_number"] == trigger["try_number"] == 1  # giving up and an alarm are final on both paths
    if sensor["failures"]:
        # The same message but for the job's id and the seconds elapsed, which no two runs share.
        assert normalised(sensor["failures"][0][1]) == normalised(trigger["failures"][0][1])


def normalised(message: str) -> str:
    import re

    return re.sub(r"\d+\.\d+ ?s", "N s", re.sub(r"/jobs/[0-9a-f]{32}/", "/jobs/ID/", message))
