"""Run the whole course: build the cohort, execute every lesson with papermill, write build/report.md.

This is what ``make run`` (full mode) and ``make run QUICK=1`` (quick mode) call.
"""
from __future__ import annotations

import time
from pathlib import Path

from medfusion_lib.config import build_dir, repo_root


def lesson_notebooks(folder: Path | None = None) -> list[Path]:
    """The lesson notebooks in course order (00_…, 01_…)."""
    folder = folder or repo_root() / "notebooks"
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


# Tracks group lessons by number; the lessons themselves are discovered in notebooks/, never listed by hand.
TRACKS = ((0, 0, "welcome"), (1, 3, "symptom text"), (4, 7, "imaging"), (8, 11, "fusion"),
          (12, 15, "trustworthy diagnosis"), (16, 17, "where the field goes"))


def lesson_info(path: Path) -> dict:
    """``{"lesson": "06", "title": ..., "track": ..., "minutes": int | None, "notebook": file name}`` of a lesson,
    read from its title cell and its "about N minutes" objectives line."""
    import re

    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"][:3]
    title = next((line[1:].strip() for text in markdown for line in text.splitlines() if line.startswith("# ")),
                 path.stem)
    title = re.sub(r"^\d{2}\s*·\s*", "", title)
    minutes = next((int(m.group(1)) for text in markdown if (m := re.search(r"about (\d+) min", text))), None)
    number = int(path.name[:2])
    track = next((name for first, last, name in TRACKS if first <= number <= last), "other")
    return {"lesson": path.name[:2], "title": title, "track": track, "minutes": minutes, "notebook": path.name}


def course_map(folder: Path | None = None):
    """A DataFrame of every lesson that exists (number, title, track, minutes), in course order."""
    import pandas as pd

    return pd.DataFrame([lesson_info(p) for p in lesson_notebooks(folder)]).set_index("lesson")


def execute_notebook(source: Path, target: Path, quick: bool, seed: int = 0,
                     timeout: int | None = None) -> tuple[float, str | None]:
    """Execute ``source`` into ``target`` with papermill, in the notebook's own folder.

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
                            cwd=str(source.parent), kernel_name="python3", progress_bar=False,
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
        seconds, error = execute_notebook(source, target, quick=quick, seed=seed)
        results.append((source.stem, target, seconds, error))
        if error:
            tqdm.write(f"{source.stem}: FAILED ({error}); see {target}")
    report = build_report(results, out_dir / ("report.md" if not quick else "report-quick.md"), mode)
    return report, results
