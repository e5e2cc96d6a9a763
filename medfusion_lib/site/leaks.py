"""Hidden tests never reach the site: their lines, read with the authoring helpers, and a scan of a built site.

The scan reads every file of the site as text a reader (or a search engine) would see it: HTML with its tags
removed and entities decoded (syntax highlighting splits a code line into many ``<span>``s), and the raw text
of everything else (notebook downloads, the search index). Whitespace is collapsed before comparing.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from medfusion_lib.authoring import MIN_LEAK_LINE
from medfusion_lib.exercise_regions import student_version
from medfusion_lib.notebook_schema import cell_role, read_notebook
from medfusion_lib.grading.testcell import (HIDDEN_BEGIN, HIDDEN_END, PROBE_BEGIN, PROBE_END,
                                            parse_test_cell)

MARKERS = (HIDDEN_BEGIN, HIDDEN_END, PROBE_BEGIN, PROBE_END)
_TEXT_SUFFIXES = {".html", ".htm", ".js", ".json", ".txt", ".ipynb", ".md", ".css", ".xml"}
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _lines(nb) -> set[str]:
    return {_norm(line) for cell in nb.cells for line in cell.source.splitlines()}


def public_lines(solutions_dir: Path, lessons_dir: Path | None = None) -> set[str]:
    """Every line the course publishes anyway: student copies, answers and other cells, lesson notebooks."""
    public: set[str] = set()
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        nb = read_notebook(path)
        public |= _lines(student_version(nb, path.stem))
        public |= {_norm(line) for cell in nb.cells if cell_role(cell) != "test" for line in cell.source.splitlines()}
    for path in sorted(Path(lessons_dir).glob("*.ipynb")) if lessons_dir else ():
        public |= _lines(read_notebook(path))
    return public


def hidden_test_lines(solutions_dir: Path, lessons_dir: Path | None = None) -> dict[str, set[str]]:
    """``{notebook name: lines}``: each hidden-test line that is specific enough to be a leak.

    Lines the course publishes anyway (found in ``public_lines``: a shared import, a visible assert repeated,
    a seed line in a lesson) are left out, as are comments and lines shorter than the authoring check's
    ``MIN_LEAK_LINE``.
    """
    # A hidden line found inside a published line (an import that a lesson extends) is no secret either.
    public = "\n".join(sorted(public_lines(solutions_dir, lessons_dir)))
    secrets: dict[str, set[str]] = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        hidden: set[str] = set()
        for cell in read_notebook(path).cells:
            if cell_role(cell) == "test":  # hidden probes (secret inputs) and hidden checks
                parts = parse_test_cell(cell.source)
                hidden |= {_norm(line) for line in (parts.hidden_probe + "\n" + parts.hidden_checks).splitlines()}
        secrets[path.name] = {line for line in hidden if line not in public
                              and len(line) >= MIN_LEAK_LINE and not line.startswith("#")}
    return secrets


def readable_text(path: Path) -> str:
    """A site file's text as a reader sees it (HTML without tags, entities decoded), whitespace collapsed."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix in {".html", ".htm"}:
        text = _TAG.sub(" ", text)
    text = html.unescape(text)
    # JSON and the search index escape quotes and newlines; undo the common ones.
    text = text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
    return _norm(text)


@dataclass(frozen=True)
class Leak:
    file: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


def scan_site(site_dir: Path, solutions_dir: Path, lessons_dir: Path | None = None,
              allow_markers_in: tuple[str, ...] = ()) -> list[Leak]:
    """Every hidden-test marker or hidden-test line found in the built site.

    ``allow_markers_in`` names pages (relative paths) allowed to *mention* the marker strings in prose — the
    instructor guide explains them; hidden-test code is searched for everywhere, those pages included.
    """
    site_dir = Path(site_dir)
    secrets = {line for lines in hidden_test_lines(solutions_dir, lessons_dir).values() for line in lines}
    leaks: list[Leak] = []
    for path in sorted(site_dir.rglob("*")):
        if not path.is_file() or path.suffix not in _TEXT_SUFFIXES:
            continue
        rel = path.relative_to(site_dir).as_posix()
        text = readable_text(path)
        if rel not in allow_markers_in:
            leaks += [Leak(rel, f"marker {m!r}") for m in MARKERS if m in text]
        leaks += [Leak(rel, f"hidden-test line {line[:80]!r}") for line in sorted(secrets) if line in text]
    return leaks
