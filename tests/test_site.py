"""The course website without a browser: lesson discovery, published copies, benchmark tables, leak scan."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from medfusion_lib import notebook_schema
from medfusion_lib.exercise_regions import SOLUTION_BEGIN, SOLUTION_END
from medfusion_lib.grading.testcell import HIDDEN_BEGIN, HIDDEN_END
from medfusion_lib.notebook_schema import cell_role, read_notebook, solution_cell
from medfusion_lib.errors import UserError
from medfusion_lib.site import pages, publish
from medfusion_lib.site.executed import stale_reason
from medfusion_lib.site.leaks import hidden_test_lines, readable_text, scan_site
from medfusion_lib.lessons import course_lessons, read_lesson

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"


def _lesson(path: Path, title: str, minutes: int | None, exercise: str | None) -> Path:
    intro = f"# {path.stem[:2]} · {title}\n\n"
    if minutes:
        intro += f"**Learning objectives** (about {minutes} minutes)\n"
    cells = [nbformat.v4.new_markdown_cell(intro), nbformat.v4.new_code_cell("x = 1")]
    if exercise:
        cells.append(nbformat.v4.new_markdown_cell(f"## Practise\n\nOpen `exercises/{exercise}.ipynb`."))
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))
    return path


def test_lessons_come_from_the_folder_so_new_ones_appear(tmp_path):
    _lesson(tmp_path / "00_intro.ipynb", "Intro", 25, "00_warmup")
    _lesson(tmp_path / "12_new_topic.ipynb", "A new topic", 40, None)
    (tmp_path / "notes.ipynb").write_text("{}")  # not a lesson: no NN_ prefix
    lessons = course_lessons(tmp_path)
    assert [lesson.stem for lesson in lessons] == ["00_intro", "12_new_topic"]
    assert (lessons[0].title, lessons[0].minutes, lessons[0].exercise) == ("Intro", 25, "00_warmup")
    table = pages.course_map(lessons)
    assert "[A new topic](lessons/12_new_topic.ipynb)" in table and "~40 min" in table
    assert "About **1 h 05 min**" in table
    assert "*(not in this build)*" in pages.course_map(lessons, built={"00_intro"})


def test_every_real_lesson_has_a_title_and_a_time():
    lessons = course_lessons()
    assert lessons, "no lessons in notebooks/"
    for lesson in lessons:
        assert lesson.title and not lesson.title[:2].isdigit(), lesson
        assert lesson.minutes, f"{lesson.stem}: no '(about N minutes)' after 'Learning objectives'"


def test_an_unreadable_lesson_is_named(tmp_path):
    bad = tmp_path / "00_bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="00_bad.ipynb is not a readable notebook"):
        read_lesson(bad)


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_solution_pages_keep_answers_and_drop_hidden_tests(path):
    nb = read_notebook(path)
    page = publish.solution_page(nb, path.stem)
    text = "\n".join(cell.source for cell in page.cells)
    assert HIDDEN_BEGIN not in text and HIDDEN_END not in text
    for line in hidden_test_lines(SOLUTIONS, REPO / "notebooks")[path.name]:
        assert line not in re.sub(r"\s+", " ", text), f"hidden test line published: {line}"
    answers = [cell for cell in nb.cells if cell_role(cell) == "solution"]
    labels = [cell for cell in page.cells if 'class="medfusion-solution"' in cell.source]
    assert answers and len(labels) == len(answers), "every answer cell is announced as a solution"
    assert sum(SOLUTION_BEGIN in cell.source for cell in page.cells) == sum(SOLUTION_BEGIN in c.source for c in answers)


def test_solution_page_refuses_a_notebook_that_could_leak():
    nb = nbformat.v4.new_notebook(cells=[
        solution_cell(f"def f():\n    {SOLUTION_BEGIN}\n    return 1\n    {SOLUTION_END}", "ex1_answer", "ex1"),
        notebook_schema.test_cell("one = f()\n### CHECKS\nassert one == 1", "ex1_test", "ex1", points=1),
        # hidden tests in a cell that is not a test cell: strip_hidden would never see them
        nbformat.v4.new_code_cell(f"{HIDDEN_BEGIN}\nassert f() == 1  # secret\n{HIDDEN_END}", id="stray"),
    ])
    with pytest.raises(UserError, match="markers .* but is not a test cell"):
        publish.solution_page(nb, "99_bad")


def test_leak_scan_reads_highlighted_html_and_can_fail(tmp_path):
    secret = sorted(hidden_test_lines(SOLUTIONS, REPO / "notebooks")["00_warmup.ipynb"])[0]
    # Syntax highlighting splits a line into spans and escapes quotes; the scan must see through both.
    words = secret.split(" ")
    spans = " ".join(f'<span class="n">{w.replace(chr(34), "&quot;")}</span>' for w in words)
    (tmp_path / "page.html").write_text(f"<html><body><pre>{spans}</pre></body></html>")
    (tmp_path / "clean.html").write_text("<p>nothing here</p>")
    (tmp_path / "guide.html").write_text(f"<p>markers look like <code>{HIDDEN_BEGIN}</code></p>")
    found = scan_site(tmp_path, SOLUTIONS, REPO / "notebooks", allow_markers_in=("guide.html",))
    assert [leak.file for leak in found] == ["page.html"], found
    assert [leak.file for leak in scan_site(tmp_path, SOLUTIONS)] == ["guide.html", "page.html"]


def test_every_solution_has_hidden_tests_to_look_for():
    secrets = hidden_test_lines(SOLUTIONS, REPO / "notebooks")
    assert secrets and all(secrets.values()), {k: len(v) for k, v in secrets.items()}


def test_bench_tables_from_json(tmp_path):
    payload = {"benchmark": "demo", "quick": True, "wall_seconds": 1.5,
               "machine": {"python": "3.11", "cpu_count": 2, "platform": "Linux"},
               "classifiers": {"tfidf": {"macro_f1": 0.71234, "ci_low": 0.6}, "lexicon": {"macro_f1": 0.5}},
               "builds": [{"n": 100, "seconds": 0.2}], "n_test": 800}
    (tmp_path / "demo.json").write_text(json.dumps(payload))
    (tmp_path / "broken.json").write_text("{")
    page = pages.benchmarks_page(sorted(tmp_path.glob("*.json")))
    assert "| classifiers | macro_f1 | ci_low |" in page and "| tfidf | 0.7123 | 0.6 |" in page
    assert "| lexicon | 0.5 |  |" in page
    assert "| n | seconds |" in page and "| n_test | 800 |" in page
    assert "## broken" in page and "unreadable" in page
    assert "quick mode, 1.5 s wall; Python 3.11, 2 CPUs" in page


def test_bench_page_cuts_long_lists_and_log_text(tmp_path):
    """`bench tests` lists every test id (some quote exercise sources) and a log tail: the page shows the slowest
    rows and points at the file for the rest."""
    items = [{"item": f"tests/t.py::case{i}", "seconds": 100 - i} for i in range(pages.MAX_ROWS + 5)]
    payload = {"benchmark": "tests", "items": items, "output_tail": "x" * 5000, "returncode": 0}
    page = pages.bench_markdown("tests", payload)
    assert f"case{pages.MAX_ROWS - 1} " in page and f"case{pages.MAX_ROWS} " not in page
    assert "(5 more rows in build/bench/tests.json)" in page
    assert "x" * (pages.MAX_TEXT + 1) not in page and "(5,000 characters of text: see build/bench/tests.json)" in page


def test_stale_reason_follows_the_lesson_and_the_mode(tmp_path):
    source = _lesson(tmp_path / "00_intro.ipynb", "Intro", 25, None)
    executed = tmp_path / "run" / "00_intro.ipynb"
    assert stale_reason(source, executed, quick=True, newer_than=0) == "not executed yet"
    nb = read_notebook(source)
    nb.metadata["papermill"] = {"parameters": {"QUICK": True, "SEED": 0}, "exception": None}
    executed.parent.mkdir()
    nbformat.write(nb, str(executed))
    assert stale_reason(source, executed, quick=True, newer_than=0) is None
    assert "other mode" in stale_reason(source, executed, quick=False, newer_than=0)
    nb.cells[1].source = "x = 2"
    nbformat.write(nb, str(executed))
    assert stale_reason(source, executed, quick=True, newer_than=0) == "the lesson changed since it ran"


def test_cli_names_an_unknown_lesson_on_one_line():
    done = subprocess.run([sys.executable, "-m", "medfusion_lib.cli", "site", "build", "--quick", "--lessons", "99",
                           "--out", "/nonexistent/never-written"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "no lesson '99'" in done.stderr


def test_built_site_publishes_no_hidden_test(quick_site):
    """Greps every file of the built site for the markers and for every hidden test's code."""
    site = quick_site.site
    files = [p for p in site.rglob("*") if p.is_file() and p.suffix in {".html", ".js", ".ipynb", ".txt", ".json"}]
    assert len(files) > 10
    secrets = {line for lines in hidden_test_lines(SOLUTIONS, REPO / "notebooks").values() for line in lines}
    assert secrets
    for path in files:
        rel = path.relative_to(site).as_posix()
        raw, text = path.read_text(errors="replace"), readable_text(path)
        if rel != "instructors.html":  # the guide explains the markers in prose
            assert HIDDEN_BEGIN not in raw and HIDDEN_BEGIN not in text, rel
            assert HIDDEN_END not in raw and HIDDEN_END not in text, rel
        for line in secrets:
            assert line not in text, f"{rel} publishes the hidden test line {line!r}"
    assert not scan_site(site, SOLUTIONS, REPO / "notebooks", allow_markers_in=("instructors.html",))


def test_built_site_has_every_kind_of_page(quick_site):
    site = quick_site.site
    for page in ("index.html", "search.html", "searchindex.js", "instructors.html", "datasheet.html",
                 "exercises.html", "solutions.html"):
        assert (site / page).is_file(), page
    for exercise in sorted((REPO / "exercises").glob("*.ipynb")):
        assert (site / "exercises" / f"{exercise.stem}.html").is_file()
        assert (site / "solutions" / f"{exercise.stem}.html").is_file()
        assert (site / "files" / "exercises" / exercise.name).read_bytes() == exercise.read_bytes()
    landing = readable_text(site / "index.html")
    typographic = landing.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')  # Sphinx smartquotes
    for lesson in course_lessons():  # the map lists every lesson, built or not
        assert " ".join(lesson.title.split()) in typographic, lesson.title
    assert "Honesty box" in landing and "semi-synthetic" in landing


def test_built_site_loads_nothing_from_the_network(quick_site):
    remote = re.compile(r"<(?:script|img|iframe)[^>]+src=[\"']?(?:https?:)?//|<link[^>]+href=[\"']?(?:https?:)?//")
    pages_ = sorted(quick_site.site.rglob("*.html"))
    offenders = [p.name for p in pages_ if remote.search(p.read_text(errors="replace"))]
    assert pages_ and not offenders, offenders


def test_an_unchanged_site_is_reused(quick_site):
    from medfusion_lib.site import build_site

    lessons = sorted(p.stem for p in (quick_site.site / "lessons").glob("*.html"))
    again = build_site(quick=True, out=quick_site.site, lessons=lessons, log=lambda *_: None)
    assert again.reused and again.ran_lessons == [] and again.pages == quick_site.pages


def test_a_missing_browser_is_one_clear_line(monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "CHROMIUM_CANDIDATES", ())
    monkeypatch.delenv("MEDFUSION_CHROMIUM", raising=False)
    assert conftest.find_chromium() is None
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^headless Chromium not found: run `make system-deps-browser`"):
        conftest._missing(conftest.MISSING_BROWSER)
    monkeypatch.setenv("CI", "true")  # CI must not pass with untested pages
    with pytest.raises(pytest.fail.Exception, match="headless Chromium not found"):
        conftest._missing(conftest.MISSING_BROWSER)
    assert "\n" not in conftest.MISSING_BROWSER
