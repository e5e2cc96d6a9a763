"""Is a submission a notebook we can grade? Readable JSON, valid nbformat 4, the graded cells present."""
from __future__ import annotations

import json

import nbformat

from medfusion_lib.notebook_schema import cell_role, grading_meta


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
    except RecursionError:
        raise InvalidSubmission("the JSON is nested too deeply to be a notebook; start from a fresh copy") from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise InvalidSubmission("JSON but not a Jupyter notebook (no 'nbformat' key)")
    version = raw.get("nbformat")
    if version == 3 and "worksheets" in raw:
        pass  # nbformat 3 (IPython 2 era): converted to 4 below
    elif version == 4 and "cells" in raw:
        pass
    elif version in (3, 4):
        raise InvalidSubmission(f"an nbformat {version} notebook without its "
                                f"{'worksheets' if version == 3 else 'cells'}; re-save it from Jupyter")
    else:
        raise InvalidSubmission(f"nbformat {version!r} is not supported; open it in Jupyter and save it again "
                                "(nbformat 4), or start from a fresh copy")
    if _depth(raw) > MAX_DEPTH:
        raise InvalidSubmission(f"the JSON is nested more than {MAX_DEPTH} levels deep, which no notebook needs; "
                                "start from a fresh copy")
    # Widget state is never graded and may be broken (a comm without its model module): drop it.
    if isinstance(raw.get("metadata"), dict):
        raw["metadata"].pop("widgets", None)
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises ValidationError and others for broken structure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidSubmission(f"not a valid nbformat 4 notebook: {first[:200]}") from None
    for cell in nb.cells:
        cell.get("metadata", {}).pop("widgets", None)
    return nb


MAX_DEPTH = 64


def _depth(value) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


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
