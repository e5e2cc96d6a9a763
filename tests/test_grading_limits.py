"""Resource limits: a kernel that ignores interrupts, the CPU-time limit, the whole-notebook deadline."""
from __future__ import annotations

import nbformat
import pytest

from grading_helpers import hostile, needs_sandbox
from medfusion_lib.grading.assignment import load_assignment
from medfusion_lib.grading.grade import grade_submission
from medfusion_lib.grading.limits import Limits

pytestmark = needs_sandbox


@pytest.fixture(scope="module")
def assignment(tmp_path_factory):
    return load_assignment(hostile.fixture_assignment(tmp_path_factory.mktemp("limits") / "solutions"))


def grade(assignment, limits, **edits):
    nb = hostile.make(assignment.student, assignment.solution, solve=list(assignment.exercises), **edits)
    result = grade_submission("s", nbformat.writes(nb).encode(), assignment, limits)
    return {e.exercise: e for e in result.exercises}


def test_kernel_ignoring_the_interrupt_is_replaced(assignment):
    wedge = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)"
    results = grade(assignment, Limits(cell_timeout=3, timeout=90), answer_prefix={"ex2": wedge})
    assert results["ex2"].status == "timeout" and "ignored the interrupt" in results["ex2"].message
    assert results["ex1"].status == results["ex3"].status == "passed"


def test_cpu_time_limit_kills_the_kernel(assignment):
    burn = "import time\nstart = time.process_time()\nwhile time.process_time() - start < 30:\n    pass"
    results = grade(assignment, Limits(cell_timeout=60, timeout=90, cpu_seconds=3), answer_prefix={"ex2": burn})
    assert results["ex2"].status == "killed" and "SIGXCPU" in results["ex2"].message
    assert results["ex3"].status == "passed"


def test_whole_notebook_deadline(assignment):
    results = grade(assignment, Limits(cell_timeout=30, timeout=3),
                    extra="import time\ntime.sleep(30)")
    assert {r.status for r in results.values()} == {"timeout"}
    assert "whole-notebook time limit" in results["ex3"].message


def test_limits_reject_nonsense():
    with pytest.raises(ValueError, match="memory_mb must be a finite positive number"):
        Limits(memory_mb=0)


def test_growing_allocation_hits_the_memory_limit(assignment):
    grow = "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))"
    results = grade(assignment, Limits(cell_timeout=60, timeout=90, memory_mb=400), answer_prefix={"ex2": grow})
    assert results["ex2"].status == "killed" and "memory limit (400 MB)" in results["ex2"].message
    assert results["ex1"].status == results["ex3"].status == "passed"
