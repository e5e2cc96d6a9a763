"""The notebooks as the site publishes them: a links header on lessons and exercises; solutions without hidden tests.

Hidden tests are removed with the helper that makes the student copies (``exercise_regions.strip_hidden``), after the
same lint ``medfusion exercises build`` runs, so the site and the exercises agree on what is secret.
"""
from __future__ import annotations

import copy
import html
from pathlib import Path

import nbformat

from medfusion_lib.authoring import lint_solution
from medfusion_lib.exercise_regions import strip_hidden
from medfusion_lib.notebook_schema import cell_role, exercise_of
from medfusion_lib.errors import UserError
from medfusion_lib.lessons import Lesson

# Site folders, relative to the site root.
LESSONS, EXERCISES, SOLUTIONS, FILES = "lessons", "exercises", "solutions", "files"


def _links(items: list[tuple[str, str, bool]]) -> str:
    """Raw HTML (myst passes it through) so the hrefs stay exactly as written: works from file:// too."""
    parts = [f'<a href="{html.escape(href)}"{" download" if download else ""}>{html.escape(text)}</a>'
             for text, href, download in items]
    return '<p class="medfusion-links">' + " · ".join(parts) + "</p>"


def _header_cell(markdown: str):
    cell = nbformat.v4.new_markdown_cell(markdown)
    cell.metadata["medfusion_site"] = "header"
    return cell


def _insert_after_title(nb, cell) -> None:
    """Put ``cell`` right after the title cell, so the page's first heading stays the lesson's title."""
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ") else 0
    nb.cells.insert(at, cell)


def lesson_page(executed_nb, lesson: Lesson, quick: bool):
    """An executed lesson with a header: the notebook source, the matching exercise, the run's mode."""
    nb = copy.deepcopy(executed_nb)
    links = [(f"Notebook source (notebooks/{lesson.stem}.ipynb)", f"../{FILES}/notebooks/{lesson.stem}.ipynb", True)]
    if lesson.exercise:
        links.append((f"Practise: exercises/{lesson.exercise}.ipynb", f"../{EXERCISES}/{lesson.exercise}.html", False))
        links.append(("exercise notebook", f"../{FILES}/exercises/{lesson.exercise}.ipynb", True))
    mode = ("Outputs below come from a **quick-mode** run (smaller data, fewer epochs): numbers differ from "
            "the full course." if quick else "Outputs below come from a full-mode run of `make run`.")
    _insert_after_title(nb, _header_cell(_links(links) + "\n\n" + mode))
    return nb


def exercise_page(exercise_nb, stem: str):
    """A student exercise notebook (stubs, visible tests) with links to download it and to its solutions."""
    nb = copy.deepcopy(exercise_nb)
    links = [(f"Download exercises/{stem}.ipynb", f"../{FILES}/exercises/{stem}.ipynb", True),
             ("Solutions (try first)", f"../{SOLUTIONS}/{stem}.html", False)]
    how = (f"Open the notebook in JupyterLab (`make lab`), fill in every cell that raises `NotImplementedError`, "
           f"run the tests below each one, then check yourself with `medfusion check exercises/{stem}.ipynb`.")
    _insert_after_title(nb, _header_cell(_links(links) + "\n\n" + how))
    return nb


def solution_page(solution_nb, stem: str):
    """The worked solutions: every answer cell announced as one, every test cell without its hidden tests.

    Raises UserError when the notebook fails the authoring lint (unbalanced markers, hidden tests outside a
    test cell): publishing such a notebook could leak hidden tests.
    """
    problems = lint_solution(solution_nb, f"solutions/{stem}.ipynb")
    if problems:
        raise UserError("cannot publish solutions with authoring problems (run `medfusion exercises check`): "
                        + "; ".join(map(str, problems)))
    nb = copy.deepcopy(solution_nb)
    cells = []
    for cell in nb.cells:
        role = cell_role(cell)
        if role == "solution":
            label = exercise_of(cell) or "this exercise"
            cells.append(_header_cell(f'<p class="medfusion-solution">Solution — {html.escape(label)}</p>'))
        elif role == "test":
            cell.source = strip_hidden(cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    warning = ("```{admonition} Solutions\n:class: warning\nThis page shows worked answers. Try the exercise "
               f"first: [exercises/{stem}]({'../' + EXERCISES + '/' + stem + '.ipynb'}). The graders' hidden tests "
               "are not published.\n```")
    _insert_after_title(nb, _header_cell(warning))
    return nb


def write_notebook(nb, path: Path) -> Path:
    """Write ``nb``; the cells this module added get ids from their position, so equal pages are equal bytes."""
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("medfusion_site"):
            cell.id = f"medfusion-site-{index}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
