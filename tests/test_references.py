"""Every lesson, notebook and exercise the course names exists; the MEDFUSION write-up is cited where named."""
import json
import re
from pathlib import Path

import pytest

from medfusion_lib.config import repo_root

ROOT = repo_root()
MEDFUSION_REPO = "Venky0717/MEDFUSION---Multimodal-Medical-Diagnosis"
# "lesson 07", "lessons 08–11", "lessons 01-03 and 06", "Lesson 12"
LESSON_REF = re.compile(r"\b[Ll]essons?\s+((?:\d{2}(?:\s*[–-]\s*\d{2})?(?:\s*(?:,|and|or)\s*)?)+)")
NOTEBOOK_REF = re.compile(r"\b((?:notebooks|exercises|solutions)/)?(\d{2}[a-z]?_[A-Za-z0-9_]+)\.ipynb")


def _texts():
    """(name, text) for every notebook (all cells), the README, environment.yml and docs."""
    for folder in ("notebooks", "solutions", "exercises"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            yield f"{folder}/{path.name}", "\n".join(
                "".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)
    for path in [ROOT / "README.md", ROOT / "environment.yml", *sorted((ROOT / "docs").glob("*.md"))]:
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def lesson_numbers(text: str) -> set[int]:
    """Every lesson number a text names, ranges expanded at their ends."""
    found = set()
    for match in LESSON_REF.finditer(text):
        for first, last in re.findall(r"(\d{2})(?:\s*[–-]\s*(\d{2}))?", match.group(1)):
            found.add(int(first))
            if last:
                found.add(int(last))
    return found


def test_the_reference_pattern_reads_ranges_and_lists():
    assert lesson_numbers("see lessons 08–11 and lesson 03, Lesson 12 or lessons 01-02") == {1, 2, 3, 8, 11, 12}
    assert lesson_numbers("the 12 lessons of this course") == set()


def test_every_named_lesson_exists():
    existing = {int(p.name[:2]) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    dangling = {name: sorted(lesson_numbers(text) - existing) for name, text in _texts()}
    dangling = {k: v for k, v in dangling.items() if v}
    assert not dangling, f"lessons named but missing from notebooks/: {dangling}"


def test_every_named_notebook_exists():
    missing = []
    for name, text in _texts():
        for folder, stem in NOTEBOOK_REF.findall(text):
            folders = [folder.rstrip("/")] if folder else ["notebooks", "solutions", "exercises"]
            if not any((ROOT / f / f"{stem}.ipynb").exists() for f in folders):
                missing.append(f"{name}: {folder}{stem}.ipynb")
    assert not missing, missing


@pytest.mark.parametrize("name,text", [t for t in _texts() if "MEDFUSION paper" in t[1]
                                       or "MEDFUSION write-up" in t[1]])
def test_the_medfusion_write_up_is_cited_where_named(name, text):
    assert MEDFUSION_REPO in text, f"{name} names the MEDFUSION write-up without citing {MEDFUSION_REPO}"
