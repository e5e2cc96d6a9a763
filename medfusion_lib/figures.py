"""Does an executed notebook show the figures its code draws?

A plotting cell that shows nothing (a non-interactive backend, a figure never displayed) is a bug no
error reveals: the executed lesson simply has no picture. ``missing_figures`` finds such cells in an
executed notebook; the course runner and the notebook tests (``conftest.py``) fail on them.
"""
from __future__ import annotations

import re

# A cell "shows a figure" when it calls plt.show() / fig.show() / display(fig…) at any indentation.
_SHOWS = re.compile(r"(^|[^\w.])(plt\.show\(|\w+\.show\(\)|display\(\s*fig)", re.MULTILINE)
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def shows_figure(source: str) -> bool:
    """True when the code calls ``plt.show()``, ``<fig>.show()`` or ``display(fig…)`` outside comments."""
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return bool(_SHOWS.search(code))


def image_count(outputs) -> int:
    """How many images a cell's outputs hold."""
    return sum(1 for out in outputs or [] if any(m in out.get("data", {}) for m in IMAGE_MIMES))


def missing_figures(nb) -> list[int]:
    """Indices of code cells that call ``show`` but hold no image output (``nb``: an executed notebook dict)."""
    return [i for i, cell in enumerate(nb.get("cells", []))
            if cell.get("cell_type") == "code" and shows_figure(_source(cell))
            and image_count(cell.get("outputs")) == 0]


def figure_summary(nb) -> dict:
    """``{"plotting_cells": n, "images": m, "missing": [cell indices]}`` for an executed notebook."""
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    return {"plotting_cells": sum(shows_figure(_source(c)) for c in code),
            "images": sum(image_count(c.get("outputs")) for c in code),
            "missing": missing_figures(nb)}
