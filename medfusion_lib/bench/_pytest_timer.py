"""A pytest plugin that writes every test phase's duration to JSON (used by ``medfusion bench tests``).

Load it with ``-p medfusion_lib.bench._pytest_timer`` and name the file in ``MEDFUSION_TEST_TIMES``. Under
pytest-xdist the workers' reports reach the controller, so one file holds every test of the run.
"""
from __future__ import annotations

import json
import os
import time

TIMES_ENV = "MEDFUSION_TEST_TIMES"
_records: list[dict] = []
_started = time.time()


def pytest_runtest_logreport(report) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller records the same report
    _records.append({"nodeid": report.nodeid, "when": report.when, "seconds": round(report.duration, 4),
                     "outcome": report.outcome, "worker": getattr(getattr(report, "node", None), "gateway", None)
                     and report.node.gateway.id})


def pytest_sessionfinish(session, exitstatus) -> None:
    path = os.environ.get(TIMES_ENV)
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"exitstatus": int(exitstatus), "wall_seconds": round(time.time() - _started, 3),
                   "records": _records}, handle)
