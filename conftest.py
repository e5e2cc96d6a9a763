"""Notebook checks that nbval itself does not make.

nbval (``--nbval-lax``) fails a cell only when it raises. A cell that calls ``plt.show()`` but displays no
image raises nothing — yet the lesson is broken (this is how the whole executed course once had no figures).
This hook fails such a cell in every notebook nbval runs.

Before any test runs, a quick-mode run that executes notebooks builds the caches the fusion lessons share (the
quick-mode fusion features of the default cohort), once, in the main pytest process: otherwise two pytest-xdist
workers that start two fusion lessons at the same moment would each build them.

Test files run slowest first (``tests/file_costs.json``, written by ``medfusion bench tests --save-costs``), so
with ``--no-loadscope-reorder`` no worker is left alone at the end with a long notebook.
"""
import json
import os
import statistics
import time
from pathlib import Path

import pytest

from medfusion_lib.figures import image_count, shows_figure


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    cell = getattr(item, "cell", None)
    if call.when != "call" or not report.passed or cell is None or not hasattr(item, "test_outputs"):
        return
    source = cell.get("source", "") if isinstance(cell, dict) else getattr(cell, "source", "")
    if shows_figure(source) and image_count(item.test_outputs) == 0:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid}: this cell calls show() but displayed no figure "
                           "(a non-interactive matplotlib backend such as MPLBACKEND=Agg?)")


COSTS = Path(__file__).parent / "tests" / "file_costs.json"


def pytest_collection_modifyitems(config, items):
    """Order test files by their measured cost, slowest first (a stable sort: cells of a notebook keep their order).

    A file the costs do not name yet gets the median cost. Every xdist worker sorts the same way, so they still
    agree on the collection."""
    try:
        costs = json.loads(COSTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    default = statistics.median(costs.values()) if costs else 0.0
    items.sort(key=lambda item: -costs.get(item.nodeid.split("::")[0], default))


def _runs_notebooks(config) -> bool:
    return any(("notebooks" in arg or "solutions" in arg) and ".py" not in arg for arg in config.args)


def pytest_sessionstart(session):
    """Warm the shared quick-mode caches once per run (controller only; xdist workers then find them)."""
    from medfusion_lib.config import env_quick

    if os.environ.get("PYTEST_XDIST_WORKER") or not env_quick() or not _runs_notebooks(session.config):
        return
    from medfusion_lib.fusion.features import build_modalities

    started = time.perf_counter()
    feats = build_modalities(quick=True, seed=0, progress=False)  # what lessons 08-15 load with QUICK, SEED = 0
    cached = feats.info["text_cached"] and feats.info["image_cached"]
    session.config._medfusion_warmup = (f"shared quick-mode caches {'found' if cached else 'built'} in "
                                        f"{time.perf_counter() - started:.1f} s")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    note = getattr(config, "_medfusion_warmup", None)
    if note:
        terminalreporter.write_line(f"medfusion: {note}")
