"""The course map is read from the lessons that exist, so it can never list a missing lesson or forget a new one."""
import nbformat
from nbformat.v4 import new_markdown_cell, new_notebook

from medfusion_lib.lessons import course_map, lesson_notebooks


def _lesson(folder, name, title, minutes=None):
    objectives = f"**Learning objectives** (about {minutes} minutes)" if minutes else "no time given"
    nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {name[:2]} · {title}\n\nIntro."),
                                       new_markdown_cell(objectives)]), str(folder / name))


def test_map_lists_exactly_the_lessons_in_the_folder(tmp_path):
    _lesson(tmp_path, "00_welcome.ipynb", "Welcome", 25)
    _lesson(tmp_path, "13_explain.ipynb", "Explaining", 50)
    _lesson(tmp_path, "99_extra.ipynb", "Extra")
    (tmp_path / "notes.ipynb").write_text("{}")  # not a lesson: no number
    table = course_map(tmp_path)
    assert list(table.index) == ["00", "13", "99"]
    assert table.loc["13", "title"] == "Explaining" and table.loc["13", "minutes"] == 50
    assert table.loc["13", "track"] == "trustworthy diagnosis" and table.loc["99", "track"] == "other"
    assert table.loc["99", "minutes"] is None or table["minutes"].isna()["99"]


def test_every_real_lesson_has_a_title_and_a_time():
    table = course_map()
    assert len(table) == len(lesson_notebooks())
    assert table["minutes"].notna().all(), table[table["minutes"].isna()]
    assert not table["title"].str.contains(r"\.ipynb|^\d", regex=True).any()
