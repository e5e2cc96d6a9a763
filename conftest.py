"""Notebook checks that nbval itself does not make.

nbval (``--nbval-lax``) fails a cell only when it raises. A cell that calls ``plt.show()`` but displays no
image raises nothing — yet the lesson is broken (this is how the whole executed course once had no figures).
This hook fails such a cell in every notebook nbval runs.
"""
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
