"""The solution run's course caches reach every student's kernel as a private copy (grading/execute.py)."""
from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from grading_helpers import needs_sandbox
from medfusion_lib.grading.execute import execute_submission
from medfusion_lib.grading.limits import Limits

pytestmark = needs_sandbox

KERNEL_CELL = """import os, pathlib
cache = pathlib.Path(os.environ["MEDFUSION_BUILD_DIR"]) / "cache"
print("found:", (cache / "fusion" / "features.txt").read_text())
(cache / "fusion" / "features.txt").write_text("overwritten by a student")
(cache / "explain").mkdir(parents=True, exist_ok=True)
(cache / "explain" / "model.txt").write_text("made in the kernel")
"""


def _notebook():
    parameters = new_code_cell("QUICK = False\nGRADING = False\nSEED = 0\nVARIANT = 0", metadata={"tags": ["parameters"]})
    return new_notebook(cells=[parameters, new_code_cell(KERNEL_CELL)],
                        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def test_a_kernel_starts_with_a_copy_of_the_warm_cache_and_its_own_caches_are_kept(tmp_path):
    warm = tmp_path / "warm"
    (warm / "fusion").mkdir(parents=True)
    (warm / "fusion" / "features.txt").write_text("from the solution run")
    kept = tmp_path / "kept"
    executed = execute_submission(_notebook(), Limits(), warm_cache=warm, keep_cache=kept)
    text = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert "found: from the solution run" in text, executed.cells[-1].outputs
    # the kernel changed only its own copy
    assert (warm / "fusion" / "features.txt").read_text() == "from the solution run"
    assert sorted(p.relative_to(kept).as_posix() for p in kept.rglob("*.txt")) == ["explain/model.txt",
                                                                                   "fusion/features.txt"]
    assert (kept / "explain" / "model.txt").read_text() == "made in the kernel"
    nbformat.validate(executed)


def test_a_missing_warm_cache_is_skipped(tmp_path):
    nb = _notebook()
    nb.cells[-1].source = "import os, pathlib\nprint(sorted(p.name for p in pathlib.Path(os.environ['MEDFUSION_BUILD_DIR']).glob('*')))"
    executed = execute_submission(nb, Limits(), warm_cache=tmp_path / "absent", keep_cache=tmp_path / "kept")
    assert "[]" in "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert not (tmp_path / "kept").exists()  # nothing cached, nothing kept
