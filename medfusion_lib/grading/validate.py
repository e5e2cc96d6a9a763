"""Is a submission a notebook we can grade? Readable JSON, valid nbformat 4, the graded cells present."""
from __future__ import annotations

import json

import nbformat

from medfusion_lib.authoring import cell_role, grading_meta


class InvalidSubmission(ValueError):
    """The submission cannot be graded; the message says what is wrong and what the student can do."""


def parse_submission(data: bytes):
    """The submission as an nbformat v4 NotebookNode; InvalidSubmission when it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"not a text file (byte {exc.start} is not UTF-8); submit the .ipynb file "
                                "saved by Jupyter") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); the "
                                "file is damaged — re-save it from Jupyter or start from a fresh copy") from None
    if not isinstance(raw, dict) or "cells" not in raw or "nbformat" not in raw:
        raise InvalidSubmission("JSON but not a Jupyter notebook (no 'cells' or 'nbformat' key)")
    if raw.get("nbformat") not in (3, 4):
        raise InvalidSubmission(f"nbformat {raw.get('nbformat')!r} is not supported; save it with Jupyter "
                                "(nbformat 4)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises ValidationError and others for broken structure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidSubmission(f"not a valid nbformat 4 notebook: {first[:200]}") from None
    return nb


def find_graded_cells(nb, graded_ids: set[str]) -> dict[str, int]:
    """grade_id -> index of the submission cell holding it (by nbgrader metadata, else by cell id).

    Only the first cell claiming a grade id counts: a copied test cell stays an ordinary cell.
    """
    found: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        grade_id = grading_meta(cell).get("grade_id") if cell_role(cell) else None
        if grade_id not in graded_ids:
            grade_id = cell.get("id") if cell.get("id") in graded_ids else None
        if grade_id and grade_id not in found:
            found[grade_id] = index
    return found


def check_graded_cells(nb, assignment) -> dict[str, int]:
    """The positions of the assignment's cells; InvalidSubmission when an answer or test cell is gone."""
    found = find_graded_cells(nb, set(assignment.graded))
    required = [gid for gid, cell in assignment.graded.items() if cell_role(cell) in ("solution", "test")]
    missing = [gid for gid in required if gid not in found]
    if missing:
        raise InvalidSubmission(f"graded cells missing: {', '.join(missing)}; start from a fresh copy of "
                                f"exercises/{assignment.name}.ipynb and paste your answers into its answer cells")
    return found
