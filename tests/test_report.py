"""Key figures travel inside executed notebooks and come back, in order, in the course report."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from medfusion_lib.report import FIGURES_MIME, build_report, read_key_figures


def _executed(path, figures):
    cell = new_code_cell("show_key_figures(...)")
    cell.outputs = [new_output("display_data", data={FIGURES_MIME: {"title": "T", "figures": figures},
                                                     "text/plain": "..."})]
    nb = new_notebook(cells=[cell])
    nbformat.write(nb, str(path))
    return path


def test_report_keeps_figure_order_and_marks_failures(tmp_path):
    ok = _executed(tmp_path / "a.ipynb", [["zeta", 0.5], ["alpha", 3]])
    assert read_key_figures(ok)[0]["figures"] == [["zeta", 0.5], ["alpha", 3]]
    report = build_report([("01_a", ok, 1.5, None), ("02_b", tmp_path / "missing.ipynb", 2.0, "ValueError: x")],
                          tmp_path / "report.md", "quick")
    text = report.read_text()
    assert text.index("| zeta | 0.500 |") < text.index("| alpha | 3 |")
    assert "| 02_b | FAILED | 2.0 |" in text and "ValueError: x" in text
    assert "Semi-synthetic data, educational use only" in text


def test_show_key_figures_outside_jupyter_prints_a_table(capsys):
    import numpy as np

    from medfusion_lib.report import clean_figures, show_key_figures

    figures = {"macro-F1": 0.81234, "n": np.int64(3), "bad": float("nan")}
    assert show_key_figures(figures, title="Lesson 99") is None  # nothing for a notebook to echo a second time
    assert clean_figures(figures) == {"macro-F1": 0.81234, "n": 3, "bad": None}
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["**Lesson 99**", "", "| figure | value |", "|---|---|", "| macro-F1 | 0.812 |", "| n | 3 |",
                       "| bad | None |"]
