"""Every generated exercise notebook runs in quick mode and fails only in its stubs, with NotImplementedError.

The solution notebooks themselves are executed by nbval (``pytest --nbval-lax solutions``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from medfusion_lib.notebook_schema import cell_role, exercise_of

REPO = Path(__file__).resolve().parents[1]
EXERCISES = sorted((REPO / "exercises").glob("*.ipynb"))
STUB_MESSAGE = re.compile(r"^(?P<exercise>\S+): write your answer here$")


def test_every_solution_has_its_generated_exercise_and_nothing_else():
    solutions = {p.name for p in (REPO / "solutions").glob("*.ipynb")}
    generated = {p.name for p in EXERCISES}
    assert solutions, "solutions/ holds no exercise sources"
    assert generated == solutions, (f"exercises/ must hold exactly one generated copy per solution notebook; missing "
                                    f"{sorted(solutions - generated)}, extra {sorted(generated - solutions)} — run "
                                    "`medfusion exercises build`")
    for path in EXERCISES:
        meta = nbformat.read(str(path), as_version=4).metadata.get("medfusion", {})
        assert meta.get("generated_from") == f"solutions/{path.name}", f"{path.name} was not generated from its solution"


@pytest.mark.parametrize("path", EXERCISES, ids=[p.stem for p in EXERCISES])
def test_exercise_fails_only_in_stubs(path: Path, tmp_path: Path, notebook_kernel: str):
    nb = nbformat.read(str(path), as_version=4)
    env_quick = os.environ.get("MEDFUSION_QUICK")
    os.environ["MEDFUSION_QUICK"] = "1"
    try:
        NotebookClient(nb, timeout=300, kernel_name=notebook_kernel, allow_errors=True,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if env_quick is None:
            os.environ.pop("MEDFUSION_QUICK", None)
        else:
            os.environ["MEDFUSION_QUICK"] = env_quick

    stubs_hit: set[str] = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            where = f"{path.name} cell {cell.get('id')}"
            assert output["ename"] == "NotImplementedError", (
                f"{where} failed with {output['ename']}: {output['evalue']} — exercise copies may only fail "
                "because a stub is not implemented yet")
            match = STUB_MESSAGE.match(output["evalue"])
            assert match, f"{where}: NotImplementedError did not come from a generated stub: {output['evalue']!r}"
            stubs_hit.add(match["exercise"])
    exercises = {exercise_of(c) for c in nb.cells if cell_role(c) == "solution"}
    assert exercises, f"{path.name} has no answer cells"
    assert stubs_hit == exercises, f"{path.name}: stubs of {sorted(exercises - stubs_hit)} never ran"
    graded = [c for c in nb.cells if cell_role(c) == "test"]
    assert all(any(o.get("output_type") == "error" for o in c.outputs) for c in graded), \
        "every test cell must fail on an untouched exercise copy"
