"""Exercise authoring: ``solutions/*.ipynb`` is the single source; ``exercises/`` is generated from it.

This module builds and checks: ``lint_solution`` (the graded-cell contract, metadata, markers), ``leaks``
(solution or hidden-test lines in a student copy), ``build_exercises`` (writes the student copies: outputs
stripped, kernelspec ``python3``, cell ids kept) and ``check_exercises`` (every problem: stale copy, missing
metadata, unbalanced markers, leaks). The cell-metadata schema and the cell constructors live in
:mod:`medfusion_lib.notebook_schema` (grading reads the same schema); marker regions, stubs and the student copy
in :mod:`medfusion_lib.exercise_regions`; the test-cell contract in :mod:`medfusion_lib.grading.testcell`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from medfusion_lib.exercise_regions import MARKERS, SOLUTION_BEGIN, SOLUTION_END, marker_of, regions, \
    student_version
from medfusion_lib.grading.testcell import CHECKS, HIDDEN_BEGIN, HIDDEN_END, PROBE_BEGIN, PROBE_END, \
    assigned_names, lint_test_cell, parse_test_cell
from medfusion_lib.notebook_schema import GRADE_ID_PATTERN, cell_role, exercise_of, grading_meta, read_notebook, \
    serialize

# A solution or hidden-test line shorter than this is too generic ("return x") to count as a leak.
MIN_LEAK_LINE = 12


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a solution notebook or its generated copy."""

    notebook: str
    message: str
    cell: str | None = None

    def __str__(self) -> str:
        where = f"{self.notebook} (cell {self.cell})" if self.cell else self.notebook
        return f"{where}: {self.message}"


class AuthoringError(ValueError):
    """Raised by ``build_exercises`` when a source notebook has problems; nothing is written then."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the solution notebooks:\n{lines}")


def lint_solution(nb, name: str) -> list[Problem]:
    """Problems that would make a solution notebook unsafe to build or to grade."""
    problems: list[Problem] = []
    add = lambda message, cell=None: problems.append(Problem(name, message, cell))  # noqa: E731
    if int(nb.get("nbformat", 0)) != 4 or int(nb.get("nbformat_minor", 0)) < 5:
        add("must be nbformat 4.5 or later (cells need stable ids); re-save it with nbformat>=5.1")
    seen_ids: set[str] = set()
    seen_grade_ids: set[str] = set()
    points_by_exercise: dict[str, float] = {}
    exercises_with_answers: set[str] = set()
    # Names any visible probe assigns: a hidden probe (run at the end when grading) must not rely on them.
    visible_names: set[str] = set()
    for cell in nb.cells:
        if cell_role(cell) == "test" and cell.cell_type == "code":
            parts = parse_test_cell(cell.source)
            if not parts.problems:
                try:
                    visible_names |= assigned_names(parts.probe)
                except SyntaxError:
                    pass
    uses_variant = any("VARIANT" in c.source for c in nb.cells if c.cell_type == "code")
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if uses_variant and not any(re.search(r"^VARIANT\s*=", c.source, re.M) for c in params):
        add("a cell reads VARIANT but the parameters cell does not set it (add `VARIANT = 0`)")
    for index, cell in enumerate(nb.cells):
        cid = cell.get("id")
        label = cid or f"#{index}"
        if not cid:
            add("cell has no id; re-save the notebook with nbformat>=5.1", label)
        elif cid in seen_ids:
            add(f"cell id {cid!r} repeats", label)
        seen_ids.add(cid)
        role = cell_role(cell)
        meta = grading_meta(cell)
        source = cell.source
        present = {m for m in MARKERS if m in source}
        solution_markers = present & {SOLUTION_BEGIN, SOLUTION_END}
        hidden_markers = present & {HIDDEN_BEGIN, HIDDEN_END, PROBE_BEGIN, PROBE_END, CHECKS}
        if solution_markers and role != "solution":
            add("has solution markers but is not an answer cell (nbgrader.solution is not true): "
                "the answer would leak into the student copy", label)
        if hidden_markers and role != "test":
            add("has test-cell markers (CHECKS, hidden probe or hidden tests) but is not a test cell "
                "(nbgrader.grade is not true): the hidden parts would leak into the student copy", label)
        if role is None:
            continue
        grade_id = meta.get("grade_id")
        if not grade_id:
            add(f"{role} cell lacks nbgrader.grade_id", label)
        elif not GRADE_ID_PATTERN.match(str(grade_id)):
            add(f"grade_id {grade_id!r} must be 1-64 letters, digits, '_' or '-'", label)
        elif grade_id in seen_grade_ids:
            add(f"grade_id {grade_id!r} repeats; every graded cell needs its own", label)
        else:
            seen_grade_ids.add(grade_id)
        exercise = exercise_of(cell)
        if role == "solution":
            if not exercise:
                add("answer cell lacks medfusion.exercise", label)
            else:
                exercises_with_answers.add(exercise)
            try:
                regions(source, SOLUTION_BEGIN, SOLUTION_END)
            except ValueError as exc:
                add(f"unbalanced solution markers: {exc}", label)
        if role == "test":
            if cell.cell_type != "code":
                add("test cell must be a code cell", label)
            if not exercise:
                add("test cell lacks medfusion.exercise", label)
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                add(f"test cell needs nbgrader.points > 0; got {points!r}", label)
            elif exercise:
                points_by_exercise[exercise] = points_by_exercise.get(exercise, 0) + points
            if cell.cell_type == "code":
                for message in lint_test_cell(source, visible_names):
                    add(message, label)
    for exercise in sorted(exercises_with_answers - set(points_by_exercise)):
        add(f"exercise {exercise!r} has an answer cell but no test cell worth points")
    return problems


def _leak_lines(text: str) -> set[str]:
    lines = set()
    for line in text.splitlines():
        stripped = line.strip()
        if len(stripped) >= MIN_LEAK_LINE and not stripped.startswith("#") and marker_of(stripped) is None:
            lines.add(stripped)
    return lines


def secret_lines(solution_nb) -> set[str]:
    """Lines that must never appear in a student copy: answer regions and hidden tests."""
    secret: set[str] = set()
    for cell in solution_nb.cells:
        role = cell_role(cell)
        try:
            if role == "solution":
                if SOLUTION_BEGIN in cell.source:
                    runs = regions(cell.source, SOLUTION_BEGIN, SOLUTION_END)
                    secret |= {ln for inside, lines in runs if inside for ln in _leak_lines("\n".join(lines))}
                else:
                    secret |= _leak_lines(cell.source)
            elif role == "test":
                parts = parse_test_cell(cell.source)
                secret |= _leak_lines(parts.hidden_probe) | _leak_lines(parts.hidden_checks)
        except ValueError:
            continue  # unbalanced markers are reported by lint
    # A line that is also in a visible part of the source (a shared import, say) is not a secret.
    visible = student_version(solution_nb, "x") if not lint_solution(solution_nb, "x") else None
    if visible is not None:
        for cell in visible.cells:
            secret -= {line.strip() for line in cell.source.splitlines()}
    return secret


def leaks(student_nb, solution_nb, name: str) -> list[Problem]:
    """Markers, answers, hidden tests or outputs found in a student copy."""
    problems = []
    secret = secret_lines(solution_nb)
    for index, cell in enumerate(student_nb.cells):
        label = cell.get("id") or f"#{index}"
        for marker in MARKERS:
            if marker in cell.source:
                problems.append(Problem(name, f"contains the marker {marker!r}", label))
        for line in sorted({ln.strip() for ln in cell.source.splitlines()} & secret):
            problems.append(Problem(name, f"leaks answer or hidden-test text: {line[:80]!r}", label))
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(Problem(name, "has outputs or an execution count (outputs may show answers)", label))
    return problems


def _sources(solutions_dir: Path) -> list[Path]:
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"no solutions folder at {solutions_dir}; create it or pass the right path")
    return sorted(p for p in solutions_dir.glob("*.ipynb") if not p.name.startswith("."))


def _is_generated(path: Path) -> bool:
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return False
    return "generated_from" in meta.get("medfusion", {})


def expected_exercises(solutions_dir: str | Path) -> tuple[dict[str, str], list[Problem]]:
    """``{file name: text}`` the build would write, and the problems found in the sources."""
    solutions_dir = Path(solutions_dir)
    expected: dict[str, str] = {}
    problems: list[Problem] = []
    for path in _sources(solutions_dir):
        name = f"{solutions_dir.name}/{path.name}"
        try:
            nb = read_notebook(path)
        except ValueError as exc:
            problems.append(Problem(name, str(exc)))
            continue
        found = lint_solution(nb, name)
        problems += found
        if not found:
            expected[path.name] = serialize(student_version(nb, path.stem))
    return expected, problems


def build_exercises(solutions_dir: str | Path, exercises_dir: str | Path) -> list[Path]:
    """Write a student copy of every solution notebook; returns the files written or refreshed.

    Every source is checked first: on any problem nothing is written (``AuthoringError`` lists them all).
    Each file is replaced atomically; generated copies whose source is gone are removed.
    """
    from medfusion_lib.atomic import atomic_write_text

    exercises_dir = Path(exercises_dir)
    expected, problems = expected_exercises(solutions_dir)
    if problems:
        raise AuthoringError(problems)
    exercises_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in expected.items():
        target = exercises_dir / file_name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
            written.append(target)
    for orphan in exercises_dir.glob("*.ipynb"):
        if orphan.name not in expected and _is_generated(orphan):
            orphan.unlink()
    return written


def check_exercises(solutions_dir: str | Path, exercises_dir: str | Path) -> list[Problem]:
    """Every problem with the sources and their generated copies; an empty list means all is well."""
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    expected, problems = expected_exercises(solutions_dir)
    fix = "run `medfusion exercises build`"
    for path in _sources(solutions_dir):
        target = exercises_dir / path.name
        name = f"{exercises_dir.name}/{path.name}"
        if not target.exists():
            problems.append(Problem(name, f"is missing; {fix}"))
            continue
        try:
            student_nb = read_notebook(target)
            solution_nb = read_notebook(path)
        except ValueError as exc:
            problems.append(Problem(name, str(exc)))
            continue
        problems += leaks(student_nb, solution_nb, name)
        if path.name in expected and target.read_text(encoding="utf-8") != expected[path.name]:
            problems.append(Problem(name, f"is stale (differs from what {solutions_dir.name}/{path.name} "
                                          f"builds); {fix}"))
    sources = {p.name for p in _sources(solutions_dir)}
    if exercises_dir.is_dir():
        for orphan in sorted(exercises_dir.glob("*.ipynb")):
            if orphan.name not in sources:
                problems.append(Problem(f"{exercises_dir.name}/{orphan.name}",
                                        f"has no source in {solutions_dir.name}/; delete it or {fix}"))
    return problems
