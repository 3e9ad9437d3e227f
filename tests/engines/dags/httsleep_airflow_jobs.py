"""Two DAGs that wait for the same HTTP job with examples/engines/airflow_recipe.py.

``httsleep_reschedule`` pokes in reschedule mode (one ``step()`` per poke, the
state kept in the task instance's ``task_state_store``); ``httsleep_deferrable``
defers to the trigger, which runs the same ``step()`` on the triggerer. The
job's URL comes from the run's conf: ``dag.test(run_conf={"url": ...})``, as
tests/engines/test_airflow.py does. ``airflow_recipe`` must be importable:
copied next to this file, or on ``PYTHONPATH`` (the tests put
examples/engines on ``sys.path``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG
from airflow_recipe import HttSleepSensor

# The one description of the poll, for both DAGs: done when the job says DONE, failed when it says FAILED,
# an attempt every 0.2 s (or what a Retry-After asks for), at most 3 requests, at most 60 s.
POLL = {
    "until": {"jsonpath": [{"expression": "status", "value": "DONE"}]},
    "alarms": {"jsonpath": [{"expression": "status", "value": "FAILED"}]},
    "polling_interval": 0.2,
    "max_retries": 3,
    "timeout": 60,
}

# A try that dies mid-poke (a killed worker) is retried, and resumes the poll. Giving up or an alarm is final.
RETRY = {"retries": 1, "retry_delay": timedelta(seconds=1)}

for dag_id, deferrable in (("httsleep_reschedule", False), ("httsleep_deferrable", True)):
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, default_args=RETRY,
             tags=["httsleep"]):
        HttSleepSensor(task_id="wait_for_job", url="{{ dag_run.conf['url'] }}", poll=POLL, deferrable=deferrable)
