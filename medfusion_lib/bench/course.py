"""``medfusion bench course``: wall and CPU time of each lesson notebook in quick and in full mode.

``--busy`` starts one CPU-bound process beside the lessons (a learner's laptop with something else running) and
stops it afterwards; ``--lessons 06,07`` runs only those lessons; ``--full-only`` skips the quick-mode runs, which
``make test`` already times, when only the full-mode budget is in question; ``--cold`` gives the lessons an empty
build folder, so they train and cache their features and models as on a learner's first pass through the course (in
lesson order: lesson 08 builds the fusion features that the later lessons reuse). CPU time is the kernel's (user +
system, read from the finished kernel process), so wall ≫ CPU means the lesson waited for the processor.
"""
from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from medfusion_lib.course import lesson_notebooks, run_lesson

#: The course promises every lesson in at most this many seconds in full mode, also on a busy laptop.
FULL_BUDGET_S = 240


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_burner(on: bool):
    """One busy-looping Python process while the block runs (nothing when ``on`` is false)."""
    if not on:
        yield None
        return
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield burner
    finally:
        burner.terminate()
        burner.wait()


def empty_build_dir(on: bool, parent: Path):
    """Point ``$MEDFUSION_BUILD_DIR`` (which the lessons' kernels inherit) at a new empty folder under ``parent``
    while the block runs, so no cached feature or model from an earlier run is found (nothing when ``on`` is
    false). The learner's own ``build/`` is neither read nor touched."""
    from unittest.mock import patch

    from medfusion_lib.config import BUILD_ENV

    return patch.dict(os.environ, {BUILD_ENV: str(parent / "cold-build")}) if on else contextlib.nullcontext()


def select(notebooks: list[Path], lessons: str | None) -> list[Path]:
    """The notebooks whose two-digit number is in ``lessons`` (``"06,07"``); all when ``lessons`` is empty."""
    if not lessons:
        return notebooks
    wanted = {part.strip().zfill(2) for part in lessons.split(",") if part.strip()}
    chosen = [nb for nb in notebooks if nb.stem[:2] in wanted]
    missing = wanted - {nb.stem[:2] for nb in chosen}
    if missing:
        from medfusion_lib.errors import UserError

        raise UserError(f"no lesson numbered {', '.join(sorted(missing))}; lessons are "
                        f"{', '.join(nb.stem[:2] for nb in notebooks)}")
    return chosen


def run(quick: bool = False, busy: bool = False, lessons: str | None = None, full_only: bool = False,
        cold: bool = False):
    from medfusion_lib.data import load_cohort

    if quick and full_only:
        from medfusion_lib.errors import UserError

        raise UserError("--quick and --full-only contradict each other: choose one")
    load_cohort()
    modes = (True,) if quick else (False,) if full_only else (True, False)
    notebooks = select(lesson_notebooks(), lessons)
    rows, timings = [], {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, empty_build_dir(cold, Path(tmp)), cpu_burner(busy):
        for source in notebooks:
            row = {"notebook": source.stem}
            for mode_quick in modes:
                mode = "quick" if mode_quick else "full"
                cpu_before = _children_cpu()
                seconds, error = run_lesson(source, Path(tmp) / mode / source.name, quick=mode_quick)
                cpu = _children_cpu() - cpu_before
                timings.setdefault(source.stem, {})[mode] = {"seconds": seconds, "cpu_seconds": round(cpu, 2),
                                                             "error": error}
                row[f"{mode} s"] = seconds
                row[f"{mode} cpu s"] = cpu
                if error:
                    row[f"{mode} error"] = error[:60]
            if not quick:
                row["≤ 4 min"] = "yes" if timings[source.stem]["full"]["seconds"] <= FULL_BUDGET_S else "NO"
            rows.append(row)
    ran = ["quick" if mode_quick else "full" for mode_quick in modes]
    totals = {m: sum(t[m]["seconds"] for t in timings.values()) for m in ran}
    rows.append({"notebook": "TOTAL", **{f"{m} s": s for m, s in totals.items()}})
    over = sorted(stem for stem, t in timings.items() if "full" in t and t["full"]["seconds"] > FULL_BUDGET_S)
    return rows, {"notebooks": timings, "totals_seconds": totals, "busy": busy, "cold": cold, "lessons": lessons,
                  "modes": ran, "full_budget_seconds": FULL_BUDGET_S, "over_budget": over,
                  "load_before": [round(x, 2) for x in load_before],
                  "load_after": [round(x, 2) for x in os.getloadavg()]}
