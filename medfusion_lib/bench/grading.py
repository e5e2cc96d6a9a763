"""``medfusion bench grading``: what the grader costs on top of papermill, and what a second worker buys.

Grades K copies of solutions/00_warmup.ipynb with 1 and with 2 workers (``grade_batch``: restore, sandboxed
kernel over IPC, probe captures, the judge process, executed notebook, feedback, CSVs, histogram) and
compares with running the same notebook K times with plain ``papermill.execute_notebook``. Once per class the
grader also runs the solution for the reference values; the per-notebook ratios leave that out (it is
reported on its own, and cached in --out for re-runs). Targets: per-notebook overhead (1 worker / plain)
<= 1.3; throughput of 2 workers >= 1.7x that of 1. Load average is recorded because a shared machine skews
both ratios.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

ASSIGNMENT = "00_warmup"


# The grader runs each kernel single-threaded; the plain runs get the same, so the ratio measures the
# grading machinery, not thread settings.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _plain_papermill(source: Path, k: int, work: Path) -> float:
    import papermill

    saved = {key: os.environ.get(key) for key in THREAD_ENV}
    os.environ.update(THREAD_ENV)
    try:
        started = time.perf_counter()
        for i in range(k):
            papermill.execute_notebook(str(source), str(work / f"plain_{i}.ipynb"), kernel_name="python3",
                                       parameters={"QUICK": True, "GRADING": True, "SEED": 0, "VARIANT": 0},
                                       progress_bar=False)
        return time.perf_counter() - started
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _grade(assignment, k: int, work: Path, workers: int) -> tuple[float, float]:
    """(seconds for the K notebooks, seconds for the once-per-class reference run)."""
    from medfusion_lib.grading.batch import grade_batch
    from medfusion_lib.grading.limits import Limits

    class_dir = work / f"class_{workers}"
    class_dir.mkdir()
    for i in range(k):
        shutil.copy(assignment.path, class_dir / f"student{i:03d}.ipynb")
    submissions = sorted((p.stem, p) for p in class_dir.glob("*.ipynb"))
    started = time.perf_counter()
    # Generous limits: this measures what grading costs, not where the limits cut (a shared machine is slow).
    limits = Limits(cell_timeout=300, timeout=1200, start_timeout=180)
    report = grade_batch(assignment, submissions, work / f"out_{workers}", limits, workers=workers,
                         force=True, progress=False)
    seconds = time.perf_counter() - started
    bad = [f"{r.student}: {[(e.exercise, e.status, e.message) for e in r.exercises if e.status != 'passed']} "
           f"{r.notes[-1:]}" for r in report.results if r.points != r.max_points]
    if bad:
        raise RuntimeError(f"the solution should score full marks; it did not for {bad}")
    return seconds - report.reference_seconds, report.reference_seconds


def run(quick: bool = False):
    from medfusion_lib.grading.assignment import load_assignment
    from medfusion_lib.grading.batch import prepare

    k = 2 if quick else 6
    assignment = load_assignment(ASSIGNMENT)
    prepare(assignment)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="medfusion-bench-grading-") as tmp:
        work = Path(tmp)
        _plain_papermill(assignment.path, 1, work)          # warm caches (imports, cohort files)
        plain = _plain_papermill(assignment.path, k, work)
        one, reference_one = _grade(assignment, k, work, workers=1)
        two, reference_two = _grade(assignment, k, work, workers=2)
    load_after = os.getloadavg()[0]
    overhead, speedup = one / plain, one / two
    with_reference = (one + reference_one) / plain
    rows = [
        {"run": "plain papermill", "notebooks": k, "seconds": plain, "s/notebook": plain / k, "vs plain": 1.0},
        {"run": "grade, 1 worker", "notebooks": k, "seconds": one, "s/notebook": one / k, "vs plain": overhead},
        {"run": "grade, 2 workers", "notebooks": k, "seconds": two, "s/notebook": two / k, "vs plain": two / plain},
        {"run": "reference run (once per class)", "notebooks": 1, "seconds": reference_one,
         "s/notebook": reference_one, "vs plain": reference_one / (plain / k)},
        {"run": "overhead per notebook (1 worker / plain)", "seconds": None, "vs plain": overhead,
         "target": "<= 1.3", "met": overhead <= 1.3},
        {"run": "overhead incl. the reference run", "seconds": None, "vs plain": with_reference},
        {"run": "throughput gain (2 workers / 1)", "seconds": None, "vs plain": speedup,
         "target": ">= 1.7", "met": speedup >= 1.7},
    ]
    payload = {"assignment": ASSIGNMENT, "copies": k, "plain_seconds": plain, "grade_1_worker_seconds": one,
               "grade_2_workers_seconds": two, "reference_seconds": [reference_one, reference_two],
               "overhead_ratio": overhead, "overhead_ratio_with_reference": with_reference,
               "two_worker_speedup": speedup, "sandbox": "bubblewrap",
               "targets": {"overhead_ratio_max": 1.3, "two_worker_speedup_min": 1.7},
               "load_average_before": load_before, "load_average_after": load_after,
               "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    return rows, payload
