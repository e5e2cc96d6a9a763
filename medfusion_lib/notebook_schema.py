"""The notebook schema of graded exercises, shared by authoring (building student copies) and grading.

A graded notebook marks its cells with nbgrader's metadata plus our exercise key (docs/ARCHITECTURE.md)::

    {"nbgrader": {"grade_id": "ex1_answer", "solution": true, "grade": false, "locked": false,
                  "points": 0, "schema_version": 3},
     "medfusion": {"exercise": "ex1"}}

Answer cells have ``solution: true``; test cells ``grade: true`` and ``points: N``; locked cells (instructions,
setup) ``locked: true``. This module reads those roles, stamps them (``solution_cell``, ``test_cell``,
``locked_cell``) and reads/writes notebooks; it knows nothing about markers, building or grading.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import nbformat

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
GRADE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Cell metadata kept in student copies; execution records (papermill, timings) are dropped.
KEPT_CELL_METADATA = ("nbgrader", "medfusion", "tags", "editable", "deletable", "slideshow")


def grading_meta(cell) -> dict:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def exercise_of(cell) -> str | None:
    """The exercise key (``medfusion.exercise``) a cell belongs to, or None."""
    return (cell.get("metadata", {}).get("medfusion", {}) or {}).get("exercise")


def cell_role(cell) -> str | None:
    """``"solution"``, ``"test"``, ``"locked"`` or None for an ordinary cell."""
    meta = grading_meta(cell)
    if meta.get("grade"):
        return "test"
    if meta.get("solution"):
        return "solution"
    if meta.get("locked"):
        return "locked"
    return None


def _metadata(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: float,
              exercise: str | None, tags: Iterable[str] = ()) -> dict:
    meta: dict = {"nbgrader": {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": locked,
                               "points": points, "schema_version": 3}}
    if exercise is not None:
        meta["medfusion"] = {"exercise": exercise}
    if tags:
        meta["tags"] = list(tags)
    return meta


def solution_cell(source: str, grade_id: str, exercise: str, markdown: bool = False):
    """An answer cell (code, or markdown for a written answer); its id is the grade id, so it stays stable."""
    make = nbformat.v4.new_markdown_cell if markdown else nbformat.v4.new_code_cell
    return make(source, id=grade_id, metadata=_metadata(grade_id, solution=True, grade=False, locked=False,
                                                        points=0, exercise=exercise))


def test_cell(source: str, grade_id: str, exercise: str, points: float):
    """A graded test cell worth ``points``: visible asserts first, then a hidden-tests region."""
    if not points > 0:
        raise ValueError(f"test cell {grade_id!r} must be worth a positive number of points; got {points!r}")
    return nbformat.v4.new_code_cell(source, id=grade_id, metadata=_metadata(
        grade_id, solution=False, grade=True, locked=True, points=points, exercise=exercise))


def locked_cell(source: str, grade_id: str, markdown: bool = False, tags: Iterable[str] = (),
                exercise: str | None = None):
    """A read-only cell (instructions, setup, the parameters cell) that the grader restores."""
    make = nbformat.v4.new_markdown_cell if markdown else nbformat.v4.new_code_cell
    return make(source, id=grade_id, metadata=_metadata(grade_id, solution=False, grade=False, locked=True,
                                                        points=0, exercise=exercise, tags=tags))


def read_notebook(path: str | Path):
    """Read a notebook as nbformat v4; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several types for unreadable JSON
        raise ValueError(f"{path} is not a readable notebook: {exc}") from None


def serialize(nb) -> str:
    """The exact text written to disk (so staleness is a plain text comparison)."""
    return nbformat.writes(nb, version=4) + "\n"
