"""Every lesson in notebooks/ follows the skeleton of docs/ARCHITECTURE.md ("Notebooks — the lesson skeleton").

title ``# NN · Title`` → ``## Learning objectives (about N minutes)`` → honesty box → ``## Setup`` (imports; a
``parameters`` cell of plain assignments; ``QUICK = resolve_quick(QUICK)`` + ``seed_everything(SEED)``) →
``## 1 · Title``, ``## 2 · …`` each ending in a **Takeaway** → ``## Practise`` naming an exercise notebook →
``## Summary`` with one ``show_key_figures({...})`` → ``## Going further``. New lessons are checked as they land;
each failure says what is missing and where.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from medfusion_lib.config import repo_root
from medfusion_lib.lessons import lesson_notebooks

SECTION = re.compile(r"^## (\d+) · \S")
TITLE = re.compile(r"^# (\d\d) · \S")
OBJECTIVES = re.compile(r"^## Learning objectives \(about \d+ minutes\)\s*$")
EXERCISE = re.compile(r"exercises/(\d\d[a-z]?_[A-Za-z0-9_]+\.ipynb)")
FIXED = ("Setup", "Practise", "Summary", "Going further")


def _plain_value(node: ast.AST) -> bool:
    """A literal papermill can override: numbers, strings, None, booleans, and lists/tuples/dicts of them."""
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return False


def _headings(cells: list[dict]) -> list[tuple[int, str]]:
    """(cell index, line) of every ``#``/``##`` heading in markdown cells, outside code fences."""
    out = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        fenced = False
        for line in "".join(cell["source"]).splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and re.match(r"^#{1,2} ", line):
                out.append((i, line.rstrip()))
    return out


def _text_between(cells: list[dict], start: tuple[int, str], end: tuple[int, str] | None) -> str:
    """Markdown from heading ``start`` up to heading ``end`` (exclusive), across cells."""
    parts = []
    stop = end[0] if end else len(cells)
    for i in range(start[0], stop + 1 if end else stop):
        if i >= len(cells) or cells[i]["cell_type"] != "markdown":
            continue
        text = "".join(cells[i]["source"])
        if i == start[0]:
            text = text[text.index(start[1]):]
        if end and i == end[0]:
            text = text[:text.index(end[1])]
        parts.append(text)
    return "\n".join(parts)


def skeleton_problems(path: Path) -> list[str]:
    """Every way the notebook at ``path`` departs from the lesson skeleton, one sentence each."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = nb["cells"]
    problems: list[str] = []
    headings = _headings(cells)
    lines = [line for _, line in headings]

    if not lines or not TITLE.match(lines[0]) or lines[0][2:4] != path.name[:2]:
        problems.append(f"the first heading must be '# {path.name[:2]} · Title'; found {lines[:1]}")
    if len(lines) < 2 or not OBJECTIVES.match(lines[1]):
        problems.append("the second heading must be '## Learning objectives (about N minutes)'; found "
                        f"{lines[1:2]}")
    # the honesty box: before Setup
    setup_at = next((k for k, line in enumerate(lines) if line == "## Setup"), None)
    before_setup = "\n".join("".join(c["source"]) for c in cells[:headings[setup_at][0]]
                             if c["cell_type"] == "markdown") if setup_at is not None else ""
    if "**Honesty box" not in before_setup or "clinical use" not in before_setup:
        problems.append("an honesty box ('> **Honesty box.** … nothing here is fit for clinical use') must come before '## Setup'")

    # fixed headings, in order, and numbered sections between Setup and Practise
    order = [line[3:] for line in lines if line[3:] in FIXED]
    if order != list(FIXED):
        problems.append(f"the headings {', '.join(f'## {h}' for h in FIXED)} must each appear once, in this "
                        f"order; found {['## ' + h for h in order]}")
    sections = [(k, line) for k, line in enumerate(lines) if line.startswith("## ") and line[3:] not in FIXED
                and not OBJECTIVES.match(line)]
    numbers = []
    for k, line in sections:
        match = SECTION.match(line)
        if not match:
            problems.append(f"section heading {line!r} must read '## N · Title' (a middle dot between spaces)")
            continue
        numbers.append(int(match.group(1)))
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"sections must be numbered 1, 2, 3, … in order; found {numbers}")
    if not numbers:
        problems.append("no numbered sections ('## 1 · Title')")
    for k, line in sections:
        nxt = headings[k + 1] if k + 1 < len(headings) else None
        if nxt and nxt[1].startswith("## ") and "**Takeaway.**" not in _text_between(cells, headings[k], nxt):
            problems.append(f"section {line!r} must end in a short '**Takeaway.**' paragraph before {nxt[1]!r}")

    # Setup: imports, parameters, resolve_quick + seed_everything
    code = [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"]
    if setup_at is not None:
        after = [(i, c) for i, c in code if i > headings[setup_at][0]][:3]
        if len(after) < 3:
            problems.append("Setup needs three code cells: imports, parameters, derived values")
        else:
            (_, imports), (_, params), (_, derived) = after
            try:
                import_tree = ast.parse("".join(imports["source"]))
            except SyntaxError:
                import_tree = ast.Module(body=[], type_ignores=[])
            if not any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in import_tree.body):
                problems.append("the first code cell of Setup must hold the imports")
            if "parameters" not in params.get("metadata", {}).get("tags", []):
                problems.append("the second code cell of Setup must be tagged 'parameters'")
            body = ast.parse("".join(params["source"])).body
            if not body or not all(isinstance(node, ast.Assign) and _plain_value(node.value) for node in body):
                problems.append("the parameters cell must hold plain assignments only (QUICK = False, SEED = 0, …): "
                                "papermill overrides them; derive values in the next cell")
            elif {"QUICK", "SEED"} - {t.id for node in body for t in node.targets if isinstance(t, ast.Name)}:
                problems.append("the parameters cell must assign QUICK and SEED")
            text = "".join(derived["source"])
            if "QUICK = resolve_quick(QUICK)" not in text or "seed_everything(SEED)" not in text:
                problems.append("the third code cell of Setup must run 'QUICK = resolve_quick(QUICK)' and "
                                "'seed_everything(SEED)'")

    # Practise names an exercise notebook that exists
    fixed_at = {line[3:]: k for k, line in enumerate(lines) if line[3:] in FIXED}
    if "Practise" in fixed_at and "Summary" in fixed_at:
        k = fixed_at["Practise"]
        practise = _text_between(cells, headings[k], headings[k + 1] if k + 1 < len(headings) else None)
        named = EXERCISE.findall(practise)
        if not named:
            problems.append("the Practise section must point to an exercise notebook ('exercises/NN_name.ipynb')")
        for name in named:
            if not (repo_root() / "exercises" / name).is_file():
                problems.append(f"the Practise section names exercises/{name}, which does not exist")
    # Summary: exactly one show_key_figures, after '## Summary' and before '## Going further'
    calls = [i for i, c in code if "show_key_figures(" in "".join(c["source"])]
    if len(calls) != 1:
        problems.append(f"call show_key_figures({{...}}) exactly once (found {len(calls)} code cells)")
    elif "Summary" in fixed_at and "Going further" in fixed_at:
        lo, hi = headings[fixed_at["Summary"]][0], headings[fixed_at["Going further"]][0]
        if not lo < calls[0] < hi:
            problems.append("the show_key_figures cell must sit between '## Summary' and '## Going further' "
                            "(split the markdown cell around it)")
    if any("matplotlib.use(" in "".join(c["source"]) for _, c in code):
        problems.append("never set a matplotlib backend in a lesson: figures go inline with plt.show()")

    # committed form
    if any(c.get("outputs") or c.get("execution_count") for _, c in code):
        problems.append("commit the notebook without outputs")
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append("the kernelspec must be 'python3'")
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5) or not all("id" in c for c in cells):
        problems.append("save as nbformat 4.5 with cell ids")
    return problems


@pytest.mark.parametrize("path", lesson_notebooks(), ids=lambda p: p.stem)
def test_lesson_follows_the_skeleton(path):
    problems = skeleton_problems(path)
    assert not problems, f"{path.name} departs from the lesson skeleton (docs/ARCHITECTURE.md):\n- " + \
        "\n- ".join(problems)


def test_the_skeleton_check_can_fail(tmp_path):
    good = lesson_notebooks()[11]  # 11_comparing_fusion_strategies: the model the skeleton was copied from
    assert skeleton_problems(good) == []
    nb = json.loads(good.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = ["".join(cell["source"]).replace("## 2 · ", "## 2. ").replace("## Practise", "## Your turn")
                              .replace("**Takeaway", "**Lesson")]
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = ["QUICK = False\nSEED = 0\nN = len([1, 2])\n"]
    broken = tmp_path / good.name
    broken.write_text(json.dumps(nb), encoding="utf-8")
    problems = "\n".join(skeleton_problems(broken))
    assert "'## 2. Does fusion help" in problems and "must read '## N · Title'" in problems
    assert "## Practise" in problems and "must end in a short '**Takeaway.**'" in problems
    assert "plain assignments only" in problems
