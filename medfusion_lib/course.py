"""Run the whole course: build the cohort, execute every lesson with papermill, write build/report.md.

This is what ``make run`` (full mode) and ``make run QUICK=1`` (quick mode) call.
"""
from __future__ import annotations

import time
from pathlib import Path

from medfusion_lib.config import build_dir
from medfusion_lib.lessons import lesson_notebooks  # noqa: F401 - the runner's list, re-exported


def run_lesson(source: Path, target: Path, quick: bool, seed: int = 0, timeout: int | None = None,
               kernel_name: str = "python3") -> tuple[float, str | None]:
    """Execute ``source`` into ``target`` with papermill, in the notebook's own folder, on the Jupyter kernel
    ``kernel_name`` (the test suite passes its preloaded one; ``medfusion bench course`` keeps python3).

    Returns (seconds, error message or None). The executed copy is kept even when a cell fails, so
    the failing cell and its traceback can be read there. A cell that calls ``show()`` but stored no
    image counts as a failure too: a lesson without its figures is broken even when nothing raised.
    """
    import json

    import papermill as pm

    from medfusion_lib.figures import missing_figures
    from medfusion_lib.kernels import IPCKernelManager

    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    error = None
    try:
        pm.execute_notebook(str(source), str(target), parameters={"QUICK": quick, "SEED": seed},
                            cwd=str(source.parent), kernel_name=kernel_name, progress_bar=False,
                            execution_timeout=timeout, log_output=False,
                            kernel_manager_class=IPCKernelManager)
    except pm.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"[:300]
    except Exception as exc:  # noqa: BLE001 - a broken notebook must not stop the other lessons
        error = f"{type(exc).__name__}: {exc}"[:300]
    if error is None:
        missing = missing_figures(json.loads(target.read_text(encoding="utf-8")))
        if missing:
            error = f"cell(s) {missing} call show() but displayed no figure"
    return time.perf_counter() - started, error


def run_course(quick: bool = False, out_dir: Path | None = None, notebooks: list[Path] | None = None,
               seed: int = 0) -> tuple[Path, list[tuple[str, Path, float, str | None]]]:
    """Build the default cohort, execute every lesson, write the report. Returns (report path, results)."""
    from tqdm.auto import tqdm

    from medfusion_lib.data import load_cohort
    from medfusion_lib.report import build_report

    out_dir = out_dir or build_dir()
    mode = "quick" if quick else "full"
    load_cohort()  # build once here, not in every notebook
    results = []
    bar = tqdm(notebooks or lesson_notebooks(), desc=f"lessons ({mode})", unit="nb")
    for source in bar:
        bar.set_postfix_str(source.stem)
        target = out_dir / "notebooks" / mode / source.name
        seconds, error = run_lesson(source, target, quick=quick, seed=seed)
        results.append((source.stem, target, seconds, error))
        if error:
            tqdm.write(f"{source.stem}: FAILED ({error}); see {target}")
    report = build_report(results, out_dir / ("report.md" if not quick else "report-quick.md"), mode)
    return report, results
