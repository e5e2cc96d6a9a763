"""``build_site``: stage the site's sources, run Sphinx (myst-nb, sphinx-book-theme), check for leaks, publish.

The staged sources and the Sphinx versions are hashed; when the hash matches the stamp of the site in place,
the site is reused as it is. A new site is built beside the old one and replaces it only when it has no hidden
test in it (``leaks.scan_site``), so a leaking site never lands in ``build/site/``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from medfusion_lib.atomic import atomic_write_text, staged_dir
from medfusion_lib.notebook_schema import read_notebook
from medfusion_lib.config import build_dir, repo_root
from medfusion_lib.errors import UserError
from medfusion_lib.site import pages, publish
from medfusion_lib.site.executed import ensure_executed, executed_dir, library_mtime, mode_name, stale_reason
from medfusion_lib.site.leaks import scan_site
from medfusion_lib.lessons import Lesson, course_lessons

STAMP = ".medfusion-site.json"
# Pages allowed to *mention* the hidden-test markers in prose (the guide explains the format).
MARKER_PROSE_PAGES = ("instructors.html",)
# MathJax 3's single-file TeX-to-SVG bundle (django-static-mathjax ships the MathJax distribution).
_MATHJAX_FILES = ("es5/tex-svg-full.js", "LICENSE")


@dataclass
class SiteResult:
    """What ``build_site`` did."""

    site: Path
    mode: str
    pages: int
    seconds: float
    reused: bool
    ran_lessons: list[str] = field(default_factory=list)
    bytes: int = 0
    warnings: int = 0            # Sphinx warnings of this build (0 when reused); the log is beside the sources
    log: Path | None = None


def _require_engine() -> None:
    missing = []
    for module in ("sphinx", "myst_nb", "sphinx_book_theme", "mathjax"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UserError(f"the site needs {', '.join(missing)}; install them with "
                        f"`.venv/bin/pip install -e \".[site]\"` (make site does this)")


def _copy_mathjax(static: Path) -> None:
    from importlib.util import find_spec

    spec = find_spec("mathjax")
    root = Path(spec.origin).parent / "static" / "mathjax" if spec and spec.origin else None
    if root is None or not (root / _MATHJAX_FILES[0]).exists():
        raise UserError("MathJax not found: install it with `.venv/bin/pip install -e \".[site]\"` "
                        "(the django-static-mathjax package)")
    (static / "mathjax").mkdir(parents=True, exist_ok=True)
    for name in _MATHJAX_FILES:
        shutil.copy2(root / name, static / "mathjax" / Path(name).name)


def select_lessons(lessons: list[Lesson], wanted: list[str] | None) -> list[Lesson]:
    """The lessons named in ``wanted`` (numbers "04" or stems), all when None; UserError for unknown names."""
    if wanted is None:
        return lessons
    by_key = {key: lesson for lesson in lessons for key in (lesson.number, lesson.stem)}
    unknown = [w for w in wanted if w not in by_key]
    if unknown:
        raise UserError(f"no lesson {', '.join(map(repr, unknown))} in notebooks/; choose from "
                        f"{', '.join(lesson.number for lesson in lessons)}")
    chosen = {by_key[w].stem for w in wanted}
    return [lesson for lesson in lessons if lesson.stem in chosen]


def current_lessons(quick: bool) -> list[str]:
    """Stems of the lessons whose executed copy of this mode is current (nothing to run for them)."""
    newer_than = library_mtime()
    out = executed_dir(quick)
    return [lesson.stem for lesson in course_lessons()
            if stale_reason(lesson.path, out / lesson.path.name, quick, newer_than) is None]


def stage_sources(src: Path, quick: bool, seed: int = 0, lessons: list[str] | None = None,
                  log=print, kernel_name: str = "python3") -> list[str]:
    """Write every page's source into ``src`` (emptied first). Returns the lessons it had to run first.

    ``lessons`` limits the lesson pages to those named (a preview, or the tests' small site); the landing
    page still maps the whole course, linking only the lessons built.
    """
    root = repo_root()
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(root / "docs" / "site", src)
    _copy_mathjax(src / "_static")
    course = course_lessons()
    if not course:
        raise UserError(f"no lessons found in {root / 'notebooks'}")
    chosen = select_lessons(course, lessons)
    executed = ensure_executed([lesson.path for lesson in chosen], quick=quick, seed=seed, log=log,
                               kernel_name=kernel_name)
    files = src / "_extra" / publish.FILES
    for lesson in chosen:
        page = publish.lesson_page(read_notebook(executed[lesson.stem].path), lesson, quick)
        publish.write_notebook(page, src / publish.LESSONS / f"{lesson.stem}.ipynb")
        (files / "notebooks").mkdir(parents=True, exist_ok=True)
        shutil.copy2(lesson.path, files / "notebooks" / lesson.path.name)
    exercises = sorted(p.stem for p in (root / "exercises").glob("[0-9][0-9]*.ipynb"))
    for stem in exercises:
        student = root / "exercises" / f"{stem}.ipynb"
        solution = root / "solutions" / f"{stem}.ipynb"
        publish.write_notebook(publish.exercise_page(read_notebook(student), stem), src / publish.EXERCISES / f"{stem}.ipynb")
        (files / "exercises").mkdir(parents=True, exist_ok=True)
        shutil.copy2(student, files / "exercises" / student.name)
        if not solution.exists():
            raise UserError(f"{student} has no solution notebook at {solution}; run `medfusion exercises check`")
        publish.write_notebook(publish.solution_page(read_notebook(solution), stem), src / publish.SOLUTIONS / f"{stem}.ipynb")
    bench = sorted((build_dir() / "bench").glob("*.json"))
    if bench:
        (src / "benchmarks.md").write_text(pages.benchmarks_page(bench), encoding="utf-8")
    (src / "index.md").write_text(pages.landing_page(course, chosen, exercises, quick, bool(bench)), encoding="utf-8")
    (src / "exercises.md").write_text(pages.exercises_index(exercises, chosen), encoding="utf-8")
    (src / "solutions.md").write_text(pages.solutions_index(exercises), encoding="utf-8")
    shutil.copy2(root / "docs" / "instructors.md", src / "instructors.md")
    shutil.copy2(root / "datasets" / "default.datasheet.md", src / "datasheet.md")
    return [stem for stem, e in executed.items() if e.ran]


def _fingerprint(src: Path) -> str:
    """Hash of every staged file (path and bytes) and the versions of the engine that renders them."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for package in ("sphinx", "myst-nb", "sphinx-book-theme", "pydata-sphinx-theme"):
        digest.update(f"{package}={version(package)}\n".encode())
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _read_stamp(site: Path) -> dict:
    try:
        return json.loads((site / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run_sphinx(src: Path, out: Path, doctrees: Path, log_file: Path) -> int:
    """Sphinx's HTML builder in a child process (Sphinx keeps global state); UserError with the log on failure.

    Returns the number of warnings (written to ``log_file``).
    """
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(doctrees), str(src), str(out)]
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    atomic_write_text(log_file, done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise UserError(f"Sphinx failed (exit {done.returncode}); see {log_file}: " + " | ".join(tail))
    return sum("WARNING" in line for line in (done.stdout + done.stderr).splitlines())


@contextlib.contextmanager
def _exclusive(lock_file: Path):
    """One site build per work folder at a time (two pytest workers, or make site twice): the second waits."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_site(quick: bool = False, out: Path | None = None, seed: int = 0, force: bool = False,
               lessons: list[str] | None = None, log=print, kernel_name: str = "python3") -> SiteResult:
    """Build the course website into ``out`` (default ``build/site``) from executed lessons of this mode.

    Lessons without a current executed copy are run first (papermill, as ``make run`` does). ``lessons``
    (numbers or stems) limits the lesson pages to those. Reuses the site in place when nothing it is made from
    changed, unless ``force``. ``kernel_name``: the Jupyter kernel those lessons run in.
    """
    _require_engine()
    started = time.perf_counter()
    select_lessons(course_lessons(), lessons)  # a wrong name fails before anything is written
    mode = mode_name(quick)
    out = Path(out) if out else build_dir() / "site"
    work = build_dir() / f".site-{mode}-{hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:8]}"
    with _exclusive(work.with_suffix(".lock")):
        return _build(quick, out, work, seed, force, lessons, log, started, kernel_name)


def _build(quick, out, work, seed, force, lessons, log, started, kernel_name) -> SiteResult:
    mode = mode_name(quick)
    src = work / "src"
    ran = stage_sources(src, quick=quick, seed=seed, lessons=lessons, log=log, kernel_name=kernel_name)
    fingerprint = _fingerprint(src)
    stamp = _read_stamp(out)
    if not force and stamp.get("fingerprint") == fingerprint and stamp.get("mode") == mode:
        return SiteResult(out, mode, stamp.get("pages", 0), time.perf_counter() - started, True, ran, _size(out))
    html = work / "html"  # myst-nb writes its output files beside Sphinx's output folder: keep both in work/
    shutil.rmtree(html, ignore_errors=True)
    warnings = run_sphinx(src, html, work / "doctrees", work / "sphinx.log")
    with staged_dir(out) as stage:
        stage.rmdir()
        os.replace(html, stage)
        shutil.rmtree(stage / ".doctrees", ignore_errors=True)
        shutil.rmtree(stage / "_sources", ignore_errors=True)  # empty: html_copy_source is off
        for source_map in stage.rglob("*.map"):  # the theme's JavaScript source maps: for its developers only
            source_map.unlink()
        for macro in (stage / "_static").glob("*.html"):  # the theme's Jinja macros, copied as if they were assets
            macro.unlink()
        leaks = scan_site(stage, repo_root() / "solutions", repo_root() / "notebooks",
                          allow_markers_in=MARKER_PROSE_PAGES)
        if leaks:
            raise UserError(f"the built site would publish hidden tests ({len(leaks)} finding(s)), not "
                            f"publishing it: " + "; ".join(map(str, leaks[:5])))
        html_pages = sum(1 for _ in stage.rglob("*.html"))
        atomic_write_text(stage / STAMP, json.dumps({"mode": mode, "fingerprint": fingerprint,
                                                     "pages": html_pages}, indent=2) + "\n")
    return SiteResult(out, mode, html_pages, time.perf_counter() - started, False, ran, _size(out), warnings,
                      work / "sphinx.log")
