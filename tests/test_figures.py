"""Executed notebooks show the figures their code draws (figures.py, the course runner, the nbval hook)."""
import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from medfusion_lib.figures import figure_summary, missing_figures, shows_figure


def test_shows_figure_detection():
    assert shows_figure("fig, ax = plt.subplots()\nplt.show()")
    assert shows_figure("for i in range(3):\n    fig.show()")
    assert not shows_figure("# plt.show()\nx = 1")
    assert not shows_figure("x = model.predict(X)")


def _plot_notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def test_course_runner_stores_figures_even_with_agg_in_the_environment(tmp_path, monkeypatch):
    """The Makefile once exported MPLBACKEND=Agg and every executed lesson lost its figures."""
    from medfusion_lib.course import run_lesson

    source, target = tmp_path / "plot.ipynb", tmp_path / "out" / "plot.ipynb"
    _plot_notebook(source)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    seconds, error = run_lesson(source, target, quick=True)
    assert error is None, error
    executed = json.loads(target.read_text())
    assert figure_summary(executed) == {"plotting_cells": 1, "images": 1, "missing": []}
    outputs = json.dumps(executed)
    assert "without encryption" not in outputs


def test_missing_figure_is_reported(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("plt.show()")]  # executed but no output stored
    assert missing_figures(json.loads(nbformat.writes(nb))) == [0]


def test_make_does_not_export_agg():
    """Kernels inherit make's environment: an exported Agg backend draws nothing in lab or papermill."""
    from medfusion_lib.config import repo_root

    makefile = (repo_root() / "Makefile").read_text()
    assert "MPLBACKEND := Agg" not in makefile and "MPLBACKEND=Agg" not in makefile


def test_nbval_hook_fails_a_plot_cell_without_image(tmp_path):
    """The root conftest fails a cell that calls show() but displays nothing, under nbval."""
    from medfusion_lib.config import repo_root

    nb_path = tmp_path / "agg.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(nb_path))
    (tmp_path / "conftest.py").write_text((repo_root() / "conftest.py").read_text())
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          str(nb_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "displayed no figure" in run.stdout, run.stdout[-2000:]
