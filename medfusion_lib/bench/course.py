"""``medfusion bench course``: wall time of each lesson notebook in quick and in full mode."""
from __future__ import annotations

import tempfile
from pathlib import Path

from medfusion_lib.course import lesson_notebooks, run_lesson


def run(quick: bool = False):
    from medfusion_lib.data import load_cohort

    load_cohort()
    modes = (True,) if quick else (True, False)
    rows, timings = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in lesson_notebooks():
            row = {"notebook": source.stem}
            for mode_quick in modes:
                mode = "quick" if mode_quick else "full"
                seconds, error = run_lesson(source, Path(tmp) / mode / source.name, quick=mode_quick)
                timings.setdefault(source.stem, {})[mode] = {"seconds": seconds, "error": error}
                row[f"{mode} s"] = seconds
                if error:
                    row[f"{mode} error"] = error[:60]
            rows.append(row)
    totals = {m: sum(t[m]["seconds"] for t in timings.values()) for m in ("quick", "full") if not (quick and m == "full")}
    rows.append({"notebook": "TOTAL", **{f"{m} s": s for m, s in totals.items()}})
    return rows, {"notebooks": timings, "totals_seconds": totals}
