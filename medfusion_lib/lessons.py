"""Which lessons exist, read from ``notebooks/`` (never a hand-kept list): titles, times, tracks, exercises.

Used by lesson 00's course map, the course runner and the website, so all three always agree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from medfusion_lib.config import repo_root

# "**Learning objectives** (about 25 minutes)" or "## Learning objectives (about 40 minutes)"
_MINUTES = re.compile(r"learning objectives\W*\(\s*(?:about|~|ca\.?)?\s*(\d+)\s*min", re.IGNORECASE)
_EXERCISE = re.compile(r"exercises/(\d\d[a-z]?_[A-Za-z0-9_]+)\.ipynb")


# Tracks group lessons by number; the lessons themselves are discovered, never listed.
TRACKS = ((0, 0, "welcome"), (1, 3, "symptom text"), (4, 7, "imaging"), (8, 11, "fusion"),
          (12, 15, "trustworthy diagnosis"), (16, 17, "where the field goes"))


def lesson_notebooks(folder: Path | None = None) -> list[Path]:
    """The lesson notebooks in course order (00_…, 01_…)."""
    folder = folder or repo_root() / "notebooks"
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def track_of(number: str) -> str:
    """The track a lesson number belongs to ("other" past the known tracks)."""
    return next((name for first, last, name in TRACKS if first <= int(number) <= last), "other")


@dataclass(frozen=True)
class Lesson:
    """One lesson notebook as the site shows it."""

    stem: str                 # "00_welcome_and_cohort"
    number: str               # "00"
    title: str                # the first heading, without its number: "Welcome to MedFusion — and meet the cohort"
    minutes: int | None       # the estimate in "Learning objectives (about N minutes)", None when absent
    exercise: str | None      # the exercise notebook the lesson points to ("00_warmup"), None when none
    path: Path                # notebooks/<stem>.ipynb


def _markdown(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]


def notebook_title(nb, fallback: str) -> str:
    """The text of the notebook's first ``#`` heading ("00 · Title" → "Title"), or ``fallback``."""
    for source in _markdown(nb):
        for line in source.splitlines():
            if line.startswith("# "):
                return re.sub(r"^\d+\s*[·.:-]\s*", "", line[2:].strip())
    return fallback


def read_lesson(path: str | Path) -> Lesson:
    """The site's view of one lesson notebook (ValueError naming the file when it is not a notebook)."""
    path = Path(path)
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several types for unreadable JSON
        raise ValueError(f"{path} is not a readable notebook: {exc}") from None
    text = "\n".join(_markdown(nb))
    minutes = _MINUTES.search(text)
    exercise = _EXERCISE.search(text)
    return Lesson(stem=path.stem, number=path.stem[:2], title=notebook_title(nb, path.stem),
                  minutes=int(minutes.group(1)) if minutes else None,
                  exercise=exercise.group(1) if exercise else None, path=path)


def course_lessons(folder: Path | None = None) -> list[Lesson]:
    """Every lesson in ``notebooks/`` in course order; new lessons appear without editing anything."""
    return [read_lesson(path) for path in lesson_notebooks(folder)]


def course_map(folder: Path | None = None):
    """A DataFrame of every lesson that exists (title, track, minutes, notebook), indexed by lesson number."""
    import pandas as pd

    rows = [{"lesson": l.number, "title": l.title, "track": track_of(l.number), "minutes": l.minutes,
             "notebook": l.path.name} for l in course_lessons(folder)]
    return pd.DataFrame(rows, columns=["lesson", "title", "track", "minutes", "notebook"]).set_index("lesson")
